"""Switchboard's HTTP edge: what the gateway and the session service check before a request
reaches their apps (safe client JSON, JWT, request heads and bodies).

Import the modules themselves: this package imports nothing, so a process that needs only
`safe_json` (the run worker) loads neither PyJWT nor uvicorn.
"""
