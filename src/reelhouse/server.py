"""The HTTP server: granian running the app inside this one process.

``reelhouse serve`` prepares the data folder and the database, then replaces
itself with ``python -m reelhouse.server HOST PORT``. granian's usual command
line keeps a supervisor process beside each worker; for one worker that costs
a second Python interpreter (about 30 MB) and buys nothing, so the server runs
granian's embedded form instead: the same native HTTP worker, driven from this
process's event loop (uvloop's, which wakes for each chunk faster).

Each connection may buffer up to 1 MiB of a request body before the app
takes it (granian's default is 408 KiB): uploads then arrive in fewer, larger
chunks and the per-chunk work shrinks. Larger buffers measured no faster here
and cost about 7 MB of resident memory per extra MiB.
"""

import asyncio
import importlib
import logging
import signal
import sys
from functools import partial

import uvloop
from granian.constants import Interfaces
from granian.http import HTTP1Settings
from granian.server.embed import Server

from reelhouse.settings import Settings, get_settings

BODY_BUFFER = 1024 * 1024


class _QuietEmbedding(logging.Filter):
    """Drop granian's notice that embedding is experimental: chosen on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "experimental" not in record.getMessage()


def import_queue_library(settings: Settings) -> None:
    """Import Huey without the client libraries of backends left unused.

    Huey's storage module imports redis and psycopg whenever they are
    installed, to offer its Redis and PostgreSQL queues. The embedded default
    uses neither; hiding them for that one import keeps about 16 MB out of
    every server process. Later imports of either library work as usual.
    """
    unused = ["psycopg"] if settings.queue_on_redis else ["psycopg", "redis"]
    hidden = [name for name in unused if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]
    try:
        importlib.import_module("huey.storage")
    finally:
        for name in hidden:
            del sys.modules[name]


async def serve(host: str, port: int) -> None:
    from reelhouse.app import create_app

    logging.getLogger("_granian").addFilter(_QuietEmbedding())
    server = Server(
        # `reelhouse serve` has migrated the database already.
        partial(create_app, migrate=False),
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        factory=True,
        websockets=False,
        http1_settings=HTTP1Settings(max_buffer_size=BODY_BUFFER),
    )
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, server.signal_handler_interrupt)
    await server.serve()


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    import_queue_library(get_settings())
    uvloop.run(serve(host, port))


if __name__ == "__main__":
    main()
