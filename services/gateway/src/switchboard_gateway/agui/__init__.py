"""AG-UI front ends in front of the bus: `POST`/`GET /ai/sessions/{id}/agui` (routes.py) stream
a run as AG-UI events over SSE, each with a resumable `id:` (cursor.py)."""
