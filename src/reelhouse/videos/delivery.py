"""Sending stored files to clients: downloads with byte ranges (RFC 9110 §14)."""

import re
from pathlib import Path
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import FileResponse, Response

from reelhouse import errors
from reelhouse.errors import ReelhouseError

# Positions of at most 18 digits: anything longer is past any file, and
# converting it would only cost time.
_POSITION = r"\d{0,18}"
_RANGE_SET = re.compile(
    rf"bytes=\s*({_POSITION}-{_POSITION}\s*(,\s*{_POSITION}-{_POSITION}\s*)*)",
    re.IGNORECASE,
)


def file_download(
    request: Request, path: Path, filename: str, media_type: str
) -> Response:
    """The file as an attachment named ``filename``, honouring a Range header.

    A Range the server cannot make sense of is ignored and the whole file
    sent, as RFC 9110 asks; one no byte of the file satisfies gets our 416.
    """
    header = request.headers.get("range")
    if header is not None:
        size = path.stat().st_size
        ranges = _parse(header)
        if ranges is None:
            request.scope["headers"] = [
                (name, value)
                for name, value in request.scope["headers"]
                if name != b"range"
            ]
        elif not any(_satisfiable(first, last, size) for first, last in ranges):
            raise ReelhouseError(
                errors.RANGE_NOT_SATISFIABLE,
                f"No requested range starts within the file's {size} bytes.",
                headers={"Content-Range": f"bytes */{size}"},
            )
    response = FileResponse(
        path,
        media_type=media_type,
        headers={"Content-Disposition": content_disposition(filename)},
        stat_result=path.stat(),
    )
    if _unchanged(request.headers.get("if-none-match"), response.headers["etag"]):
        # The copy the client holds is this one: headers, no body.
        return Response(status_code=304, headers={"ETag": response.headers["etag"]})
    return response


def _unchanged(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (compared weakly, RFC 9110)."""
    if if_none_match is None:
        return False
    if if_none_match.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(
        tag.strip().removeprefix("W/") == bare for tag in if_none_match.split(",")
    )


def _parse(header: str) -> list[tuple[int | None, int | None]] | None:
    """The ranges of a valid header; None for one that must be ignored."""
    matched = _RANGE_SET.fullmatch(header.strip())
    if matched is None:
        return None
    ranges: list[tuple[int | None, int | None]] = []
    for part in matched.group(1).split(","):
        first_text, _, last_text = part.strip().partition("-")
        first = int(first_text) if first_text else None
        last = int(last_text) if last_text else None
        if first is None and last is None:
            return None
        if first is not None and last is not None and last < first:
            return None
        ranges.append((first, last))
    return ranges


def _satisfiable(first: int | None, last: int | None, size: int) -> bool:
    if first is None:  # a suffix: the last ``last`` bytes
        return last is not None and last > 0 and size > 0
    return first < size


def content_disposition(filename: str) -> str:
    """An attachment header carrying any file name safely (RFC 6266)."""
    ascii_name = re.sub(r'[^\x20-\x7e]|["\\/]', "_", filename)
    return (
        f'attachment; filename="{ascii_name}"; '
        f"filename*=UTF-8''{quote(filename, safe='')}"
    )
