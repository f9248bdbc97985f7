"""Where every stored byte lives: a small blob interface and its backends."""

from reelhouse.storage.backends import get_blob_store
from reelhouse.storage.blobs import BlobStore, InvalidKey, MissingBlob
from reelhouse.storage.local import LocalBlobStore

__all__ = [
    "BlobStore",
    "InvalidKey",
    "LocalBlobStore",
    "MissingBlob",
    "get_blob_store",
]
