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
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update

from reelhouse.db import Database, utcnow
from reelhouse.settings import Settings
from reelhouse.storage import BlobStore
from reelhouse.videos import encoding, states
from reelhouse.videos.models import Video

if TYPE_CHECKING:
    from reelhouse.media import EncodeResult
    from reelhouse.media.probe import MediaInfo
    from reelhouse.media.targeting import TargetedEncode

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
        from reelhouse.media import Codec, Profile, Target, encode_targeted

        with self.database.session() as session:
            video = session.get(Video, video_id)
            assert video is not None and video.original_key is not None
            source = self.blobs.local_path(video.original_key)
            video_encoding = dict(video.encoding)

        info = media.probe(source)
        self._update(
            video_id,
            duration=info.duration,
            width=info.width,
            height=info.height,
            media=asdict(info),
        )
        quality, profile, codec = encoding.resolved(video_encoding, self.settings)
        target = Target(mean=quality, p5=quality - encoding.P5_ALLOWANCE)
        encoded = encode_targeted(
            source,
            workspace / "video.mp4",
            info,
            codec=Codec(codec),
            profile=Profile(profile),
            target=target,
            workspace=workspace / "encode",
            on_progress=self._progress_reporter(video_id),
        )
        download = _download_rendition(encoded)
        original_size = source.stat().st_size
        path, size = encoded.path, encoded.size
        if size >= original_size and media.can_remux(info):
            # The upload is already smaller than what the target needs and
            # plays as it is: the download must never be the larger of the two.
            remuxed = media.remux_mp4(source, workspace / "remux.mp4", info)
            if remuxed.size < size:
                path, size = remuxed.path, remuxed.size
                download = _download_rendition(encoded, remuxed=remuxed)
        media.make_poster(source, workspace / "poster.jpg", info)

        video_key = f"videos/{video_id}/video.mp4"
        poster_key = f"videos/{video_id}/poster.jpg"
        self.blobs.adopt(video_key, path)
        self.blobs.adopt(poster_key, workspace / "poster.jpg")
        self._update(
            video_id,
            status=states.READY,
            size=size,
            width=download["width"],
            height=download["height"],
            video_key=video_key,
            poster_key=poster_key,
            renditions=[download],
            compression=_compression(info, original_size, download, encoded),
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


def _download_rendition(
    encoded: "TargetedEncode", remuxed: "EncodeResult | None" = None
) -> dict[str, Any]:
    """The download as the API lists it among the renditions."""
    if remuxed is not None:
        # The source's own pictures, repackaged: nothing was lost.
        width, height, size, duration = (
            remuxed.width, remuxed.height, remuxed.size, remuxed.duration,
        )  # fmt: skip
        codec, vmaf, vmaf_p5 = "h264", 100.0, 100.0
    else:
        width, height, size, duration = (
            encoded.width, encoded.height, encoded.size, encoded.duration,
        )  # fmt: skip
        codec = encoded.codec.value
        vmaf, vmaf_p5 = encoded.score.mean, encoded.score.p5
    return {
        "kind": "download",
        "codec": codec,
        "width": width,
        "height": height,
        "bitrate": round(size * 8 / duration) if duration else None,
        "bytes": size,
        "vmaf": round(vmaf, 2),
        "vmaf_p5": round(vmaf_p5, 2),
        "remuxed": remuxed is not None,
    }


def _compression(
    info: "MediaInfo",
    original_size: int,
    download: dict[str, Any],
    encoded: "TargetedEncode",
) -> dict[str, Any]:
    """What the encoder saved against the upload, and what it cost."""
    duration = info.duration
    return {
        "original_bitrate": round(original_size * 8 / duration) if duration else None,
        "bitrate": download["bitrate"],
        "bytes_saved_pct": round(100 * (1 - download["bytes"] / original_size), 1),
        "vmaf": download["vmaf"],
        "vmaf_p5": download["vmaf_p5"],
        "codec": download["codec"],
        "profile": encoded.profile.value,
        "crfs": encoded.crfs,
        "encode_seconds": round(encoded.encode_seconds, 2),
        "speed_x_realtime": round(duration / encoded.encode_seconds, 2)
        if encoded.encode_seconds
        else None,
    }
