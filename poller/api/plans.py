"""/plans: create (201), read, list a page at a time.

A plan is ``{PlanId, PlanName, WaveOrder, Waves: [{WaveName, Region, SourceServerIds, DependsOn?,
PauseBefore?, OptionalServerIds?}]}`` (the last two: ``poller.api.operators``).
Everything an execution would trip over later (an unpolled region, a malformed or duplicate
source server, a wave DRS would refuse) is refused here by :class:`PlanRequest`, with the field
at fault named.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from poller.api.errors import ApiError, json_response
from poller.api.limits import refuse_oversized_plan
from poller.api.operators import operator_wave_fields
from poller.api.requests import (
    PageQuery,
    decode_token,
    encode_token,
    is_id,
    query,
    read_json_object,
    validate_plan_request,
)
from poller.store.dynamodb import ConditionFailed
from poller.store.listing import StartKeyError
from poller.store.plans import PlanStore


def validate_plan(body: dict[str, Any], regions: Sequence[str]) -> dict[str, Any]:
    """The plan item for a POST /plans body, or ApiError(400) naming the first field at fault."""
    plan = validate_plan_request(body, regions)
    plan_id = plan.PlanId or str(uuid.uuid4())
    waves: list[dict[str, Any]] = []
    for i, wave in enumerate(plan.Waves):
        item: dict[str, Any] = {
            "WaveName": plan.wave_name(i),
            "Region": wave.Region,
            "SourceServerIds": list(wave.SourceServerIds),
        }
        if wave.AccountId is not None:
            item["AccountId"] = wave.AccountId
        if wave.DependsOn:
            item["DependsOn"] = list(dict.fromkeys(wave.DependsOn))
        item.update(operator_wave_fields(wave))  # PauseBefore, OptionalServerIds: only when set
        if wave.RtoTargetSeconds is not None:
            item["RtoTargetSeconds"] = wave.RtoTargetSeconds
        waves.append(item)
    item = {
        "PlanId": plan_id,
        "PlanName": plan.PlanName or plan_id,
        "WaveOrder": plan.WaveOrder,
        "Waves": waves,
        "CreatedTime": round(time.time(), 3),
    }
    if plan.Description:
        item["Description"] = plan.Description
    for after_drill in ("CleanupAfterSeconds", "RtoTargetSeconds"):  # README: after the drill
        if getattr(plan, after_drill) is not None:
            item[after_drill] = getattr(plan, after_drill)
    refuse_oversized_plan(item)  # worst-case execution item over 400 KB: 400, saying by how much
    return item


def page_start(token: str | None) -> dict[str, Any] | None:
    return decode_token(token) if token else None


def bad_token(err: StartKeyError) -> ApiError:
    return ApiError(400, f"nextToken is not a token of this listing ({err})", "nextToken")


class PlanHandlers:
    def __init__(self, plans: PlanStore, regions: Sequence[str]) -> None:
        self.plans = plans
        self.regions = list(regions)

    async def create(self, request: web.Request) -> web.Response:
        item = validate_plan(await read_json_object(request), self.regions)
        try:
            await self.plans.create(item)
        except ConditionFailed:
            raise ApiError(409, f"plan {item['PlanId']!r} already exists", "PlanId") from None
        return json_response(
            {"PlanId": item["PlanId"]}, status=201, headers={"Location": f"/plans/{item['PlanId']}"}
        )

    async def get(self, request: web.Request) -> web.Response:
        plan_id = request.match_info["plan_id"]
        plan = await self.plans.get(plan_id) if is_id(plan_id) else None
        if plan is None:
            raise ApiError(404, f"plan {plan_id!r} does not exist", "PlanId")
        return json_response(plan)

    async def list_plans(self, request: web.Request) -> web.Response:
        params = query(request, PageQuery)
        try:
            page = await self.plans.page(params.limit, page_start(params.nextToken))
        except StartKeyError as err:
            raise bad_token(err) from None
        body: dict[str, Any] = {"plans": page.items}
        if page.last_key:
            body["nextToken"] = encode_token(page.last_key)
        return json_response(body)
