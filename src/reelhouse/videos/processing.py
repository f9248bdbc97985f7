"""The processing job: from an uploaded original to a playable, downloadable MP4.

A run first takes the video's lease; a run that dies stops renewing it, and
the sweep hands the video to a new run. Every output is written aside and
adopted only when complete, so a second run never sees half a file.
"""

import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

from sqlalchemy import or_, select, update

from reelhouse.db import Database, utcnow
from reelhouse.settings import Settings
from reelhouse.storage import BlobStore
from reelhouse.videos import states
from reelhouse.videos.models import Video

log = logging.getLogger(__name__)

# How often a running job writes its progress (and renews its lease).
PROGRESS_INTERVAL = 1.0


class Processor:
    def __init__(
        self, database: Database, blobs: BlobStore, settings: Settings
    ) -> None:
        self.database = database
        self.blobs = blobs
        self.settings = settings
        self.lease = timedelta(seconds=settings.job_lease_seconds)

    def process(self, video_id: str) -> None:
        # Imported here: PyAV and FFmpeg's libraries are loaded only by the
        # processes that run jobs, not by every API process.
        from reelhouse.media import MediaError

        attempt = self._claim(video_id)
        if attempt is None:
            return
        if attempt > self.settings.job_max_attempts:
            self._fail(video_id, "Processing stopped after failing repeatedly.")
            return
        started = time.monotonic()
        workspace = self.settings.data_dir / "work" / video_id
        shutil.rmtree(workspace, ignore_errors=True)
        workspace.mkdir(parents=True)
        try:
            self._process(video_id, workspace)
        except MediaError as error:
            self._fail(video_id, error.reason)
        finally:
            shutil.rmtree(workspace, ignore_errors=True)
        log.info(
            "video_processed video_id=%s attempt=%d seconds=%.1f",
            video_id,
            attempt,
            time.monotonic() - started,
        )

    def _process(self, video_id: str, workspace: Path) -> None:
        from reelhouse import media

        with self.database.session() as session:
            video = session.get(Video, video_id)
            assert video is not None and video.original_key is not None
            source = self.blobs.local_path(video.original_key)

        info = media.probe(source)
        self._update(
            video_id,
            duration=info.duration,
            width=info.width,
            height=info.height,
            media=asdict(info),
        )
        encoded = media.encode_mp4(
            source,
            workspace / "video.mp4",
            info,
            on_progress=self._progress_reporter(video_id),
        )
        if encoded.size >= source.stat().st_size and media.can_remux(info):
            # The upload is already smaller than its re-encode and plays as it
            # is: the download must never be the larger of the two.
            # TODO(#4): a quality-targeted encode instead of one fixed CRF.
            remuxed = media.remux_mp4(source, workspace / "remux.mp4", info)
            if remuxed.size < encoded.size:
                encoded = remuxed
        media.make_poster(source, workspace / "poster.jpg", info)

        video_key = f"videos/{video_id}/video.mp4"
        poster_key = f"videos/{video_id}/poster.jpg"
        self.blobs.adopt(video_key, encoded.path)
        self.blobs.adopt(poster_key, workspace / "poster.jpg")
        self._update(
            video_id,
            status=states.READY,
            size=encoded.size,
            width=encoded.width,
            height=encoded.height,
            video_key=video_key,
            poster_key=poster_key,
            compression_progress=100,
            lease_until=None,
        )

    def _claim(self, video_id: str) -> int | None:
        """Take the video's lease; the attempt number, or None if not ours."""
        now = utcnow()
        with self.database.session() as session:
            attempt: int | None = session.scalar(
                update(Video)
                .where(
                    Video.id == video_id,
                    Video.status == states.PROCESSING,
                    or_(Video.lease_until.is_(None), Video.lease_until < now),
                )
                .values(lease_until=now + self.lease, attempts=Video.attempts + 1)
                .returning(Video.attempts)
            )
        return attempt

    def _progress_reporter(self, video_id: str) -> Callable[[float], None]:
        last = 0.0

        def report(fraction: float) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < PROGRESS_INTERVAL and fraction < 1:
                return
            last = now
            # Encoding is most of the work; the poster and the move follow.
            self._update(
                video_id,
                compression_progress=min(99, int(fraction * 100)),
                lease_until=utcnow() + self.lease,
            )

        return report

    def _fail(self, video_id: str, reason: str) -> None:
        log.info("video_failed video_id=%s reason=%r", video_id, reason)
        self._update(video_id, status=states.ERROR, error=reason, lease_until=None)

    def _update(self, video_id: str, **values: object) -> None:
        with self.database.session() as session:
            session.execute(update(Video).where(Video.id == video_id).values(**values))


def stalled(database: Database, lease_seconds: float) -> list[str]:
    """Videos left ``processing`` by a run that died, or by a lost job."""
    now = utcnow()
    forgotten = now - timedelta(seconds=lease_seconds)
    with database.session() as session:
        return list(
            session.scalars(
                select(Video.id).where(
                    Video.status == states.PROCESSING,
                    or_(
                        Video.lease_until < now,
                        Video.lease_until.is_(None) & (Video.updated_at < forgotten),
                    ),
                )
            )
        )
