"""The embeddable player and the files it plays: public videos by their id,
private ones through signed links."""

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import FileResponse, HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from sqlalchemy import select

from reelhouse import errors
from reelhouse.accounts.auth import CurrentAccount
from reelhouse.accounts.models import Account
from reelhouse.accounts.signing import (
    expiry,
    sign,
    signing_secret,
    unseal,
    verify,
    verify_legacy,
)
from reelhouse.db import get_database
from reelhouse.errors import ReelhouseError
from reelhouse.public_url import public_base_url
from reelhouse.settings import get_settings
from reelhouse.storage import get_blob_store
from reelhouse.videos.library import get_video
from reelhouse.videos.models import Video
from reelhouse.videos.routes import ensure_ready, ready_file

HERE = Path(__file__).parent
STATIC = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)
api_router = APIRouter(tags=["playback"])


def _playable(video_id: str, token: str | None = None) -> tuple[Video, str]:
    """A ready video anyone may play, and its account's write key.

    Without a token, only a public video: a private one is missing here,
    whoever asks. With one, any video the token was signed for, by its
    account's current signing secret.
    """
    with get_database().session() as session:
        found = session.execute(
            select(Video, Account)
            .join(Account, Account.id == Video.account_id)
            .where(Video.id == video_id)
        ).first()
    if found is None or (found[0].private and token is None):
        raise ReelhouseError(errors.VIDEO_NOT_FOUND)
    video, account = found
    if token is not None:
        _check_link(account, token, video.id)
    ensure_ready(video, video.video_key, "it cannot play yet")
    return video, account.write_key


def _check_link(account: Account, token: str, video_id: str) -> None:
    """Raise TOKEN_INVALID unless the link is the account's, for this video,
    and live; in the old form only where the account opted in."""
    settings = get_settings()
    try:
        verify(
            signing_secret(settings, account.id, account.signing_version),
            token,
            video_id,
        )
    except ReelhouseError:
        if account.legacy_link_key is None:
            raise
        verify_legacy(unseal(settings, account.legacy_link_key), token, video_id)


def _page(request: Request, video_id: str, token: str | None) -> Response:
    video, write_key = _playable(video_id, token)
    base = f"/embed/video/{video.id}" + (f"/token/{token}" if token else "")
    master = video.streaming_key.rsplit("/", 1)[1] if video.streaming_key else None
    return templates.TemplateResponse(
        request,
        "embed.html",
        {
            "video": video,
            "write_key": write_key,
            "streaming": f"{base}/hls/{master}" if master else None,
            "download": f"{base}/video.mp4",
            "poster": f"{base}/poster.jpg",
        },
    )


@router.api_route(
    "/embed/video/{video_id}", methods=["GET", "HEAD"], response_class=HTMLResponse
)
def embed_page(video_id: str, request: Request) -> Response:
    """The player page of a public video, made to sit in an iframe anywhere."""
    return _page(request, video_id, None)


@router.api_route(
    "/embed/video/{video_id}/token/{token}",
    methods=["GET", "HEAD"],
    response_class=HTMLResponse,
)
def signed_embed_page(video_id: str, token: str, request: Request) -> Response:
    """The player page through a signed link: how private videos play."""
    return _page(request, video_id, token)


@router.api_route("/embed/video/{video_id}/hls/{name:path}", methods=["GET", "HEAD"])
@router.api_route(
    "/embed/video/{video_id}/token/{token}/hls/{name:path}", methods=["GET", "HEAD"]
)
def embed_streaming(video_id: str, name: str, token: str | None = None) -> Response:
    return ready_file(_playable(video_id, token)[0], "streaming_key", name)


@router.api_route("/embed/video/{video_id}/poster.jpg", methods=["GET", "HEAD"])
@router.api_route(
    "/embed/video/{video_id}/token/{token}/poster.jpg", methods=["GET", "HEAD"]
)
def embed_poster(video_id: str, token: str | None = None) -> Response:
    return _stored(_playable(video_id, token)[0].poster_key, "image/jpeg")


@router.api_route("/embed/video/{video_id}/video.mp4", methods=["GET", "HEAD"])
@router.api_route(
    "/embed/video/{video_id}/token/{token}/video.mp4", methods=["GET", "HEAD"]
)
def embed_mp4(video_id: str, token: str | None = None) -> Response:
    return _stored(_playable(video_id, token)[0].video_key, "video/mp4")


class TokenRequest(BaseModel):
    expires_in: float = Field(
        default=3600,
        description="Seconds the link lasts, at most 7 days.",
        strict=True,
        allow_inf_nan=False,
    )


@api_router.post(
    "/videos/{video_id}/token",
    responses=errors.documented(
        errors.API_KEY_MISSING, errors.API_KEY_INVALID, errors.VIDEO_NOT_FOUND
    ),
)
def token_route(
    video_id: str,
    request: Request,
    account_id: CurrentAccount,
    asked: TokenRequest | None = None,
) -> dict[str, Any]:
    """A signed link that plays the video (private or not) until it expires."""
    expires_at = expiry((asked or TokenRequest()).expires_in)
    with get_database().session() as session:
        video = get_video(session, account_id, video_id)
        account = session.get(Account, account_id)
        assert account is not None
        secret = signing_secret(get_settings(), account.id, account.signing_version)
    token = sign(secret, video.id, expires_at)
    base = public_base_url(request, get_settings())
    return {
        "token": token,
        "url": f"{base}/embed/video/{video.id}/token/{token}",
        "expires_at": expires_at.isoformat(),
    }


def _stored(key: str | None, media_type: str) -> Response:
    if key is None:
        raise ReelhouseError(errors.NOT_FOUND)
    return FileResponse(get_blob_store().local_path(key), media_type=media_type)
