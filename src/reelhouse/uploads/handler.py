"""The tus 1.0.0 HTTP handler: creation, offsets, appends, termination.

It knows the protocol and nothing else: bytes go to an :class:`UploadStore`,
the account comes from an injected authenticator, and what happens to a
finished upload is up to the :class:`UploadEvents` it is given.
"""

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelhouse import errors
from reelhouse.errors import ReelhouseError
from reelhouse.uploads.events import UploadEvents
from reelhouse.uploads.locks import UploadLocks
from reelhouse.uploads.metadata import MetadataError, encode_metadata, parse_metadata
from reelhouse.uploads.store import (
    LengthDeferrer,
    Terminator,
    UploadInfo,
    UploadNotFound,
    UploadStore,
)

TUS_VERSION = "1.0.0"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# The metadata key that carries the API key. It authenticates the creation and
# is then dropped: HEAD echoes metadata to whoever holds the upload URL.
API_KEY_METADATA = "api_key"

# Offsets and lengths are 64-bit signed integers wherever they are stored.
LARGEST_OFFSET = 2**63 - 1

Authenticator = Callable[[str | None], str]
BaseUrl = Callable[[Request], str]


class TusHandler:
    def __init__(
        self,
        store: UploadStore,
        events: UploadEvents,
        authenticate: Authenticator,
        base_url: BaseUrl,
        *,
        prefix: str = "/files",
        max_size: int | None = None,
        lock_timeout: float = 20.0,
        body_timeout: float = 60.0,
    ) -> None:
        self.store = store
        self.events = events
        self.authenticate = authenticate
        self.base_url = base_url
        self.prefix = prefix
        self.max_size = max_size
        self.locks = UploadLocks(lock_timeout)
        self.body_timeout = body_timeout
        self.router = self._routes()

    @property
    def extensions(self) -> list[str]:
        found = ["creation"]
        if isinstance(self.store, LengthDeferrer):
            found.append("creation-defer-length")
        if isinstance(self.store, Terminator):
            found.append("termination")
        return found

    def _routes(self) -> APIRouter:
        router = APIRouter(tags=["uploads (tus)"])
        for path in (self.prefix, self.prefix + "/"):
            router.add_api_route(path, self.options, methods=["OPTIONS"])
            router.add_api_route(path, self.create, methods=["POST"], status_code=201)
        item = self.prefix + "/{upload_id}"
        router.add_api_route(item, self.options, methods=["OPTIONS"])
        router.add_api_route(item, self.head, methods=["HEAD"])
        router.add_api_route(item, self.append, methods=["PATCH"], status_code=204)
        router.add_api_route(item, self.terminate, methods=["DELETE"], status_code=204)
        return router

    async def options(self) -> Response:
        headers = {
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": ",".join(self.extensions),
        }
        if self.max_size is not None:
            headers["Tus-Max-Size"] = str(self.max_size)
        return Response(status_code=204, headers=headers)

    async def create(self, request: Request) -> Response:
        _require_version(request)
        length = _creation_length(request)
        if length is not None and self.max_size is not None and length > self.max_size:
            raise ReelhouseError(
                errors.UPLOAD_TOO_LARGE,
                f"The upload is {length} bytes; this server accepts at most "
                f"{self.max_size}.",
            )
        metadata = _metadata(request)
        api_key = metadata.pop(API_KEY_METADATA, None) or request.headers.get(
            "x-api-key"
        )
        owner = await run_in_threadpool(self.authenticate, api_key)

        info = UploadInfo(
            id=secrets.token_hex(20),
            length=length,
            offset=0,
            owner=owner,
            metadata=metadata,
        )
        await run_in_threadpool(self.store.create, info)
        try:
            await run_in_threadpool(self.events.created, info)
        except BaseException:
            # Nothing may answer for an upload its creator was told failed.
            if isinstance(self.store, Terminator):
                await run_in_threadpool(self.store.terminate, info.id)
            raise
        if info.complete:
            await self._finish(info.id)

        location = f"{self.base_url(request)}{self.prefix}/{info.id}"
        return Response(status_code=201, headers={"Location": location})

    async def head(self, upload_id: str) -> Response:
        async with self.locks.hold(upload_id):
            info = self._get(upload_id)
        headers = {"Upload-Offset": str(info.offset), "Cache-Control": "no-store"}
        if info.length is None:
            headers["Upload-Defer-Length"] = "1"
        else:
            headers["Upload-Length"] = str(info.length)
        if info.metadata:
            headers["Upload-Metadata"] = encode_metadata(info.metadata)
        return Response(status_code=200, headers=headers)

    async def append(self, upload_id: str, request: Request) -> Response:
        _require_version(request)
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != OFFSET_CONTENT_TYPE:
            raise ReelhouseError(errors.UPLOAD_CONTENT_TYPE_INVALID)
        offset = _non_negative(request, "upload-offset", errors.UPLOAD_OFFSET_INVALID)
        if offset is None:
            raise ReelhouseError(errors.UPLOAD_OFFSET_INVALID)

        async with self.locks.hold(upload_id):
            info = self._get(upload_id)
            if offset != info.offset:
                raise ReelhouseError(
                    errors.UPLOAD_OFFSET_MISMATCH,
                    f"Upload-Offset is {offset} but the upload is at {info.offset}.",
                )
            self._declare_length(info, request)
            room = self._room(info, request)
            body = _Body(request, room, self.body_timeout)
            if room != 0 and not info.finished:
                await self.store.write(upload_id, body.chunks())
                info = self._get(upload_id)
                await run_in_threadpool(self.events.progress, info)
            if info.complete:
                await self._finish(upload_id)
        if body.stalled:
            raise ReelhouseError(
                errors.UPLOAD_BODY_TIMEOUT,
                headers={"Upload-Offset": str(info.offset), "Connection": "close"},
            )
        return Response(status_code=204, headers={"Upload-Offset": str(info.offset)})

    async def terminate(self, upload_id: str, request: Request) -> Response:
        _require_version(request)
        if not isinstance(self.store, Terminator):
            raise ReelhouseError(errors.METHOD_NOT_ALLOWED)
        async with self.locks.hold(upload_id):
            info = self._get(upload_id)
            await run_in_threadpool(self.store.terminate, upload_id)
            await run_in_threadpool(self.events.terminated, info)
        return Response(status_code=204)

    async def _finish(self, upload_id: str) -> None:
        if await run_in_threadpool(self.store.finish, upload_id):
            await run_in_threadpool(self.events.finished, self._get(upload_id))

    def _get(self, upload_id: str) -> UploadInfo:
        try:
            return self.store.get(upload_id)
        except UploadNotFound as error:
            raise ReelhouseError(errors.UPLOAD_NOT_FOUND) from error

    def _declare_length(self, info: UploadInfo, request: Request) -> None:
        length = _non_negative(request, "upload-length", errors.UPLOAD_LENGTH_INVALID)
        if length is None:
            return
        if info.length is not None:
            if length != info.length:
                raise ReelhouseError(errors.UPLOAD_LENGTH_MISMATCH)
            return
        if length < info.offset or not isinstance(self.store, LengthDeferrer):
            raise ReelhouseError(errors.UPLOAD_LENGTH_MISMATCH)
        if self.max_size is not None and length > self.max_size:
            raise ReelhouseError(errors.UPLOAD_TOO_LARGE)
        self.store.declare_length(info.id, length)
        info.length = length

    def _room(self, info: UploadInfo, request: Request) -> int | None:
        """How many body bytes this request may add (None: no bound)."""
        if info.length is not None:
            room: int | None = info.length - info.offset
        elif self.max_size is not None:
            room = self.max_size - info.offset
        else:
            room = None
        declared = request.headers.get("content-length")
        too_long = (
            declared is not None
            and declared.isdigit()
            and room is not None
            and int(declared) > room
        )
        if too_long:
            raise ReelhouseError(
                errors.UPLOAD_EXCEEDS_LENGTH,
                f"The body is {declared} bytes but only {room} more are expected.",
            )
        if declared == "0":
            return 0
        return room


class _Body:
    """A PATCH body as chunks, cut at ``room`` bytes, ending quietly when the
    client goes away or stops sending for ``idle_timeout`` seconds.

    Either way what already arrived is kept (tus: store as much as possible of
    an interrupted PATCH), and the upload's lock is freed for the client's
    next attempt instead of being held by a dead connection.
    """

    def __init__(self, request: Request, room: int | None, idle_timeout: float) -> None:
        self._stream = request.stream()
        self._room = room
        self._idle_timeout = idle_timeout
        self.stalled = False

    async def chunks(self) -> AsyncIterator[bytes]:
        room = self._room
        try:
            while room != 0:
                try:
                    chunk = await asyncio.wait_for(
                        anext(self._stream), self._idle_timeout
                    )
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    self.stalled = True
                    return
                if room is not None:
                    chunk = chunk[:room]
                    room -= len(chunk)
                if chunk:
                    yield chunk
        except ClientDisconnect:
            return


def _require_version(request: Request) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise ReelhouseError(
            errors.TUS_VERSION_UNSUPPORTED, headers={"Tus-Version": TUS_VERSION}
        )


def _non_negative(request: Request, header: str, kind: errors.ErrorKind) -> int | None:
    raw = request.headers.get(header)
    if raw is None:
        return None
    if not raw.isdigit() or not raw.isascii():
        raise ReelhouseError(kind)
    if len(raw) > 19 or int(raw) > LARGEST_OFFSET:
        raise ReelhouseError(kind, f"{header.title()} is larger than {LARGEST_OFFSET}.")
    return int(raw)


def _creation_length(request: Request) -> int | None:
    length = _non_negative(request, "upload-length", errors.UPLOAD_LENGTH_INVALID)
    deferred = request.headers.get("upload-defer-length")
    if deferred is not None and (deferred != "1" or length is not None):
        raise ReelhouseError(errors.UPLOAD_LENGTH_INVALID)
    if deferred is None and length is None:
        raise ReelhouseError(errors.UPLOAD_LENGTH_INVALID)
    return length


def _metadata(request: Request) -> dict[str, str]:
    try:
        return parse_metadata(request.headers.get("upload-metadata"))
    except MetadataError as error:
        raise ReelhouseError(errors.UPLOAD_METADATA_INVALID, str(error)) from error


class TusHeaders:
    """ASGI middleware putting the protocol's headers on every upload response,
    errors included (tus: Tus-Resumable on every response but OPTIONS)."""

    def __init__(self, app: ASGIApp, prefix: str = "/files") -> None:
        self.app = app
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not (
            path == self.prefix or path.startswith(self.prefix + "/")
        ):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers.append((b"tus-resumable", TUS_VERSION.encode()))
                headers.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
