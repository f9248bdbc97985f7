"""Playback analytics: ingestion throughput and the summary's latency.

Run as a program, not a test: `.venv/bin/python bench/analytics.py
[--seconds 20] [--clients 4] [--stored 1000000 10000000]`. On the embedded
defaults (one server process, SQLite), it measures:

- events per second ingested end to end: several clients, each on one
  keep-alive connection, send Segment batches of 100 track calls (bodies made
  beforehand, every messageId new) to /v1/batch for a while; the events
  counted are those the database holds afterwards;
- the latency of GET /analytics/summary (median of 5) once the database
  holds each number of events given by --stored: events and their views are
  written straight into the database (ten events a view, spread over 60 days),
  since the point is reading them back, not sending them.

Targets from the analytics work: 20,000 events a second on 2 cores, and a
summary within 250 ms at 10 M events.
"""

import argparse
import base64
import http.client
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

BIN = Path(sys.executable).parent
BATCH = 100
EVENTS_PER_VIEW = 10


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_server(data: Path) -> tuple[subprocess.Popen[bytes], int, dict[str, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELHOUSE_")}
    env["REELHOUSE_EMBEDDED_WORKER"] = "false"
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "reelhouse"), "serve", "--port", str(port), "--data-dir", str(data)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    for _ in range(300):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    created = subprocess.run(
        [str(BIN / "reelhouse"), "accounts", "create", "bench", "--json",
         "--data-dir", str(data)],
        env=env, capture_output=True, check=True,
    )  # fmt: skip
    return process, port, json.loads(created.stdout)


def make_video(port: int, api_key: str) -> str:
    metadata = base64.b64encode(api_key.encode()).decode()
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.request(
        "POST",
        "/files/",
        headers={
            "Tus-Resumable": "1.0.0",
            "Upload-Length": "10",
            "Upload-Metadata": f"api_key {metadata}",
        },
    )
    connection.getresponse().read()
    connection.request("GET", "/videos/list", headers={"X-Api-Key": api_key})
    video_id: str = json.loads(connection.getresponse().read())[0]["id"]
    return video_id


def batches(write_key: str, video_id: str, count: int) -> list[bytes]:
    now = datetime.now(UTC)
    made = []
    for number in range(count):
        session = f"s-{number // 3}"
        calls = [
            {
                "type": "track",
                "event": "Video Content Playing",
                "anonymousId": f"viewer-{number % 500}",
                "messageId": str(uuid.uuid4()),
                "timestamp": (now - timedelta(seconds=BATCH - index)).isoformat(),
                "properties": {
                    "session_id": session,
                    "content_asset_id": video_id,
                    "position": index,
                    "total_length": 600,
                    "video_player": "bench",
                },
            }
            for index in range(BATCH)
        ]
        made.append(json.dumps({"batch": calls, "writeKey": write_key}).encode())
    return made


def ingest(port: int, bodies: list[bytes], clients: int, seconds: float) -> float:
    """Seconds spent sending; stops each client once ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    shares = [bodies[index::clients] for index in range(clients)]
    failures: list[str] = []

    def client(share: list[bytes]) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port)
        for body in share:
            if time.monotonic() > deadline:
                return
            connection.request(
                "POST", "/v1/batch", body, {"Content-Type": "application/json"}
            )
            answer = connection.getresponse()
            answer.read()
            if answer.status != 200:
                failures.append(str(answer.status))
                time.sleep(0.05)

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(share,)) for share in shares]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spent = time.monotonic() - started
    if failures:
        print(f"  {len(failures)} batches refused: {sorted(set(failures))}")
    return spent


def stored_events(database: Path) -> int:
    with sqlite3.connect(database) as connection:
        count: int = connection.execute(
            "SELECT count(*) FROM playback_events"
        ).fetchone()[0]
        return count


def fill(database: Path, account_id: str, video_id: str, events: int) -> None:
    """Add events and their views straight into the database, up to ``events``."""
    have = stored_events(database)
    now = datetime.now(UTC)
    with sqlite3.connect(database) as connection:
        views = (events - have) // EVENTS_PER_VIEW
        for first in range(0, views, 10_000):
            event_rows, view_rows = [], []
            for view in range(first, min(views, first + 10_000)):
                session = f"filled-{have}-{view}"
                start = now - timedelta(seconds=(view * 5_184) % 5_184_000)
                for index in range(EVENTS_PER_VIEW):
                    event_rows.append(
                        (account_id, uuid.uuid4().hex, "track",
                         "Video Content Playing", video_id, session,
                         f"viewer-{view % 20_000}", float(index * 10),
                         (start + timedelta(seconds=10 * index)).isoformat(" "),
                         now.isoformat(" "), "{}", "{}")
                    )  # fmt: skip
                view_rows.append(
                    (account_id, session, video_id, f"viewer-{view % 20_000}",
                     start.isoformat(" "), start.isoformat(" "), start.isoformat(" "),
                     float(300 + view % 2_000), 90.0, 95.0, 90.0, 600.0,
                     view % 3, 1.5 * (view % 3), 0, view % 4 == 0,
                     None if view % 50 else "manifest 404")
                )  # fmt: skip
            connection.executemany(
                "INSERT INTO playback_events (account_id, message_id, type, event,"
                " video_id, session_id, anonymous_id, position, timestamp,"
                " received_at, properties, context)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                event_rows,
            )
            connection.executemany(
                "INSERT INTO playback_views (account_id, session_id, video_id,"
                " viewer_id, first_event_at, last_event_at, play_requested_at,"
                " startup_ms, playing_seconds, watch_seconds, max_position,"
                " total_length, rebuffer_count, rebuffer_seconds, seek_count,"
                " completed, error) VALUES"
                " (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                view_rows,
            )
            connection.commit()
        # The views were written with their events: mark the events folded,
        # as the periodic fold would have, so that the summary only reads.
        connection.execute(
            "INSERT INTO analytics_marks (name, value)"
            " SELECT 'views_folded_through', max(id) FROM playback_events WHERE true"
            " ON CONFLICT (name) DO UPDATE SET value = excluded.value"
        )
        connection.commit()


def summary_latency(port: int, api_key: str) -> float:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    times = []
    for _ in range(5):
        started = time.monotonic()
        connection.request("GET", "/analytics/summary", headers={"X-Api-Key": api_key})
        answer = connection.getresponse()
        answer.read()
        assert answer.status == 200, answer.status
        times.append(time.monotonic() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--stored", type=int, nargs="*", default=[1_000_000])
    options = parser.parse_args()
    print(f"cores: {os.cpu_count()}")
    with tempfile.TemporaryDirectory(prefix="reelhouse-bench-") as scratch:
        data = Path(scratch) / "data"
        process, port, account = start_server(data)
        try:
            video_id = make_video(port, account["api_key"])
            bodies = batches(account["write_key"], video_id, 4_000)
            spent = ingest(port, bodies, options.clients, options.seconds)
            database = data / "reelhouse.db"
            events = stored_events(database)
            print(
                f"ingestion: {events:,} events in {spent:.1f} s through "
                f"{options.clients} clients: {events / spent:,.0f} events/s "
                f"(target 20,000)"
            )
            for target in options.stored:
                fill(database, account["account_id"], video_id, target)
                latency = summary_latency(port, account["api_key"])
                print(
                    f"summary at {stored_events(database):,} events: "
                    f"{latency * 1000:,.0f} ms (target 250 ms at 10 M)"
                )
        finally:
            process.terminate()
            process.wait(timeout=30)


if __name__ == "__main__":
    main()
