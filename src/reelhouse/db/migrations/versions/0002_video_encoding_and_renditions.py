"""encoding defaults and requests, renditions, compression, streaming, storyboard

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 18:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as table:
        table.add_column(
            sa.Column("encoding", sa.JSON(), nullable=False, server_default="{}")
        )
    with op.batch_alter_table("videos") as table:
        table.add_column(
            sa.Column("encoding", sa.JSON(), nullable=False, server_default="{}")
        )
        table.add_column(
            sa.Column("renditions", sa.JSON(), nullable=False, server_default="[]")
        )
        table.add_column(sa.Column("compression", sa.JSON(), nullable=True))
        table.add_column(sa.Column("streaming_key", sa.String(300), nullable=True))
        table.add_column(sa.Column("storyboard_key", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as table:
        table.drop_column("encoding")
    with op.batch_alter_table("videos") as table:
        table.drop_column("storyboard_key")
        table.drop_column("streaming_key")
        table.drop_column("compression")
        table.drop_column("renditions")
        table.drop_column("encoding")
