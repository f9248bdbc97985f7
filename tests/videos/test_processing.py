"""The processing job in process, on real clips."""

import base64
import threading
from datetime import timedelta
from pathlib import Path

import av
import pytest
from sqlalchemy import select, update

from reelhouse.accounts.models import Account
from reelhouse.db import get_database, utcnow
from reelhouse.jobs import get_queue
from reelhouse.media import ffmpeg
from reelhouse.settings import get_settings
from reelhouse.storage import get_blob_store
from reelhouse.videos.models import Video, VideoChunk
from reelhouse.videos.processing import Processor
from reelhouse.videos.tasks import recover_stalled
from tests.conftest import App

TUS = {"Tus-Resumable": "1.0.0"}


def tus_metadata(pairs: dict[str, str]) -> str:
    return ",".join(
        f"{name} {base64.b64encode(value.encode()).decode()}"
        for name, value in pairs.items()
    )


def upload_file(app: App, key: str, path: Path, **metadata: str) -> str:
    """Upload ``path`` through tus in one PATCH; returns the video id."""
    data = path.read_bytes()
    pairs = {"api_key": key, **metadata}
    created = app.client.post(
        "/files/",
        headers={
            **TUS,
            "Upload-Length": str(len(data)),
            "Upload-Metadata": tus_metadata(pairs),
        },
    )
    location = created.headers["location"].removeprefix("http://testserver")
    if data:
        patched = app.client.patch(
            location,
            headers={
                **TUS,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
            },
            content=data,
        )
        assert patched.status_code == 204
    upload_id = location.rsplit("/", 1)[1]
    with get_database().session() as session:
        video_id = session.scalar(select(Video.id).where(Video.upload_id == upload_id))
    assert video_id is not None
    return video_id


def video(video_id: str) -> Video:
    with get_database().session() as session:
        found = session.get(Video, video_id)
        assert found is not None
        return found


def set_video(video_id: str, **values: object) -> None:
    with get_database().session() as session:
        session.execute(update(Video).where(Video.id == video_id).values(**values))


def processor() -> Processor:
    return Processor(get_database(), get_blob_store(), get_settings())


class RecordedJobs:
    """Jobs the processor queues, kept in order instead of run."""

    def __init__(self) -> None:
        self.queued: list[tuple[str, str, int | None, float]] = []

    def process(self, video_id: str, delay: float = 0.0) -> None:
        self.queued.append(("process", video_id, None, delay))

    def encode_chunk(self, video_id: str, position: int, delay: float = 0.0) -> None:
        self.queued.append(("encode_chunk", video_id, position, delay))


def test_finished_upload_queues_exactly_one_job(app: App, media: Path) -> None:
    key = app.account()
    video_id = upload_file(app, key, media / "bunny-animation.mp4")
    assert get_queue().pending_count() == 1
    # Asking again for a finished upload queues nothing more.
    size = (media / "bunny-animation.mp4").stat().st_size
    upload_id = video(video_id).upload_id
    again = app.client.patch(
        f"/files/{upload_id}",
        headers={
            **TUS,
            "Upload-Offset": str(size),
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert again.status_code == 204
    assert get_queue().pending_count() == 1


@pytest.mark.slow
def test_compression_progress_rises_to_100(app: App, media: Path) -> None:
    video_id = upload_file(app, app.account(), media / "cockatoo-720p-camera.mp4")
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(0.05):
            seen.append(video(video_id).compression_progress)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        processor().process(video_id)
    finally:
        stop.set()
        watcher.join()

    done = video(video_id)
    assert done.status == "ready"
    assert done.compression_progress == 100
    assert seen == sorted(seen)
    assert any(0 < value < 100 for value in seen), seen
    assert get_blob_store().size(str(done.poster_key)) > 1000


def test_a_run_that_died_is_run_again(app: App, media: Path) -> None:
    video_id = upload_file(app, app.account(), media / "tour-540p-animation.mp4")
    get_queue().flush()
    # A run claimed the video, then its process died: the lease runs out.
    set_video(video_id, attempts=1, lease_until=utcnow() - timedelta(seconds=1))
    assert recover_stalled() == 1
    assert get_queue().pending_count() == 1


def test_a_live_run_is_left_alone(app: App, media: Path) -> None:
    video_id = upload_file(app, app.account(), media / "tour-540p-animation.mp4")
    get_queue().flush()
    set_video(video_id, attempts=1, lease_until=utcnow() + timedelta(seconds=30))
    assert recover_stalled() == 0
    processor().process(video_id)  # another copy of the job finds it taken
    assert video(video_id).status == "processing"
    assert video(video_id).attempts == 1


def test_a_video_that_keeps_killing_its_runs_ends_in_error(
    app: App, media: Path
) -> None:
    video_id = upload_file(app, app.account(), media / "tour-540p-animation.mp4")
    attempts = get_settings().job_max_attempts
    set_video(video_id, attempts=attempts)
    processor().process(video_id)
    failed = video(video_id)
    assert failed.status == "error"
    assert failed.error == "Processing stopped after failing repeatedly."


def test_zero_byte_upload_ends_in_error_with_a_reason(app: App, tmp_path: Path) -> None:
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    video_id = upload_file(app, app.account(), empty)
    processor().process(video_id)
    failed = video(video_id)
    assert failed.status == "error"
    assert failed.error == "The file is empty."


@pytest.mark.slow
def test_a_playable_upload_smaller_than_its_encode_is_remuxed(
    app: App, media: Path
) -> None:
    # This clip's H.264 and AAC are smaller than their re-encode at CRF 23.
    clip = media / "bunny-animation.mp4"
    video_id = upload_file(app, app.account(), clip)
    processor().process(video_id)
    done = video(video_id)
    assert done.status == "ready"
    # A remux of the upload: its streams, bytes for bytes, in a new container
    # (which costs a few bytes), not a re-encode larger than the upload.
    assert done.size is not None and done.size <= clip.stat().st_size * 1.001
    download = get_blob_store().local_path(str(done.video_key))
    with av.open(str(download)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
        assert container.duration is not None
        assert abs(container.duration / av.time_base - done.duration) < 0.1
    # faststart: the index comes before the media data.
    head = download.read_bytes()[:4096]
    assert head.find(b"moov") != -1 and head.find(b"moov") < max(
        head.find(b"mdat"), 4096
    )


@pytest.mark.slow
def test_a_ready_video_streams_over_hls_with_a_storyboard(
    app: App, media: Path
) -> None:
    key = app.account()
    video_id = upload_file(app, key, media / "hello-720p-screen.mp4", profile="fast")
    processor().process(video_id)
    shown = app.client.get(f"/videos/get/{video_id}", headers={"X-Api-Key": key})
    assert shown.status_code == 200
    body = shown.json()
    assert body["status"] == "ready"

    download, *rungs = body["renditions"]
    assert download["kind"] == "download" and download["codec"] == "h264"
    assert download["bytes"] == body["size"]
    assert 2 <= len(rungs) <= 5
    assert [r["height"] for r in rungs] == sorted(
        (r["height"] for r in rungs), reverse=True
    )
    assert rungs[0]["height"] == 720
    for rung in rungs:
        assert rung["kind"] == "hls" and rung["bytes"] > 0 and rung["bitrate"] > 0
        assert 0 < rung["vmaf_p5"] <= rung["vmaf"] <= 100
    # The top rung is the download's video, not a second encode.
    assert [rung["same_as_download"] for rung in rungs] == [True] + [False] * (
        len(rungs) - 1
    )
    assert (rungs[0]["vmaf"], rungs[0]["vmaf_p5"]) == (
        download["vmaf"],
        download["vmaf_p5"],
    )
    compression = body["compression"]
    assert compression["profile"] == "fast"
    assert compression["original_bitrate"] > compression["bitrate"]
    assert compression["bytes_saved_pct"] > 50  # a screen recording at 4 Mb/s
    assert compression["vmaf"] >= 94
    assert compression["encode_seconds"] > 0 and compression["speed_x_realtime"] > 0

    def fetch(path: str) -> bytes:
        answer = app.client.get(
            f"/videos/{video_id}/{path}", headers={"X-Api-Key": key}
        )
        assert answer.status_code == 200, (path, answer.text)
        return answer.content

    master = fetch("hls/master.m3u8").decode()
    listed = [line for line in master.splitlines() if line.endswith(".m3u8")]
    assert len(listed) == len(rungs)
    for playlist in listed:
        media_playlist = fetch(f"hls/{playlist}").decode()
        segment = next(
            line for line in media_playlist.splitlines() if line.endswith(".m4s")
        )
        folder = playlist.rsplit("/", 1)[0]
        assert len(fetch(f"hls/{folder}/{segment}")) > 0
    index = fetch("storyboard/storyboard.vtt").decode()
    assert index.startswith("WEBVTT") and "storyboard.jpg#xywh=" in index
    assert fetch("storyboard/storyboard.jpg")[:2] == b"\xff\xd8"
    assert fetch("poster.jpg")[:2] == b"\xff\xd8"
    # HEAD, as for the download: the headers alone.
    for path in ("poster.jpg", "hls/master.m3u8", "storyboard/storyboard.vtt"):
        head = app.client.head(f"/videos/{video_id}/{path}", headers={"X-Api-Key": key})
        assert head.status_code == 200 and head.content == b"", path
        assert int(head.headers["content-length"]) > 0

    other = app.account("other")
    hidden = app.client.get(
        f"/videos/{video_id}/hls/master.m3u8", headers={"X-Api-Key": other}
    )
    assert hidden.status_code == 404
    outside = app.client.get(
        f"/videos/{video_id}/hls/..%2F..%2Fvideo.mp4", headers={"X-Api-Key": key}
    )
    assert outside.status_code == 404


@pytest.mark.parametrize(
    ("metadata", "detail"),
    [
        ({"quality": "high"}, "not a number"),
        ({"quality": "101"}, "outside 60 to 99"),
        ({"profile": "turbo"}, "profile 'turbo'"),
        ({"codec": "vp9"}, "codec 'vp9'"),
    ],
)
def test_a_bad_encoding_request_is_refused_at_upload(
    app: App, metadata: dict[str, str], detail: str
) -> None:
    key = app.account()
    pairs = {"api_key": key, **metadata}
    created = app.client.post(
        "/files/",
        headers={
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": tus_metadata(pairs),
        },
    )
    assert created.status_code == 400
    error = created.json()["error"]
    assert error["code"] == "encoding_invalid"
    assert detail in error["message"]
    listed = app.client.get("/videos/list", headers={"X-Api-Key": key})
    assert listed.json() == []


def test_a_hung_ffmpeg_is_retried_later_then_the_video_fails_with_why(
    app: App, media: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hung = tmp_path / "ffmpeg"
    hung.write_text("#!/bin/sh\necho 'Waiting for the device' >&2\nexec sleep 60\n")
    hung.chmod(0o755)
    monkeypatch.setattr(ffmpeg, "ffmpeg_executable", lambda: str(hung))
    settings = get_settings().model_copy(
        update={"ffmpeg_stall_seconds": 0.5, "job_retry_seconds": 10.0}
    )
    jobs = RecordedJobs()
    stalled = Processor(get_database(), get_blob_store(), settings, jobs)
    video_id = upload_file(app, app.account(), media / "bunny-animation.mp4")

    for attempt in range(1, settings.job_max_attempts + 1):
        stalled.process(video_id)
        now = video(video_id)
        if attempt < settings.job_max_attempts:
            assert now.status == "processing"
            assert now.error is not None and now.error.startswith("Retrying in")
            # The retry's time has come.
            set_video(video_id, lease_until=utcnow() - timedelta(seconds=1))

    # Waiting longer each time.
    assert jobs.queued == [
        ("process", video_id, None, 10.0),
        ("process", video_id, None, 20.0),
    ]
    failed = video(video_id)
    assert failed.status == "error"
    assert failed.error is not None
    assert "FFmpeg made no progress for 0.5 s" in failed.error
    assert "Its last message: Waiting for the device" in failed.error
    assert "after 3 attempts" in failed.error


@pytest.mark.slow
def test_an_account_asking_for_av1_gets_an_av1_download_named_so(
    app: App, media: Path
) -> None:
    key = app.account()
    video_id = upload_file(app, key, media / "hello-720p-screen.mp4", profile="fast")
    with get_database().session() as session:
        owner = session.get(Account, video(video_id).account_id)
        assert owner is not None
        owner.encoding = {"codec": "av1", "quality": 93.0}
    processor().process(video_id)
    done = video(video_id)
    assert done.status == "ready"
    assert done.renditions[0]["codec"] == "av1"
    assert done.compression is not None and done.compression["codec"] == "av1"
    assert done.compression["vmaf"] >= 92  # the account's 93, within 1
    # The H.264 rungs take the download's quality on H.264's own CRF scale:
    # the top one, at the download's size, scores near it.
    top = next(r for r in done.renditions if r["kind"] == "hls")
    assert top["codec"] == "h264" and top["height"] == 720
    assert top["vmaf"] >= 88
    path = get_blob_store().local_path(str(done.video_key))
    with av.open(str(path)) as container:
        assert container.streams.video[0].codec_context.name in {"libdav1d", "av1"}


def chunking_processor(jobs: RecordedJobs | None) -> Processor:
    # The cockatoo clip (14 s) makes three chunks of about 4 s.
    settings = get_settings().model_copy(update={"chunk_seconds": 4.0})
    return Processor(get_database(), get_blob_store(), settings, jobs)


def chunk_rows(video_id: str) -> list[VideoChunk]:
    with get_database().session() as session:
        rows = list(
            session.scalars(
                select(VideoChunk)
                .where(VideoChunk.video_id == video_id)
                .order_by(VideoChunk.position)
            )
        )
        session.expunge_all()
        return rows


@pytest.mark.slow
def test_a_long_video_is_encoded_in_chunks_by_jobs_of_their_own(
    app: App, media: Path
) -> None:
    clip = media / "cockatoo-720p-camera.mp4"
    video_id = upload_file(app, app.account(), clip, profile="fast")
    jobs = RecordedJobs()
    chunking = chunking_processor(jobs)

    chunking.process(video_id)

    # The run planned the chunks, queued a job for each, and let go.
    assert jobs.queued == [("encode_chunk", video_id, n, 0.0) for n in range(3)]
    assert [row.done for row in chunk_rows(video_id)] == [False] * 3
    handed = video(video_id)
    assert handed.status == "processing" and handed.lease_until is None
    jobs.queued.clear()

    # The chunk jobs run in any order; each queues the video's run again.
    for position in (2, 0):
        chunking.encode_chunk(video_id, position)
    assert [row.done for row in chunk_rows(video_id)] == [True, False, True]
    chunking.process(video_id)  # a chunk is missing: nothing to join yet
    assert video(video_id).status == "processing"
    chunking.encode_chunk(video_id, 1)
    chunking.encode_chunk(video_id, 1)  # a duplicate job finds the chunk done
    run = ("process", video_id, None, 0.0)
    # The run in between queued the missing chunk again; the duplicate chunk
    # job queued nothing.
    assert jobs.queued == [run, run, ("encode_chunk", video_id, 1, 0.0), run]
    chunking.process(video_id)

    done = video(video_id)
    assert done.status == "ready", done.error
    assert done.compression is not None and done.compression["chunks"] == 3
    assert len(done.compression["crfs"]) >= 3
    assert chunk_rows(video_id) == []
    blobs = get_blob_store()
    assert not any(
        blobs.exists(f"videos/{video_id}/chunks/{n:05d}.mp4") for n in range(3)
    )
    download = blobs.local_path(str(done.video_key))
    with av.open(str(download)) as joined, av.open(str(clip)) as source:
        assert joined.streams.audio, "the audio, encoded once, whole"
        joined_frames = sum(1 for _ in joined.decode(video=0))
        source_frames = sum(1 for _ in source.decode(video=0))
    assert joined_frames == source_frames
    # The joined chunks are the top rung as they are: their key frames fall
    # on the segment grid, so its segments match the rung encoded apart.
    rungs = [r for r in done.renditions if r["kind"] == "hls"]
    assert rungs[0]["same_as_download"]
    durations = [
        [
            float(line.split(":")[1].rstrip(","))
            for line in blobs.local_path(
                f"videos/{video_id}/hls/{r['name']}/index.m3u8"
            )
            .read_text()
            .splitlines()
            if line.startswith("#EXTINF:")
        ]
        for r in rungs
    ]
    assert len(durations[0]) == 4
    for other in durations[1:]:
        assert other == pytest.approx(durations[0], abs=0.051)


def test_a_chunked_video_is_swept_only_when_no_chunk_job_is_alive(
    app: App, media: Path
) -> None:
    video_id = upload_file(app, app.account(), media / "cockatoo-720p-camera.mp4")
    get_queue().flush()
    chunking_processor(RecordedJobs()).process(video_id)  # plans, hands out
    assert recover_stalled() == 0  # just handed out

    # Long after: the chunk jobs were lost (nothing holds a chunk's lease).
    set_video(video_id, updated_at=utcnow() - timedelta(minutes=5))
    assert recover_stalled() == 1
    get_queue().flush()

    # A chunk job is alive: the video is not stalled, whatever its own lease.
    with get_database().session() as session:
        session.execute(
            update(VideoChunk)
            .where(VideoChunk.video_id == video_id, VideoChunk.position == 1)
            .values(lease_until=utcnow() + timedelta(seconds=30))
        )
    set_video(video_id, updated_at=utcnow() - timedelta(minutes=5))
    assert recover_stalled() == 0

    # The swept run hands out again only the chunks no live job holds.
    jobs = RecordedJobs()
    chunking_processor(jobs).process(video_id)
    assert [job[2] for job in jobs.queued] == [0, 2]
