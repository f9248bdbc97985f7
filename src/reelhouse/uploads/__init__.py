"""The tus 1.0.0 resumable-upload protocol: handler, stores, locks, events."""

from reelhouse.uploads.events import UploadEvents
from reelhouse.uploads.filestore import FileUploadStore
from reelhouse.uploads.handler import TusHandler
from reelhouse.uploads.store import UploadInfo, UploadNotFound, UploadStore

__all__ = [
    "FileUploadStore",
    "TusHandler",
    "UploadEvents",
    "UploadInfo",
    "UploadNotFound",
    "UploadStore",
]
