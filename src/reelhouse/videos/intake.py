"""Turning upload lifecycle events into videos in the library."""

import logging
import mimetypes
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import delete, select, update

from reelhouse.db import Database
from reelhouse.storage import BlobStore
from reelhouse.uploads import UploadInfo, UploadStore
from reelhouse.videos import encoding, states
from reelhouse.videos.models import Video
from reelhouse.videos.naming import UNTITLED, clean_name, folded

log = logging.getLogger(__name__)

Enqueue = Callable[[str], None]

# The stored MIME type's column length.
TYPE_LIMIT = 100


def original_key(video_id: str) -> str:
    return f"videos/{video_id}/original"


class VideoIntake:
    """The :class:`reelhouse.uploads.UploadEvents` that feeds the library."""

    def __init__(
        self,
        database: Database,
        blobs: BlobStore,
        uploads: UploadStore,
        enqueue: Enqueue,
    ) -> None:
        self.database = database
        self.blobs = blobs
        self.uploads = uploads
        self.enqueue = enqueue

    def created(self, upload: UploadInfo) -> None:
        # Checked first: a bad request leaves no video behind.
        wanted = encoding.requested(upload.metadata)
        filename = clean_name(upload.metadata.get("filename", ""))
        name = clean_name(upload.metadata.get("name", "")) or filename or UNTITLED
        video = Video(
            id=str(uuid.uuid4()),
            account_id=upload.owner,
            upload_id=upload.id,
            name=name,
            name_folded=folded(name),
            original=filename,
            type=_mime_type(upload.metadata, filename),
            original_size=upload.length or 0,
            encoding=wanted,
        )
        with self.database.session() as session:
            session.add(video)
        # The upload id is the upload's only credential: it is never logged.
        log.info("upload_created video_id=%s length=%s", video.id, upload.length)

    def progress(self, upload: UploadInfo) -> None:
        # The handler tells progress at most twice a second: each is written.
        with self.database.session() as session:
            session.execute(
                update(Video)
                .where(Video.upload_id == upload.id, Video.status == states.UPLOADING)
                .values(
                    upload_percent=_percent(upload),
                    original_size=(
                        upload.offset if upload.length is None else upload.length
                    ),
                )
            )

    def finished(self, upload: UploadInfo) -> None:
        """Adopt the bytes as the video's original and queue its processing.

        Safe to call again for the same upload: only the call that moves the
        video out of ``uploading`` queues a job.
        """
        with self.database.session() as session:
            video_id = session.scalar(
                select(Video.id).where(
                    Video.upload_id == upload.id, Video.status == states.UPLOADING
                )
            )
        if video_id is None:
            return
        key = original_key(video_id)
        self.blobs.adopt(key, Path(self.uploads.data_path(upload.id)))
        with self.database.session() as session:
            moved = session.scalar(
                update(Video)
                .where(Video.id == video_id, Video.status == states.UPLOADING)
                .values(
                    status=states.PROCESSING,
                    upload_percent=100,
                    original_size=upload.offset,
                    original_key=key,
                )
                .returning(Video.id)
            )
        if moved:
            log.info("upload_finished video_id=%s bytes=%d", video_id, upload.offset)
            self.enqueue(video_id)

    def terminated(self, upload: UploadInfo) -> None:
        with self.database.session() as session:
            session.execute(
                delete(Video).where(
                    Video.upload_id == upload.id, Video.status == states.UPLOADING
                )
            )

    def recover(self) -> int:
        """Finish uploads whose last bytes arrived just before a crash.

        Returns how many were finished now.
        """
        with self.database.session() as session:
            pending = session.scalars(
                select(Video.upload_id).where(Video.status == states.UPLOADING)
            ).all()
        recovered = 0
        for upload_id in pending:
            if upload_id is None:
                continue
            try:
                upload = self.uploads.get(upload_id)
            except LookupError:
                continue
            if upload.complete:
                self.uploads.finish(upload_id)
                self.finished(upload)
                recovered += 1
        return recovered


def _percent(upload: UploadInfo) -> int:
    if upload.length is None:
        return 0
    if upload.length == 0:
        return 100
    return upload.offset * 100 // upload.length


def _mime_type(metadata: dict[str, str], filename: str) -> str:
    declared = clean_name(metadata.get("filetype") or metadata.get("type") or "")
    if declared:
        return declared[:TYPE_LIMIT]
    guessed, _ = mimetypes.guess_type(filename)
    return guessed or "application/octet-stream"
