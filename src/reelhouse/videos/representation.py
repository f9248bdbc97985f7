"""The video object as the documented API shows it."""

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from reelhouse.videos.models import Video


class Related(BaseModel):
    duplicate: list[str] = []
    modified: list[str] = []
    notready: list[str] = []


class VideoOut(BaseModel):
    id: str
    name: str
    status: str
    upload_id: str | None
    original: str
    type: str
    original_size: int
    size: int | None
    private: bool
    is_archived: bool
    upload_percent: int
    compression_progress: int
    default_key: str
    token: str | None
    permission: str
    tags: list[str]
    related: Related
    created_at: str
    updated_at: str
    duration: float | None
    width: int | None
    height: int | None
    error: str | None
    renditions: list[dict[str, Any]]
    """Each encoding made: codec, size, bitrate, bytes and VMAF (mean, p5)."""
    compression: dict[str, Any] | None
    """The download against the upload: bitrates, bytes saved, VMAF, time."""


def represent(video: Video) -> dict[str, Any]:
    return VideoOut(
        id=video.id,
        name=video.name,
        status=video.status,
        upload_id=video.upload_id,
        original=video.original,
        type=video.type,
        original_size=video.original_size,
        size=video.size,
        private=video.private,
        is_archived=video.is_archived,
        upload_percent=video.upload_percent,
        compression_progress=video.compression_progress,
        default_key="mp4",
        # TODO(#5): a signed playback token once private playback exists.
        token=None,
        permission="owner",
        tags=list(video.tags),
        related=Related(),
        created_at=iso_millis(video.created_at),
        updated_at=iso_millis(video.updated_at),
        duration=video.duration,
        width=video.width,
        height=video.height,
        error=video.error,
        renditions=list(video.renditions),
        compression=video.compression,
    ).model_dump()


def iso_millis(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and a Z, as the original service wrote."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
