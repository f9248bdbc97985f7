"""Upload throughput and memory: Reelhouse beside @tus/server, side by side.

Run as a program, not a test: `.venv/bin/python bench/upload.py [--mib 1024]`.
It installs @tus/server and @tus/file-store from npm into bench/.peers (ignored
by git) the first time, runs both servers on loopback, and sends the same
random file to each, in one PATCH and in 8 MiB PATCHes, three runs of each,
interleaved so that both see the same machine. Every stored file is checked
against the source's sha256. It prints the median MB/s, the server's CPU
seconds per GiB (steadier from run to run than MB/s on a shared machine), the
peak server RSS and the ratio Reelhouse / @tus/server.

The client is the same for both servers: one keep-alive connection, each
PATCH body sent from the file with sendfile(2), so that the client's own cost
is small and equal on both sides.
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

BENCH = Path(__file__).resolve().parent
PEERS = BENCH / ".peers"
BIN = Path(sys.executable).parent
PEER_PACKAGES = ["@tus/server@2.4.5", "@tus/file-store@2.1.1"]
PEER_SERVER = """
import { Server } from '@tus/server'
import { FileStore } from '@tus/file-store'
const [port, directory] = process.argv.slice(2)
const server = new Server({ path: '/files', datastore: new FileStore({ directory }) })
server.listen({ host: '127.0.0.1', port: Number(port) })
"""
CHUNK = 8 * 1024 * 1024


@dataclass
class Target:
    name: str
    url: str
    process: subprocess.Popen[bytes]
    extra_headers: dict[str, str]
    stored: Callable[[str], Path]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_listening(port: int) -> None:
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port}")


@dataclass
class Usage:
    rss: int
    """Bytes resident, summed over the process group."""
    cpu: float
    """CPU seconds used so far, user and system, summed over the group."""


TICK = os.sysconf("SC_CLK_TCK")


def group_usage(pgid: int) -> Usage:
    usage = Usage(0, 0.0)
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            usage.cpu += (int(fields[11]) + int(fields[12])) / TICK
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    usage.rss += int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return usage


@dataclass
class Run:
    rate: float
    """MB/s, from the first PATCH sent to the last answer."""
    cpu_per_gib: float
    """The server's CPU seconds for the upload, per GiB."""
    peak_rss: int


def request(
    connection: socket.socket, head: str, body: Path | None = None,
    offset: int = 0, count: int = 0,
) -> dict[str, str]:  # fmt: skip
    """Send one request (its body straight from the file) and read the answer."""
    connection.sendall(head.encode())
    if body is not None and count:
        with body.open("rb") as source:
            sent = 0
            while sent < count:
                sent += connection.sendfile(source, offset + sent, count - sent)
    answer = b""
    while b"\r\n\r\n" not in answer:
        more = connection.recv(65536)
        if not more:
            raise ConnectionError("the server closed the connection")
        answer += more
    header_block, _, rest = answer.partition(b"\r\n\r\n")
    lines = header_block.decode().split("\r\n")
    found = {"status": lines[0].split()[1]}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        found[name.strip().lower()] = value.strip()
    length = int(found.get("content-length", "0"))
    while len(rest) < length:
        rest += connection.recv(65536)
    return found


def upload(target: Target, source: Path, chunk: int | None) -> tuple[float, str]:
    size = source.stat().st_size
    parts = urlsplit(target.url)
    connection = socket.create_connection((parts.hostname, parts.port))
    # As curl and urllib3 do: without it, Nagle's algorithm holds each body's
    # last small segment until the server's delayed ACK, 40 ms a request.
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    extra = "".join(f"{k}: {v}\r\n" for k, v in target.extra_headers.items())
    host = f"Host: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
    try:
        created = request(
            connection,
            f"POST /files/ HTTP/1.1\r\n{host}{extra}Upload-Length: {size}\r\n"
            "Content-Length: 0\r\n\r\n",
        )
        assert created["status"] == "201", created
        path = urlsplit(created["location"]).path
        started = time.perf_counter()
        offset = 0
        while offset < size:
            count = min(chunk or size, size - offset)
            answer = request(
                connection,
                f"PATCH {path} HTTP/1.1\r\n{host}Upload-Offset: {offset}\r\n"
                "Content-Type: application/offset+octet-stream\r\n"
                f"Content-Length: {count}\r\n\r\n",
                source, offset, count,
            )  # fmt: skip
            assert answer["status"] == "204", answer
            offset = int(answer["upload-offset"])
        seconds = time.perf_counter() - started
    finally:
        connection.close()
    return size / seconds / 1e6, path.rsplit("/", 1)[1]


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as reading:
        while block := reading.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def install_peer() -> None:
    if (PEERS / "node_modules" / "@tus" / "server").is_dir():
        return
    PEERS.mkdir(exist_ok=True)
    subprocess.run(
        ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(PEERS),
         *PEER_PACKAGES],
        check=True,
    )  # fmt: skip


def start_reelhouse(scratch: Path) -> Target:
    data = scratch / "reelhouse"
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELHOUSE_")}
    env["REELHOUSE_EMBEDDED_WORKER"] = "false"  # uploads alone are measured
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "reelhouse"), "serve", "--port", str(port), "--data-dir", str(data)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    wait_listening(port)
    created = subprocess.run(
        [str(BIN / "reelhouse"), "accounts", "create", "bench", "--json",
         "--data-dir", str(data)],
        env=env, capture_output=True, check=True,
    )  # fmt: skip
    key = json.loads(created.stdout)["api_key"]

    def stored(upload_id: str) -> Path:
        asked = urllib.request.Request(
            f"http://127.0.0.1:{port}/videos/get/{upload_id}",
            headers={"X-Api-Key": key},
        )
        with urllib.request.urlopen(asked) as answer:
            video_id = json.load(answer)["id"]
        return data / "files" / "videos" / video_id / "original"

    return Target(
        "reelhouse", f"http://127.0.0.1:{port}", process, {"X-Api-Key": key}, stored
    )


def start_peer(scratch: Path) -> Target:
    directory = scratch / "tus-node"
    directory.mkdir()
    script = PEERS / "server.mjs"
    script.write_text(PEER_SERVER)
    port = free_port()
    process = subprocess.Popen(
        ["node", str(script), str(port), str(directory)],
        cwd=PEERS, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    wait_listening(port)
    return Target(
        "@tus/server", f"http://127.0.0.1:{port}", process, {}, lambda i: directory / i
    )


def measure(target: Target, source: Path, chunk: int | None) -> Run:
    # Each run starts with nothing left to write back from the one before: the
    # previous server's bytes would otherwise still be going to the disk
    # during this run, and slow whichever server syncs its files.
    os.sync()
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.05):
            peak = max(peak, group_usage(target.process.pid).rss)

    before = group_usage(target.process.pid).cpu
    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        rate, upload_id = upload(target, source, chunk)
    finally:
        stop.set()
        sampler.join()
    cpu = group_usage(target.process.pid).cpu - before
    stored = target.stored(upload_id)
    if sha256(stored) != SOURCE_DIGEST[0]:
        raise AssertionError(f"{target.name} stored a different file: {stored}")
    stored.unlink()
    return Run(rate, cpu / (source.stat().st_size / 2**30), peak)


SOURCE_DIGEST: list[str] = []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=1024, help="upload size")
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    if shutil.which("node") is None or shutil.which("npm") is None:
        sys.exit("Error: node and npm are needed to run the @tus/server peer.")
    install_peer()

    with tempfile.TemporaryDirectory(dir=BENCH / ".peers") as folder:
        scratch = Path(folder)
        source = scratch / "source.bin"
        with source.open("wb") as out:
            for _ in range(arguments.mib):
                out.write(os.urandom(1 << 20))
        SOURCE_DIGEST.append(sha256(source))
        targets = [start_reelhouse(scratch), start_peer(scratch)]
        idle = {t.name: group_usage(t.process.pid).rss / 1e6 for t in targets}
        results: dict[tuple[str, str], list[Run]] = {}
        try:
            for _run in range(arguments.runs):
                for mode, chunk in (("one PATCH", None), ("8 MiB PATCHes", CHUNK)):
                    for target in targets:
                        results.setdefault((target.name, mode), []).append(
                            measure(target, source, chunk)
                        )
        finally:
            for target in targets:
                os.killpg(target.process.pid, signal.SIGTERM)
                target.process.wait()

    print(f"{arguments.mib} MiB, {arguments.runs} runs each, medians; "
          "every stored file matched the source's sha256")  # fmt: skip
    print("idle RSS MB: " + ", ".join(f"{n} {rss:.0f}" for n, rss in idle.items()))
    print(f"{'mode':<15}{'server':<13}{'MB/s':>8}{'CPU s/GiB':>11}{'peak RSS MB':>13}")
    for mode in ("one PATCH", "8 MiB PATCHes"):
        rates = {}
        for target in targets:
            runs = results[(target.name, mode)]
            rate = statistics.median(run.rate for run in runs)
            cpu = statistics.median(run.cpu_per_gib for run in runs)
            peak = max(run.peak_rss for run in runs) / 1e6
            rates[target.name] = rate
            print(f"{mode:<15}{target.name:<13}{rate:>8.0f}{cpu:>11.2f}{peak:>13.0f}")
        ratio = rates["reelhouse"] / rates["@tus/server"]
        print(f"{mode:<15}{'ratio':<13}{ratio:>8.2f}")


if __name__ == "__main__":
    main()
