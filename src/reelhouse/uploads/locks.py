import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from reelhouse import errors
from reelhouse.errors import ReelhouseError


@dataclass
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    release: Callable[[], None] | None = None
    users: int = 0


class MemoryLocker:
    """A :class:`~reelhouse.uploads.store.Locker` for one server process.

    TODO(#8): a lock shared through the database or Redis, for several API
    processes serving one upload.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._entries: dict[str, _Entry] = {}

    @asynccontextmanager
    async def hold(
        self, upload_id: str, request_release: Callable[[], None]
    ) -> AsyncIterator[None]:
        entry = self._entries.setdefault(upload_id, _Entry())
        entry.users += 1
        try:
            if entry.lock.locked() and entry.release is not None:
                entry.release()
            try:
                await asyncio.wait_for(entry.lock.acquire(), self.timeout)
            except TimeoutError as error:
                raise ReelhouseError(errors.UPLOAD_LOCKED) from error
            entry.release = request_release
            try:
                yield
            finally:
                entry.release = None
                entry.lock.release()
        finally:
            entry.users -= 1
            if not entry.users:
                del self._entries[upload_id]
