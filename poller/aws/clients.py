"""AWS clients for the daemon: one DynamoDB client, DRS clients per (account, region), EventBridge.

Retries are botocore's ``standard`` mode (throttling-aware, jittered); the loop adds its own
backoff on top so an outage slows the daemon down instead of spinning or crashing it.

DRS clients are keyed by :class:`~poller.domain.targets.DrsTarget`. The daemon's own account
(a wave without ``AccountId``, or naming ``POLLER_ACCOUNT_ID``) uses the daemon's credentials,
opened at start for every region of ``POLLER_DRS_REGIONS``. A member account's clients are
opened on first use, in a session of their own whose credentials come from STS AssumeRole on
the member role (``POLLER_MEMBER_ROLE_ARN`` / ``POLLER_MEMBER_ROLE_ARNS``), called with the
daemon's own credentials. The credentials are botocore's refreshable kind, through its public
extension point (a ``CredentialProvider`` in the session's ``credential_provider`` component):
botocore renews them before they expire (15 minutes ahead) and they are never logged.

A failed AssumeRole (AccessDenied, no such role, STS unreachable) surfaces on the DRS call that
needed it as :class:`AssumeRoleError`, a ``BotoCoreError`` like any failure before the request
reached DRS: the tracker backs off, the launcher retries the wave; nothing else is affected. It
is logged once per failing streak with the account and the role ARN, and counted
(``poller_assume_role_calls_total``); the next DRS call for that account tries again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

import aioboto3
import structlog
from aiobotocore.credentials import AioCredentialResolver, AioDeferredRefreshableCredentials
from aiobotocore.session import AioSession
from botocore.config import Config
from botocore.credentials import CredentialProvider
from botocore.exceptions import BotoCoreError, ClientError

from poller import metrics
from poller.config import Settings
from poller.domain.targets import DrsTarget

log = structlog.get_logger("poller.aws.clients")

#: A DRS client for a target (opened on first use for a member account)
DrsClientFor = Callable[[DrsTarget], Awaitable[Any]]


def client_config(max_pool: int = 50, max_attempts: int = 4, read_timeout: float = 20.0) -> Config:
    return Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=read_timeout,
        max_pool_connections=max_pool,
    )


class AssumeRoleError(BotoCoreError):
    """STS refused (or could not be asked) to let the daemon into a member account."""

    fmt = (
        "cannot assume {role_arn} to reach account {account}: {code}: {message} (the role must exist "
        "and trust the poller's task role; see POLLER_MEMBER_ROLE_ARN and deploy/member-account-role.yaml)"
    )

    def __init__(self, account: str, role_arn: str, code: str, message: str) -> None:
        super().__init__(account=account, role_arn=role_arn, code=code, message=message)
        self.account = account
        self.role_arn = role_arn
        self.code = code


class MemberRole:
    """AssumeRole into one member account; the ``refresh_using`` of its refreshable credentials."""

    def __init__(self, account: str, settings: Settings, sts: Callable[[], Awaitable[Any]]) -> None:
        self.account = account
        self.role_arn = settings.member_role(account)
        self._settings = settings
        self._sts = sts
        self._failing = False

    async def assume(self) -> dict[str, Any]:
        s = self._settings
        params: dict[str, Any] = {
            "RoleArn": self.role_arn,
            "RoleSessionName": s.member_role_session_name,
            "DurationSeconds": s.member_role_duration_seconds,
        }
        if s.member_role_external_id:
            params["ExternalId"] = s.member_role_external_id
        try:
            answer = await (await self._sts()).assume_role(**params)
        except (ClientError, BotoCoreError) as err:
            code, message = _sts_error(err)
            metrics.ASSUME_ROLE_CALLS.labels(self.account, code).inc()
            if not self._failing:  # once per failing streak, not on every retry of every poll
                self._failing = True
                log.error(
                    "assume_role_failed",
                    account=self.account,
                    role_arn=self.role_arn,
                    error=f"{code}: {message}",
                )
            raise AssumeRoleError(self.account, self.role_arn, code, message) from err
        metrics.ASSUME_ROLE_CALLS.labels(self.account, "ok").inc()
        if self._failing:
            self._failing = False
            log.info("assume_role_recovered", account=self.account, role_arn=self.role_arn)
        credentials = answer["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }


class MemberRoleProvider(CredentialProvider):
    """botocore's extension point for a credential source: refreshable credentials from
    :meth:`MemberRole.assume`, fetched when the first call needs them and renewed before expiry."""

    METHOD = "custom-drs-member-role"
    CANONICAL_NAME = "custom-drs-member-role"

    def __init__(self, role: MemberRole) -> None:
        super().__init__()
        self._role = role

    async def load(self) -> AioDeferredRefreshableCredentials:
        return AioDeferredRefreshableCredentials(refresh_using=self._role.assume, method=self.METHOD)


def member_session(role: MemberRole) -> aioboto3.Session:
    """A session whose only credential source is the member role."""
    botocore_session = AioSession()
    botocore_session.register_component(
        "credential_provider", AioCredentialResolver([MemberRoleProvider(role)])
    )
    return aioboto3.Session(botocore_session=botocore_session)


def _sts_error(err: BaseException) -> tuple[str, str]:
    if isinstance(err, ClientError):
        error = err.response.get("Error", {})
        return str(error.get("Code", "Unknown")), str(error.get("Message", "")) or str(err)
    return type(err).__name__, str(err) or type(err).__name__


class AwsClients:
    """Opens every client the daemon needs (member accounts' on first use), and closes them together."""

    def __init__(self, settings: Settings, session: aioboto3.Session | None = None) -> None:
        self._settings = settings
        self._session = session or aioboto3.Session()
        self._stack = AsyncExitStack()
        self.dynamodb: Any = None
        self.events: Any = None
        self.sqs: Any = None  # the launch-event queue's client, when POLLER_LAUNCH_EVENTS_QUEUE_URL is set
        self._config: Config = client_config()
        self._once: Config = client_config()
        self._drs: dict[DrsTarget, Any] = {}
        self._drs_once: dict[DrsTarget, Any] = {}
        self._members: dict[str, aioboto3.Session] = {}
        self._sts: Any = None
        self._opening = asyncio.Lock()
        self._opening_sts = asyncio.Lock()

    async def __aenter__(self) -> AwsClients:
        s = self._settings
        config = self._config = client_config(
            max_pool=max(50, s.max_concurrent_writes * 2),
            max_attempts=s.aws_max_attempts,
            read_timeout=s.aws_read_timeout_seconds,
        )
        self.dynamodb = await self._stack.enter_async_context(
            self._session.client(
                "dynamodb", region_name=s.aws_region, endpoint_url=s.dynamodb_endpoint_url, config=config
            )
        )
        if s.event_bus_name:
            self.events = await self._stack.enter_async_context(
                self._session.client(
                    "events", region_name=s.aws_region, endpoint_url=s.events_endpoint_url, config=config
                )
            )
        if s.launch_events_queue_url:
            # a long poll waits up to launch_events_wait_seconds: the read timeout must outlast it
            long_poll = config.merge(
                Config(read_timeout=max(s.aws_read_timeout_seconds, s.launch_events_wait_seconds + 10))
            )
            self.sqs = await self._stack.enter_async_context(
                self._session.client(
                    "sqs", region_name=s.aws_region, endpoint_url=s.sqs_endpoint_url, config=long_poll
                )
            )
        # StartRecovery / TerminateRecoveryInstances are not idempotent: a retry after a lost
        # answer would launch every server twice, so those calls get one attempt only.
        self._once = config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
        for region in s.drs_regions:
            own = DrsTarget(None, region)
            self._drs[own] = await self._open_drs(self._session, region, config)
            self._drs_once[own] = await self._open_drs(self._session, region, self._once)
        return self

    async def _open_drs(self, session: aioboto3.Session, region: str, config: Config) -> Any:
        client = session.client(
            "drs", region_name=region, endpoint_url=self._settings.drs_endpoint_url, config=config
        )
        return await self._stack.enter_async_context(client)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    async def drs(self, target: DrsTarget) -> Any:
        """The DRS client of a target; a region outside POLLER_DRS_REGIONS is a clear error."""
        return await self._client_of(self._drs, target, self._config)

    async def drs_once(self, target: DrsTarget) -> Any:
        """The no-retry DRS client of a target, for non-idempotent calls."""
        return await self._client_of(self._drs_once, target, self._once)

    async def _client_of(self, clients: dict[DrsTarget, Any], target: DrsTarget, config: Config) -> Any:
        target = target.own(self._settings.account_id)
        client = clients.get(target)
        if client is not None:
            return client
        if target.region not in self._settings.drs_regions:
            raise UnknownRegionError(target.region, list(self._settings.drs_regions))
        assert target.account is not None  # the own account's clients were opened at start
        async with self._opening:  # one client per target, even when many ask at once
            client = clients.get(target)
            if client is None:
                client = clients[target] = await self._open_drs(
                    self._member(target.account), target.region, config
                )
        return client

    def _member(self, account: str) -> aioboto3.Session:
        session = self._members.get(account)
        if session is None:
            role = MemberRole(account, self._settings, self._sts_client)
            session = self._members[account] = member_session(role)
        return session

    async def _sts_client(self) -> Any:
        """STS with the daemon's own credentials, opened when a member account is first reached."""
        async with self._opening_sts:
            if self._sts is None:
                s = self._settings
                self._sts = await self._stack.enter_async_context(
                    self._session.client(
                        "sts", region_name=s.aws_region, endpoint_url=s.sts_endpoint_url, config=self._config
                    )
                )
        return self._sts


class UnknownRegionError(LookupError):
    def __init__(self, region: str, configured: list[str]) -> None:
        super().__init__(
            f"region {region!r} is not in POLLER_DRS_REGIONS ({', '.join(configured)}); add it to poll its jobs"
        )
        self.region = region
