"""Reading a library: one account's videos, never another's."""

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from reelhouse import errors
from reelhouse.errors import ReelhouseError
from reelhouse.videos.models import Video
from reelhouse.videos.naming import folded


def list_videos(session: Session, account_id: str) -> list[Video]:
    query = (
        select(Video)
        .where(Video.account_id == account_id)
        .order_by(Video.created_at.desc(), Video.id.desc())
    )
    return list(session.scalars(query))


def get_video(session: Session, account_id: str, video_or_upload_id: str) -> Video:
    """The account's video with this id or upload id.

    Another account's video is reported as missing, not forbidden: its
    existence is not the caller's business.
    """
    video = session.scalar(
        select(Video).where(
            Video.account_id == account_id,
            or_(Video.id == video_or_upload_id, Video.upload_id == video_or_upload_id),
        )
    )
    if video is None:
        raise ReelhouseError(errors.VIDEO_NOT_FOUND)
    return video


def search_videos(session: Session, account_id: str, term: str) -> list[Video]:
    """Videos whose name contains ``term`` anywhere, ignoring case.

    ``%`` and ``_`` in the term are matched literally; the term is cleaned
    as names are, so a term of control characters alone matches nothing.
    """
    wanted = folded(term)
    if not wanted:
        return []
    pattern = "%" + _escape_like(wanted) + "%"
    query = (
        select(Video)
        .where(
            Video.account_id == account_id,
            Video.name_folded.like(pattern, escape="\\"),
        )
        .order_by(Video.created_at.desc(), Video.id.desc())
    )
    return list(session.scalars(query))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
