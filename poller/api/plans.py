"""Recovery plans: validation, the plans table, and the /plans handlers.

A plan is ``{PlanId, PlanName, WaveOrder, Waves: [{WaveName, Region, SourceServerIds, DependsOn?}]}``.
Everything an execution would trip over later (an unpolled region, a malformed or duplicate
source server, a wave DRS would refuse) is refused here, with the field at fault named.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import time
import uuid
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from poller.api.errors import ApiError, json_response, read_json_object
from poller.api.limits import refuse_oversized_plan
from poller.store.dynamodb import ConditionFailed, deserialize, serialize, timed_dynamodb_call

SOURCE_SERVER_PATTERN = re.compile(r"^s-[0-9a-zA-Z]{17}$")
ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")  # no '#': keeps room for record types
WAVE_ORDERS = ("PARALLEL", "SEQUENTIAL")
MAX_SERVERS_PER_WAVE = 200  # DRS StartRecovery takes at most 200 source servers
MAX_WAVES = 100
# One execution is one DynamoDB item (400 KB); a tracked server takes ~250 bytes of it.
MAX_SERVERS_PER_PLAN = 1000
MAX_NAME = 256
PLAN_FIELDS = frozenset({"PlanId", "PlanName", "WaveOrder", "Waves", "Description"})
WAVE_FIELDS = frozenset({"WaveName", "Region", "SourceServerIds", "DependsOn"})


def validate_plan(body: dict[str, Any], regions: Sequence[str]) -> dict[str, Any]:
    """The plan item for a POST /plans body, or ApiError(400) naming the first field at fault."""
    unknown = sorted(set(body) - PLAN_FIELDS)
    if unknown:
        raise ApiError(
            400, f"unknown field {unknown[0]!r}; allowed: {', '.join(sorted(PLAN_FIELDS))}", unknown[0]
        )
    plan_id = body.get("PlanId")
    if plan_id is None:
        plan_id = str(uuid.uuid4())
    elif not isinstance(plan_id, str) or not ID_PATTERN.match(plan_id):
        raise ApiError(400, f"PlanId must match {ID_PATTERN.pattern}", "PlanId")
    name = body.get("PlanName", plan_id)
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise ApiError(
            400, f"PlanName must be a non-empty string of at most {MAX_NAME} characters", "PlanName"
        )
    order = body.get("WaveOrder", "PARALLEL")
    if order not in WAVE_ORDERS:
        raise ApiError(400, f"WaveOrder must be one of {', '.join(WAVE_ORDERS)}, not {order!r}", "WaveOrder")
    description = body.get("Description")
    if description is not None and (not isinstance(description, str) or len(description) > 2048):
        raise ApiError(400, "Description must be a string of at most 2048 characters", "Description")
    waves = body.get("Waves")
    if not isinstance(waves, list) or not waves:
        raise ApiError(400, "Waves must be a non-empty list", "Waves")
    if len(waves) > MAX_WAVES:
        raise ApiError(400, f"{len(waves)} waves exceed the limit of {MAX_WAVES}", "Waves")
    seen_servers: dict[str, str] = {}
    names: list[str] = []
    items = [_validate_wave(i, w, regions, seen_servers, names) for i, w in enumerate(waves)]
    if len(seen_servers) > MAX_SERVERS_PER_PLAN:
        raise ApiError(
            400,
            f"{len(seen_servers)} servers exceed the limit of {MAX_SERVERS_PER_PLAN} per plan "
            "(an execution is one DynamoDB item); split the plan",
            "Waves",
        )
    item: dict[str, Any] = {
        "PlanId": plan_id,
        "PlanName": name,
        "WaveOrder": order,
        "Waves": items,
        "CreatedTime": round(time.time(), 3),
    }
    if description:
        item["Description"] = description
    return item


def _validate_wave(
    index: int, wave: Any, regions: Sequence[str], seen: dict[str, str], names: list[str]
) -> dict[str, Any]:
    at = f"Waves[{index}]"
    if not isinstance(wave, dict):
        raise ApiError(400, f"{at} must be an object", at)
    unknown = sorted(set(wave) - WAVE_FIELDS)
    if unknown:
        raise ApiError(
            400,
            f"unknown field {unknown[0]!r} in {at}; allowed: {', '.join(sorted(WAVE_FIELDS))}",
            f"{at}.{unknown[0]}",
        )
    name = wave.get("WaveName", f"Wave-{index + 1}")
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME or "#" in name:
        raise ApiError(400, f"{at}.WaveName must be a non-empty string without '#'", f"{at}.WaveName")
    if name in names:
        raise ApiError(400, f"wave name {name!r} is used twice", f"{at}.WaveName")
    region = wave.get("Region")
    if region not in regions:
        raise ApiError(
            400,
            f"region {region!r} is not one this poller serves ({', '.join(regions)}); add it to POLLER_DRS_REGIONS",
            f"{at}.Region",
        )
    servers = wave.get("SourceServerIds")
    if not isinstance(servers, list) or not servers:
        raise ApiError(
            400,
            f"wave {name!r} has no source servers: SourceServerIds must be a non-empty list",
            f"{at}.SourceServerIds",
        )
    if len(servers) > MAX_SERVERS_PER_WAVE:
        raise ApiError(
            400,
            f"wave {name!r} has {len(servers)} servers; DRS starts at most {MAX_SERVERS_PER_WAVE} per recovery",
            f"{at}.SourceServerIds",
        )
    for j, sid in enumerate(servers):
        field = f"{at}.SourceServerIds[{j}]"
        if not isinstance(sid, str) or not SOURCE_SERVER_PATTERN.match(sid):
            raise ApiError(400, f"{sid!r} is not a DRS source server ID (s- and 17 letters or digits)", field)
        if sid in seen:
            raise ApiError(400, f"source server {sid} is in wave {seen[sid]!r} and in wave {name!r}", field)
        seen[sid] = name
    item: dict[str, Any] = {"WaveName": name, "Region": region, "SourceServerIds": list(servers)}
    depends = wave.get("DependsOn")
    if depends is not None:
        if isinstance(depends, str):
            depends = [depends]
        if not isinstance(depends, list) or not all(isinstance(d, str) for d in depends):
            raise ApiError(400, f"{at}.DependsOn must be a wave name or a list of them", f"{at}.DependsOn")
        for d in depends:
            if d not in names:
                raise ApiError(
                    400, f"{at}.DependsOn names {d!r}, which is not an earlier wave", f"{at}.DependsOn"
                )
        if depends:
            item["DependsOn"] = list(dict.fromkeys(depends))
    names.append(name)
    return item


class PlanStore:
    def __init__(self, dynamodb: Any, table: str) -> None:
        self._db = dynamodb
        self.table = table

    async def create(self, item: dict[str, Any]) -> None:
        await timed_dynamodb_call(
            "PutItem",
            self.table,
            self._db.put_item,
            TableName=self.table,
            Item=serialize(_to_numbers(item)),
            ConditionExpression="attribute_not_exists(PlanId)",
        )

    async def get(self, plan_id: str) -> dict[str, Any] | None:
        response = await timed_dynamodb_call(
            "GetItem",
            self.table,
            self._db.get_item,
            TableName=self.table,
            Key={"PlanId": {"S": plan_id}},
            ConsistentRead=True,
        )
        return deserialize(response["Item"]) if "Item" in response else None

    async def page(self, limit: int, token: str | None) -> tuple[list[dict[str, Any]], str | None]:
        params: dict[str, Any] = {"TableName": self.table, "Limit": limit}
        if token:
            params["ExclusiveStartKey"] = decode_token(token, "nextToken")
        response = await timed_dynamodb_call("Scan", self.table, self._db.scan, **params)
        items = [deserialize(i) for i in response.get("Items", [])]
        last = response.get("LastEvaluatedKey")
        return items, encode_token(last) if last else None


def _to_numbers(value: Any) -> Any:
    from decimal import Decimal

    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_numbers(v) for v in value]
    return value


def encode_token(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode_token(token: str, field: str) -> dict[str, Any]:
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, f"{field} is not a token this API issued", field) from None
    if not isinstance(key, dict) or not all(isinstance(v, dict) and len(v) == 1 for v in key.values()):
        raise ApiError(400, f"{field} is not a token this API issued", field)
    return key


def parse_limit(request: web.Request, default: int = 50, maximum: int = 100) -> int:
    raw = request.query.get("limit")
    if raw is None:
        return default
    try:
        limit = int(raw)
    except ValueError:
        raise ApiError(400, f"limit must be an integer from 1 to {maximum}", "limit") from None
    if not 1 <= limit <= maximum:
        raise ApiError(400, f"limit must be an integer from 1 to {maximum}", "limit")
    return limit


class PlanHandlers:
    def __init__(self, plans: PlanStore, regions: Sequence[str]) -> None:
        self.plans = plans
        self.regions = list(regions)

    async def create(self, request: web.Request) -> web.Response:
        item = validate_plan(await read_json_object(request), self.regions)
        refuse_oversized_plan(item)  # worst-case execution item over 400 KB: 400, saying by how much
        try:
            await self.plans.create(item)
        except ConditionFailed:
            raise ApiError(409, f"plan {item['PlanId']!r} already exists", "PlanId") from None
        return json_response(
            {"PlanId": item["PlanId"]}, status=201, headers={"Location": f"/plans/{item['PlanId']}"}
        )

    async def get(self, request: web.Request) -> web.Response:
        plan_id = request.match_info["plan_id"]
        if not ID_PATTERN.match(plan_id):
            raise ApiError(404, f"plan {plan_id!r} does not exist", "PlanId")
        plan = await self.plans.get(plan_id)
        if plan is None:
            raise ApiError(404, f"plan {plan_id!r} does not exist", "PlanId")
        return json_response(plan)

    async def list_plans(self, request: web.Request) -> web.Response:
        limit = parse_limit(request)
        items, token = await self.plans.page(limit, request.query.get("nextToken"))
        body: dict[str, Any] = {"plans": items}
        if token:
            body["nextToken"] = token
        return json_response(body)
