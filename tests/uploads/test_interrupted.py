"""Interrupted PATCH requests against a real server process (tus.md C11)."""

import base64
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import Server, server_process

pytestmark = pytest.mark.slow

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def impatient_server(tmp_path: Path) -> Iterator[Server]:
    running = server_process(tmp_path / "data", upload_body_timeout="1")
    yield running
    running.kill()


def create_upload(server: Server, length: int) -> str:
    key = server.account()["api_key"]
    response = httpx.post(
        server.url + "/files/",
        headers={
            **TUS,
            "Upload-Length": str(length),
            "Upload-Metadata": "api_key " + base64.b64encode(key.encode()).decode(),
        },
    )
    assert response.status_code == 201
    location: str = response.headers["location"]
    return location


def start_patch(
    server: Server, location: str, declared: int, sent: bytes
) -> socket.socket:
    """A PATCH that announces ``declared`` bytes, sends ``sent`` and then stalls."""
    connection = socket.create_connection(("127.0.0.1", server.port))
    path = location.removeprefix(server.url)
    head = (
        f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
        "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
        f"Content-Length: {declared}\r\n\r\n"
    )
    connection.sendall(head.encode() + sent)
    return connection


def resume(location: str, offset: int, data: bytes) -> httpx.Response:
    return httpx.patch(
        location,
        headers={
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
        content=data,
    )


def test_a_stalled_patch_times_out_keeping_its_bytes(impatient_server: Server) -> None:
    location = create_upload(impatient_server, 1000)
    stalled = start_patch(impatient_server, location, 1000, b"x" * 10)
    try:
        stalled.settimeout(10)
        answer = stalled.recv(4096).decode()
    finally:
        stalled.close()
    assert answer.startswith("HTTP/1.1 408"), answer
    assert "upload_body_timeout" in answer
    assert "upload-offset: 10" in answer.lower()
    assert resume(location, 10, b"y" * 990).headers["upload-offset"] == "1000"


def test_a_stuck_patch_lets_go_when_the_client_comes_back(server: Server) -> None:
    """The client noticed its dead connection before the server did: its next
    request asks the stuck one to release (the body timeout is a minute)."""
    location = create_upload(server, 1000)
    stuck = start_patch(server, location, 1000, b"x" * 10)
    try:
        time.sleep(0.5)
        started = time.monotonic()
        head = httpx.head(location, headers=TUS, timeout=30)
        assert head.status_code == 200
        assert head.headers["upload-offset"] == "10"
        assert time.monotonic() - started < 3
        stuck.settimeout(5)
        answer = stuck.recv(4096).decode()
        assert answer.startswith("HTTP/1.1 400"), answer
        assert "upload_interrupted" in answer
    finally:
        stuck.close()
    assert resume(location, 10, b"y" * 990).headers["upload-offset"] == "1000"


def test_a_patch_cut_off_midway_keeps_what_arrived(server: Server) -> None:
    location = create_upload(server, 1000)
    start_patch(server, location, 1000, b"z" * 300).close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        head = httpx.head(location, headers=TUS)
        if head.headers["upload-offset"] == "300":
            break
        time.sleep(0.05)
    assert head.headers["upload-offset"] == "300"


def test_a_409_closes_the_connection_instead_of_reading_the_body(
    server: Server,
) -> None:
    location = create_upload(server, 1000)
    path = location.removeprefix(server.url)
    wrong = socket.create_connection(("127.0.0.1", server.port))
    try:
        # A huge body announced at a wrong offset: the server answers at once
        # and closes, rather than reading (or waiting for) 100 MB.
        wrong.sendall(
            (
                f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                "Tus-Resumable: 1.0.0\r\nUpload-Offset: 7\r\n"
                "Content-Type: application/offset+octet-stream\r\n"
                "Content-Length: 100000000\r\n\r\n"
            ).encode()
        )
        wrong.settimeout(10)
        answer = b""
        while chunk := wrong.recv(65536):
            answer += chunk
    finally:
        wrong.close()
    text = answer.decode()
    assert text.startswith("HTTP/1.1 409"), text
    assert "connection: close" in text.lower()
