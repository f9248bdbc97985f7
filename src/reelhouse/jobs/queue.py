from functools import cache
from typing import Any

from huey import Huey, RedisHuey, SqliteHuey
from huey.consumer import Consumer

from reelhouse.settings import get_settings


@cache
def get_queue() -> Huey:
    settings = get_settings()
    if settings.queue_on_redis:
        return RedisHuey("reelhouse", url=settings.queue_url, results=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    return SqliteHuey(
        "reelhouse",
        filename=str(settings.data_dir / "queue.db"),
        results=False,
    )


class EmbeddedConsumer(Consumer):  # type: ignore[misc]
    """A consumer running on threads inside a server process.

    The server owns the process's signals; the stock consumer would take them
    over when started.
    """

    def __init__(self, queue: Huey, workers: int, **options: Any) -> None:
        super().__init__(queue, workers=workers, worker_type="thread", **options)

    def _set_signal_handlers(self) -> None:
        pass
