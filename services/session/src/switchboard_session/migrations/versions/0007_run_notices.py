"""run notices: what a run showed besides text and tool calls (agent switches, audio, errors,
warnings), so that history renders as the live view did

Revision ID: 0007
Revises: 0005 (0006 is another branch's; whoever merges both re-points this to it)
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0005"
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


def downgrade() -> None:
    op.drop_column("runs", "progress_notices")
