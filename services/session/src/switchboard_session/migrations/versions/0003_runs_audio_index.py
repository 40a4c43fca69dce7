"""runs: an index on the runs still holding audio (the sweeper clears it after retention)

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_runs_audio_kept",
        "runs",
        ["ended_at"],
        postgresql_where="audio_b64 IS NOT NULL",
    )


def downgrade() -> None:
    op.drop_index("ix_runs_audio_kept", table_name="runs")
