"""Reading the protocol's request headers into values, or into the errors of
the catalogue."""

from fastapi import Request

from reelhouse import errors
from reelhouse.errors import ErrorKind, ReelhouseError
from reelhouse.uploads.metadata import MetadataError, parse_metadata

TUS_VERSION = "1.0.0"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
# Offsets and lengths are 64-bit signed integers wherever they are stored.
LARGEST_OFFSET = 2**63 - 1


def require_version(request: Request) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise ReelhouseError(
            errors.TUS_VERSION_UNSUPPORTED, headers={"Tus-Version": TUS_VERSION}
        )


def has_offset_body(request: Request) -> bool:
    content_type = request.headers.get("content-type", "")
    return content_type.split(";")[0].strip().lower() == OFFSET_CONTENT_TYPE


def non_negative(request: Request, header: str, kind: ErrorKind) -> int | None:
    raw = request.headers.get(header)
    if raw is None:
        return None
    if not raw.isdigit() or not raw.isascii():
        raise ReelhouseError(kind)
    if len(raw.lstrip("0")) > 19 or int(raw) > LARGEST_OFFSET:
        raise ReelhouseError(kind, f"{header.title()} is larger than {LARGEST_OFFSET}.")
    return int(raw)


def creation_length(request: Request, *, final: bool) -> int | None:
    """Upload-Length, or None for Upload-Defer-Length: 1 (CR2).

    A final concatenation takes its length from its parts and may give neither.
    """
    length = non_negative(request, "upload-length", errors.UPLOAD_LENGTH_INVALID)
    deferred = request.headers.get("upload-defer-length")
    if final:
        if length is not None or deferred is not None:
            raise ReelhouseError(
                errors.UPLOAD_LENGTH_INVALID,
                "A final upload's length is the sum of its parts: send no "
                "Upload-Length.",
            )
        return None
    if deferred is not None and (deferred != "1" or length is not None):
        raise ReelhouseError(errors.UPLOAD_LENGTH_INVALID)
    if deferred is None and length is None:
        raise ReelhouseError(errors.UPLOAD_LENGTH_INVALID)
    return length


def metadata(request: Request) -> dict[str, str]:
    try:
        return parse_metadata(request.headers.get("upload-metadata"))
    except MetadataError as error:
        raise ReelhouseError(errors.UPLOAD_METADATA_INVALID, str(error)) from error


def concat(request: Request, prefix: str) -> tuple[bool, list[str]]:
    """Upload-Concat: whether the upload is partial, and a final one's part ids.

    The parts may be named by absolute URLs or by paths (K2).
    """
    raw = request.headers.get("upload-concat")
    if raw is None:
        return False, []
    raw = raw.strip()
    if raw == "partial":
        return True, []
    kind, _, urls = raw.partition(";")
    if kind.strip() != "final" or not urls.split():
        raise ReelhouseError(errors.UPLOAD_CONCAT_INVALID)
    part_ids: list[str] = []
    for url in urls.split():
        url = url.split("?", 1)[0].split("#", 1)[0]
        path = url.split("://", 1)[-1]
        if "://" in url:
            path = "/" + path.partition("/")[2]
        head, _, upload_id = path.rstrip("/").rpartition("/")
        if head != prefix or not upload_id:
            raise ReelhouseError(
                errors.UPLOAD_CONCAT_INVALID,
                f"{url!r} is not an upload of this server.",
            )
        if upload_id in part_ids:
            raise ReelhouseError(
                errors.UPLOAD_CONCAT_INVALID, "A partial upload can be joined once."
            )
        part_ids.append(upload_id)
    return False, part_ids
