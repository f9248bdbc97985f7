"""playback events and views, and each account's public write key

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 11:30:00.000000
"""

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("accounts") as table:
        table.add_column(sa.Column("write_key", sa.String(64), nullable=True))
    accounts = sa.table("accounts", sa.column("id"), sa.column("write_key"))
    connection = op.get_bind()
    for (account_id,) in connection.execute(sa.select(accounts.c.id)).all():
        connection.execute(
            accounts.update()
            .where(accounts.c.id == account_id)
            .values(write_key="wk_" + secrets.token_urlsafe(18))
        )
    with op.batch_alter_table("accounts") as table:
        table.alter_column("write_key", nullable=False)
        table.create_unique_constraint(op.f("uq_accounts_write_key"), ["write_key"])

    op.create_table(
        "playback_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("message_id", sa.String(100), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("event", sa.String(200), nullable=True),
        sa.Column("video_id", sa.String(100), nullable=True),
        sa.Column("session_id", sa.String(100), nullable=True),
        sa.Column("user_id", sa.String(200), nullable=True),
        sa.Column("anonymous_id", sa.String(200), nullable=True),
        sa.Column("position", sa.Float(), nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("original_timestamp", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_playback_events_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playback_events")),
        sa.UniqueConstraint(
            "account_id", "message_id", name=op.f("uq_playback_events_account_id")
        ),
    )
    op.create_index(
        "ix_playback_events_video",
        "playback_events",
        ["account_id", "video_id", "timestamp"],
    )
    op.create_index(
        "ix_playback_events_time", "playback_events", ["account_id", "timestamp"]
    )

    op.create_table(
        "playback_views",
        sa.Column("account_id", sa.String(36), nullable=False),
        sa.Column("session_id", sa.String(100), nullable=False),
        sa.Column("video_id", sa.String(100), nullable=True),
        sa.Column("viewer_id", sa.String(200), nullable=True),
        sa.Column("first_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("play_requested_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("startup_ms", sa.Float(), nullable=True),
        sa.Column("playing_seconds", sa.Float(), nullable=False),
        sa.Column("watch_seconds", sa.Float(), nullable=False),
        sa.Column("max_position", sa.Float(), nullable=False),
        sa.Column("total_length", sa.Float(), nullable=True),
        sa.Column("rebuffer_count", sa.Integer(), nullable=False),
        sa.Column("rebuffer_seconds", sa.Float(), nullable=False),
        sa.Column("seek_count", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Boolean(), nullable=False),
        sa.Column("error", sa.String(200), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_playback_views_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "session_id", name=op.f("pk_playback_views")
        ),
    )
    op.create_table(
        "analytics_marks",
        sa.Column("name", sa.String(50), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_analytics_marks")),
    )
    op.create_index(
        "ix_playback_views_requested",
        "playback_views",
        ["account_id", "play_requested_at"],
    )


def downgrade() -> None:
    op.drop_table("analytics_marks")
    op.drop_table("playback_views")
    op.drop_table("playback_events")
    with op.batch_alter_table("accounts") as table:
        table.drop_constraint(op.f("uq_accounts_write_key"), type_="unique")
        table.drop_column("write_key")
