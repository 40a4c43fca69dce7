"""run leases: the worker holding a run renews it; a lapsed or never-taken run is failed

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    stamp = sa.DateTime(timezone=True)
    op.add_column("runs", sa.Column("lease_owner", sa.String(length=128), nullable=True))
    op.add_column("runs", sa.Column("lease_expires_at", stamp, nullable=True))
    op.create_index(
        "ix_runs_leased",
        "runs",
        ["lease_expires_at"],
        postgresql_where=sa.text("status IN ('queued', 'running') AND dispatched_at IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_runs_leased", table_name="runs")
    op.drop_column("runs", "lease_expires_at")
    op.drop_column("runs", "lease_owner")
