"""The states a video passes through, in order; ``error`` can end any of them."""

UPLOADING = "uploading"
PROCESSING = "processing"
READY = "ready"
ERROR = "error"

ALL = (UPLOADING, PROCESSING, READY, ERROR)
