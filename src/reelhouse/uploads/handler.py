"""The tus 1.0.0 HTTP handler: creation, offsets, appends, termination, and
the checksum, expiration and concatenation extensions.

It knows the protocol and nothing else: bytes go to an :class:`UploadStore`,
the account comes from an injected authenticator, and what happens to a
finished upload is up to the :class:`UploadEvents` it is given.
"""

import contextlib
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from fastapi import APIRouter, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from reelhouse import errors
from reelhouse.errors import ReelhouseError
from reelhouse.uploads import headers
from reelhouse.uploads.body import Body, Ending
from reelhouse.uploads.checksums import ALGORITHMS, Checksum
from reelhouse.uploads.events import UploadEvents
from reelhouse.uploads.headers import TUS_VERSION
from reelhouse.uploads.locks import MemoryLocker
from reelhouse.uploads.metadata import encode_metadata
from reelhouse.uploads.store import (
    ChecksumMismatch,
    Concater,
    Expirer,
    LengthDeferrer,
    Locker,
    Stager,
    Terminator,
    UploadInfo,
    UploadNotFound,
    UploadStore,
)

# The metadata key that carries the API key. It authenticates the creation and
# is then dropped: HEAD echoes metadata to whoever holds the upload URL.
API_KEY_METADATA = "api_key"

Authenticator = Callable[[str | None], str]
BaseUrl = Callable[[Request], str]

# Where X-HTTP-Method-Override may send a POST on an upload (tus C12); honoured
# on POST only, so that a GET can never be turned into a write.
OVERRIDABLE = ("PATCH", "DELETE", "HEAD")

# Progress of one upload is reported at most this often (seconds): the events
# run on a thread and usually write to a database, which would cost a PATCH
# of a few megabytes more than receiving it.
PROGRESS_INTERVAL = 0.5


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
        lifetime: timedelta | None = None,
    ) -> None:
        self.store = store
        self.events = events
        self.authenticate = authenticate
        self.base_url = base_url
        self.prefix = prefix
        self.max_size = max_size
        self.locker: Locker = (
            store if isinstance(store, Locker) else MemoryLocker(lock_timeout)
        )
        self.body_timeout = body_timeout
        self.lifetime = lifetime if isinstance(store, Expirer) else None
        self.router = self._routes()
        # upload id -> when its progress was last reported (time.monotonic).
        self._reported: dict[str, float] = {}

    @property
    def extensions(self) -> list[str]:
        found = ["creation", "creation-with-upload"]
        capabilities = [
            (LengthDeferrer, "creation-defer-length"),
            (Terminator, "termination"),
            (Stager, "checksum"),
            (Concater, "concatenation"),
        ]
        found += [name for kind, name in capabilities if isinstance(self.store, kind)]
        if self.lifetime is not None:
            found.append("expiration")
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
        router.add_api_route(item, self.overridden, methods=["POST"])
        return router

    async def options(self) -> Response:
        found = {
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": ",".join(self.extensions),
        }
        if self.max_size is not None:
            found["Tus-Max-Size"] = str(self.max_size)
        if isinstance(self.store, Stager):
            found["Tus-Checksum-Algorithm"] = ",".join(ALGORITHMS)
        return Response(status_code=204, headers=found)

    async def overridden(self, upload_id: str, request: Request) -> Response:
        method = request.headers.get("x-http-method-override", "").upper()
        if method == "PATCH":
            return await self.append(upload_id, request)
        if method == "DELETE":
            return await self.terminate(upload_id, request)
        if method == "HEAD":
            return await self.head(upload_id)
        raise ReelhouseError(
            errors.METHOD_NOT_ALLOWED,
            f"POST on an upload needs X-HTTP-Method-Override: one of "
            f"{', '.join(OVERRIDABLE)}.",
        )

    async def create(self, request: Request) -> Response:
        headers.require_version(request)
        if request.headers.get("x-http-method-override", "POST").upper() != "POST":
            raise ReelhouseError(
                errors.METHOD_NOT_ALLOWED,
                "X-HTTP-Method-Override on the uploads collection can only be POST.",
            )
        partial, part_ids = headers.concat(request, self.prefix)
        if (partial or part_ids) and not isinstance(self.store, Concater):
            raise ReelhouseError(errors.UPLOAD_CONCAT_INVALID)
        length = headers.creation_length(request, final=bool(part_ids))
        self._check_size(length)
        with_body = headers.has_offset_body(request)
        if part_ids and with_body:
            raise ReelhouseError(errors.UPLOAD_FINAL_IMMUTABLE)
        metadata = headers.metadata(request)
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
            partial=partial,
            parts=part_ids,
        )
        found = {"Location": f"{self.base_url(request)}{self.prefix}/{info.id}"}
        if part_ids:
            info = await self._create_final(info)
        else:
            await self._create(info)
            if with_body:
                info = await self._create_with_body(info, request)
                found["Upload-Offset"] = str(info.offset)
            elif info.complete:
                info = await self._finish(info)
        found.update(self._expiry(info))
        return Response(status_code=201, headers=found)

    async def _create(self, info: UploadInfo) -> None:
        await run_in_threadpool(self.store.create, info)
        try:
            if not info.partial:
                await run_in_threadpool(self.events.created, info)
        except BaseException:
            # Nothing may answer for an upload its creator was told failed.
            await self._discard(info)
            raise

    async def _create_with_body(self, info: UploadInfo, request: Request) -> UploadInfo:
        try:
            info, _ending = await self._receive(info.id, request)
        except ReelhouseError:
            # The client got no Location, so it cannot resume this upload.
            await self._discard(info)
            raise
        return info

    async def _create_final(self, final: UploadInfo) -> UploadInfo:
        """Join complete partial uploads into a new, finished upload (K1-K5).

        The parts are locked throughout, so that two finals cannot take the
        same part and a part cannot be deleted while it is copied.
        """
        assert isinstance(self.store, Concater)
        async with contextlib.AsyncExitStack() as held:
            for part in sorted(final.parts):
                await held.enter_async_context(self.locker.hold(part, _ignore))
            final.length = self._parts_length(final.owner, final.parts)
            self._check_size(final.length)
            await self._create(final)
            try:
                await run_in_threadpool(self.store.concatenate, final.id, final.parts)
            except BaseException:
                await self._discard(final)
                raise
            if isinstance(self.store, Terminator):
                for part in final.parts:
                    await run_in_threadpool(self.store.terminate, part)
            return await self._finish(self._get(final.id))

    async def _discard(self, info: UploadInfo) -> None:
        if not isinstance(self.store, Terminator):
            return
        await run_in_threadpool(self.store.terminate, info.id)
        if not info.partial:
            await run_in_threadpool(self.events.terminated, info)

    async def head(self, upload_id: str) -> Response:
        async with self.locker.hold(upload_id, _ignore):
            info = self._get(upload_id)
        found = {"Upload-Offset": str(info.offset), "Cache-Control": "no-store"}
        if info.length is None:
            found["Upload-Defer-Length"] = "1"
        else:
            found["Upload-Length"] = str(info.length)
        if info.metadata:
            found["Upload-Metadata"] = encode_metadata(info.metadata)
        if info.partial:
            found["Upload-Concat"] = "partial"
        elif info.final:
            paths = " ".join(f"{self.prefix}/{part}" for part in info.parts)
            found["Upload-Concat"] = f"final;{paths}"
        found.update(self._expiry(info))
        return Response(status_code=200, headers=found)

    async def append(self, upload_id: str, request: Request) -> Response:
        headers.require_version(request)
        if not headers.has_offset_body(request):
            raise ReelhouseError(errors.UPLOAD_CONTENT_TYPE_INVALID)
        offset = headers.non_negative(
            request, "upload-offset", errors.UPLOAD_OFFSET_INVALID
        )
        if offset is None:
            raise ReelhouseError(errors.UPLOAD_OFFSET_INVALID)

        info, ending = await self._receive(upload_id, request, offset)
        if ending in (Ending.STALLED, Ending.RELEASED):
            raise _cut_short(ending, info.offset)
        return Response(
            status_code=204,
            headers={"Upload-Offset": str(info.offset), **self._expiry(info)},
        )

    async def terminate(self, upload_id: str, request: Request) -> Response:
        headers.require_version(request)
        if not isinstance(self.store, Terminator):
            raise ReelhouseError(errors.METHOD_NOT_ALLOWED)
        async with self.locker.hold(upload_id, _ignore):
            info = self._get(upload_id)
            await run_in_threadpool(self.store.terminate, upload_id)
            self._reported.pop(upload_id, None)
            if not info.partial:
                await run_in_threadpool(self.events.terminated, info)
        return Response(status_code=204)

    def remove_expired(self, now: datetime | None = None) -> int:
        """Remove the open uploads idle for their lifetime; how many."""
        if self.lifetime is None or not isinstance(self.store, Expirer):
            return 0
        assert isinstance(self.store, Terminator)
        moment = (now or datetime.now(UTC)) - self.lifetime
        expired = self.store.idle_since(moment)
        for upload_id in expired:
            try:
                info = self.store.get(upload_id)
            except UploadNotFound:
                continue
            self.store.terminate(upload_id)
            if not info.partial:
                self.events.terminated(info)
        return len(expired)

    async def _receive(
        self, upload_id: str, request: Request, offset: int | None = None
    ) -> tuple[UploadInfo, Ending]:
        """Take the request body into the upload, holding its lock.

        ``offset`` is the client's Upload-Offset, checked once the lock is
        held, against the upload as it is then.
        """
        checksum_header = request.headers.get("upload-checksum")
        checksum = None
        if checksum_header is not None and isinstance(self.store, Stager):
            checksum = Checksum(checksum_header)
        body: Body | None = None

        def release() -> None:
            if body is not None:
                body.request_release()

        async with self.locker.hold(upload_id, release):
            info = self._get(upload_id)
            if info.final:
                raise ReelhouseError(errors.UPLOAD_FINAL_IMMUTABLE)
            if offset is not None and offset != info.offset:
                raise ReelhouseError(
                    errors.UPLOAD_OFFSET_MISMATCH,
                    f"Upload-Offset is {offset} but the upload is at {info.offset}.",
                    # The body was not read: the connection cannot carry on.
                    headers={"Connection": "close"},
                )
            self._declare_length(info, request)
            room = self._room(info, request)
            body = Body(
                request,
                room,
                self.body_timeout,
                observe=checksum.update if checksum else None,
            )
            if room != 0 and not info.finished:
                info.offset = await self._write(info, body, checksum)
                info.active_at = datetime.now(UTC)
                await self._progress(info)
            if info.complete:
                info = await self._finish(info)
        return info, body.ending

    async def _write(
        self, info: UploadInfo, body: Body, checksum: Checksum | None
    ) -> int:
        """Store the body; the upload's offset afterwards."""
        if checksum is None:
            return await self.store.write(info.id, body.chunks())
        assert isinstance(self.store, Stager)
        try:
            return await self.store.write_staged(
                info.id, body.chunks(), checksum.matches
            )
        except ChecksumMismatch as error:
            if body.ending is not Ending.COMPLETE:
                # Not a wrong digest: the body never arrived whole. Say why,
                # so that the client retries.
                raise _cut_short(body.ending, info.offset) from error
            raise ReelhouseError(errors.CHECKSUM_MISMATCH) from error

    def _parts_length(self, owner: str, part_ids: list[str]) -> int:
        total = 0
        for part_id in part_ids:
            try:
                part = self.store.get(part_id)
            except UploadNotFound as error:
                raise ReelhouseError(
                    errors.UPLOAD_CONCAT_INVALID, f"No partial upload {part_id}."
                ) from error
            if part.owner != owner or not part.partial:
                raise ReelhouseError(
                    errors.UPLOAD_CONCAT_INVALID,
                    f"{part_id} is not a partial upload of this account.",
                )
            if not part.complete:
                raise ReelhouseError(
                    errors.UPLOAD_CONCAT_INVALID,
                    f"The partial upload {part_id} is not complete yet.",
                )
            total += part.offset
        return total

    async def _progress(self, info: UploadInfo) -> None:
        """Tell the events that bytes arrived, unless that was said just now.

        The first bytes always show; a finished upload's last ones are told
        by ``finished``.
        """
        if info.partial or info.complete:
            return
        now = time.monotonic()
        last = self._reported.get(info.id)
        if last is not None and now - last < PROGRESS_INTERVAL:
            return
        if len(self._reported) > 10_000:  # abandoned uploads
            self._reported.clear()
        self._reported[info.id] = now
        await run_in_threadpool(self.events.progress, info)

    async def _finish(self, info: UploadInfo) -> UploadInfo:
        """Record the upload finished (once) and tell the events; the new state."""
        self._reported.pop(info.id, None)
        if await run_in_threadpool(self.store.finish, info.id):
            info = self._get(info.id)
            if not info.partial:
                await run_in_threadpool(self.events.finished, info)
        return info

    def _get(self, upload_id: str) -> UploadInfo:
        try:
            info = self.store.get(upload_id)
        except UploadNotFound as error:
            raise ReelhouseError(errors.UPLOAD_NOT_FOUND) from error
        expires = self._expires_at(info)
        if expires is not None and expires <= datetime.now(UTC):
            raise ReelhouseError(errors.UPLOAD_EXPIRED)
        return info

    def _expires_at(self, info: UploadInfo) -> datetime | None:
        """An upload left open expires a lifetime after bytes last arrived."""
        last = info.active_at or info.created_at
        open_ended = not info.finished or info.partial
        if self.lifetime is None or not open_ended or last is None:
            return None
        return last + self.lifetime

    def _expiry(self, info: UploadInfo) -> dict[str, str]:
        expires = self._expires_at(info)
        if expires is None:
            return {}
        return {"Upload-Expires": format_datetime(expires, usegmt=True)}

    def _check_size(self, length: int | None) -> None:
        if length is not None and self.max_size is not None and length > self.max_size:
            raise ReelhouseError(
                errors.UPLOAD_TOO_LARGE,
                f"The upload is {length} bytes; this server accepts at most "
                f"{self.max_size}.",
            )

    def _declare_length(self, info: UploadInfo, request: Request) -> None:
        length = headers.non_negative(
            request, "upload-length", errors.UPLOAD_LENGTH_INVALID
        )
        if length is None:
            return
        if info.length is not None:
            if length != info.length:
                raise ReelhouseError(errors.UPLOAD_LENGTH_MISMATCH)
            return
        if length < info.offset or not isinstance(self.store, LengthDeferrer):
            raise ReelhouseError(errors.UPLOAD_LENGTH_MISMATCH)
        self._check_size(length)
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
            kind = (
                errors.UPLOAD_EXCEEDS_LENGTH
                if info.length is not None
                else errors.UPLOAD_TOO_LARGE
            )
            raise ReelhouseError(
                kind,
                f"The body is {declared} bytes but only {room} more are accepted.",
                headers={"Connection": "close"},
            )
        if declared == "0":
            return 0
        return room


def _cut_short(ending: Ending, offset: int) -> ReelhouseError:
    if ending is Ending.STALLED:
        return ReelhouseError(
            errors.UPLOAD_BODY_TIMEOUT,
            headers={"Upload-Offset": str(offset), "Connection": "close"},
        )
    return ReelhouseError(
        errors.UPLOAD_INTERRUPTED, headers={"Upload-Offset": str(offset)}
    )


def _ignore() -> None:
    """A lock holder that reads no body has nothing to cut short."""


class TusHeaders:
    """ASGI middleware putting the protocol's headers on every upload response
    but OPTIONS, errors included (tus: Tus-Resumable, C2)."""

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

        if scope["method"] == "OPTIONS":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                found = list(message.get("headers", []))
                found.append((b"tus-resumable", TUS_VERSION.encode()))
                found.append((b"x-content-type-options", b"nosniff"))
                message["headers"] = found
            await send(message)

        await self.app(scope, receive, send_with_headers)
