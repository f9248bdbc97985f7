"""Every ``REELHOUSE_*`` setting, in one place."""

from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The encoder's profiles and codecs, by name (reelhouse.media.codecs has them
# as enums, and loads PyAV with the media package).
ProfileName = Literal["fast", "balanced", "max"]
CodecName = Literal["h264", "hevc", "av1"]


class Settings(BaseSettings):
    # Infinity and NaN are no number of seconds or bytes.
    model_config = SettingsConfigDict(
        env_prefix="REELHOUSE_", extra="ignore", allow_inf_nan=False
    )

    data_dir: Path = Field(
        default=Path("reelhouse-data"),
        description="Folder holding the database, uploads, files and the job queue.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; SQLite in the data folder when unset.",
    )
    queue_url: str | None = Field(
        default=None,
        pattern=r"^rediss?://",
        description="redis://... for a shared queue; SQLite in the data folder "
        "when unset.",
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL clients reach the server at, e.g. https://v.example.com",
    )
    secret_key: str | None = Field(
        default=None,
        description="Key the server derives each account's playback signing "
        "secret from; every server of a cluster needs the same. Unset: a random "
        "key kept in the data folder (secret.key).",
    )
    trust_proxy: bool = Field(
        default=False,
        description="Honour X-Forwarded-Host/-Proto and Forwarded from a proxy.",
    )
    max_upload_bytes: int | None = Field(
        default=None, gt=0, description="Largest upload accepted, in bytes."
    )
    upload_lock_timeout: float = Field(
        default=20.0,
        gt=0,
        le=3600,
        description="Seconds a request waits for another request on the same "
        "upload before it gets 423.",
    )
    upload_body_timeout: float = Field(
        default=60.0,
        gt=0,
        description="Seconds a PATCH body may pause before the request ends, "
        "keeping what arrived.",
    )
    upload_lifetime_hours: float = Field(
        default=24.0,
        gt=0,
        description="Hours an unfinished upload is kept before it expires.",
    )
    cors_origins: list[str] = Field(
        default=["*"],
        description="Origins browsers may upload and call the API from, as JSON: "
        '["https://app.example.com"].',
    )
    events_max_in_flight: int = Field(
        default=32,
        ge=1,
        description="Playback-event requests written at once per process; "
        "more get 429 with Retry-After.",
    )
    embedded_worker: bool = Field(
        default=True,
        description="Run the job consumer inside `reelhouse serve`.",
    )
    worker_threads: int = Field(
        default=1, ge=1, le=256, description="Jobs run at once."
    )
    job_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A processing job that has not reported for this long is "
        "considered dead and runs again.",
    )
    job_max_attempts: int = Field(default=3, ge=1)
    job_retry_seconds: float = Field(
        default=30.0,
        ge=0,
        description="Wait before a job whose FFmpeg stalled runs again; doubles "
        "with each attempt.",
    )
    chunk_seconds: float = Field(
        default=60.0,
        gt=0,
        description="Videos longer than this are encoded in chunks of about "
        "this length, each by a job of its own, so that several workers share "
        "one video.",
    )
    ffmpeg_stall_seconds: float = Field(
        default=120.0,
        gt=0,
        description="An FFmpeg run that makes no progress for this long is killed.",
    )
    quality: float = Field(
        default=95.0,
        ge=60,
        le=99,
        description="VMAF the download must reach on average (the 5th "
        "percentile of frames must reach it less 5); uploads may set their own.",
    )
    profile: ProfileName = Field(
        default="balanced",
        description="How hard the encoder searches: fast, balanced or max.",
    )
    codec: CodecName = Field(
        default="h264", description="Codec of the download: h264, hevc or av1."
    )

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir.resolve() / 'reelhouse.db'}"

    @property
    def queue_on_redis(self) -> bool:
        return (self.queue_url or "").startswith(("redis://", "rediss://"))


@cache
def get_settings() -> Settings:
    return Settings()
