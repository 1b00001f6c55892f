"""Which AWS account a DRS call is made in, from the credentials it is signed with.

DRS answers in the account of the caller's credentials; drssim keeps separate state per account
(:mod:`drssim.state`) and reads the account from the SigV4 ``Authorization`` header's access key
ID, in this order:

1. a static map, access key ID → account (``--account-key AKID=ACCOUNT``), for fixed credentials;
2. an STS endpoint (``--sts-endpoint-url``, a moto server): the access key is resolved by asking
   that STS ``GetCallerIdentity`` with the caller's access key ID and session token. moto answers
   from the access key alone (it does not check signatures), so this works for the temporary
   credentials moto's ``AssumeRole`` hands out, and it is the only STS drssim is meant for: real
   STS would refuse the request, since drssim never sees the caller's secret key. An answer is
   cached per access key ID (credentials never change account);
3. otherwise the default account, :data:`drssim.state.ACCOUNT_ID` (every call, without
   configuration: drssim's behaviour before accounts existed).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ACCOUNT_RE = re.compile(r"[0-9]{12}")
_ACCESS_KEY_RE = re.compile(r"Credential=([^/,\s]+)/")
#: drssim does not know the caller's secret key; moto does not check signatures
_UNKNOWN_SECRET = "drssim-does-not-know-the-secret"


class AccountLookupError(Exception):
    """The configured STS endpoint could not say whose credentials these are."""


def access_key_of(authorization: str | None) -> str | None:
    """The access key ID of a SigV4 ``Authorization`` header, if it has one."""
    found = _ACCESS_KEY_RE.search(authorization or "")
    return found.group(1) if found else None


class Accounts:
    """Access key ID → account (see the module docstring); one per simulator."""

    def __init__(
        self, default: str, keys: Mapping[str, str] | None = None, sts_endpoint_url: str | None = None
    ) -> None:
        for key, account in (keys or {}).items():
            if not ACCOUNT_RE.fullmatch(account):
                raise ValueError(f"account of access key {key!r} must be 12 digits, not {account!r}")
        self.default = default
        self.sts_endpoint_url = sts_endpoint_url
        self._known: dict[str, str] = dict(keys or {})

    @property
    def configured(self) -> bool:
        return bool(self._known) or self.sts_endpoint_url is not None

    async def of(self, authorization: str | None, session_token: str | None) -> str:
        """The account of a call signed with these credentials."""
        key = access_key_of(authorization)
        if key is None:
            return self.default
        known = self._known.get(key)
        if known is not None:
            return known
        if self.sts_endpoint_url is None:
            return self.default
        account = await asyncio.to_thread(self._ask_sts, key, session_token)
        self._known[key] = account
        return account

    def _ask_sts(self, access_key: str, session_token: str | None) -> str:
        client = botocore.session.get_session().create_client(
            "sts",
            region_name="us-east-1",
            endpoint_url=self.sts_endpoint_url,
            aws_access_key_id=access_key,
            aws_secret_access_key=_UNKNOWN_SECRET,
            aws_session_token=session_token,
            config=Config(
                retries={"mode": "standard", "total_max_attempts": 3}, connect_timeout=5, read_timeout=10
            ),
        )
        try:
            account = str(client.get_caller_identity()["Account"])
        except (BotoCoreError, ClientError) as err:
            raise AccountLookupError(
                f"STS at {self.sts_endpoint_url} could not identify {access_key}: {err}"
            ) from err
        finally:
            client.close()
        if not ACCOUNT_RE.fullmatch(account):
            raise AccountLookupError(f"STS answered {account!r} for {access_key}, not an account ID")
        return account
