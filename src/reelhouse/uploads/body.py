"""Reading a PATCH (or creation) body for the store, as the protocol wants it."""

import asyncio
import enum
from collections.abc import AsyncIterator, Callable

from starlette.requests import Request

# Asked to release the upload, a body still takes what arrives without a pause
# longer than DRAIN_IDLE seconds, for DRAIN_LIMIT seconds at most.
DRAIN_IDLE = 0.25
DRAIN_LIMIT = 2.0


class Ending(enum.Enum):
    COMPLETE = "complete"
    """The body ended, or reached the bytes the upload may still take."""
    DISCONNECTED = "disconnected"
    STALLED = "stalled"
    """No byte arrived for the idle timeout."""
    RELEASED = "released"
    """Another request on the upload asked this one to let go."""


class Body:
    """A request body as chunks, cut at ``room`` bytes (None: unbounded).

    It ends quietly when the client goes away, stops sending for
    ``idle_timeout`` seconds, or another request asks for the upload's lock:
    what already arrived is kept either way (tus: store as much as possible
    of an interrupted PATCH), and a dead connection cannot hold the upload.
    """

    def __init__(
        self,
        request: Request,
        room: int | None,
        idle_timeout: float,
        observe: Callable[[bytes], None] | None = None,
    ) -> None:
        self._receive = request.receive
        self._room = room
        self._idle_timeout = idle_timeout
        self._observe = observe
        self._more = True
        self._drain_until: float | None = None
        self._waiting: asyncio.Timeout | None = None
        self.ending = Ending.COMPLETE

    def request_release(self) -> None:
        """Let go soon: take only what is already on its way, then end.

        Called on the event loop, by the request that wants the lock.
        """
        if self._drain_until is not None:
            return
        now = asyncio.get_running_loop().time()
        self._drain_until = now + DRAIN_LIMIT
        if self._waiting is not None:
            self._waiting.reschedule(self._deadline(now))

    async def chunks(self) -> AsyncIterator[bytes]:
        room = self._room
        while room != 0:
            chunk = await self._next()
            if chunk is None:
                return
            if room is not None:
                if len(chunk) > room:
                    chunk = chunk[:room]  # slicing copies: only when needed
                room -= len(chunk)
            if self._observe is not None:
                self._observe(chunk)
            yield chunk

    async def _next(self) -> bytes | None:
        """The next non-empty chunk; None once the body is over for any reason."""
        loop = asyncio.get_running_loop()
        while self._more:
            # One timeout around each wait, never around the consumer's work
            # between chunks: a deadline cannot land in the store's code.
            try:
                async with asyncio.timeout_at(self._deadline(loop.time())) as waiting:
                    self._waiting = waiting
                    message = await self._receive()
            except TimeoutError:
                draining = self._drain_until is not None
                self.ending = Ending.RELEASED if draining else Ending.STALLED
                return None
            finally:
                self._waiting = None
            if message["type"] == "http.disconnect":
                self.ending = Ending.DISCONNECTED
                return None
            self._more = message.get("more_body", False)
            chunk: bytes = message.get("body", b"")
            if chunk:
                return chunk
        return None

    def _deadline(self, now: float) -> float:
        if self._drain_until is None:
            return now + self._idle_timeout
        # Asked to let go: a client that reconnected at once (tus-js-client
        # retries after 0 ms) left bytes behind that are still on their way.
        return min(now + DRAIN_IDLE, self._drain_until)
