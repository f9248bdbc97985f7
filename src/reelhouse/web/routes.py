"""The embeddable player, and the files it plays, for public videos."""

from pathlib import Path

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select

from reelhouse import errors
from reelhouse.accounts.models import Account
from reelhouse.db import get_database
from reelhouse.errors import ReelhouseError
from reelhouse.storage import get_blob_store
from reelhouse.videos import states
from reelhouse.videos.models import Video
from reelhouse.videos.routes import ready_file

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


def _playable(video_id: str) -> tuple[Video, str]:
    """A public, ready video and its account's write key.

    A private video is missing here, whoever asks: it plays only through a
    signed link.
    """
    with get_database().session() as session:
        found = session.execute(
            select(Video, Account.write_key)
            .join(Account, Account.id == Video.account_id)
            .where(Video.id == video_id, Video.private.is_(False))
        ).first()
    if found is None:
        raise ReelhouseError(errors.VIDEO_NOT_FOUND)
    video, write_key = found
    if video.status != states.READY:
        raise ReelhouseError(
            errors.VIDEO_NOT_READY, f"The video is {video.status}; it cannot play yet."
        )
    return video, write_key


@router.get("/embed/video/{video_id}", response_class=HTMLResponse)
def embed_page(video_id: str, request: Request) -> Response:
    """The player page, made to sit in an iframe on any site."""
    video, write_key = _playable(video_id)
    base = f"/embed/video/{video.id}"
    return templates.TemplateResponse(
        request,
        "embed.html",
        {
            "video": video,
            "write_key": write_key,
            "streaming": f"{base}/hls/{video.streaming_key.rsplit('/', 1)[1]}"
            if video.streaming_key
            else None,
            "download": f"{base}/video.mp4",
            "poster": f"{base}/poster.jpg",
        },
    )


@router.get("/embed/video/{video_id}/hls/{name:path}")
def embed_streaming(video_id: str, name: str) -> Response:
    return ready_file(_playable(video_id)[0], "streaming_key", name)


@router.get("/embed/video/{video_id}/poster.jpg")
def embed_poster(video_id: str) -> Response:
    return _stored(_playable(video_id)[0].poster_key, "image/jpeg")


@router.get("/embed/video/{video_id}/video.mp4")
def embed_mp4(video_id: str) -> Response:
    return _stored(_playable(video_id)[0].video_key, "video/mp4")


def _stored(key: str | None, media_type: str) -> Response:
    if key is None:
        raise ReelhouseError(errors.NOT_FOUND)
    return FileResponse(get_blob_store().local_path(key), media_type=media_type)
