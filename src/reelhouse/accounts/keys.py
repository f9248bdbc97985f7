"""Creating, checking and revoking accounts' API keys."""

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from reelhouse.accounts.models import Account, ApiKey
from reelhouse.db.base import utcnow

KEY_PREFIX = "rh_"


@dataclass(frozen=True)
class NewKey:
    """A key as created: the secret exists only here and is shown once."""

    key_id: str
    account_id: str
    secret: str


@dataclass(frozen=True)
class AccountSummary:
    id: str
    name: str
    created_at: datetime
    active_keys: int


class UnknownAccount(LookupError):
    pass


class UnknownKey(LookupError):
    pass


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_account(session: Session, name: str) -> tuple[Account, NewKey]:
    account = Account(id=str(uuid.uuid4()), name=name)
    session.add(account)
    session.flush()
    return account, create_key(session, account.id)


def create_key(session: Session, account_id: str) -> NewKey:
    if session.get(Account, account_id) is None:
        raise UnknownAccount(account_id)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id="key_" + secrets.token_hex(8),
        account_id=account_id,
        secret_hash=hash_secret(secret),
        hint=secret[:7],
    )
    session.add(key)
    session.flush()
    return NewKey(key_id=key.id, account_id=account_id, secret=secret)


def revoke_key(session: Session, key_id_or_secret: str) -> ApiKey:
    """Revoke a key named by its id or by the key itself; idempotent."""
    key = session.get(ApiKey, key_id_or_secret) or session.scalar(
        select(ApiKey).where(ApiKey.secret_hash == hash_secret(key_id_or_secret))
    )
    if key is None:
        raise UnknownKey(key_id_or_secret)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    return key


def account_for_secret(session: Session, secret: str) -> str | None:
    """The id of the account owning an active key with this secret, if any."""
    return session.scalar(
        select(ApiKey.account_id).where(
            ApiKey.secret_hash == hash_secret(secret), ApiKey.revoked_at.is_(None)
        )
    )


def list_accounts(session: Session) -> list[AccountSummary]:
    accounts = session.scalars(select(Account).order_by(Account.created_at)).all()
    keys = session.scalars(select(ApiKey).where(ApiKey.revoked_at.is_(None))).all()
    counts: dict[str, int] = {}
    for key in keys:
        counts[key.account_id] = counts.get(key.account_id, 0) + 1
    return [
        AccountSummary(a.id, a.name, a.created_at, counts.get(a.id, 0))
        for a in accounts
    ]


def list_keys(session: Session, account_id: str) -> list[ApiKey]:
    if session.get(Account, account_id) is None:
        raise UnknownAccount(account_id)
    query = (
        select(ApiKey)
        .where(ApiKey.account_id == account_id)
        .order_by(ApiKey.created_at)
    )
    return list(session.scalars(query))


def has_accounts(session: Session) -> bool:
    return session.scalar(select(Account.id).limit(1)) is not None
