"""Settings: the defaults start, bad values fail at start naming the variable."""

from __future__ import annotations

import pytest

from poller.config import ConfigError, Settings, load_settings


def test_default_settings_are_valid() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.heartbeat_seconds <= settings.lease_seconds / 3
    assert settings.idle_write_seconds >= max(settings.intervals().__dict__.values())


def test_invalid_value_fails_at_start_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLER_HTTP_PORT", "not-a-port")
    with pytest.raises(ConfigError, match="POLLER_HTTP_PORT"):
        load_settings()


def test_heartbeat_slower_than_a_third_of_the_lease_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLER_LEASE_SECONDS", "60")
    monkeypatch.setenv("POLLER_HEARTBEAT_SECONDS", "25")
    with pytest.raises(ConfigError, match="heartbeat_seconds"):
        load_settings()


def test_non_loopback_listener_without_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLER_HTTP_HOST", "0.0.0.0")
    monkeypatch.delenv("POLLER_API_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="POLLER_API_TOKEN"):
        load_settings()


def test_regions_accept_a_comma_separated_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLER_DRS_REGIONS", "us-east-1, eu-west-1")
    assert load_settings().drs_regions == ["us-east-1", "eu-west-1"]


def test_regions_accept_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLER_DRS_REGIONS", '["us-east-1", "eu-west-1"]')
    assert load_settings().drs_regions == ["us-east-1", "eu-west-1"]
