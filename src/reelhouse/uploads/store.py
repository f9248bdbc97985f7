"""The interfaces between the tus handler and the places uploads are kept.

The handler knows only :class:`UploadStore`; an optional capability is a
separate small protocol, and the handler advertises the matching tus
extension only when its store implements it.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable


class UploadNotFound(LookupError):
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

    @property
    def complete(self) -> bool:
        return self.length is not None and self.offset == self.length


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
