"""Fixtures shared by the whole suite: the app in process, a real server
process on loopback, accounts, and the real clips of ``shared/media``."""

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

REPO = Path(__file__).resolve().parents[1]
MEDIA = REPO.parent / "shared" / "media"
BIN = Path(sys.executable).parent


def reelhouse_command(*args: str) -> list[str]:
    return [str(BIN / "reelhouse"), *args]


@pytest.fixture(scope="session")
def media() -> Path:
    if not MEDIA.is_dir():
        pytest.fail(f"the shared clips are missing: expected them in {MEDIA}")
    return MEDIA


def _reset_caches() -> None:
    from reelhouse.analytics.routes import admission
    from reelhouse.db import get_database
    from reelhouse.jobs import get_queue
    from reelhouse.settings import get_settings
    from reelhouse.storage import get_blob_store
    from reelhouse.videos.tasks import video_tasks
    from reelhouse.videos.upload_server import upload_server

    for cached in (
        get_settings,
        get_database,
        get_queue,
        get_blob_store,
        video_tasks,
        upload_server,
        admission,
    ):
        cached.cache_clear()


@dataclass
class App:
    """The application in this process, with no job consumer running."""

    client: TestClient
    data_dir: Path
    enqueued: list[str] = field(default_factory=list)

    def account(self, name: str = "test") -> str:
        """A new account's API key."""
        from reelhouse.accounts.keys import create_account
        from reelhouse.db import get_database

        with get_database().session() as session:
            _account, key = create_account(session, name)
        return key.secret

    def create_upload(self, key: str, **headers: str) -> httpx.Response:
        """A tus creation request carrying ``key`` as the api_key metadata."""
        encoded = base64.b64encode(key.encode()).decode()
        sent = {
            "Tus-Resumable": "1.0.0",
            "Upload-Metadata": f"api_key {encoded}",
            **headers,
        }
        return self.client.post("/files/", headers=sent)


@pytest.fixture
def app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[App]:
    monkeypatch.setenv("REELHOUSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("REELHOUSE_EMBEDDED_WORKER", "false")
    monkeypatch.delenv("REELHOUSE_PUBLIC_URL", raising=False)
    monkeypatch.delenv("REELHOUSE_TRUST_PROXY", raising=False)
    _reset_caches()
    from reelhouse.app import create_app

    with TestClient(create_app(), base_url="http://testserver") as client:
        yield App(client, tmp_path / "data")
    _reset_caches()


@contextmanager
def rebuilt_app(monkeypatch: pytest.MonkeyPatch, **env: str) -> Iterator[TestClient]:
    """Another app built after changing settings (the apps read them once)."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    _reset_caches()
    from reelhouse.app import create_app

    with TestClient(create_app()) as client:
        yield client


def node_packages(folder: Path) -> str:
    """Install the npm packages pinned in ``folder``'s package.json (into its
    node_modules, ignored by git) unless they already are; the node binary."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("these tests need Node.js 18 or later with npm on the PATH")
    pinned = json.loads((folder / "package.json").read_text())["dependencies"]

    def installed(package: str) -> str | None:
        manifest = folder / "node_modules" / package / "package.json"
        if not manifest.is_file():
            return None
        version: str = json.loads(manifest.read_text())["version"]
        return version

    if any(installed(package) != version for package, version in pinned.items()):
        done = subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--prefix", str(folder)],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:
            pytest.fail(f"npm could not install {list(pinned)}:\n{done.stderr}")
    for package, version in pinned.items():
        assert installed(package) == version, package
    return node


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    """``reelhouse serve`` as a real process on loopback."""

    data_dir: Path
    port: int
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.log = self.data_dir.parent / f"server-{time.monotonic_ns()}.log"
        with self.log.open("wb") as output:
            # A session of its own, so that a kill reaches the whole process
            # group, FFmpeg children included.
            self.process = subprocess.Popen(
                reelhouse_command(
                    "serve", "--port", str(self.port), "--data-dir", str(self.data_dir)
                ),
                env=self.env,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                httpx.get(self.url + "/openapi.json", timeout=1).raise_for_status()
                return
            except httpx.HTTPError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.1)
        raise RuntimeError(f"the server did not start:\n{self.log.read_text()}")

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)
        self.process.wait(timeout=30)
        self.process = None

    def account(self, name: str = "test") -> dict[str, str]:
        done = subprocess.run(
            reelhouse_command(
                "accounts", "create", name, "--json", "--data-dir", str(self.data_dir)
            ),
            env=self.env,
            capture_output=True,
            check=True,
        )
        created: dict[str, str] = json.loads(done.stdout)
        return created

    def api(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-Api-Key": key}, timeout=30)

    def wait_for(
        self,
        key: str,
        video_id: str,
        done: Callable[[dict[str, object]], bool],
        timeout: float = 300,
    ) -> dict[str, object]:
        deadline = time.monotonic() + timeout
        with self.api(key) as api:
            while True:
                video: dict[str, object] = api.get(f"/videos/get/{video_id}").json()
                if done(video) or time.monotonic() > deadline:
                    return video
                time.sleep(0.2)


def server_process(data_dir: Path, **settings: str) -> Server:
    """A started server with ``REELHOUSE_*`` settings given as keyword arguments."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("REELHOUSE_")
    }
    env["REELHOUSE_JOB_LEASE_SECONDS"] = "5"
    # These tests follow videos through the system; the encoder's search is
    # tested on its own, in tests/media.
    env["REELHOUSE_PROFILE"] = "fast"
    env.update({f"REELHOUSE_{name.upper()}": value for name, value in settings.items()})
    running = Server(data_dir=data_dir, port=free_port(), env=env)
    running.start()
    return running


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    running = server_process(tmp_path / "data")
    yield running
    running.kill()
