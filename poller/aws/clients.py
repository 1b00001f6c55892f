"""AWS clients for the daemon: one DynamoDB client, one DRS client per region, EventBridge.

Retries are botocore's ``standard`` mode (throttling-aware, jittered); the loop adds its own
backoff on top so an outage slows the daemon down instead of spinning or crashing it.
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any

import aioboto3
from botocore.config import Config

from poller.config import Settings


def client_config(max_pool: int = 50, max_attempts: int = 4, read_timeout: float = 20.0) -> Config:
    return Config(
        retries={"mode": "standard", "total_max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=read_timeout,
        max_pool_connections=max_pool,
    )


class AwsClients:
    """Opens every client the daemon needs once, and closes them together."""

    def __init__(self, settings: Settings, session: aioboto3.Session | None = None) -> None:
        self._settings = settings
        self._session = session or aioboto3.Session()
        self._stack = AsyncExitStack()
        self.dynamodb: Any = None
        self.events: Any = None
        self.sqs: Any = None  # the launch-event queue's client, when POLLER_LAUNCH_EVENTS_QUEUE_URL is set
        self._drs: dict[str, Any] = {}
        self._drs_once: dict[str, Any] = {}

    async def __aenter__(self) -> AwsClients:
        s = self._settings
        config = client_config(
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
        once = config.merge(Config(retries={"mode": "standard", "total_max_attempts": 1}))
        for region in s.drs_regions:
            self._drs[region] = await self._open_drs(region, config)
            self._drs_once[region] = await self._open_drs(region, once)
        return self

    async def _open_drs(self, region: str, config: Config) -> Any:
        client = self._session.client(
            "drs", region_name=region, endpoint_url=self._settings.drs_endpoint_url, config=config
        )
        return await self._stack.enter_async_context(client)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stack.aclose()

    def drs(self, region: str) -> Any:
        """The DRS client of a configured region; an unconfigured region is a clear error."""
        return self._client_of(self._drs, region)

    def drs_once(self, region: str) -> Any:
        """The no-retry DRS client of a region, for non-idempotent calls."""
        return self._client_of(self._drs_once, region)

    @staticmethod
    def _client_of(clients: dict[str, Any], region: str) -> Any:
        try:
            return clients[region]
        except KeyError:
            raise UnknownRegionError(region, sorted(clients)) from None


class UnknownRegionError(LookupError):
    def __init__(self, region: str, configured: list[str]) -> None:
        super().__init__(
            f"region {region!r} is not in POLLER_DRS_REGIONS ({', '.join(configured)}); add it to poll its jobs"
        )
        self.region = region
