"""The error catalogue: every failure a client can see, defined once.

Each entry has a stable ``code`` (clients may branch on it), a default
``message`` and an HTTP ``status``. Every error response has the same JSON
shape, produced by :func:`error_body`::

    {"error": {"code": "video_not_found", "message": "...", "status": 404}}
"""

from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel


@dataclass(frozen=True)
class ErrorKind:
    code: str
    status: int
    message: str


def _kind(code: str, status: int, message: str) -> ErrorKind:
    kind = ErrorKind(code, status, message)
    CATALOGUE[code] = kind
    return kind


CATALOGUE: dict[str, ErrorKind] = {}

# Generic request errors.
INVALID_REQUEST = _kind("invalid_request", 400, "The request is not valid.")
NOT_FOUND = _kind("not_found", 404, "There is nothing at this address.")
METHOD_NOT_ALLOWED = _kind(
    "method_not_allowed", 405, "This method is not allowed on this address."
)
INTERNAL_ERROR = _kind(
    "internal_error", 500, "The server failed; the failure has been logged."
)

# Authentication.
API_KEY_MISSING = _kind(
    "api_key_missing", 401, "An API key is required: send it in the X-Api-Key header."
)
API_KEY_INVALID = _kind(
    "api_key_invalid", 401, "The API key is unknown or has been revoked."
)

# Videos.
VIDEO_NOT_FOUND = _kind("video_not_found", 404, "No such video.")
VIDEO_NOT_READY = _kind(
    "video_not_ready",
    409,
    "The video is not ready yet; its status must be 'ready' to download it.",
)
VIDEO_FAILED = _kind(
    "video_failed", 409, "The video could not be processed; see its 'error' field."
)

ENCODING_INVALID = _kind(
    "encoding_invalid",
    400,
    "The encoding request is not valid: quality is a VMAF score from 60 to 99, "
    "profile one of fast, balanced, max, and codec one of h264, hevc, av1.",
)

RANGE_NOT_SATISFIABLE = _kind(
    "range_not_satisfiable", 416, "No requested range lies within the file."
)

# tus uploads.
TUS_VERSION_UNSUPPORTED = _kind(
    "tus_version_unsupported", 412, "Only Tus-Resumable 1.0.0 is supported."
)
UPLOAD_NOT_FOUND = _kind("upload_not_found", 404, "No such upload.")
UPLOAD_LENGTH_INVALID = _kind(
    "upload_length_invalid",
    400,
    "Upload-Length must be a non-negative integer, or Upload-Defer-Length: 1 "
    "given instead, but not both.",
)
UPLOAD_LENGTH_MISMATCH = _kind(
    "upload_length_mismatch",
    400,
    "Upload-Length cannot change once set, nor be less than the upload's offset.",
)
UPLOAD_OFFSET_INVALID = _kind(
    "upload_offset_invalid", 400, "Upload-Offset must be a non-negative integer."
)
UPLOAD_OFFSET_MISMATCH = _kind(
    "upload_offset_mismatch",
    409,
    "Upload-Offset does not match the upload's offset; ask with HEAD and resume.",
)
UPLOAD_METADATA_INVALID = _kind(
    "upload_metadata_invalid",
    400,
    "Upload-Metadata must be comma-separated 'key base64value' pairs with unique keys.",
)
UPLOAD_CONTENT_TYPE_INVALID = _kind(
    "upload_content_type_invalid",
    415,
    "A PATCH body must have Content-Type: application/offset+octet-stream.",
)
UPLOAD_TOO_LARGE = _kind(
    "upload_too_large", 413, "The upload is larger than this server accepts."
)
UPLOAD_EXCEEDS_LENGTH = _kind(
    "upload_exceeds_length", 413, "The body would pass the upload's Upload-Length."
)
UPLOAD_BODY_TIMEOUT = _kind(
    "upload_body_timeout",
    408,
    "The request body stopped arriving; what arrived is stored. Ask for the "
    "offset with HEAD and resume from there.",
)
UPLOAD_INTERRUPTED = _kind(
    "upload_interrupted",
    400,
    "Another request on this upload interrupted this one; what arrived is stored.",
)
UPLOAD_EXPIRED = _kind(
    "upload_expired", 410, "The upload was not finished in time and is gone."
)
UPLOAD_CONCAT_INVALID = _kind(
    "upload_concat_invalid",
    400,
    "Upload-Concat must be 'partial', or 'final;' and the URLs of complete "
    "partial uploads of the same account.",
)
UPLOAD_FINAL_IMMUTABLE = _kind(
    "upload_final_immutable",
    403,
    "A final upload is made of its parts and takes no bytes of its own.",
)
CHECKSUM_ALGORITHM_UNSUPPORTED = _kind(
    "checksum_algorithm_unsupported",
    400,
    "The Upload-Checksum algorithm is not supported; see Tus-Checksum-Algorithm.",
)
CHECKSUM_INVALID = _kind(
    "checksum_invalid",
    400,
    "Upload-Checksum must be an algorithm, a space and a base64 digest.",
)
CHECKSUM_MISMATCH = _kind(
    "checksum_mismatch",
    460,
    "The body does not match its Upload-Checksum; it was discarded.",
)
UPLOAD_LOCKED = _kind(
    "upload_locked",
    423,
    "Another request is writing to this upload; retry in a moment.",
)


TOKEN_INVALID = _kind(
    "token_invalid",
    403,
    "The playback link is not valid for this video: ask its owner for a new one.",
)

# Playback events (the Segment-compatible ingestion).
WRITE_KEY_INVALID = _kind(
    "write_key_invalid",
    401,
    "The write key is missing or unknown: send the account's write key as the "
    "Basic auth user name or as writeKey in the body.",
)
EVENTS_INVALID = _kind("events_invalid", 400, "The events are not valid JSON calls.")
EVENTS_OVERLOADED = _kind(
    "events_overloaded",
    429,
    "Too many events are arriving at once; send them again after Retry-After seconds.",
)
EVENTS_TOO_LARGE = _kind(
    "events_too_large",
    400,
    "The body is too large: at most 32 KiB for one call, 500 KiB for a batch.",
)


class ErrorDetail(BaseModel):
    code: str
    message: str
    status: int


class ErrorOut(BaseModel):
    """The body of every error response, for the API's documentation."""

    error: ErrorDetail


def documented(*kinds: ErrorKind) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for routes that may fail with these errors."""
    by_status: dict[int, list[str]] = {}
    for kind in kinds:
        by_status.setdefault(kind.status, []).append(kind.code)
    return {
        status: {"model": ErrorOut, "description": "Error codes: " + ", ".join(codes)}
        for status, codes in sorted(by_status.items())
    }


class ReelhouseError(Exception):
    """An error a client sees: one catalogue entry, optionally a sharper message."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.message = message or kind.message
        self.headers = headers or {}
        super().__init__(self.message)


def error_body(kind: ErrorKind, message: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": kind.code,
            "message": message or kind.message,
            "status": kind.status,
        }
    }
