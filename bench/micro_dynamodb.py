"""Micro-benchmark: the local DynamoDBs, moto and dynalite, side by side on the daemon's calls.

Times, through boto3 over HTTP to a server in a child process (the way the daemon benchmarks use
them), the calls the daemon makes on execution items of 2 waves x 5 servers: PutItem, GetItem,
a small conditional UpdateItem, the daemon's own save (``poller.store.executions.save_request``:
SET x6, REMOVE x3, version and lease condition), and the finder's query over the StatusIndex
(``poller.pipeline.find.query_request``, every page) returning every item; then ``--races``
rounds of eight concurrent conditional writers on one item, counting rounds with more than one
winner (DynamoDB allows exactly one). Times include the boto3 client's own work (serialising,
signing, parsing), the same for both. Best of ``--rounds`` (the servers take turns), so a busy
machine inflates both sides less.

``--in-process`` adds moto in-process (``mock_aws``, no HTTP), with the part of each call spent
inside moto: what a moto server spends per request.

dynalite needs Node.js (``bench/dynalite.py``); without it only moto is measured.

    .venv/bin/python bench/micro_dynamodb.py --items 300
    .venv/bin/python bench/micro_dynamodb.py --items 300 --in-process --targets moto
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, nullcontext
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3
from poller_devtools.local import use_local_credentials

from bench import dynalite
from bench import harness as h
from bench.micro_poll import execution  # the same 10-server drill execution
from poller.domain.model import execution_to_item
from poller.pipeline.find import query_request
from poller.store.dynamodb import serialize
from poller.store.executions import save_request
from poller.store.lease import Lease
from poller.store.tables import execution_table_definition

QUERY = "StatusIndex query, whole pass"
OPERATIONS = ("PutItem", "GetItem", "UpdateItem (conditional)", "UpdateItem (daemon's save)", QUERY)
RACE = "races with >1 winner"
INSIDE = "inside moto: "  # result key prefix: the part of a call spent in moto's own code
IN_PROCESS = "moto in-process"
_tables = itertools.count()


class MotoClock:
    """Seconds spent inside moto (``BotocoreStubber.process_request``), in-process only: what a
    moto server spends per request, without the boto3 client's serialising and signing."""

    seconds = 0.0


@contextmanager
def clock_moto() -> Iterator[None]:
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.process_request

    def timed(self: Any, request: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(self, request)
        finally:
            MotoClock.seconds += time.perf_counter() - start

    BotocoreStubber.process_request = timed  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]


def per_call_ms(calls: list[Callable[[], Any]]) -> float:
    start = time.perf_counter()
    for call in calls:
        call()
    return (time.perf_counter() - start) / len(calls) * 1e3


def measure(client: Any, items: int, servers: int, races: int) -> dict[str, float]:
    """ms per call of each operation on a fresh table, and the races with more than one winner."""
    executions = [execution(i, servers) for i in range(items)]
    raw = [serialize(execution_to_item(e)) for e in executions]
    for item in raw:
        item["Version"], item["LeaseOwner"] = {"N": "0"}, {"S": "micro-dynamodb"}
    keys = [{"ExecutionId": item["ExecutionId"]} for item in raw]
    table = f"executions-{next(_tables)}"  # a server outlives one measure()
    client.create_table(**execution_table_definition(table))
    dynalite.wait_active(client, table)
    result: dict[str, float] = {}

    def timed(name: str, calls: list[Callable[[], Any]]) -> None:
        MotoClock.seconds = 0.0
        result[name] = per_call_ms(calls)
        result[INSIDE + name] = MotoClock.seconds / len(calls) * 1e3

    timed("PutItem", [partial(client.put_item, TableName=table, Item=item) for item in raw])
    timed(
        "GetItem", [partial(client.get_item, TableName=table, Key=key, ConsistentRead=True) for key in keys]
    )

    def update(key: dict[str, Any], item: dict[str, Any]) -> None:
        client.update_item(
            TableName=table,
            Key=key,
            UpdateExpression="SET #v = :next, #waves = :waves, #p = :polled",
            ConditionExpression="#v = :expected",
            ExpressionAttributeNames={"#v": "Version", "#waves": "Waves", "#p": "LastPolledTime"},
            ExpressionAttributeValues={
                ":expected": {"N": "0"},
                ":next": {"N": "1"},
                ":waves": item["Waves"],
                ":polled": {"N": "5"},
            },
        )

    lease = Lease("micro-dynamodb", 1_700_000_030.5)
    saves = [save_request(table, e.model_copy(update={"LastPolledTime": 5.0}), 1, lease) for e in executions]
    timed("UpdateItem (conditional)", [partial(update, k, i) for k, i in zip(keys, raw, strict=True)])
    timed("UpdateItem (daemon's save)", [partial(client.update_item, **request) for request in saves])

    def query_pass() -> None:
        params = query_request(table, "StatusIndex", "POLLING")
        found = 0
        while True:
            page = client.query(**params)
            found += len(page["Items"])
            if "LastEvaluatedKey" not in page:
                break
            params["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if found != items:
            raise dynalite.CheckFailed(f"the StatusIndex query found {found} of {items} items")

    timed(QUERY, [query_pass])
    result[RACE] = 0
    for r in range(races):
        key = {"ExecutionId": {"S": f"race-{r}"}}
        client.put_item(TableName=table, Item={**key, "Version": {"N": "0"}})
        winners, errors = dynalite.race(client, table, key, 8)
        if errors:
            raise errors[0]
        result[RACE] += len(winners) > 1
    client.delete_table(TableName=table)
    return result


@contextmanager
def target(name: str, stack: ExitStack) -> Iterator[Any]:
    """A client of ``name``: a server in a child process ("moto", "dynalite"), or in-process moto."""
    if name == IN_PROCESS:
        from moto import mock_aws

        with mock_aws(), clock_moto():
            yield boto3.client("dynamodb", region_name="us-east-1")
        return
    out = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"micro-{name}-")))
    url = stack.enter_context(h.running_dynamodb(name, out, check=False))
    yield h.ddb_client(url)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--items", type=int, default=300, help="execution items to write and read (300)")
    p.add_argument("--servers", type=int, default=10, help="servers per execution, over 2 waves (10)")
    p.add_argument("--rounds", type=int, default=2, help="rounds, the targets taking turns; best shown (2)")
    p.add_argument("--races", type=int, default=50, help="8-way conditional-write races per round (50)")
    default = "moto,dynalite" if dynalite.default_kind() == "dynalite" else "moto"
    p.add_argument("--targets", default=default, help=f"comma-separated: moto, dynalite (default {default})")
    p.add_argument(
        "--in-process", action="store_true", help="also moto in-process, with the time inside moto"
    )
    args = p.parse_args(argv)
    use_local_credentials()
    h.stop_children_on_sigterm()
    names = [n.strip() for n in args.targets.split(",") if n.strip()]
    if args.in_process:
        names.append(IN_PROCESS)
    if default == "moto" and "dynalite" not in names:
        print(f"dynalite not measured: {dynalite.HOW_TO_GET_NODE}", file=sys.stderr)
    best: dict[str, dict[str, float]] = {n: {} for n in names}
    with ExitStack() as stack:
        try:
            clients = {n: stack.enter_context(target(n, stack)) for n in names if n != IN_PROCESS}
        except dynalite.Unavailable as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
        for r in range(args.rounds):
            for name in names:
                dynalite.log(f"round {r + 1} of {args.rounds}: {name}, {args.items} items")
                with target(name, stack) if name == IN_PROCESS else nullcontext(clients[name]) as client:
                    measure(client, 5, args.servers, 0)  # warm-up: imports, model loading, JIT
                    result = measure(client, args.items, args.servers, args.races)
                for key, value in result.items():
                    if key == RACE:  # counted over every round
                        best[name][key] = best[name].get(key, 0) + value
                    else:
                        best[name][key] = min(value, best[name].get(key, value))
    print_table(best, names, args)
    return 0


def print_table(best: dict[str, dict[str, float]], names: list[str], args: argparse.Namespace) -> None:
    print(
        f"ms per call through boto3, {args.items} items × {args.servers} servers over 2 waves, "
        f"best of {args.rounds} rounds"
    )
    ratio = "moto" in names and "dynalite" in names
    print(f"  {'':42}" + "".join(f"{n:>16}" for n in names) + (f"{'moto/dynalite':>15}" if ratio else ""))
    for op in OPERATIONS:
        label = f"{QUERY}, {args.items} items" if op == QUERY else op
        row = f"  {label:42}" + "".join(f"{best[n][op]:16.2f}" for n in names)
        if ratio:
            row += f"{best['moto'][op] / best['dynalite'][op]:14.1f}x"
        print(row)
    races = f"  {'8-way ' + RACE:42}" + "".join(
        f"{f'{best[n][RACE]:.0f} of {args.races * args.rounds}':>16}" for n in names
    )
    print(races)
    if IN_PROCESS in names:
        print(f"of which inside moto ({IN_PROCESS}: what a moto server spends per request)")
        for op in OPERATIONS:
            print(f"  {op:42}{best[IN_PROCESS][INSIDE + op]:16.2f}")


if __name__ == "__main__":
    sys.exit(main())
