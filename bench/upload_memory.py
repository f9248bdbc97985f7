"""Server memory while uploading: does peak RSS stay flat as the body grows?

Run as a program (`.venv/bin/python bench/upload_memory.py`), not as a test.
Starts `reelhouse serve` on loopback, sends one upload of each size in a
single PATCH with curl (which streams from the file), and samples the
resident memory of the server's whole process group meanwhile. The figure
that matters is the ratio of peak RSS between the largest and the smallest
body: near 1.0 means bodies stream to disk.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

SIZES_MIB = (64, 1024)
BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def group_rss(pgid: int) -> int:
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            for line in (entry / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return total


def measure(url: str, key: str, body: Path, pgid: int) -> tuple[float, int]:
    import base64

    size = body.stat().st_size
    created = httpx.post(
        url + "/files/",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": str(size),
            "Upload-Metadata": "api_key " + base64.b64encode(key.encode()).decode(),
        },
    )
    location = created.headers["location"]
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not stop.wait(0.02):
            peak = max(peak, group_rss(pgid))

    sampler = threading.Thread(target=sample)
    sampler.start()
    started = time.perf_counter()
    subprocess.run(
        ["curl", "-sS", "-X", "PATCH", "-T", str(body), location,
         "-H", "Tus-Resumable: 1.0.0", "-H", "Upload-Offset: 0",
         "-H", "Content-Type: application/offset+octet-stream"],
        check=True,
    )  # fmt: skip
    seconds = time.perf_counter() - started
    stop.set()
    sampler.join()
    return size / seconds / 1e6, peak


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        data = Path(scratch) / "data"
        env = {k: v for k, v in os.environ.items() if not k.startswith("REELHOUSE_")}
        env["REELHOUSE_EMBEDDED_WORKER"] = "false"  # measure uploads alone
        port = free_port()
        server = subprocess.Popen(
            [str(BIN / "reelhouse"), "serve", "--port", str(port),
             "--data-dir", str(data)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(100):
                try:
                    httpx.get(url + "/openapi.json")
                    break
                except httpx.HTTPError:
                    time.sleep(0.1)
            key = json.loads(
                subprocess.run(
                    [
                        str(BIN / "reelhouse"),
                        "accounts",
                        "create",
                        "bench",
                        "--json",
                        "--data-dir",
                        str(data),
                    ],
                    env=env,
                    capture_output=True,
                    check=True,
                ).stdout
            )["api_key"]
            idle = group_rss(server.pid)
            rows = []
            for mib in SIZES_MIB:
                body = Path(scratch) / f"{mib}.bin"
                with body.open("wb") as out:
                    block = os.urandom(1 << 20)
                    for _ in range(mib):
                        out.write(block)
                rate, peak = measure(url, key, body, server.pid)
                rows.append((mib, rate, peak))
                body.unlink()
            print(f"idle server RSS: {idle / 2**20:.0f} MiB")
            print("body MiB | MB/s | peak RSS MiB")
            for mib, rate, peak in rows:
                print(f"{mib:8d} | {rate:4.0f} | {peak / 2**20:.0f}")
            ratio = rows[-1][2] / rows[0][2]
            print(
                f"peak RSS ratio {SIZES_MIB[-1]} MiB / {SIZES_MIB[0]} MiB: {ratio:.2f}"
            )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait()


if __name__ == "__main__":
    main()
