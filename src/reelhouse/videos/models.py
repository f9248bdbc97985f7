from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from reelhouse.db.base import Base, UTCDateTime, utcnow
from reelhouse.videos import states


class Video(Base):
    __tablename__ = "videos"
    __table_args__ = (Index("ix_videos_account_created", "account_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    account_id: Mapped[str] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE")
    )
    upload_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(500))
    # The name case-folded, so that search is case-insensitive for every
    # script on every database (SQLite's LIKE folds ASCII only).
    name_folded: Mapped[str] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(20), default=states.UPLOADING)
    error: Mapped[str | None] = mapped_column(String(2000), default=None)

    original: Mapped[str] = mapped_column(String(500), default="")
    type: Mapped[str] = mapped_column(String(100), default="")
    original_size: Mapped[int] = mapped_column(BigInteger, default=0)
    size: Mapped[int | None] = mapped_column(BigInteger, default=None)
    upload_percent: Mapped[int] = mapped_column(Integer, default=0)
    compression_progress: Mapped[int] = mapped_column(Integer, default=0)
    private: Mapped[bool] = mapped_column(default=False)
    is_archived: Mapped[bool] = mapped_column(default=False)
    tags: Mapped[list[str]] = mapped_column(JSON, default=list)

    duration: Mapped[float | None] = mapped_column(Float, default=None)
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    media: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # What the upload asked of the encoder (quality, profile, codec), and what
    # the encoder made: every rendition, and the download's compression report.
    encoding: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    renditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    compression: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)

    original_key: Mapped[str | None] = mapped_column(String(300), default=None)
    video_key: Mapped[str | None] = mapped_column(String(300), default=None)
    poster_key: Mapped[str | None] = mapped_column(String(300), default=None)
    # The HLS master playlist; its renditions' files sit beside it.
    streaming_key: Mapped[str | None] = mapped_column(String(300), default=None)
    # The WebVTT index of the scrubbing previews; its sprite sits beside it.
    storyboard_key: Mapped[str | None] = mapped_column(String(300), default=None)

    # The processing job's lease: a job that stops renewing it is presumed
    # dead, and the video is handed to another run.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)

    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow
    )


class VideoChunk(Base):
    """One chunk of a long video, encoded by a job of its own.

    The rows exist while the video is being encoded in chunks: made by the
    run that plans them, removed when the joined video is stored.
    """

    __tablename__ = "video_chunks"

    video_id: Mapped[str] = mapped_column(
        ForeignKey("videos.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_frame: Mapped[int] = mapped_column(Integer)
    frames: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    """Seconds from the video's first frame to the chunk's."""
    frame_duration: Mapped[float] = mapped_column(Float)
    done: Mapped[bool] = mapped_column(default=False)
    # What the chunk's encode found (CRFs, probes, seconds), once done.
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    # The chunk job's own lease, as the video's for a whole run.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
