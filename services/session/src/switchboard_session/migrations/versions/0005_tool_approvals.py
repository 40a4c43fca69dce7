"""tool_approvals: tool calls waiting for a human decision, decided at most once

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamp = sa.DateTime(timezone=True)
    op.create_table(
        "tool_approvals",
        sa.Column("call_id", sa.String(length=64), primary_key=True),
        sa.Column(
            "session_id",
            sa.String(length=64),
            sa.ForeignKey("sessions.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("run_id", sa.String(length=64), nullable=False),
        sa.Column("tool_name", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("expires_at", stamp, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=255), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", stamp, server_default=sa.func.now(), nullable=False),
        sa.Column("decided_at", stamp, nullable=True),
    )
    op.create_index("ix_tool_approvals_session_id", "tool_approvals", ["session_id"])


def downgrade() -> None:
    op.drop_index("ix_tool_approvals_session_id", table_name="tool_approvals")
    op.drop_table("tool_approvals")
