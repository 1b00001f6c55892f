"""Settings from environment variables (``POLLER_*``) and an optional file under ``config/``.

Invalid configuration fails at start with a message naming the setting, never later in the loop:
regions must look like AWS regions, durations must be finite and above a floor (a 1e-9 s
interval would spin the loop), and an unknown ``POLLER_*`` variable (a typo) is reported with the
closest known name.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from poller.domain.phases import PollingIntervals
from poller.domain.targets import ACCOUNT_ID_RE, role_arn
from poller.runtime.responsiveness import Responsiveness

DEFAULT_CONFIG_FILE = Path("config/poller.env")
#: AWS region names (us-east-1, us-gov-west-1, ap-southeast-3, ...), matched in full
AWS_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")
#: IAM role ARNs (any partition), matched in full
ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}")
DEFAULT_MEMBER_ROLE_ARN = "arn:aws:iam::{account}:role/drs-execution-poller"
#: The shortest poll interval, finder period or heartbeat accepted: below, the loop only spins
MIN_PERIOD_SECONDS = 0.01


class ConfigError(SystemExit):
    """Raised at start-up; SystemExit so the CLI prints the message and exits non-zero."""


class Settings(BaseSettings):
    """Every knob of the daemon. The README's configuration table is checked against this class."""

    model_config = SettingsConfigDict(
        env_prefix="POLLER_", extra="forbid", case_sensitive=False, allow_inf_nan=False
    )

    table_name: str = Field("drs-executions", min_length=3, description="DynamoDB execution table")
    plans_table_name: str = Field("drs-plans", min_length=3, description="DynamoDB recovery-plan table")
    status_index_name: str = Field("StatusIndex", min_length=1, description="GSI on (Status, StartTime)")
    aws_region: str = Field("us-east-1", description="Region of the DynamoDB tables")
    drs_regions: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["us-east-1"],
        min_length=1,
        description="Regions whose DRS jobs may be polled",
    )
    dynamodb_endpoint_url: str | None = Field(None, description="Override, e.g. a moto server")
    drs_endpoint_url: str | None = Field(None, description="Override, e.g. the drssim simulator")
    events_endpoint_url: str | None = Field(None, description="Override for EventBridge")
    event_bus_name: str | None = Field(None, description="EventBridge bus for completion events; unset = off")
    interval_pending_seconds: float = Field(
        45.0, ge=MIN_PERIOD_SECONDS, description="Poll interval while servers are PENDING"
    )
    interval_started_seconds: float = Field(
        15.0, ge=MIN_PERIOD_SECONDS, description="Poll interval in the STARTED transition"
    )
    interval_in_progress_seconds: float = Field(
        30.0, ge=MIN_PERIOD_SECONDS, description="Poll interval while IN_PROGRESS"
    )
    interval_launching_seconds: float = Field(
        15.0, ge=MIN_PERIOD_SECONDS, description="First poll after jobs were started"
    )
    interval_post_launch_seconds: float = Field(
        30.0, ge=MIN_PERIOD_SECONDS, description="Poll interval for post-launch actions"
    )
    interval_default_seconds: float = Field(
        30.0, ge=MIN_PERIOD_SECONDS, description="Poll interval for any other phase"
    )
    timeout_seconds: float = Field(
        1800.0, gt=0, description="Execution age at which DRS is asked for the truth"
    )
    finder_period_seconds: float = Field(
        10.0, ge=MIN_PERIOD_SECONDS, description="How often the StatusIndex is queried"
    )
    batch_window_seconds: float = Field(
        1.0,
        ge=0,
        description="How long DescribeJobs requests are gathered per region (trackers ask this much early)",
    )
    describe_min_gap_seconds: float | None = Field(
        None,
        ge=0,
        description="Least time between two DescribeJobs calls of a region (unset: the batch window); longer "
        "means fewer calls, and polls woken by launch events wait longer",
    )
    aws_max_attempts: int = Field(
        4, ge=1, le=10, description="botocore attempts per AWS call (standard mode)"
    )
    aws_read_timeout_seconds: float = Field(
        20.0, gt=0, le=300, description="botocore read timeout per AWS call attempt"
    )
    retry_backoff_max_seconds: float = Field(
        60.0, gt=0, description="Cap of the jittered backoff after a failed poll"
    )
    max_concurrent_writes: int = Field(
        64,
        ge=1,
        description="Bound on in-flight DynamoDB writes, and on trackers reading their item at start",
    )
    max_polls_in_flight: int = Field(
        1000,
        ge=1,
        description="Bound on polls between asking DRS and their write landing (back-pressure from a slow store)",
    )
    turn_budget_seconds: float = Field(
        Responsiveness.turn_budget_seconds,
        ge=0,
        description="Poll work one event-loop turn may do before the rest waits a turn (0: no cap)",
    )
    gc_young_seconds: float = Field(
        Responsiveness.gc_young_seconds,
        gt=0,
        le=10,
        description="Young garbage collections this often (a pause grows with the period)",
    )
    gc_full_seconds: float = Field(
        Responsiveness.gc_full_seconds,
        gt=0,
        description="Full garbage collections this often (each walks the whole heap)",
    )
    ready_max_age_seconds: float = Field(
        60.0, gt=0, description="/readyz fails if the last good finder query is older"
    )
    lease_seconds: float = Field(
        90.0, gt=0, description="A replica silent this long is presumed dead; its executions are taken over"
    )
    heartbeat_seconds: float = Field(
        30.0,
        ge=MIN_PERIOD_SECONDS,
        description="How often a replica renews its liveness record (one write per replica)",
    )
    idle_write_seconds: float = Field(
        300.0, gt=0, description="A poll without transitions is written (LastPolledTime) at most this often"
    )
    replica_id: str | None = Field(None, description="Lease owner name; default host-pid-random")
    replica_share_slack: float = Field(
        0.1,
        ge=0,
        le=1,
        description="A replica gives executions back above its fair share (executions / live replicas) plus this fraction",
    )
    http_host: str = Field("127.0.0.1", description="Address of the API, /metrics and health server")
    http_port: int = Field(8080, ge=0, le=65535, description="Port of that server (0 = any free port)")
    http_request_timeout_seconds: float = Field(
        10.0,
        ge=0.1,
        le=300,
        description="A request (line, headers, body) must arrive within this, or its connection is closed",
    )
    http_keepalive_seconds: float = Field(
        15.0, ge=0.1, le=3600, description="An idle keep-alive connection is closed after this"
    )
    http_max_connections: int = Field(
        512, ge=1, le=100_000, description="Open HTTP connections at most; one more is answered 503"
    )
    api_token: str | None = Field(None, description="Bearer token the API requires (off loopback: mandatory)")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Log level")
    log_format: Literal["auto", "json", "console"] = Field("auto", description="console on a TTY, else JSON")
    shutdown_grace_seconds: float = Field(20.0, gt=0, description="Time in-flight work gets on SIGTERM")
    event_source: str = Field(
        "drs-execution-poller", min_length=1, description="Source of the completion events on the bus"
    )
    launch_delay_seconds: float = Field(
        0.0, ge=0, description="Age a PENDING execution reaches before its DRS jobs are started"
    )
    launch_claim_timeout_seconds: float = Field(
        120.0, ge=1, description="Age of a launch claim after which DRS is searched for its job"
    )
    launch_max_attempts: int = Field(5, ge=1, description="StartRecovery attempts per wave before it FAILS")
    # ---- launch-result events (DRS "Source Server Launch Result" via EventBridge → SQS) ----
    launch_events_queue_url: str | None = Field(
        None, description="SQS queue of DRS launch-result events that wake polls early; unset = polling only"
    )
    sqs_endpoint_url: str | None = Field(None, description="Override for SQS, e.g. a moto server")
    launch_events_wait_seconds: int = Field(
        20, ge=1, le=20, description="Long-poll wait of each ReceiveMessage on the launch-event queue"
    )
    launch_events_receivers: int = Field(
        2, ge=1, le=10, description="ReceiveMessage long polls in flight at once on the launch-event queue"
    )
    launch_events_handoffs: int = Field(
        3, ge=0, description="Times an event for a job this replica does not track is put back for another"
    )
    # DRS service quotas per account-region (adjustable per account in Service Quotas, so settings).
    # Defaults: the documented DRS defaults; 200 per job is StartRecovery's limit in botocore's drs model.
    account_id: str | None = Field(
        None,
        pattern=r"^[0-9]{12}$",
        description="The daemon's own AWS account: names it in reasons and metrics; a wave naming it uses the daemon's credentials",
    )
    drs_max_concurrent_jobs: int = Field(
        20, ge=1, description="DRS quota: concurrent jobs per account-region (documented default 20)"
    )
    drs_max_servers_in_jobs: int = Field(
        500,
        ge=1,
        description="DRS quota: source servers across active jobs per account-region (documented default 500)",
    )
    drs_max_servers_per_job: int = Field(
        200,
        ge=1,
        le=200,
        description="Source servers per StartRecovery (DRS API limit 200); larger waves become several jobs",
    )
    capacity_wait_max_seconds: float = Field(
        3600.0, gt=0, description="How long a wave may wait for DRS capacity before it ends FAILED"
    )
    capacity_refresh_seconds: float = Field(
        10.0,
        gt=0,
        description="How often DescribeJobs is read per account-region while waves wait for capacity",
    )
    capacity_lookback_seconds: float = Field(
        86400.0,
        gt=0,
        description="Age of the oldest job the first capacity read looks for (DescribeJobs by date)",
    )
    # member accounts: a wave with AccountId is run there through an assumed role (poller/aws/clients.py)
    member_role_arn: str = Field(
        DEFAULT_MEMBER_ROLE_ARN,
        description="Role assumed in a wave's AccountId; {account} is replaced by the account ID",
    )
    member_role_arns: dict[str, str] = Field(
        default_factory=dict,
        description='Per-account role overrides, a JSON map {"111122223333": "arn:aws:iam::111122223333:role/x"}',
    )
    member_role_session_name: str = Field(
        "drs-execution-poller",
        pattern=r"^[\w+=,.@-]{2,64}$",
        description="RoleSessionName of the assumed roles (shows in the member accounts' CloudTrail)",
    )
    member_role_external_id: str | None = Field(
        None,
        min_length=2,
        max_length=1224,
        pattern=r"^[\w+=,.@:/-]+$",
        description="ExternalId sent with AssumeRole, when the member roles' trust policy requires one",
    )
    member_role_duration_seconds: int = Field(
        3600,
        ge=900,
        le=43200,
        description="Lifetime of assumed-role credentials (renewed 15 min before they expire)",
    )
    sts_endpoint_url: str | None = Field(None, description="Override for STS, e.g. a moto server")
    # drill cleanup (poller/pipeline/cleanup.py)
    cleanup_claim_timeout_seconds: float = Field(
        120.0, ge=1, description="Age of a cleanup claim after which DRS is searched for its TERMINATE job"
    )
    cleanup_max_attempts: int = Field(
        3, ge=1, description="TerminateRecoveryInstances attempts per instance before its cleanup FAILS"
    )

    @field_validator("drs_regions", mode="before")
    @classmethod
    def _split_regions(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith(("[", "{", '"')):
                try:
                    value = json.loads(text)
                except ValueError as err:
                    raise ValueError(
                        f"not a JSON list ({err}); use us-east-1,eu-west-1 or a JSON list"
                    ) from None
                if not isinstance(value, list):
                    raise ValueError('JSON must be a list of region names, e.g. ["us-east-1"]')
                return value
            return [r.strip() for r in text.split(",") if r.strip()]
        return value

    @field_validator("drs_regions")
    @classmethod
    def _aws_regions(cls, regions: list[str]) -> list[str]:
        for region in regions:
            if not AWS_REGION.fullmatch(region):
                raise ValueError(f"{region!r} is not an AWS region name (like us-east-1)")
        return list(dict.fromkeys(regions))

    @field_validator("aws_region")
    @classmethod
    def _aws_region(cls, region: str) -> str:
        if not AWS_REGION.fullmatch(region):
            raise ValueError(f"{region!r} is not an AWS region name (like us-east-1)")
        return region

    @field_validator("member_role_arn")
    @classmethod
    def _role_template(cls, template: str) -> str:
        try:
            sample = template.format(account="111122223333")
        except (KeyError, IndexError, ValueError) as err:
            raise ValueError(f"only the placeholder {{account}} may appear ({err!r})") from None
        if "{account}" not in template or not ROLE_ARN.fullmatch(sample):
            raise ValueError(f"must be a role ARN naming {{account}}, like {DEFAULT_MEMBER_ROLE_ARN}")
        return template

    @field_validator("member_role_arns")
    @classmethod
    def _role_overrides(cls, roles: dict[str, str]) -> dict[str, str]:
        for account, arn in roles.items():
            if not ACCOUNT_ID_RE.fullmatch(account):
                raise ValueError(f"key {account!r} is not a 12-digit AWS account ID")
            if not ROLE_ARN.fullmatch(arn):
                raise ValueError(f"{arn!r} (for {account}) is not an IAM role ARN")
        return roles

    @model_validator(mode="after")
    def _token_off_loopback(self) -> Settings:
        if self.http_host not in ("127.0.0.1", "localhost", "::1") and not self.api_token:
            raise ValueError(
                f"http_host={self.http_host} is not loopback: set POLLER_API_TOKEN so the API is not open"
            )
        return self

    @model_validator(mode="after")
    def _heartbeat_outpaces_lease(self) -> Settings:
        if self.heartbeat_seconds > self.lease_seconds / 3:
            raise ValueError(
                f"heartbeat_seconds={self.heartbeat_seconds} must be at most a third of lease_seconds "
                f"({self.lease_seconds} s), or one slow renewal makes other replicas take over"
            )
        return self

    def member_role(self, account: str) -> str:
        """The role ARN the daemon assumes to reach ``account``."""
        return role_arn(self.member_role_arn, self.member_role_arns, account)

    def intervals(self) -> PollingIntervals:
        return PollingIntervals(
            pending=self.interval_pending_seconds,
            started=self.interval_started_seconds,
            in_progress=self.interval_in_progress_seconds,
            launching=self.interval_launching_seconds,
            post_launch=self.interval_post_launch_seconds,
            default=self.interval_default_seconds,
        )


def unknown_variables(environ: Mapping[str, str] | None = None) -> list[tuple[str, str | None]]:
    """``POLLER_*`` variables no setting reads (a typo goes unnoticed otherwise), each with the
    closest known name (None when nothing is close)."""
    environ = os.environ if environ is None else environ
    known = {f"POLLER_{name.upper()}" for name in Settings.model_fields} | {"POLLER_CONFIG_FILE"}
    found = []
    for name in sorted(environ):
        upper = name.upper()
        if upper.startswith("POLLER_") and upper not in known:
            close = difflib.get_close_matches(upper, sorted(known), n=1, cutoff=0.6)
            found.append((name, close[0] if close else None))
    return found


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Environment beats the file; ``overrides`` (from CLI flags) beat both."""
    path = config_file or Path(os.environ.get("POLLER_CONFIG_FILE", DEFAULT_CONFIG_FILE))
    env_file = path if path.is_file() else None
    if config_file is not None and env_file is None:
        raise ConfigError(f"configuration file {config_file} does not exist")
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as err:
        problems = "; ".join(
            f"POLLER_{'_'.join(str(p) for p in e['loc']).upper() or 'SETTINGS'}: {e['msg']}"
            for e in err.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from err
    except (SettingsError, json.JSONDecodeError) as err:
        raise ConfigError(f"invalid configuration: {err}") from err
