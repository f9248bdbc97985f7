"""The FastAPI dependency that turns an X-Api-Key header into an account id."""

from typing import Annotated

from fastapi import Depends, Header

from reelhouse import errors
from reelhouse.accounts.keys import account_for_secret
from reelhouse.db import get_database
from reelhouse.errors import ReelhouseError


def authenticate(api_key: str | None) -> str:
    """The account id for an API key; raises a 401 error for a missing or bad one."""
    if not api_key:
        raise ReelhouseError(errors.API_KEY_MISSING)
    with get_database().session() as session:
        account_id = account_for_secret(session, api_key)
    if account_id is None:
        raise ReelhouseError(errors.API_KEY_INVALID)
    return account_id


def current_account(
    x_api_key: Annotated[str | None, Header(description="Your API key.")] = None,
) -> str:
    return authenticate(x_api_key)


CurrentAccount = Annotated[str, Depends(current_account)]
