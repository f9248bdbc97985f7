"""Real Python tus clients against a real server process, and what happens
when two of them write to one upload at once."""

import base64
import hashlib
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tusclient import client as tuspy

from tests.conftest import BIN, App, Server

pytestmark = pytest.mark.slow

TUS = {"Tus-Resumable": "1.0.0"}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def original_of(server: Server, key: str, upload_id: str) -> Path:
    video = server.wait_for(key, upload_id, lambda v: v["status"] != "uploading")
    return server.data_dir / "files" / "videos" / str(video["id"]) / "original"


def test_tuspy_uploads_with_checksums_byte_identical(
    server: Server, tmp_path: Path
) -> None:
    key = server.account()["api_key"]
    source = tmp_path / "random.bin"
    source.write_bytes(os.urandom(3 * 1024 * 1024 + 123))
    with source.open("rb") as stream:  # given a path, tuspy leaks its handles
        uploader = tuspy.TusClient(server.url + "/files/").uploader(
            file_stream=stream,
            metadata={"api_key": key, "name": "from tuspy"},
            chunk_size=1024 * 1024,
            upload_checksum=True,
        )
        uploader.upload()
    assert uploader.url is not None
    upload_id = uploader.url.rsplit("/", 1)[1]
    assert sha256(original_of(server, key, upload_id)) == sha256(source)


def test_tus_upload_in_1_mib_chunks_then_resume_is_a_no_op(
    server: Server, tmp_path: Path
) -> None:
    key = server.account()["api_key"]
    source = tmp_path / "random.bin"
    source.write_bytes(os.urandom(5 * 1024 * 1024 + 7))
    done = subprocess.run(
        [str(BIN / "tus-upload"), "--chunk-size", str(1024 * 1024),
         "--metadata", "api_key", key, str(source), server.url + "/files"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    location = done.stdout.strip()
    again = subprocess.run(
        [str(BIN / "tus-resume"), str(source), location],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    upload_id = location.rsplit("/", 1)[1]
    assert sha256(original_of(server, key, upload_id)) == sha256(source)


def test_two_concurrent_patches_never_interleave(server: Server) -> None:
    key = server.account()["api_key"]
    size = 32 * 1024 * 1024
    created = httpx.post(
        server.url + "/files/",
        headers={
            **TUS,
            "Upload-Length": str(size),
            "Upload-Metadata": "api_key " + base64.b64encode(key.encode()).decode(),
        },
    )
    location = created.headers["location"]
    statuses: dict[bytes, int] = {}

    def send(letter: bytes) -> None:
        def body() -> Iterator[bytes]:  # slow, so that the two requests overlap
            for _ in range(size // (256 * 1024)):
                time.sleep(0.005)
                yield letter * (256 * 1024)

        response = httpx.patch(
            location,
            headers={
                **TUS,
                "Upload-Offset": "0",
                "Content-Type": "application/offset+octet-stream",
                "Content-Length": str(size),
            },
            content=body(),
            timeout=60,
        )
        statuses[letter] = response.status_code

    writers = [threading.Thread(target=send, args=(c,)) for c in (b"a", b"b")]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()

    offset = int(httpx.head(location, headers=TUS).headers["upload-offset"])
    upload_id = location.rsplit("/", 1)[1]
    pending = server.data_dir / "uploads" / upload_id
    stored = (
        pending.read_bytes()
        if offset < size
        else original_of(server, key, upload_id).read_bytes()
    )
    assert len(stored) == offset > 0
    assert stored.count(stored[:1]) == offset, "bytes of both requests interleaved"
    assert 204 in statuses.values()
    assert sorted(statuses.values()) != [204, 204]


def test_uploads_past_4_gib_keep_64_bit_offsets(app: App) -> None:
    """Offsets above 2**32 through the whole path: the store, the headers, the
    video record (the bytes before the last ones are a sparse file)."""
    key = app.account()
    length = 5 * 1024**3 + 10
    created = app.client.post(
        "/files/",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": "api_key " + base64.b64encode(key.encode()).decode(),
        },
    )
    location = created.headers["location"].removeprefix("http://testserver")
    data = app.data_dir / "uploads" / location.rsplit("/", 1)[1]
    os.truncate(data, length - 10)
    assert app.client.head(location, headers=TUS).headers["upload-offset"] == str(
        length - 10
    )
    response = app.client.patch(
        location,
        headers={
            **TUS,
            "Upload-Offset": str(length - 10),
            "Content-Type": "application/offset+octet-stream",
        },
        content=b"0123456789",
    )
    assert (response.status_code, response.headers["upload-offset"]) == (
        204,
        str(length),
    )
    video = app.client.get("/videos/list", headers={"X-Api-Key": key}).json()[0]
    assert (video["status"], video["original_size"]) == ("processing", length)
