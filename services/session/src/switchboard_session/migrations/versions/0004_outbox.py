"""outbox: messages published by the relay after the transaction that wrote them committed

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("routing", sa.String(length=128), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("kind IN ('event', 'run', 'cancel', 'decision')", name="ck_outbox_kind"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_session_id", "outbox", ["session_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_session_id", table_name="outbox")
    op.drop_table("outbox")
