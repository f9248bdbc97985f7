"""The calling account, as its API key sees it."""

from typing import Any

from fastapi import APIRouter

from reelhouse import errors
from reelhouse.accounts.auth import CurrentAccount
from reelhouse.accounts.models import Account
from reelhouse.accounts.signing import signing_secret
from reelhouse.db import get_database
from reelhouse.settings import get_settings

router = APIRouter(
    tags=["account"],
    responses=errors.documented(errors.API_KEY_MISSING, errors.API_KEY_INVALID),
)


@router.get("/account")
def account_route(account_id: CurrentAccount) -> dict[str, Any]:
    """The account: its name, its encoding defaults and its public write key
    (what players and Segment libraries send playback events with)."""
    with get_database().session() as session:
        account = session.get(Account, account_id)
        assert account is not None  # the key was just checked against it
        return {
            "id": account.id,
            "name": account.name,
            "write_key": account.write_key,
            "encoding": account.encoding,
            "created_at": account.created_at.isoformat(),
        }


@router.post("/account/signing-secret")
def rotate_signing_secret(account_id: CurrentAccount) -> dict[str, Any]:
    """A new signing secret for playback links, shown this once.

    Sign links with it in your own code (a JWT, HS256, with the claims
    ``video_id`` and ``exp``), or let ``POST /videos/<id>/token`` sign them.
    Every link signed with the previous secret stops working.
    """
    with get_database().session() as session:
        account = session.get(Account, account_id)
        assert account is not None
        account.signing_version += 1
        version = account.signing_version
    return {
        "signing_secret": signing_secret(get_settings(), account_id, version),
        "version": version,
    }
