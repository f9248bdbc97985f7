"""The processing job: from an uploaded original to a playable, downloadable MP4.

A run first takes the video's lease; a run that dies stops renewing it, and
the sweep hands the video to a new run. Every output is written aside and
adopted only when complete, so a second run never sees half a file.
"""

import logging
import shutil
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import or_, select, update

from reelhouse.accounts.models import Account
from reelhouse.db import Database, utcnow
from reelhouse.settings import Settings
from reelhouse.storage import BlobStore
from reelhouse.videos import encoding, states
from reelhouse.videos.models import Video

if TYPE_CHECKING:
    from reelhouse.media import EncodeResult
    from reelhouse.media.hls import Ladder
    from reelhouse.media.probe import MediaInfo
    from reelhouse.media.targeting import TargetedEncode

log = logging.getLogger(__name__)

# How often a running job writes its progress (and renews its lease).
PROGRESS_INTERVAL = 1.0
# Streaming rungs are scored on every n-th frame: a report, not a search.
RUNG_SUBSAMPLE = 4


Retry = Callable[[str, float], None]
"""Run the video's job again after so many seconds."""


class Processor:
    def __init__(
        self,
        database: Database,
        blobs: BlobStore,
        settings: Settings,
        retry: Retry | None = None,
    ) -> None:
        self.database = database
        self.blobs = blobs
        self.settings = settings
        self.retry = retry
        self.lease = timedelta(seconds=settings.job_lease_seconds)
        self.stall = settings.ffmpeg_stall_seconds

    def process(self, video_id: str) -> None:
        # Imported here: PyAV and FFmpeg's libraries are loaded only by the
        # processes that run jobs, not by every API process.
        from reelhouse.media import MediaError
        from reelhouse.media.errors import MediaStalled

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
            with self._lease_kept(video_id):
                self._process(video_id, workspace)
        except MediaStalled as error:
            self._stalled(video_id, attempt, error.reason)
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
            account = session.get(Account, video.account_id)
            account_encoding = dict(account.encoding) if account is not None else {}

        info = media.probe(source)
        self._update(
            video_id,
            duration=info.duration,
            width=info.width,
            height=info.height,
            media=asdict(info),
        )
        report = self._progress_reporter(video_id)
        quality, profile, codec = encoding.resolved(
            video_encoding, account_encoding, self.settings
        )
        target = Target(mean=quality, p5=quality - encoding.P5_ALLOWANCE)
        encoded = encode_targeted(
            source,
            workspace / "video.mp4",
            info,
            codec=Codec(codec),
            profile=Profile(profile),
            target=target,
            workspace=workspace / "encode",
            on_progress=lambda fraction: report(0.7 * fraction),
            stall_timeout=self.stall,
        )
        download = _download_rendition(encoded)
        original_size = source.stat().st_size
        path, size = encoded.path, encoded.size
        if size >= original_size and media.can_remux(info):
            # The upload is already smaller than what the target needs and
            # plays as it is: the download must never be the larger of the two.
            remuxed = media.remux_mp4(
                source, workspace / "remux.mp4", info, stall_timeout=self.stall
            )
            if remuxed.size < size:
                path, size = remuxed.path, remuxed.size
                download = _download_rendition(encoded, remuxed=remuxed)
        media.make_poster(
            source, workspace / "poster.jpg", info, stall_timeout=self.stall
        )
        report(0.75)
        ladder, ladder_renditions = self._ladder(
            source, workspace, info, encoded, report
        )
        (workspace / "storyboard").mkdir()
        storyboard = media.make_storyboard(
            source, workspace / "storyboard", info, stall_timeout=self.stall
        )

        prefix = f"videos/{video_id}"
        video_key, poster_key = f"{prefix}/video.mp4", f"{prefix}/poster.jpg"
        self.blobs.adopt(video_key, path)
        self.blobs.adopt(poster_key, workspace / "poster.jpg")
        streaming_key = self._adopt_folder(f"{prefix}/hls", ladder.master.parent)
        storyboard_key = self._adopt_folder(
            f"{prefix}/storyboard", storyboard.index.parent
        )
        self._update(
            video_id,
            status=states.READY,
            size=size,
            width=download["width"],
            height=download["height"],
            video_key=video_key,
            poster_key=poster_key,
            streaming_key=f"{streaming_key}/{ladder.master.name}",
            storyboard_key=f"{storyboard_key}/{storyboard.index.name}",
            renditions=[download, *ladder_renditions],
            compression=_compression(info, original_size, download, encoded),
            compression_progress=100,
            error=None,
            lease_until=None,
        )

    def _ladder(
        self,
        source: Path,
        workspace: Path,
        info: "MediaInfo",
        encoded: "TargetedEncode",
        report: Callable[[float], None],
    ) -> "tuple[Ladder, list[dict[str, Any]]]":
        """The HLS ladder, each rung scored; the rungs as the API lists them."""
        from reelhouse import media
        from reelhouse.media.hls import default_maxrate_kbps
        from reelhouse.media.vmaf import Clip, measure

        # The download's search found what this content needs at full size;
        # each rung takes the same quality setting, capped for streaming.
        crf = statistics.median(encoded.crfs)
        rungs = [
            media.Rung(height, crf, default_maxrate_kbps(height))
            for height in media.ladder_heights(info)
        ]
        ladder = media.package_hls(
            source,
            workspace / "hls",
            info,
            rungs,
            on_progress=lambda seconds: report(
                0.75 + 0.15 * min(1.0, seconds / info.duration)
            ),
            stall_timeout=self.stall,
        )
        listed = []
        for rendition in ladder.renditions:
            score = measure(
                Clip(rendition.playlist),
                Clip(source),
                display_aspect=info.display_aspect,
                workspace=workspace,
                subsample=RUNG_SUBSAMPLE,
                stall_timeout=self.stall,
            )
            listed.append(
                {
                    "kind": "hls",
                    "name": rendition.name,
                    "codec": "h264",
                    "codecs": rendition.codec,
                    "width": rendition.width,
                    "height": rendition.height,
                    "bitrate": rendition.bitrate,
                    "bytes": rendition.bytes,
                    "vmaf": round(score.mean, 2),
                    "vmaf_p5": round(score.p5, 2),
                }
            )
        return ladder, listed

    def _adopt_folder(self, prefix: str, folder: Path) -> str:
        """Store every file under ``folder`` below ``prefix``; the prefix."""
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                self.blobs.adopt(
                    f"{prefix}/{path.relative_to(folder).as_posix()}", path
                )
        return prefix

    @contextmanager
    def _lease_kept(self, video_id: str) -> Iterator[None]:
        """Renew the video's lease while the run is alive.

        From a thread of this process: a run that dies stops renewing at
        once, whatever step it was in, and a long step without progress
        reports (a VMAF score, a storyboard) does not look dead.
        """
        done = threading.Event()

        def renew() -> None:
            while not done.wait(self.lease.total_seconds() / 3):
                self._update(video_id, lease_until=utcnow() + self.lease)

        keeper = threading.Thread(target=renew, name=f"lease-{video_id[:8]}")
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join()

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

    def _stalled(self, video_id: str, attempt: int, reason: str) -> None:
        """Try a stalled video again later, waiting longer each time; or fail it."""
        if attempt >= self.settings.job_max_attempts or self.retry is None:
            self._fail(video_id, f"{reason} Gave up after {attempt} attempts.")
            return
        delay = self.settings.job_retry_seconds * 2 ** (attempt - 1)
        log.info(
            "video_retry video_id=%s attempt=%d delay=%.0f", video_id, attempt, delay
        )
        # The lease runs out as the retry starts: the retry can claim the
        # video, and the sweep re-queues it if the retry itself is lost.
        self._update(
            video_id,
            error=f"Retrying in {delay:g} s: {reason}",
            lease_until=utcnow() + timedelta(seconds=delay),
        )
        self.retry(video_id, delay)

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
