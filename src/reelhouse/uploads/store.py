"""The interfaces between the tus handler and the places uploads are kept.

The handler knows only :class:`UploadStore`; each optional capability is a
separate small protocol, and the handler advertises the matching tus
extension only when its store implements it.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


class UploadNotFound(LookupError):
    pass


class ChecksumMismatch(ValueError):
    pass


@dataclass
class UploadInfo:
    id: str
    length: int | None
    """Total bytes; None while the client defers the length."""
    offset: int
    """Bytes durably received so far."""
    owner: str
    """The account the upload belongs to."""
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: datetime | None = None
    finished: bool = False
    partial: bool = False
    """One part of a parallel upload, to be concatenated into a final one."""
    parts: list[str] = field(default_factory=list)
    """For a final upload: the ids of the partial uploads it joins, in order."""
    active_at: datetime | None = None
    """When bytes last arrived (the creation time before any did)."""

    @property
    def complete(self) -> bool:
        return self.length is not None and self.offset == self.length

    @property
    def final(self) -> bool:
        return bool(self.parts)


class UploadStore(Protocol):
    def create(self, info: UploadInfo) -> None:
        """Record a new, empty upload."""
        ...

    def get(self, upload_id: str) -> UploadInfo:
        """The upload as stored now; ``offset`` is what is durably written.

        Raises UploadNotFound for an unknown id.
        """
        ...

    async def write(self, upload_id: str, chunks: AsyncIterator[bytes]) -> int:
        """Append every chunk at the upload's current end; return the new offset.

        Whatever arrived before ``chunks`` fails stays written, so that an
        interrupted request keeps as much as possible. The caller bounds
        ``chunks`` to the bytes the upload may still take, and holds the
        upload's lock.
        """
        ...

    def finish(self, upload_id: str) -> bool:
        """Mark a complete upload finished; True only the first time."""
        ...

    def data_path(self, upload_id: str) -> str:
        """Where a finished upload's bytes are, for the code that adopts them."""
        ...


@runtime_checkable
class LengthDeferrer(Protocol):
    def declare_length(self, upload_id: str, length: int) -> None:
        """Set the length of an upload created with Upload-Defer-Length."""
        ...


@runtime_checkable
class Terminator(Protocol):
    def terminate(self, upload_id: str) -> None:
        """Remove the upload and its bytes; later lookups raise UploadNotFound."""
        ...


@runtime_checkable
class Stager(Protocol):
    async def write_staged(
        self,
        upload_id: str,
        chunks: AsyncIterator[bytes],
        verified: Callable[[], bool],
    ) -> int:
        """Like ``write``, but hold the chunks apart until the body has ended,
        then append them only if ``verified()`` is true.

        Otherwise the chunks are discarded, the offset is unchanged, and
        ChecksumMismatch is raised.
        """
        ...


@runtime_checkable
class Concater(Protocol):
    def concatenate(self, final_id: str, part_ids: list[str]) -> None:
        """Make the final upload's bytes the parts' bytes, in order.

        The parts are complete; the final upload was created with their total
        length and is complete afterwards.
        """
        ...


@runtime_checkable
class Expirer(Protocol):
    def idle_since(self, moment: datetime) -> list[str]:
        """Ids of the uploads still open (unfinished, or partial and never
        joined) that have received nothing since ``moment``."""
        ...


@runtime_checkable
class Locker(Protocol):
    def hold(
        self, upload_id: str, request_release: Callable[[], None]
    ) -> AbstractAsyncContextManager[None]:
        """Hold the upload's exclusive lock for the duration of the block.

        A request that finds the lock held calls the holder's
        ``request_release``: a holder stuck on a dead connection then stores
        what it has and lets go. When the lock is not freed in time, the
        block is not entered and an error meaning 423 Locked is raised.
        """
        ...
