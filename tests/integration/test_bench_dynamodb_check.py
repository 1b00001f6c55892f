"""The benchmarks check their local DynamoDB before using it, and say what to do without Node.js."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from bench import dynalite

pytestmark = [pytest.mark.integration]


def client(url: str) -> Any:
    return boto3.client("dynamodb", endpoint_url=url, region_name="us-east-1")


def test_the_local_moto_server_passes_the_benchmarks_check(moto_url: str) -> None:
    said: list[str] = []
    dynalite.check(client(moto_url), "moto", races=3, progress=said.append)
    assert said and "3 races of 8 conditional writers with one winner each" in said[0]


class EveryRacerWins:
    """A store whose conditional writes on the race items ignore their condition."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def update_item(self, **request: Any) -> Any:
        if request["Key"]["ExecutionId"]["S"].startswith("race-"):
            request.pop("ConditionExpression")
            request["ExpressionAttributeValues"].pop(":expected")
        return self._real.update_item(**request)


def test_the_check_rejects_a_store_where_two_conditional_writers_win(moto_url: str) -> None:
    with pytest.raises(dynalite.CheckFailed, match="8 of 8 conditional writers won"):
        dynalite.check(EveryRacerWins(client(moto_url)), "broken", races=1, progress=lambda _: None)


def test_without_node_the_benchmarks_default_to_moto_and_say_how_to_get_dynalite(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dynalite.shutil, "which", lambda name: None)
    assert dynalite.default_kind() == "moto"
    with pytest.raises(dynalite.Unavailable, match="--dynamodb moto") as raised:
        dynalite.install(progress=lambda _: None)
    assert "Node.js 20 or later" in str(raised.value)
