"""The main job end to end: the real tus.py client against a real server
process, followed to a downloaded MP4 (the documented API's whole path)."""

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import av
import httpx
import pytest

from tests.conftest import BIN, Server

pytestmark = pytest.mark.slow

CREATED = re.compile(r"INFO Created: (http://127\.0\.0\.1:\d+/files/([0-9a-f]+))")


def tus(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / args[0]), *args[1:]],
        input=stdin.decode("latin-1") if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=300,
    )


def upload(server: Server, key: str, clip: Path, *extra: str) -> tuple[str, str]:
    """Upload with tus-upload; returns the Location it printed and the upload id."""
    done = tus(
        "tus-upload", "--metadata", "api_key", key, *extra, str(clip),
        server.url + "/files/",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = CREATED.search(done.stderr)
    assert found, done.stderr
    return found.group(1), found.group(2)


@contextlib.contextmanager
def worker_process(server: Server, log: Path) -> Iterator[None]:
    """``reelhouse worker`` on the server's settings, stopped on leaving."""
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [str(BIN / "reelhouse"), "worker", "--data-dir", str(server.data_dir)],
            env=server.env,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=30)


def duration_of(path: Path) -> float:
    with av.open(str(path)) as container:
        assert container.duration is not None
        return float(container.duration) / av.time_base


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_tus_upload_to_downloaded_mp4(
    server: Server, media: Path, tmp_path: Path
) -> None:
    key = server.account()["api_key"]
    clip = media / "bunny-animation.mp4"
    location, upload_id = upload(server, key, clip, "--metadata", "name", "Launch day")
    assert location == f"{server.url}/files/{upload_id}"

    seen: list[str] = []
    video = server.wait_for(
        key,
        upload_id,
        lambda v: seen.append(str(v["status"])) or v["status"] == "ready",
    )
    assert video["status"] == "ready", video
    assert set(seen) <= {"processing", "ready"}
    assert video["name"] == "Launch day"
    assert video["original"] == "bunny-animation.mp4"
    assert video["original_size"] == clip.stat().st_size
    assert video["compression_progress"] == 100
    assert (video["width"], video["height"]) == (1280, 720)

    with server.api(key) as api:
        listed = api.get("/videos/list").json()
        assert [v["id"] for v in listed] == [video["id"]]
        assert listed[0] == api.get(f"/videos/get/{video['id']}").json()
        assert api.get("/videos/search/launch").json() == listed
        assert api.get("/videos/search/LAUNCH DAY").json() == listed
        assert api.get("/videos/search/lunch").json() == []

        response = api.get(f"/videos/download/{video['id']}")
        assert response.status_code == 200
        assert response.headers["content-type"] == "video/mp4"
        disposition = response.headers["content-disposition"]
        assert 'filename="Launch day.mp4"' in disposition
        downloaded = tmp_path / "my.mp4"
        downloaded.write_bytes(response.content)
        assert video["size"] == len(response.content)

        download = f"/videos/download/{video['id']}"
        for asked, status, body in [
            ("bytes=100-199", 206, response.content[100:200]),
            ("bytes=0-0", 206, response.content[:1]),
            ("bytes=-100", 206, response.content[-100:]),
            ("bytes=5-2", 200, response.content),  # invalid: ignored
            ("items=0-5", 200, response.content),
            ("bytes=abc", 200, response.content),
        ]:
            partial = api.get(download, headers={"Range": asked})
            assert (partial.status_code, partial.content) == (status, body), asked
        beyond = api.get(download, headers={"Range": f"bytes={len(response.content)}-"})
        assert beyond.status_code == 416
        assert beyond.json()["error"]["code"] == "range_not_satisfiable"
        assert beyond.headers["content-range"] == f"bytes */{len(response.content)}"
        head = api.head(download)
        assert head.status_code == 200
        assert head.headers["content-length"] == str(len(response.content))
        # A client that holds this very file hears so, without the bytes.
        etag = response.headers["etag"]
        for held in (etag, f"W/{etag}", f'"other", {etag}', "*"):
            cached = api.get(download, headers={"If-None-Match": held})
            assert (cached.status_code, cached.content) == (304, b""), held
            assert cached.headers["etag"] == etag
        changed = api.get(download, headers={"If-None-Match": '"other"'})
        assert changed.status_code == 200 and changed.content == response.content

    assert abs(duration_of(downloaded) - duration_of(clip)) < 0.1
    with av.open(str(downloaded)) as container:
        assert container.streams.video[0].codec_context.name == "h264"
        assert container.streams.audio[0].codec_context.name == "aac"
    assert abs(float(str(video["duration"])) - duration_of(clip)) < 0.1

    # Neither credential reaches the server's log: the key, nor the upload id
    # that authorises PATCH and HEAD.
    assert server.log is not None
    logged = server.log.read_text()
    assert "upload_finished" in logged
    assert key not in logged
    assert upload_id not in logged


def test_upload_from_stdin_with_deferred_length(server: Server, media: Path) -> None:
    key = server.account()["api_key"]
    clip = media / "city-405p-camera-mpeg2.mpg"
    with clip.open("rb") as stdin:
        done = subprocess.run(
            [str(BIN / "tus-upload"), "--metadata", "api_key", key, "-",
             server.url + "/files/"],
            stdin=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = CREATED.search(done.stderr)
    assert found
    video = server.wait_for(key, found.group(2), lambda v: v["status"] == "ready")
    assert video["status"] == "ready", video
    assert video["original_size"] == clip.stat().st_size
    assert (video["width"], video["height"]) == (720, 404)


def test_killed_server_resumes_byte_identical(server: Server, tmp_path: Path) -> None:
    key = server.account()["api_key"]
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(48 * 1024 * 1024))
    client = subprocess.Popen(
        [str(BIN / "tus-upload"), "--chunk-size", str(256 * 1024),
         "--metadata", "api_key", key, str(source), server.url + "/files/"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    uploads = server.data_dir / "uploads"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        written = [p.stat().st_size for p in uploads.glob("*") if not p.suffix]
        if written and written[0] > 4 * 1024 * 1024:
            break
        time.sleep(0.01)
    server.kill()
    _out, err = client.communicate(timeout=60)
    assert client.returncode != 0, "the upload finished before the server was killed"
    found = CREATED.search(err)
    assert found, err
    location, upload_id = found.group(1), found.group(2)
    partial = (uploads / upload_id).stat().st_size
    assert 0 < partial < source.stat().st_size

    server.start()
    done = tus("tus-resume", str(source), location)
    assert done.returncode == 0, done.stderr

    video = server.wait_for(key, upload_id, lambda v: v["status"] == "error")
    assert video["original_size"] == source.stat().st_size
    original = server.data_dir / "files" / "videos" / str(video["id"]) / "original"
    assert sha256(original) == sha256(source)


def test_undecodable_files_end_in_error_and_the_server_keeps_serving(
    server: Server, media: Path, tmp_path: Path
) -> None:
    key = server.account()["api_key"]
    text = tmp_path / "notes.mp4"
    text.write_text("This is not a video, only some words.\n" * 100)
    truncated = tmp_path / "truncated.mp4"
    whole = (media / "bunny-animation.mp4").read_bytes()
    truncated.write_bytes(whole[: len(whole) // 2])
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")

    upload_ids = {
        path.name: upload(server, key, path)[1] for path in (text, truncated, empty)
    }
    for name, upload_id in upload_ids.items():
        video = server.wait_for(key, upload_id, lambda v: v["status"] == "error")
        assert video["status"] == "error", (name, video)
        assert isinstance(video["error"], str) and len(video["error"]) > 10, video
        original = server.data_dir / "files" / "videos" / str(video["id"]) / "original"
        assert original.read_bytes() == (tmp_path / name).read_bytes()
        with server.api(key) as api:
            for path in ("download/{}", "{}/hls/master.m3u8", "{}/storyboard/s.vtt"):
                refused = api.get("/videos/" + path.format(video["id"]))
                assert refused.status_code == 409, path
                assert refused.json()["error"]["code"] == "video_failed", path

    with httpx.Client(base_url=server.url) as api:
        listed = api.get("/videos/list", headers={"X-Api-Key": key})
    assert listed.status_code == 200
    assert len(listed.json()) == 3
    good = upload(server, key, media / "tour-540p-animation.mp4")[1]
    assert (
        server.wait_for(key, good, lambda v: v["status"] == "ready")["status"]
        == "ready"
    )


def test_other_accounts_cannot_reach_a_video_or_its_download(
    server: Server, media: Path
) -> None:
    alice = server.account("alice")["api_key"]
    bob = server.account("bob")["api_key"]
    upload_id = upload(server, alice, media / "tour-540p-animation.mp4")[1]
    video = server.wait_for(alice, upload_id, lambda v: v["status"] == "ready")
    with server.api(bob) as api:
        assert api.get("/videos/list").json() == []
        assert api.get("/videos/search/tour").json() == []
        assert api.get(f"/videos/get/{video['id']}").status_code == 404
        assert api.get(f"/videos/download/{video['id']}").status_code == 404
    with server.api(alice) as api:
        assert api.get(f"/videos/download/{video['id']}").status_code == 200


def test_first_start_prints_a_working_key_once(tmp_path: Path) -> None:
    from tests.conftest import free_port

    env = {k: v for k, v in os.environ.items() if not k.startswith("REELHOUSE_")}
    first = Server(data_dir=tmp_path / "data", port=free_port(), env=env)
    first.start()
    first.kill()
    assert first.log is not None
    printed = first.log.read_text()
    keys = re.findall(r"API key: (rh_\S+)", printed)
    assert len(keys) == 1
    write_keys = re.findall(r"Write key for playback events: (wk_\S+)", printed)
    assert len(write_keys) == 1

    first.start()
    try:
        assert first.log is not None
        assert "API key" not in first.log.read_text()
        with first.api(keys[0]) as api:
            assert api.get("/videos/list").status_code == 200
            assert api.get("/account").json()["write_key"] == write_keys[0]
    finally:
        first.kill()
    shutil.rmtree(tmp_path / "data")


def test_processing_cut_short_by_a_crash_runs_again(
    server: Server, media: Path
) -> None:
    key = server.account()["api_key"]
    upload_id = upload(server, key, media / "cockatoo-720p-camera.mp4")[1]
    encoding = server.wait_for(
        key, upload_id, lambda v: int(str(v["compression_progress"])) > 0
    )
    assert encoding["status"] == "processing", encoding
    server.kill()
    # The dead run's lease (5 s in these tests) must run out before another
    # run may take the video.
    time.sleep(6)
    server.start()
    video = server.wait_for(key, upload_id, lambda v: v["status"] != "processing")
    assert video["status"] == "ready", video
    assert video["compression_progress"] == 100


def test_a_separate_worker_process_runs_the_jobs(
    server: Server, media: Path, tmp_path: Path
) -> None:
    server.kill()
    server.env["REELHOUSE_EMBEDDED_WORKER"] = "false"
    server.start()
    key = server.account()["api_key"]
    upload_id = upload(server, key, media / "tour-540p-animation.mp4")[1]
    time.sleep(2)
    assert server.wait_for(key, upload_id, lambda v: False, timeout=0)["status"] == (
        "processing"
    )
    with worker_process(server, tmp_path / "worker.log"):
        video = server.wait_for(key, upload_id, lambda v: v["status"] == "ready")
    assert video["status"] == "ready", video


def test_openapi_and_docs_are_served(server: Server) -> None:
    with httpx.Client(base_url=server.url) as api:
        spec = api.get("/openapi.json").json()
        assert "/videos/list" in spec["paths"]
        assert "/videos/download/{video_id}" in spec["paths"]
        docs = api.get("/docs")
        assert docs.status_code == 200
        assert "/docs/assets/swagger-ui-bundle.js" in docs.text
        assert "cdn" not in docs.text  # works with no outside network
        script = api.get("/docs/assets/swagger-ui-bundle.js")
        assert script.status_code == 200
        assert len(script.content) > 100_000


def test_a_second_server_on_a_busy_port_refuses_to_start(
    server: Server, tmp_path: Path
) -> None:
    done = subprocess.run(
        [str(BIN / "reelhouse"), "serve", "--port", str(server.port),
         "--data-dir", str(tmp_path / "other")],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    assert f"Error: Cannot listen on 127.0.0.1:{server.port}" in done.stderr
    assert "another --port" in done.stderr


def test_a_refused_upload_is_explained_in_the_server_log(
    server: Server, media: Path
) -> None:
    done = tus(
        "tus-upload", "--metadata", "api_key", "rh_wrong",
        str(media / "tour-540p-animation.mp4"), server.url + "/files/",
    )  # fmt: skip
    assert done.returncode != 0
    assert server.log is not None
    logged = server.log.read_text()
    assert "request_rejected method=POST route=/files/ code=api_key_invalid" in logged
    assert "rh_wrong" not in logged


def test_stopping_the_server_stops_its_encodes(server: Server, media: Path) -> None:
    key = server.account()["api_key"]
    upload_id = upload(server, key, media / "cockatoo-720p-camera.mp4")[1]
    server.wait_for(key, upload_id, lambda v: int(str(v["compression_progress"])) > 0)
    assert server.process is not None
    server.process.send_signal(signal.SIGTERM)  # the main process alone
    server.process.wait(timeout=30)
    server.process = None

    def encoders() -> list[str]:
        found = []
        for entry in Path("/proc").iterdir():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                continue
            if b"ffmpeg" in command and str(server.data_dir).encode() in command:
                found.append(command.decode(errors="replace"))
        return found

    deadline = time.monotonic() + 10
    while encoders() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert encoders() == []


def test_two_workers_share_the_chunks_of_a_long_video(
    server: Server, media: Path, tmp_path: Path
) -> None:
    # Chunks of about 4 s: the cockatoo clip (14 s) makes three, and the
    # server's consumer and a worker process each take some.
    server.kill()
    server.env["REELHOUSE_CHUNK_SECONDS"] = "4"
    server.start()
    log = tmp_path / "worker.log"
    with worker_process(server, log):
        key = server.account()["api_key"]
        clip = media / "cockatoo-720p-camera.mp4"
        upload_id = upload(server, key, clip)[1]
        video = server.wait_for(key, upload_id, lambda v: v["status"] != "processing")

    assert video["status"] == "ready", video
    compression = video["compression"]
    assert isinstance(compression, dict) and compression["chunks"] == 3
    assert server.log is not None
    for consumer in (server.log, log):
        assert "video_chunk_encoded" in consumer.read_text(), consumer.name
    with server.api(key) as api:
        downloaded = tmp_path / "joined.mp4"
        downloaded.write_bytes(api.get(f"/videos/download/{video['id']}").content)
    with av.open(str(downloaded)) as joined, av.open(str(clip)) as source:
        assert sum(1 for _ in joined.decode(video=0)) == sum(
            1 for _ in source.decode(video=0)
        )
    assert abs(duration_of(downloaded) - duration_of(clip)) <= 1 / 20
