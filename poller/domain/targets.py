"""Where a DRS call goes: one account and one region, the key of every DRS client, batch,
capacity queue, cleanup and operator call.

A wave names its account with ``AccountId`` (12 digits); a wave without it runs in the
daemon's own account, with the daemon's own credentials: :class:`DrsTarget` carries
``account=None`` for that. Member accounts are reached by assuming a role there
(``poller.aws.clients``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

ACCOUNT_ID = r"[0-9]{12}"
ACCOUNT_ID_PATTERN = rf"^{ACCOUNT_ID}$"  # pydantic's regex engine: '$' is the end of the text
ACCOUNT_ID_RE = re.compile(ACCOUNT_ID)
OWN_ACCOUNT_LABEL = "self"  # names the daemon's own account when POLLER_ACCOUNT_ID is unset


class _Placed(Protocol):
    @property
    def AccountId(self) -> str | None: ...

    @property
    def Region(self) -> str: ...


@dataclass(frozen=True, slots=True)
class DrsTarget:
    """One DRS account-region. ``account`` None: the daemon's own account and credentials."""

    account: str | None
    region: str

    @classmethod
    def of(cls, wave: _Placed) -> DrsTarget:
        return cls(wave.AccountId, wave.Region)

    def own(self, own_account: str | None) -> DrsTarget:
        """The same target with the daemon's own account, when named, folded into None: a wave
        naming the daemon's own account shares its clients and its DRS quota with unnamed ones."""
        if self.account is not None and self.account == own_account:
            return DrsTarget(None, self.region)
        return self

    def account_label(self, own_account: str | None = None) -> str:
        """The account as logs, reasons and metrics name it."""
        return self.account or own_account or OWN_ACCOUNT_LABEL

    def where(self, own_account: str | None = None) -> str:
        """``account/region``, as capacity reasons and log lines name it."""
        return f"{self.account_label(own_account)}/{self.region}"

    def __str__(self) -> str:
        """The region alone for the daemon's own account, else ``account/region``."""
        return self.region if self.account is None else f"{self.account}/{self.region}"

    def sort_key(self) -> tuple[str, str]:
        return (self.account or "", self.region)


def target_fields(target: DrsTarget) -> dict[str, str]:
    """How API answers name a target: ``region``, and ``account`` for a member account."""
    return (
        {"region": target.region}
        if target.account is None
        else {"account": target.account, "region": target.region}
    )


def role_arn(template: str, overrides: dict[str, str], account: str) -> str:
    """The role the daemon assumes in ``account``: its override, else the template filled in."""
    return overrides.get(account) or template.format(account=account)
