"""each account's playback signing secret version, and the sealed API key of
accounts that honour links in the old form

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 11:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as table:
        table.add_column(
            sa.Column(
                "signing_version", sa.Integer(), nullable=False, server_default="1"
            )
        )
        table.add_column(sa.Column("legacy_link_key", sa.String(300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("accounts") as table:
        table.drop_column("legacy_link_key")
        table.drop_column("signing_version")
