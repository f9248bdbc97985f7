from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from reelhouse.db.base import Base, UTCDateTime


class PlaybackEvent(Base):
    """One event as a Segment client sent it, normalised; kept 90 days."""

    __tablename__ = "playback_events"
    __table_args__ = (
        # A client that retries sends the same messageId: stored once.
        UniqueConstraint("account_id", "message_id"),
        Index("ix_playback_events_video", "account_id", "video_id", "timestamp"),
        Index("ix_playback_events_time", "account_id", "timestamp"),
        # Folding a view reads every event of its session.
        Index("ix_playback_events_session", "account_id", "session_id"),
    )

    # SQLite numbers rows only for a column declared INTEGER PRIMARY KEY.
    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True
    )
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE")
    )
    message_id: Mapped[str] = mapped_column(String(100))
    type: Mapped[str] = mapped_column(String(16))
    event: Mapped[str | None] = mapped_column(String(200), default=None)
    """The track call's event name; None for other calls."""
    video_id: Mapped[str | None] = mapped_column(String(100), default=None)
    session_id: Mapped[str | None] = mapped_column(String(100), default=None)
    user_id: Mapped[str | None] = mapped_column(String(200), default=None)
    anonymous_id: Mapped[str | None] = mapped_column(String(200), default=None)
    position: Mapped[float | None] = mapped_column(Float, default=None)
    # When it happened, by the server's clock: the device's time corrected by
    # how far the device's clock was off when it sent the event.
    timestamp: Mapped[datetime] = mapped_column(UTCDateTime)
    original_timestamp: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    properties: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    context: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class PlaybackView(Base):
    """One view (a playback session) as its events so far describe it."""

    __tablename__ = "playback_views"
    __table_args__ = (
        Index("ix_playback_views_requested", "account_id", "play_requested_at"),
        # Impressions count the sessions that began in a period.
        Index("ix_playback_views_began", "account_id", "first_event_at"),
    )

    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    session_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    video_id: Mapped[str | None] = mapped_column(String(100))
    viewer_id: Mapped[str | None] = mapped_column(String(200))
    first_event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime)
    play_requested_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    startup_ms: Mapped[float | None] = mapped_column(Float)
    playing_seconds: Mapped[float] = mapped_column(Float)
    watch_seconds: Mapped[float] = mapped_column(Float)
    max_position: Mapped[float] = mapped_column(Float)
    total_length: Mapped[float | None] = mapped_column(Float)
    rebuffer_count: Mapped[int] = mapped_column(Integer)
    rebuffer_seconds: Mapped[float] = mapped_column(Float)
    seek_count: Mapped[int] = mapped_column(Integer)
    completed: Mapped[bool] = mapped_column()
    error: Mapped[str | None] = mapped_column(String(200))


class AnalyticsMark(Base):
    """How far a background step has got through the events (an event id)."""

    __tablename__ = "analytics_marks"

    name: Mapped[str] = mapped_column(String(50), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)
