"""dynalite, the benchmarks' fast local DynamoDB: installed on demand, checked before use.

moto (pure Python, the stand-in of the demo and the tests) answers each DynamoDB call in several
milliseconds and a StatusIndex query in a time that grows fast with the items returned, so at
1,000 executions and more a daemon benchmark on moto measures moto. dynalite (npm package, a
DynamoDB implementation in Node.js, in memory here) answers the same calls several times faster.
It is used only by the benchmarks under bench/: ``make run`` and ``make test`` need Python only.

It needs Node.js (``node`` and ``npm`` on PATH); the first use installs the pinned version into a
cache directory (``$XDG_CACHE_HOME`` or ``~/.cache``, then ``drs-poller-bench/``), later uses
start it from there, offline. Without Node.js the benchmarks run on moto (``--dynamodb moto``).

:func:`check` tests a running local DynamoDB (dynalite or moto) for what the daemon relies on,
so a benchmark never reports figures from a stand-in that behaves differently from DynamoDB.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from poller.pipeline.find import query_request
from poller.store.tables import STATUS_INDEX_ATTRIBUTES, execution_table_definition

VERSION = "4.0.0"
NODE_MAJOR = 20  # dynalite 4's "engines"
KINDS = ("dynalite", "moto")
HOW_TO_GET_NODE = (
    f"dynalite needs Node.js {NODE_MAJOR} or later with npm on PATH: install it (nodejs.org, or your "
    "package manager's nodejs and npm packages), or run this benchmark on moto with --dynamodb moto"
)


class Unavailable(RuntimeError):
    """dynalite cannot be installed or started here; the message says what to do."""


class CheckFailed(RuntimeError):
    """The local DynamoDB answered a call differently from DynamoDB."""


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "drs-poller-bench" / f"dynalite-{VERSION}"


def node_major(node: str) -> int | None:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
        return int(out.strip().lstrip("v").split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError):
        return None


def default_kind() -> str:
    """dynalite when Node.js is on PATH (it is installed on first use), moto otherwise."""
    return "dynalite" if shutil.which("node") and shutil.which("npm") else "moto"


def install(progress: Callable[[str], None] = print) -> list[str]:
    """The command that starts dynalite (``node .../cli.js``), installing it first if needed."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise Unavailable(f"node or npm not found. {HOW_TO_GET_NODE}")
    major = node_major(node)
    if major is None or major < NODE_MAJOR:
        raise Unavailable(f"{node} is Node.js {major or 'of unknown version'}. {HOW_TO_GET_NODE}")
    prefix = cache_dir()
    cli = prefix / "node_modules" / "dynalite" / "cli.js"
    if not cli.exists():
        progress(f"installing dynalite {VERSION} into {prefix} (npm, once)")
        prefix.mkdir(parents=True, exist_ok=True)
        argv = [npm, "install", "--prefix", str(prefix), "--no-audit", "--no-fund", f"dynalite@{VERSION}"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        if done.returncode != 0 or not cli.exists():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise Unavailable(
                f"`{' '.join(argv)}` failed ({done.returncode}):\n{tail}\n"
                "Check that the npm registry is reachable, or run with --dynamodb moto"
            )
    return [node, str(cli)]


def server_argv(host: str, port: int, progress: Callable[[str], None] = print) -> list[str]:
    """dynalite in memory on host:port; tables are ACTIVE as soon as they are created."""
    return [
        *install(progress),
        *("--host", host, "--port", str(port)),
        *("--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"),
    ]


def wait_active(db: Any, table: str, timeout: float = 60.0) -> None:
    """Until the table and its indexes are ACTIVE (dynalite and DynamoDB create them asynchronously)."""
    deadline = time.monotonic() + timeout
    while True:
        t = db.describe_table(TableName=table)["Table"]
        states = {t["TableStatus"]} | {i["IndexStatus"] for i in t.get("GlobalSecondaryIndexes", [])}
        if states == {"ACTIVE"}:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"table {table} not ACTIVE after {timeout} s: {sorted(states)}")
        time.sleep(0.05)


def _code(err: ClientError) -> str:
    return str(err.response.get("Error", {}).get("Code", ""))


def _expect_condition_failure(call: Callable[[], Any], what: str) -> None:
    try:
        call()
    except ClientError as err:
        if _code(err) != "ConditionalCheckFailedException":
            raise CheckFailed(f"{what}: expected ConditionalCheckFailedException, got {_code(err)}") from err
        return
    raise CheckFailed(f"{what}: the write succeeded although its condition was false")


def check(
    db: Any, name: str, races: int = 20, racers: int = 8, progress: Callable[[str], None] = print
) -> None:
    """What the daemon relies on, on a throw-away table: conditional PutItem and UpdateItem
    (ConditionalCheckFailedException, ReturnValues), the finder's StatusIndex Query (INCLUDE
    projection, StartTime order, Limit, LastEvaluatedKey/ExclusiveStartKey pagination), and
    ``races`` rounds of ``racers`` concurrent conditional writes to one item: exactly one wins."""
    start = time.monotonic()
    table = f"check-{uuid.uuid4().hex[:8]}"
    db.create_table(**execution_table_definition(table, "StatusIndex"))
    try:
        wait_active(db, table)
        _check_writes(db, table)
        pages = _check_query(db, table)
        _check_races(db, table, races, racers)
    finally:
        db.delete_table(TableName=table)
    progress(
        f"{name} checked: conditional writes, StatusIndex query over {pages} pages, "
        f"{races} races of {racers} conditional writers with one winner each ({time.monotonic() - start:.1f} s)"
    )


def _check_writes(db: Any, table: str) -> None:
    key = {"ExecutionId": {"S": "exec-check"}}
    item = {**key, "Status": {"S": "POLLING"}, "StartTime": {"N": "1"}, "Version": {"N": "0"}}
    put = dict(TableName=table, Item=item, ConditionExpression="attribute_not_exists(ExecutionId)")
    db.put_item(**put)
    _expect_condition_failure(lambda: db.put_item(**put), "PutItem attribute_not_exists on an existing item")

    def bump(expected: int) -> Any:
        return db.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #v = :next, #lo = :me REMOVE #gone",
            ConditionExpression="#v = :expected AND (attribute_not_exists(#lo) OR #lo = :me)",
            ExpressionAttributeNames={"#v": "Version", "#lo": "LeaseOwner", "#gone": "EndTime"},
            ExpressionAttributeValues={
                ":expected": {"N": str(expected)},
                ":next": {"N": str(expected + 1)},
                ":me": {"S": "check"},
            },
            ReturnValues="UPDATED_OLD",
        )

    old = bump(0).get("Attributes", {})
    if old.get("Version") != {"N": "0"}:
        raise CheckFailed(f"UpdateItem ReturnValues=UPDATED_OLD returned {old}, expected Version 0")
    _expect_condition_failure(lambda: bump(0), "UpdateItem on a stale Version")
    got = db.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item", {})
    if got.get("Version") != {"N": "1"} or got.get("LeaseOwner") != {"S": "check"}:
        raise CheckFailed(f"GetItem after one conditional UpdateItem returned {got}")
    db.delete_item(TableName=table, Key=key)


def _check_query(db: Any, table: str, polling: int = 23, page_items: int = 5) -> int:
    """Items in POLLING and COMPLETED; the finder's query, paged, returns exactly the POLLING ones."""
    for i in range(polling + 7):
        status = "POLLING" if i < polling else "COMPLETED"
        item = {
            "ExecutionId": {"S": f"exec-{i:03d}"},
            "Status": {"S": status},
            "StartTime": {"N": str(1000 - i)},
            "PlanId": {"S": "plan"},
            "Waves": {"L": [{"M": {"WaveName": {"S": "w"}}}]},
        }
        db.put_item(TableName=table, Item=item)
    params = query_request(table, "StatusIndex", "POLLING", page_items=page_items)
    found: list[dict[str, Any]] = []
    pages = 0
    while True:
        page = db.query(**params)
        pages += 1
        if len(page["Items"]) > page_items:
            raise CheckFailed(f"Query with Limit {page_items} returned {len(page['Items'])} items")
        found.extend(page["Items"])
        if "LastEvaluatedKey" not in page:
            break
        params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    ids = [i["ExecutionId"]["S"] for i in found]
    expected = [f"exec-{i:03d}" for i in reversed(range(polling))]  # StartTime ascending
    if ids != expected:
        raise CheckFailed(f"StatusIndex query returned {ids}, expected {expected}")
    allowed = {"ExecutionId", "Status", "StartTime", *STATUS_INDEX_ATTRIBUTES}
    extra = {k for i in found for k in i} - allowed
    if extra:
        raise CheckFailed(f"StatusIndex query returned attributes outside its projection: {sorted(extra)}")
    if pages < polling // page_items:
        raise CheckFailed(f"StatusIndex query of {polling} items in pages of {page_items} took {pages} pages")
    return pages


def _check_races(db: Any, table: str, races: int, racers: int) -> None:
    for r in range(races):
        key = {"ExecutionId": {"S": f"race-{r}"}}
        db.put_item(TableName=table, Item={**key, "Version": {"N": "0"}})
        winners, errors = race(db, table, key, racers)
        if errors:
            raise CheckFailed(f"race {r}: {errors[0]!r}")
        owner = db.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"].get("Owner")
        if len(winners) != 1 or owner != {"N": str(winners[0])}:
            raise CheckFailed(f"race {r}: {len(winners)} of {racers} conditional writers won; item {owner}")


def race(db: Any, table: str, key: dict[str, Any], racers: int) -> tuple[list[int], list[BaseException]]:
    """``racers`` threads released together, each trying Version 0 → 1: (winners, unexpected errors)."""
    barrier = threading.Barrier(racers)
    winners: list[int] = []
    errors: list[BaseException] = []

    def attempt(me: int) -> None:
        barrier.wait()
        try:
            db.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET #v = :next, #o = :me",
                ConditionExpression="#v = :expected",
                ExpressionAttributeNames={"#v": "Version", "#o": "Owner"},
                ExpressionAttributeValues={
                    ":expected": {"N": "0"},
                    ":next": {"N": "1"},
                    ":me": {"N": str(me)},
                },
            )
            winners.append(me)
        except ClientError as err:
            if _code(err) != "ConditionalCheckFailedException":
                errors.append(err)
        except BaseException as err:  # reported by the caller, with the round
            errors.append(err)

    threads = [threading.Thread(target=attempt, args=(me,)) for me in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return winners, errors


def log(message: str) -> None:
    """Progress on stderr, so a benchmark's tables on stdout stay clean."""
    print(message, file=sys.stderr, flush=True)
