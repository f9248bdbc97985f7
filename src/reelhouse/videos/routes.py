"""The documented video calls (list, get, search, download), and streaming."""

from pathlib import PurePosixPath
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse

from reelhouse import errors
from reelhouse.accounts.auth import CurrentAccount
from reelhouse.db import get_database
from reelhouse.errors import ReelhouseError
from reelhouse.storage import InvalidKey, MissingBlob, get_blob_store
from reelhouse.videos import states
from reelhouse.videos.delivery import file_download
from reelhouse.videos.library import get_video, list_videos, search_videos
from reelhouse.videos.models import Video
from reelhouse.videos.representation import VideoOut, represent

router = APIRouter(
    tags=["videos"],
    responses=errors.documented(
        errors.API_KEY_MISSING, errors.API_KEY_INVALID, errors.INVALID_REQUEST
    ),
)


@router.get("/videos/list", response_model=list[VideoOut])
@router.get("/video/list", response_model=list[VideoOut], include_in_schema=False)
def list_route(account_id: CurrentAccount) -> list[dict[str, Any]]:
    """Every video of the account, newest first."""
    with get_database().session() as session:
        return [represent(v) for v in list_videos(session, account_id)]


@router.get(
    "/videos/get/{video_id}",
    response_model=VideoOut,
    responses=errors.documented(errors.VIDEO_NOT_FOUND),
)
def get_route(video_id: str, account_id: CurrentAccount) -> dict[str, Any]:
    """One video, by its id or by the id of its upload."""
    with get_database().session() as session:
        return represent(get_video(session, account_id, video_id))


@router.get("/videos/search/{term:path}", response_model=list[VideoOut])
def search_route(term: str, account_id: CurrentAccount) -> list[dict[str, Any]]:
    """Videos whose name contains the term, ignoring case."""
    with get_database().session() as session:
        return [represent(v) for v in search_videos(session, account_id, term)]


@router.head("/videos/download/{video_id}", include_in_schema=False)
@router.get(
    "/videos/download/{video_id}",
    response_class=FileResponse,
    responses={
        200: {"content": {"video/mp4": {}}},
        206: {"description": "The requested byte range"},
        **errors.documented(
            errors.VIDEO_NOT_FOUND,
            errors.VIDEO_NOT_READY,
            errors.VIDEO_FAILED,
            errors.RANGE_NOT_SATISFIABLE,
        ),
    },
)
def download_route(
    video_id: str, request: Request, account_id: CurrentAccount
) -> Response:
    """The compressed MP4, named after the video; supports Range requests."""
    with get_database().session() as session:
        video = get_video(session, account_id, video_id)
    key = ensure_ready(video, video.video_key, "it can be downloaded once it is ready")
    filename = video.name
    if not filename.lower().endswith(".mp4"):
        filename += ".mp4"
    path = get_blob_store().local_path(key)
    return file_download(request, path, filename, "video/mp4")


# What the streaming and scrubbing files are, by their name's ending.
_STREAM_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
}


@router.head("/videos/{video_id}/hls/{name:path}", include_in_schema=False)
@router.get(
    "/videos/{video_id}/hls/{name:path}",
    response_class=FileResponse,
    responses=errors.documented(
        errors.VIDEO_NOT_FOUND, errors.VIDEO_NOT_READY, errors.VIDEO_FAILED
    ),
)
def streaming_route(video_id: str, name: str, account_id: CurrentAccount) -> Response:
    """The HLS ladder: ``master.m3u8``, and the playlists and segments it names."""
    return _ready_file(account_id, video_id, "streaming_key", name)


@router.head("/videos/{video_id}/storyboard/{name:path}", include_in_schema=False)
@router.get(
    "/videos/{video_id}/storyboard/{name:path}",
    response_class=FileResponse,
    responses=errors.documented(
        errors.VIDEO_NOT_FOUND, errors.VIDEO_NOT_READY, errors.VIDEO_FAILED
    ),
)
def storyboard_route(video_id: str, name: str, account_id: CurrentAccount) -> Response:
    """Scrubbing previews: ``storyboard.vtt`` and the sprite image it names."""
    return _ready_file(account_id, video_id, "storyboard_key", name)


@router.head("/videos/{video_id}/poster.jpg", include_in_schema=False)
@router.get(
    "/videos/{video_id}/poster.jpg",
    response_class=FileResponse,
    responses={
        200: {"content": {"image/jpeg": {}}},
        **errors.documented(
            errors.VIDEO_NOT_FOUND, errors.VIDEO_NOT_READY, errors.VIDEO_FAILED
        ),
    },
)
def poster_route(video_id: str, account_id: CurrentAccount) -> Response:
    """The poster: a JPEG frame from early in the video, at its size."""
    return _ready_file(account_id, video_id, "poster_key", "poster.jpg")


def _ready_file(account_id: str, video_id: str, column: str, name: str) -> Response:
    with get_database().session() as session:
        video = get_video(session, account_id, video_id)
    return ready_file(video, column, name)


def ensure_ready(video: Video, key: str | None, until: str) -> str:
    """``key``, the stored file of a ready ``video``; or an error: failed
    videos say so, others say what waits (``until``) on their status."""
    if video.status == states.ERROR:
        raise ReelhouseError(errors.VIDEO_FAILED)
    if video.status != states.READY or key is None:
        raise ReelhouseError(
            errors.VIDEO_NOT_READY, f"The video is {video.status}; {until}."
        )
    return key


def ready_file(video: Video, column: str, name: str) -> Response:
    """A file beside the index file that ``column`` of a ready video names."""
    index_key = ensure_ready(video, getattr(video, column), "nothing to stream yet")
    suffix = PurePosixPath(name).suffix
    if suffix not in _STREAM_TYPES:
        raise ReelhouseError(errors.NOT_FOUND)
    folder = index_key.rsplit("/", 1)[0]
    try:
        path = get_blob_store().local_path(f"{folder}/{name}")
    except (InvalidKey, MissingBlob):
        raise ReelhouseError(errors.NOT_FOUND) from None
    return FileResponse(path, media_type=_STREAM_TYPES[suffix])
