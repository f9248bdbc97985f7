"""The processing jobs: from an uploaded original to a download, a streaming
ladder, a poster and a storyboard.

A run first takes the video's lease; a run that dies stops renewing it, and
the sweep hands the video to a new run. Every output is written aside and
adopted only when complete, so a second run never sees half a file.

A video longer than ``chunk_seconds`` is encoded in chunks, each by a job of
its own that takes the chunk's lease, so that several workers share one
video. The video's run plans the chunks and hands them out; each chunk job
queues the video's run again when it is done, and the run that finds every
chunk done joins them and finishes the video.
"""

import logging
import shutil
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import delete, exists, or_, select, update

from reelhouse.accounts.models import Account
from reelhouse.db import Database, utcnow
from reelhouse.settings import Settings
from reelhouse.storage import BlobStore
from reelhouse.videos import encoding, states
from reelhouse.videos.models import Video, VideoChunk

if TYPE_CHECKING:
    from reelhouse.media import Codec, EncodeResult, Profile, Target
    from reelhouse.media.hls import Ladder
    from reelhouse.media.probe import MediaInfo
    from reelhouse.media.targeting import Scene, TargetedEncode

log = logging.getLogger(__name__)

# How often a running job writes its progress (and renews its lease).
PROGRESS_INTERVAL = 1.0
# Streaming rungs are scored on every n-th frame: a report, not a search.
RUNG_SUBSAMPLE = 5


# Of the progress bar, the share of the download's encode; the ladder, the
# poster and the storyboard take the rest.
ENCODING_SHARE = 0.7


class Jobs(Protocol):
    """Where the processor queues the runs that follow on from its own."""

    def process(self, video_id: str, delay: float = 0.0) -> None:
        """Run the video's job (again), after ``delay`` seconds."""
        ...

    def encode_chunk(self, video_id: str, position: int, delay: float = 0.0) -> None:
        """Encode one chunk of the video, after ``delay`` seconds."""
        ...


@dataclass(frozen=True)
class _Job:
    """A video to encode, and how."""

    video_id: str
    source: Path
    info: "MediaInfo"
    codec: "Codec"
    profile: "Profile"
    target: "Target"


def chunk_key(video_id: str, position: int) -> str:
    return f"videos/{video_id}/chunks/{position:05d}.mp4"


class Processor:
    def __init__(
        self,
        database: Database,
        blobs: BlobStore,
        settings: Settings,
        jobs: Jobs | None = None,
    ) -> None:
        """``jobs`` queues retries and chunk jobs; without it, a run encodes
        every chunk itself, one after the other, and never retries."""
        self.database = database
        self.blobs = blobs
        self.settings = settings
        self.jobs = jobs
        self.lease = timedelta(seconds=settings.job_lease_seconds)
        self.stall = settings.ffmpeg_stall_seconds

    def process(self, video_id: str) -> None:
        """The video's run: encode it whole, or hand out its chunks, or join them."""
        # Imported here: PyAV and FFmpeg's libraries are loaded only by the
        # processes that run jobs, not by every API process.
        from reelhouse.media import MediaError
        from reelhouse.media.errors import MediaStalled

        while True:
            attempt = self._claim(video_id)
            if attempt is None:
                return
            if attempt > self.settings.job_max_attempts:
                self._fail(video_id, "Processing stopped after failing repeatedly.")
                return
            started = time.monotonic()
            workspace = self._workspace(video_id)
            handed_out = False
            try:
                with self._lease_kept(lambda: self._renew(video_id)):
                    handed_out = self._process(video_id, workspace)
            except MediaStalled as error:
                self._stalled(video_id, attempt, error.reason)
            except MediaError as error:
                self._fail(video_id, error.reason)
            finally:
                shutil.rmtree(workspace, ignore_errors=True)
            log.info(
                "video_run video_id=%s attempt=%d seconds=%.1f handed_out=%s",
                video_id,
                attempt,
                time.monotonic() - started,
                handed_out,
            )
            if not handed_out:
                return
            # The run ended well: the chunk jobs have the video now.
            self._update(video_id, lease_until=None, attempts=0)
            # A chunk that finished while this run held the lease could not
            # start the join; whoever sees every chunk done does.
            if not self._all_chunks_done(video_id):
                return

    def encode_chunk(self, video_id: str, position: int) -> None:
        """A chunk job: encode one chunk of a long video and store it."""
        from reelhouse.media import MediaError
        from reelhouse.media.errors import MediaStalled

        claimed = self._claim_chunk(video_id, position)
        if claimed is None:
            return
        chunk, attempt = claimed
        if attempt > self.settings.job_max_attempts:
            self._fail(video_id, "Processing stopped: a chunk failed repeatedly.")
            return
        workspace = self._workspace(f"{video_id}-{position:05d}")
        try:
            with self._lease_kept(lambda: self._renew_chunk(video_id, position)):
                self._encode_chunk(self._job(video_id), chunk, workspace)
        except MediaStalled as error:
            self._chunk_stalled(video_id, position, attempt, error.reason)
            return
        except MediaError as error:
            self._fail(video_id, error.reason)
            return
        finally:
            shutil.rmtree(workspace, ignore_errors=True)
        if self.jobs is not None:
            self.jobs.process(video_id)

    def _process(self, video_id: str, workspace: Path) -> bool:
        """Make the video ready; or hand its chunks out and return True."""
        from reelhouse.media import encode_targeted
        from reelhouse.media.hls import SEGMENT_SECONDS
        from reelhouse.media.targeting import KeyFrameGrid

        job = self._job(video_id, record=True)
        report = self._progress_reporter(video_id)
        chunks = self._chunks(job)
        if not chunks:
            encoded = encode_targeted(
                job.source,
                workspace / "video.mp4",
                job.info,
                codec=job.codec,
                profile=job.profile,
                target=job.target,
                key_frames=KeyFrameGrid(SEGMENT_SECONDS),
                workspace=workspace / "encode",
                on_progress=lambda fraction: report(ENCODING_SHARE * fraction),
                stall_timeout=self.stall,
            )
        else:
            pending = [chunk for chunk in chunks if not chunk.done]
            if pending and self.jobs is not None:
                self._hand_out(video_id, pending)
                return True
            for chunk in pending:
                self._encode_chunk(job, chunk, workspace / f"chunk-{chunk.position}")
            encoded = self._join(job, workspace)
        self._finish(job, encoded, workspace, report, chunks=max(1, len(chunks)))
        return False

    def _job(self, video_id: str, *, record: bool = False) -> _Job:
        """What to encode and how; ``record`` stores what the probe found."""
        from reelhouse import media
        from reelhouse.media import Codec, Profile, Target

        with self.database.session() as session:
            video = session.get(Video, video_id)
            assert video is not None and video.original_key is not None
            source = self.blobs.local_path(video.original_key)
            video_encoding = dict(video.encoding)
            account = session.get(Account, video.account_id)
            account_encoding = dict(account.encoding) if account is not None else {}
        info = media.probe(source)
        if record:
            self._update(
                video_id,
                duration=info.duration,
                width=info.width,
                height=info.height,
                media=asdict(info),
            )
        quality, profile, codec = encoding.resolved(
            video_encoding, account_encoding, self.settings
        )
        return _Job(
            video_id,
            source,
            info,
            Codec(codec),
            Profile(profile),
            Target(mean=quality, p5=quality - encoding.P5_ALLOWANCE),
        )

    def _chunks(self, job: _Job) -> list[VideoChunk]:
        """The video's chunks, planned now if need be; none for a short video."""
        from reelhouse.media.chunks import plan_chunks
        from reelhouse.media.targeting import scan_frames

        chunks = self._chunk_rows(job.video_id)
        if chunks or job.info.duration <= self.settings.chunk_seconds:
            return chunks
        frames = scan_frames(job.source, stall_timeout=self.stall)
        plan = plan_chunks(frames, self.settings.chunk_seconds)
        if len(plan) < 2:
            return []
        with self.database.session() as session:
            chunks = [
                VideoChunk(
                    video_id=job.video_id,
                    position=position,
                    first_frame=scene.first,
                    frames=scene.frames,
                    start=scene.start,
                    frame_duration=scene.frame_duration,
                    done=False,
                    progress=0.0,
                    attempts=0,
                )
                for position, scene in enumerate(plan)
            ]
            session.add_all(chunks)
            session.flush()
            session.expunge_all()
        log.info("video_chunked video_id=%s chunks=%d", job.video_id, len(chunks))
        return chunks

    def _hand_out(self, video_id: str, pending: list[VideoChunk]) -> None:
        """Queue a job for every pending chunk that no live job holds."""
        assert self.jobs is not None
        now = utcnow()
        for chunk in pending:
            if chunk.lease_until is None or chunk.lease_until < now:
                self.jobs.encode_chunk(video_id, chunk.position)

    def _encode_chunk(self, job: _Job, chunk: VideoChunk, workspace: Path) -> None:
        from reelhouse import media
        from reelhouse.media import encode_targeted
        from reelhouse.media.chunks import ChunkEncode, extract_chunk
        from reelhouse.media.hls import SEGMENT_SECONDS
        from reelhouse.media.targeting import KeyFrameGrid

        workspace.mkdir(parents=True, exist_ok=True)
        scene = _scene(chunk)
        piece = workspace / "chunk.mkv"
        extract_chunk(job.source, job.info, scene, piece, stall_timeout=self.stall)
        report = self._chunk_reporter(job.video_id, chunk.position)
        encoded = encode_targeted(
            piece,
            workspace / "chunk.mp4",
            media.probe(piece),
            codec=job.codec,
            profile=job.profile,
            target=job.target,
            key_frames=KeyFrameGrid(SEGMENT_SECONDS, offset=chunk.start),
            workspace=workspace / "encode",
            on_progress=report,
            stall_timeout=self.stall,
        )
        self.blobs.adopt(chunk_key(job.video_id, chunk.position), encoded.path)
        with self.database.session() as session:
            session.execute(
                update(VideoChunk)
                .where(
                    VideoChunk.video_id == job.video_id,
                    VideoChunk.position == chunk.position,
                )
                .values(
                    done=True,
                    result=asdict(ChunkEncode.of(scene, encoded)),
                    progress=1.0,
                    lease_until=None,
                )
            )
        log.info(
            "video_chunk_encoded video_id=%s position=%d seconds=%.1f",
            job.video_id,
            chunk.position,
            encoded.encode_seconds,
        )

    def _join(self, job: _Job, workspace: Path) -> "TargetedEncode":
        """The chunks' encodes joined into the download, with its audio."""
        from reelhouse.media.chunks import ChunkEncode, join_chunks

        results = [dict(chunk.result or {}) for chunk in self._chunk_rows(job.video_id)]
        return join_chunks(
            [
                self.blobs.local_path(chunk_key(job.video_id, position))
                for position in range(len(results))
            ],
            [ChunkEncode(**result) for result in results],
            job.source,
            workspace / "video.mp4",
            job.info,
            codec=job.codec,
            profile=job.profile,
            target=job.target,
            workspace=workspace / "join",
            stall_timeout=self.stall,
        )

    def _finish(
        self,
        job: _Job,
        encoded: "TargetedEncode",
        workspace: Path,
        report: Callable[[float], None],
        *,
        chunks: int,
    ) -> None:
        """From the download's encode to a ready video."""
        from reelhouse import media

        source, info, video_id = job.source, job.info, job.video_id
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
            source, workspace, info, encoded, report, reusable=path == encoded.path
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
        compression = _compression(info, original_size, download, encoded)
        compression["chunks"] = chunks
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
            compression=compression,
            compression_progress=100,
            error=None,
            lease_until=None,
        )
        self._drop_chunks(video_id)

    def _ladder(
        self,
        source: Path,
        workspace: Path,
        info: "MediaInfo",
        encoded: "TargetedEncode",
        report: Callable[[float], None],
        *,
        reusable: bool,
    ) -> "tuple[Ladder, list[dict[str, Any]]]":
        """The HLS ladder, each rung scored; the rungs as the API lists them.

        When the download is an H.264 encode at the top rung's size (it has
        a key frame on every segment mark), the top rung is the download's
        video, copied: it is neither encoded nor scored twice.
        """
        from reelhouse import media
        from reelhouse.media import Codec
        from reelhouse.media.codecs import ENCODERS
        from reelhouse.media.hls import default_maxrate_kbps
        from reelhouse.media.vmaf import Clip, Score, measure

        # The download's search found what this content needs at full size;
        # each rung takes the same quality setting, capped for streaming, on
        # the H.264 scale whatever the download's codec.
        crf = ENCODERS[encoded.codec].equivalent_crf(
            statistics.median(encoded.crfs), ENCODERS[Codec.H264]
        )
        heights = media.ladder_heights(info)
        reused = (
            reusable and encoded.codec is Codec.H264 and encoded.height == heights[0]
        )
        rungs = [
            media.Rung(
                height,
                crf,
                default_maxrate_kbps(height),
                encoded=encoded.path if reused and index == 0 else None,
            )
            for index, height in enumerate(heights)
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
        for rung, rendition in zip(rungs, ladder.renditions, strict=True):
            score: Score = encoded.score
            if rung.encoded is None:
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
                    "same_as_download": rung.encoded is not None,
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
    def _lease_kept(self, renew: Callable[[], None]) -> Iterator[None]:
        """Call ``renew`` (which extends a lease) while the run is alive.

        From a thread of this process: a run that dies stops renewing at
        once, whatever step it was in, and a long step without progress
        reports (a VMAF score, a storyboard) does not look dead.
        """
        done = threading.Event()

        def keep() -> None:
            while not done.wait(self.lease.total_seconds() / 3):
                renew()

        keeper = threading.Thread(target=keep, name="lease-keeper")
        keeper.start()
        try:
            yield
        finally:
            done.set()
            keeper.join()

    def _renew(self, video_id: str) -> None:
        self._update(video_id, lease_until=utcnow() + self.lease)

    def _renew_chunk(self, video_id: str, position: int, **values: object) -> None:
        with self.database.session() as session:
            session.execute(
                update(VideoChunk)
                .where(VideoChunk.video_id == video_id, VideoChunk.position == position)
                .values(lease_until=utcnow() + self.lease, **values)
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

    def _claim_chunk(
        self, video_id: str, position: int
    ) -> tuple[VideoChunk, int] | None:
        """Take a chunk's lease: the chunk and the attempt number, or None if
        the chunk is done, held by a live job, or its video is not processing."""
        now = utcnow()
        processing = (
            select(Video.id)
            .where(Video.id == video_id, Video.status == states.PROCESSING)
            .exists()
        )
        with self.database.session() as session:
            attempt: int | None = session.scalar(
                update(VideoChunk)
                .where(
                    VideoChunk.video_id == video_id,
                    VideoChunk.position == position,
                    VideoChunk.done.is_(False),
                    or_(VideoChunk.lease_until.is_(None), VideoChunk.lease_until < now),
                    processing,
                )
                .values(lease_until=now + self.lease, attempts=VideoChunk.attempts + 1)
                .returning(VideoChunk.attempts)
            )
            if attempt is None:
                return None
            chunk = session.get(VideoChunk, (video_id, position))
            assert chunk is not None
            session.expunge(chunk)
        return chunk, attempt

    def _chunk_rows(self, video_id: str) -> list[VideoChunk]:
        """The video's chunks in order, detached from their session."""
        with self.database.session() as session:
            chunks = list(
                session.scalars(
                    select(VideoChunk)
                    .where(VideoChunk.video_id == video_id)
                    .order_by(VideoChunk.position)
                )
            )
            session.expunge_all()
        return chunks

    def _all_chunks_done(self, video_id: str) -> bool:
        with self.database.session() as session:
            pending = session.scalar(
                select(VideoChunk.position)
                .where(VideoChunk.video_id == video_id, VideoChunk.done.is_(False))
                .limit(1)
            )
        return pending is None

    def _drop_chunks(self, video_id: str) -> None:
        """Forget the video's chunks and their encodes (the join is stored)."""
        with self.database.session() as session:
            positions = list(
                session.scalars(
                    delete(VideoChunk)
                    .where(VideoChunk.video_id == video_id)
                    .returning(VideoChunk.position)
                )
            )
        for position in positions:
            self.blobs.delete(chunk_key(video_id, position))

    def _workspace(self, name: str) -> Path:
        workspace = self.settings.data_dir / "work" / name
        shutil.rmtree(workspace, ignore_errors=True)
        workspace.mkdir(parents=True)
        return workspace

    def _progress_reporter(self, video_id: str) -> Callable[[float], None]:
        last = 0.0

        def report(fraction: float) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < PROGRESS_INTERVAL and fraction < 1:
                return
            last = now
            self._update(
                video_id,
                compression_progress=min(99, int(fraction * 100)),
                lease_until=utcnow() + self.lease,
            )

        return report

    def _chunk_reporter(self, video_id: str, position: int) -> Callable[[float], None]:
        """Progress of one chunk; the video's bar shows all its chunks' encoding."""
        last = 0.0

        def report(fraction: float) -> None:
            nonlocal last
            now = time.monotonic()
            if now - last < PROGRESS_INTERVAL:
                return
            last = now
            self._renew_chunk(video_id, position, progress=fraction)
            with self.database.session() as session:
                frames, done = 0.0, 0.0
                for chunk in session.scalars(
                    select(VideoChunk).where(VideoChunk.video_id == video_id)
                ):
                    frames += chunk.frames
                    done += chunk.frames * chunk.progress
                video = session.get(Video, video_id)
                if video is not None and frames:
                    # Never backwards, even when a chunk starts again.
                    video.compression_progress = max(
                        video.compression_progress,
                        min(99, int(100 * ENCODING_SHARE * done / frames)),
                    )

        return report

    def _stalled(self, video_id: str, attempt: int, reason: str) -> None:
        """Try a stalled video again later, waiting longer each time; or fail it."""
        if attempt >= self.settings.job_max_attempts or self.jobs is None:
            self._fail(video_id, f"{reason} Gave up after {attempt} attempts.")
            return
        delay = self._retry_delay(attempt)
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
        self.jobs.process(video_id, delay)

    def _chunk_stalled(
        self, video_id: str, position: int, attempt: int, reason: str
    ) -> None:
        """As :meth:`_stalled`, for one chunk: the other chunks go on."""
        if attempt >= self.settings.job_max_attempts or self.jobs is None:
            self._fail(video_id, f"{reason} Gave up after {attempt} attempts.")
            return
        delay = self._retry_delay(attempt)
        log.info(
            "video_chunk_retry video_id=%s position=%d attempt=%d delay=%.0f",
            video_id,
            position,
            attempt,
            delay,
        )
        with self.database.session() as session:
            session.execute(
                update(VideoChunk)
                .where(VideoChunk.video_id == video_id, VideoChunk.position == position)
                .values(lease_until=utcnow() + timedelta(seconds=delay))
            )
        self._update(video_id, error=f"Retrying a chunk in {delay:g} s: {reason}")
        self.jobs.encode_chunk(video_id, position, delay)

    def _retry_delay(self, attempt: int) -> float:
        return float(self.settings.job_retry_seconds * 2 ** (attempt - 1))

    def _fail(self, video_id: str, reason: str) -> None:
        log.info("video_failed video_id=%s reason=%r", video_id, reason)
        self._update(video_id, status=states.ERROR, error=reason, lease_until=None)
        self._drop_chunks(video_id)

    def _update(self, video_id: str, **values: object) -> None:
        with self.database.session() as session:
            session.execute(update(Video).where(Video.id == video_id).values(**values))


def stalled(database: Database, lease_seconds: float) -> list[str]:
    """Videos left ``processing`` by a run that died, or by a lost job.

    A video whose chunks are being encoded is not stalled while any chunk
    job is alive.
    """
    now = utcnow()
    forgotten = now - timedelta(seconds=lease_seconds)
    chunk_alive = exists().where(
        VideoChunk.video_id == Video.id, VideoChunk.lease_until > now
    )
    with database.session() as session:
        return list(
            session.scalars(
                select(Video.id).where(
                    Video.status == states.PROCESSING,
                    ~chunk_alive,
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


def _scene(chunk: VideoChunk) -> "Scene":
    from reelhouse.media.targeting import Scene

    return Scene(chunk.first_frame, chunk.frames, chunk.start, chunk.frame_duration)
