"""Finding 8: bad settings stop the daemon at start with one line naming the setting (exit 2)."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import structlog

from poller.cli import main
from poller.config import ConfigError, load_settings, unknown_variables


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """``poller run`` configures logging onto this test's captured stderr: undo it afterwards."""
    old = structlog.get_config()
    yield
    structlog.configure(**old)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("POLLER_DRS_REGIONS", "not-a-region"),
        ("POLLER_DRS_REGIONS", ""),
        ("POLLER_DRS_REGIONS", '{"a":1}'),
        ("POLLER_DRS_REGIONS", '["us-east-1"'),
        ("POLLER_AWS_REGION", "Mars"),
        ("POLLER_INTERVAL_PENDING_SECONDS", "inf"),
        ("POLLER_INTERVAL_PENDING_SECONDS", "nan"),
        ("POLLER_INTERVAL_PENDING_SECONDS", "1e-9"),
        ("POLLER_FINDER_PERIOD_SECONDS", "0.001"),
        ("POLLER_TIMEOUT_SECONDS", "inf"),
        ("POLLER_HTTP_MAX_CONNECTIONS", "0"),
    ],
)
def test_bad_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()
    assert main(["run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and variable in err and "Traceback" not in err


def test_region_lists_accept_aws_region_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("POLLER_DRS_REGIONS", "us-gov-west-1, ap-southeast-3,il-central-1")
    assert load_settings().drs_regions == ["us-gov-west-1", "ap-southeast-3", "il-central-1"]


def test_unknown_poller_variables_are_named_with_the_closest_known_one() -> None:
    environ = {
        "POLLER_INTERVAL_PENDNG_SECONDS": "3",
        "POLLER_TABLE_NAME": "t",
        "POLLER_CONFIG_FILE": "x",
        "poller_htp_port": "1",
        "POLLER_ZZZZZZZZZZZZZZZZZZZZ": "1",
        "HOME": "/",
    }
    assert unknown_variables(environ) == [
        ("POLLER_INTERVAL_PENDNG_SECONDS", "POLLER_INTERVAL_PENDING_SECONDS"),
        ("POLLER_ZZZZZZZZZZZZZZZZZZZZ", None),
        ("poller_htp_port", "POLLER_HTTP_PORT"),
    ]


@pytest.mark.parametrize("case", ["port_in_use", "unresolvable_host"])
def test_a_listen_that_fails_is_one_line_naming_the_setting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("POLLER_DYNAMODB_ENDPOINT_URL", "http://127.0.0.1:9")  # never reached
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    try:
        if case == "port_in_use":
            monkeypatch.setenv("POLLER_HTTP_PORT", str(busy.getsockname()[1]))
            expected = "POLLER_HTTP_PORT"
        else:
            monkeypatch.setenv("POLLER_HTTP_HOST", "no-such-host.invalid")
            monkeypatch.setenv("POLLER_API_TOKEN", "a-token-for-the-test")
            expected = "POLLER_HTTP_HOST"
        assert main(["run"]) == 2
    finally:
        busy.close()
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"poller: {expected}:"), err
