"""playback events found by their session, as folding a view reads them;
views found by when their session began, as impressions count them

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 17:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_playback_events_session",
        "playback_events",
        ["account_id", "session_id"],
    )
    op.create_index(
        "ix_playback_views_began",
        "playback_views",
        ["account_id", "first_event_at"],
    )


def downgrade() -> None:
    op.drop_index("ix_playback_views_began", table_name="playback_views")
    op.drop_index("ix_playback_events_session", table_name="playback_events")
