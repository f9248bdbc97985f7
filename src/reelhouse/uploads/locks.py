import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from reelhouse import errors
from reelhouse.errors import ReelhouseError


class UploadLocks:
    """One exclusive lock per upload, held by every request that touches it.

    Process-local: it serialises requests handled by this server process.
    TODO(#3): ask a holder stuck on a dead connection to release the lock.
    """

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, upload_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(upload_id, asyncio.Lock())
        self._users[upload_id] = self._users.get(upload_id, 0) + 1
        try:
            try:
                await asyncio.wait_for(lock.acquire(), self.timeout)
            except TimeoutError as error:
                raise ReelhouseError(errors.UPLOAD_LOCKED) from error
            try:
                yield
            finally:
                lock.release()
        finally:
            self._users[upload_id] -= 1
            if not self._users[upload_id]:
                del self._users[upload_id]
                del self._locks[upload_id]
