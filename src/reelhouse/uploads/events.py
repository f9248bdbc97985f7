"""Upload lifecycle events: where the rest of the system hooks in.

The tus handler never calls the transcoder or the video library itself; it
tells an :class:`UploadEvents` what happened, and that decides.
"""

from typing import Protocol

from reelhouse.uploads.store import UploadInfo


class UploadEvents(Protocol):
    def created(self, upload: UploadInfo) -> None:
        """A new upload exists; raising rejects nothing, it is already stored."""
        ...

    def progress(self, upload: UploadInfo) -> None:
        """Bytes arrived; called at most twice a second per upload.

        The bytes that complete an upload are told by ``finished`` instead.
        """
        ...

    def finished(self, upload: UploadInfo) -> None:
        """Every byte arrived. Called once per upload, after the store recorded it."""
        ...

    def terminated(self, upload: UploadInfo) -> None:
        """The client deleted the upload."""
        ...
