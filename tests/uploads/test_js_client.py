"""tus-js-client 4.x under Node against a real server process (tus.md §2.2).

The client is the version pinned in ``tests/uploads/js/package.json``, installed
into ``tests/uploads/js/node_modules`` by the first test that needs it, and
driven by ``tests/uploads/js/upload.js``.
"""

import contextlib
import hashlib
import json
import socket
import struct
import subprocess
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import Server, node_packages, server_process

pytestmark = pytest.mark.slow

CLIENT_FOLDER = Path(__file__).parent / "js"
CLIP = "tour-540p-animation.mp4"
SETTLED = ("ready", "error")


@dataclass
class Outcome:
    """What upload.js printed: one JSON object a line."""

    returncode: int
    lines: list[dict[str, Any]]
    stderr: str

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [line for line in self.lines if kind in line]

    @property
    def url(self) -> str:
        last = self.lines[-1] if self.lines else {}
        assert self.returncode == 0 and last.get("done"), self
        url: str = last["url"]
        return url

    @property
    def upload_id(self) -> str:
        return self.url.rstrip("/").rpartition("/")[2]


@dataclass
class JsClient:
    node: str

    def upload(self, endpoint: str, path: Path, **options: object) -> Outcome:
        """Upload ``path`` with tus-js-client; ``options`` are its own."""
        arguments = json.dumps({"endpoint": endpoint, "path": str(path), **options})
        done = subprocess.run(
            [self.node, str(CLIENT_FOLDER / "upload.js"), arguments],
            cwd=CLIENT_FOLDER,
            capture_output=True,
            text=True,
            timeout=60,
        )
        lines = [json.loads(line) for line in done.stdout.splitlines() if line]
        return Outcome(done.returncode, lines, done.stderr)


@pytest.fixture(scope="session")
def js_client() -> JsClient:
    return JsClient(node_packages(CLIENT_FOLDER))


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server for the tests that wait for their videos, which starts slowly:
    each test has an account of its own. The others take ``server``, since
    their videos left processing would hold up the next test's."""
    running = server_process(tmp_path_factory.mktemp("js-client") / "data")
    yield running
    running.kill()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def original(server: Server, video_id: object) -> Path:
    return server.data_dir / "files" / "videos" / str(video_id) / "original"


def settled(server: Server, key: str, upload_id: str) -> dict[str, object]:
    return server.wait_for(key, upload_id, lambda video: video["status"] in SETTLED)


def test_js_client_upload_becomes_a_ready_video(
    shared_server: Server, media: Path, js_client: JsClient
) -> None:
    key = shared_server.account()["api_key"]
    clip = media / CLIP

    outcome = js_client.upload(
        shared_server.url + "/files/",
        clip,
        metadata={"api_key": key, "name": "Tour", "filename": CLIP},
    )

    video = settled(shared_server, key, outcome.upload_id)
    assert video["status"] == "ready", video
    assert video["name"] == "Tour"
    assert video["original_size"] == clip.stat().st_size
    assert sha256(original(shared_server, video["id"])) == sha256(clip)
    assert outcome.of_kind("progress")[-1]["progress"] == clip.stat().st_size


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]


class RequestReader:
    """Follows the requests in the client-to-server bytes of one HTTP/1.1
    connection. Bodies are known by Content-Length: tus-js-client always sends
    one under Node."""

    def __init__(self, seen: Callable[[Request], None]) -> None:
        self.seen = seen
        self.request: Request | None = None
        self.body_read = 0
        self._body_left = 0
        self._head = bytearray()

    @property
    def in_body(self) -> bool:
        return self._body_left > 0

    def read(self, data: bytes) -> int:
        """Take a prefix of ``data``: body bytes, or head bytes up to the end
        of a head. Returns how many bytes were taken."""
        if self._body_left:
            taken = min(len(data), self._body_left)
            self._body_left -= taken
            self.body_read += taken
            return taken
        self._head += data
        end = self._head.find(b"\r\n\r\n")
        if end < 0:
            return len(data)
        taken = len(data) - (len(self._head) - end - 4)
        self._start(self._head[:end].decode("latin-1"))
        self._head.clear()
        return taken

    def _start(self, head: str) -> None:
        request_line, *header_lines = head.split("\r\n")
        method, path, _version = request_line.split(" ")
        headers = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        self.request = Request(method, path, headers)
        self.body_read = 0
        self._body_left = int(headers.get("content-length", "0"))
        self.seen(self.request)


class LoopbackProxy:
    """A TCP proxy on loopback that logs every request and, given ``cut_after``,
    drops the client's connection once, after forwarding that many bytes of a
    PATCH body.

    It takes at most ``max_connections``, its sockets give up after
    ``idle_timeout`` seconds of silence, and leaving it closes them all.
    """

    def __init__(
        self,
        upstream_port: int,
        cut_after: int | None = None,
        max_connections: int = 16,
        idle_timeout: float = 30,
    ) -> None:
        self.upstream_port = upstream_port
        self.cut_after = cut_after
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.requests: list[Request] = []
        self.cuts: list[int] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._connections: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self.port: int = self._listener.getsockname()[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> "LoopbackProxy":
        self._acceptor.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._acceptor.join()
        self._listener.close()
        with self._lock:
            _shut(*self._sockets)
        for connection in self._connections:
            connection.join(timeout=self.idle_timeout)
        # Closed only here, once no thread uses them.
        for each in self._sockets:
            each.close()

    def _accept(self) -> None:
        while len(self._connections) < self.max_connections:
            if self._stop.is_set():
                return
            try:
                client, _address = self._listener.accept()
            except TimeoutError:
                continue
            with self._lock:
                self._sockets.append(client)
            connection = threading.Thread(
                target=self._connect, args=(client,), daemon=True
            )
            self._connections.append(connection)
            connection.start()

    def _connect(self, client: socket.socket) -> None:
        client.settimeout(self.idle_timeout)
        upstream = socket.create_connection(
            ("127.0.0.1", self.upstream_port), timeout=self.idle_timeout
        )
        with self._lock:
            self._sockets.append(upstream)
        down = threading.Thread(target=self._pump, args=(upstream, client))
        down.start()
        with contextlib.suppress(OSError):
            self._pump_requests(client, upstream)
        _shut(client, upstream)
        down.join()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(1 << 16):
                target.sendall(data)
        _shut(source, target)

    def _pump_requests(self, client: socket.socket, upstream: socket.socket) -> None:
        reader = RequestReader(self._log)
        while data := client.recv(1 << 16):
            while data:
                room = self._room_before_cut(reader)
                taken = reader.read(data if room is None else data[:room])
                upstream.sendall(data[:taken])
                data = data[taken:]
                if self._room_before_cut(reader) == 0:
                    self._cut(client, upstream, reader.body_read)
                    return

    def _room_before_cut(self, reader: RequestReader) -> int | None:
        """How many more body bytes may pass before the cut; None: no cut."""
        patching = reader.request is not None and reader.request.method == "PATCH"
        if self.cut_after is None or self.cuts or not patching or not reader.in_body:
            return None
        return self.cut_after - reader.body_read

    def _cut(self, client: socket.socket, upstream: socket.socket, sent: int) -> None:
        with self._lock:
            self.cuts.append(sent)
        # A reset, as when a network drops: the client cannot mistake it for
        # the end of a response.
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        _shut(client, upstream)

    def _log(self, request: Request) -> None:
        with self._lock:
            self.requests.append(request)


def _shut(*sockets: socket.socket) -> None:
    for each in sockets:
        with contextlib.suppress(OSError):
            each.shutdown(socket.SHUT_RDWR)


def test_js_client_resumes_after_a_dropped_connection(
    server: Server, media: Path, js_client: JsClient
) -> None:
    key = server.account()["api_key"]
    clip = media / CLIP
    cut_after = 300_000

    with LoopbackProxy(server.port, cut_after) as proxy:
        outcome = js_client.upload(
            proxy.url + "/files/",
            clip,
            metadata={"api_key": key, "name": "Cut"},
            chunkSize=512 * 1024,
            retryDelays=[0, 200, 500],
        )

    assert proxy.cuts == [cut_after]
    assert len(outcome.of_kind("retry")) == 1, outcome
    assert [request.method for request in proxy.requests].count("POST") == 1
    on_upload = [
        (request.method, request.headers.get("upload-offset"))
        for request in proxy.requests
        if request.path.endswith("/" + outcome.upload_id)
    ]
    assert on_upload[:2] == [("PATCH", "0"), ("HEAD", None)]
    # The PATCH after the HEAD went on from the server's offset (a mismatch
    # would have been a 409 and a second retry), and that offset is every
    # byte that got through: the HEAD asked the cut PATCH to let go, and it
    # first took in what had already arrived.
    method, resumed_at = on_upload[2]
    assert method == "PATCH" and resumed_at is not None
    assert int(resumed_at) == cut_after
    video = server.wait_for(
        key, outcome.upload_id, lambda video: video["status"] != "uploading"
    )
    assert sha256(original(server, video["id"])) == sha256(clip)


def test_js_client_parallel_uploads_make_one_ready_video(
    shared_server: Server, media: Path, js_client: JsClient
) -> None:
    key = shared_server.account()["api_key"]
    clip = media / CLIP

    outcome = js_client.upload(
        shared_server.url + "/files/",
        clip,
        parallelUploads=3,
        metadata={"api_key": key, "name": "Parallel"},
        metadataForPartialUploads={"api_key": key},
    )

    final = httpx.head(outcome.url, headers={"Tus-Resumable": "1.0.0"})
    kind, _, parts = final.headers["upload-concat"].partition(";")
    assert (kind, len(parts.split())) == ("final", 3)
    video = settled(shared_server, key, outcome.upload_id)
    assert video["status"] == "ready", video
    assert video["name"] == "Parallel"
    with shared_server.api(key) as api:
        listed = api.get("/videos/list").json()
    assert [each["id"] for each in listed] == [video["id"]]
    assert sha256(original(shared_server, video["id"])) == sha256(clip)


def test_js_client_empty_file_ends_as_a_failed_video(
    shared_server: Server, js_client: JsClient, tmp_path: Path
) -> None:
    key = shared_server.account()["api_key"]
    empty = tmp_path / "empty.mp4"
    empty.touch()

    with LoopbackProxy(shared_server.port) as proxy:
        outcome = js_client.upload(
            proxy.url + "/files/", empty, metadata={"api_key": key, "name": "Empty"}
        )

    assert outcome.url
    assert [request.method for request in proxy.requests] == ["POST"]
    video = settled(shared_server, key, outcome.upload_id)
    assert video["status"] == "error", video
    assert video["error"]
    assert video["original_size"] == 0
