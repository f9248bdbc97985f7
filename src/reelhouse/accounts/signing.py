"""Signed playback links for private videos.

Each account has a signing secret that nobody stores: it is derived from the
server's own key, the account's id and its secret's version, so the database
holds no secret to steal and rotating one (a new version) voids every link
signed with the old. A link carries a JWT (HS256) naming one video and when
the link expires; the account's secret signs it, on the server
(``POST /videos/<id>/token``) or in the customer's own code.
"""

import base64
import contextlib
import hashlib
import hmac
import math
import os
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from reelhouse import errors
from reelhouse.errors import ReelhouseError
from reelhouse.settings import Settings

KEY_FILE = "secret.key"
ALGORITHM = "HS256"
# An old-form expiry above this is in milliseconds (1e11 s is the year 5138).
MILLISECONDS_FROM = 1e11
# The longest a link may be made to last.
MAX_LIFETIME = timedelta(days=7)


def server_key(settings: Settings) -> bytes:
    """``REELHOUSE_SECRET_KEY``, or a random key made once and kept, readable
    by its owner only, in the data folder."""
    if settings.secret_key:
        return settings.secret_key.encode()
    path = settings.data_dir / KEY_FILE
    if not path.exists():
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        # Another process may make it at the same moment: the first one wins.
        with contextlib.suppress(FileExistsError):
            _create_private(path, secrets.token_bytes(32))
    return path.read_bytes()


def signing_secret(settings: Settings, account_id: str, version: int) -> str:
    """The account's signing secret at ``version``."""
    derived = hmac.new(
        server_key(settings),
        f"playback-signing:{account_id}:{version}".encode(),
        hashlib.sha256,
    ).digest()
    return "ss_" + base64.urlsafe_b64encode(derived).decode().rstrip("=")


def sign(secret: str, video_id: str, expires_at: datetime) -> str:
    claims = {"video_id": video_id, "exp": int(expires_at.timestamp())}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def expiry(lifetime_seconds: float) -> datetime:
    """When a link made now for ``lifetime_seconds`` expires, to the whole
    second (a token's expiry has no fraction), never before it was asked to."""
    if not 1 <= lifetime_seconds <= MAX_LIFETIME.total_seconds():  # NaN too
        raise ReelhouseError(
            errors.INVALID_REQUEST,
            "expires_in must be a number of seconds from 1 to "
            f"{MAX_LIFETIME.days} days.",
        )
    wanted = datetime.now(UTC) + timedelta(seconds=lifetime_seconds)
    return datetime.fromtimestamp(math.ceil(wanted.timestamp()), UTC)


def verify(secret: str, token: str, video_id: str) -> None:
    """Raise TOKEN_INVALID unless ``token`` is a live link to ``video_id``."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp"]}
        )
    except jwt.ExpiredSignatureError as error:
        raise ReelhouseError(
            errors.TOKEN_INVALID, "The playback link has expired."
        ) from error
    except jwt.InvalidTokenError as error:
        raise ReelhouseError(errors.TOKEN_INVALID) from error
    if claims.get("video_id") != video_id:
        raise ReelhouseError(errors.TOKEN_INVALID)


def verify_legacy(api_key: str, token: str, video_id: str) -> None:
    """Raise TOKEN_INVALID unless ``token`` is a live link in the old form:
    signed with the API key, its ``expiry`` in seconds or milliseconds."""
    try:
        claims = jwt.decode(
            token, api_key, algorithms=[ALGORITHM], options={"verify_exp": False}
        )
    except jwt.InvalidTokenError as error:
        raise ReelhouseError(errors.TOKEN_INVALID) from error
    expires = claims.get("expiry")
    if claims.get("video_id") != video_id or not isinstance(expires, int | float):
        raise ReelhouseError(errors.TOKEN_INVALID)
    if expires > MILLISECONDS_FROM:
        expires /= 1000
    if expires < datetime.now(UTC).timestamp():
        raise ReelhouseError(errors.TOKEN_INVALID, "The playback link has expired.")


def seal(settings: Settings, secret: str) -> str:
    """``secret`` encrypted with a key only this server derives."""
    nonce = secrets.token_bytes(12)
    sealed = AESGCM(_sealing_key(settings)).encrypt(nonce, secret.encode(), None)
    return base64.urlsafe_b64encode(nonce + sealed).decode()


def unseal(settings: Settings, sealed: str) -> str:
    raw = base64.urlsafe_b64decode(sealed)
    return AESGCM(_sealing_key(settings)).decrypt(raw[:12], raw[12:], None).decode()


def _sealing_key(settings: Settings) -> bytes:
    return hmac.new(server_key(settings), b"sealing", hashlib.sha256).digest()


def _create_private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
