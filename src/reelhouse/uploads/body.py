"""Reading a PATCH (or creation) body for the store, as the protocol wants it."""

import asyncio
import contextlib
import enum
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request

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
        self._stream = request.stream()
        self._room = room
        self._idle_timeout = idle_timeout
        self._observe = observe
        self._release = asyncio.Event()
        self._drain_until: float | None = None
        self.ending = Ending.COMPLETE

    def request_release(self) -> None:
        self._release.set()

    async def chunks(self) -> AsyncIterator[bytes]:
        room = self._room
        released: asyncio.Future[Any] = asyncio.ensure_future(self._release.wait())
        try:
            while room != 0:
                chunk = await self._next(released)
                if chunk is None:
                    return
                if room is not None:
                    if len(chunk) > room:
                        chunk = chunk[:room]  # slicing copies: only when needed
                    room -= len(chunk)
                if chunk:
                    if self._observe is not None:
                        self._observe(chunk)
                    yield chunk
        finally:
            released.cancel()

    async def _next(self, released: "asyncio.Future[Any]") -> bytes | None:
        arriving: asyncio.Future[Any] = asyncio.ensure_future(anext(self._stream))
        if not await self._arrives(arriving, released):
            arriving.cancel()
            with contextlib.suppress(asyncio.CancelledError, ClientDisconnect):
                await arriving
            draining = self._drain_until is not None
            self.ending = Ending.RELEASED if draining else Ending.STALLED
            return None
        try:
            chunk: bytes = arriving.result()
            return chunk
        except StopAsyncIteration:
            return None
        except ClientDisconnect:
            self.ending = Ending.DISCONNECTED
            return None

    async def _arrives(
        self, arriving: "asyncio.Future[Any]", released: "asyncio.Future[Any]"
    ) -> bool:
        """Whether the next chunk came in time; False means stop reading."""
        loop = asyncio.get_running_loop()
        if self._drain_until is None:
            done, _pending = await asyncio.wait(
                {arriving, released},
                timeout=self._idle_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if arriving in done:
                return True
            if released not in done:
                return False
            # Asked to let go: first take what is already on its way. A client
            # that reconnected at once (tus-js-client retries after 0 ms) left
            # bytes behind that the server has not read yet.
            self._drain_until = loop.time() + DRAIN_LIMIT
        left = self._drain_until - loop.time()
        done, _pending = await asyncio.wait(
            {arriving}, timeout=max(0.0, min(DRAIN_IDLE, left))
        )
        return arriving in done
