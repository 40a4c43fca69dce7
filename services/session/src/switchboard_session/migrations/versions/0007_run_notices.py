"""run notices: what a run showed besides text and tool calls (agent switches, audio, errors,
warnings), so that history renders as the live view did; and the folded end of a run, so that
catch-up stops offering a run once its `run_end` is folded (before the history writer stores it)

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "runs",
        sa.Column(
            "progress_notices",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column("runs", sa.Column("progress_end", sa.String(length=16), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "progress_end")
    op.drop_column("runs", "progress_notices")
