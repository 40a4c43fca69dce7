"""run progress: the state of an in-progress run, for late joiners (catch-up)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "runs", sa.Column("progress_seq", sa.Integer(), server_default="0", nullable=False)
    )
    op.add_column("runs", sa.Column("progress_text", sa.Text(), server_default="", nullable=False))
    op.add_column(
        "runs",
        sa.Column(
            "progress_tool_calls",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column("runs", sa.Column("progress_agent_type", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for column in ("progress_agent_type", "progress_tool_calls", "progress_text", "progress_seq"):
        op.drop_column("runs", column)
