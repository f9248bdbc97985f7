"""The base URL clients reach this server at, for links the server hands out."""

from starlette.requests import Request

from reelhouse.settings import Settings


def public_base_url(request: Request, settings: Settings) -> str:
    """``REELHOUSE_PUBLIC_URL`` if set, else the scheme and host of the request.

    Forwarded headers are believed only with ``REELHOUSE_TRUST_PROXY``, since
    any client can send them.
    """
    if settings.public_url:
        return settings.public_url.rstrip("/")
    scheme = request.url.scheme
    host = request.headers.get("host") or request.url.netloc
    if settings.trust_proxy:
        scheme, host = _forwarded(request, scheme, host)
    return f"{scheme}://{_without_default_port(scheme, host)}"


def _forwarded(request: Request, scheme: str, host: str) -> tuple[str, str]:
    forwarded = request.headers.get("forwarded")
    if forwarded:
        first = forwarded.split(",")[0]
        for pair in first.split(";"):
            name, _, value = pair.strip().partition("=")
            value = value.strip('"')
            if name.lower() == "host" and value:
                host = value
            elif name.lower() == "proto" and value in {"http", "https"}:
                scheme = value
        return scheme, host
    proto = request.headers.get("x-forwarded-proto", "").split(",")[0].strip()
    if proto in {"http", "https"}:
        scheme = proto
    forwarded_host = request.headers.get("x-forwarded-host", "").split(",")[0]
    return scheme, forwarded_host.strip() or host


def _without_default_port(scheme: str, host: str) -> str:
    default = {"http": ":80", "https": ":443"}[scheme]
    return host.removesuffix(default)
