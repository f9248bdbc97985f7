"""Reading a PATCH (or creation) body for the store, as the protocol wants it."""

import asyncio
import contextlib
import enum
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.requests import ClientDisconnect, Request


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
        done, _pending = await asyncio.wait(
            {arriving, released},
            timeout=self._idle_timeout,
            return_when=asyncio.FIRST_COMPLETED,
        )
        if arriving not in done:
            arriving.cancel()
            with contextlib.suppress(asyncio.CancelledError, ClientDisconnect):
                await arriving
            self.ending = Ending.RELEASED if released in done else Ending.STALLED
            return None
        try:
            chunk: bytes = arriving.result()
            return chunk
        except StopAsyncIteration:
            return None
        except ClientDisconnect:
            self.ending = Ending.DISCONNECTED
            return None
