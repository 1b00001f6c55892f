"""What clients send: bodies and query parameters, bounded, parsed and validated before a handler acts.

A body is a JSON object of at most the app's ``client_max_size``. Its nesting is bounded
before it is parsed (``MAX_JSON_DEPTH``): json's C scanner recurses once per level, so 100,000
brackets would end in RecursionError. It is then validated by a pydantic model below, strictly
(JSON types as sent, no coercion; unknown fields refused; ids matched whole with
``re.fullmatch``, so ``"x\\n"`` is no id). The first failure becomes ``ApiError(400)`` naming the
field in the API's path notation (``Waves[0].SourceServerIds[1]``) and saying what it must be:
each field's ``description`` is that rule, so the rule and its message live together.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from itertools import accumulate, repeat
from operator import sub
from typing import Annotated, Any, Literal, TypeVar

from aiohttp import web
from aiohttp.web_protocol import RequestPayloadError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticCustomError

from poller.api.errors import ApiError
from poller.domain.model import REGION_NAME
from poller.domain.statuses import ExecutionStatus
from poller.domain.statuses import ExecutionType as ExecutionKind
from poller.domain.targets import ACCOUNT_ID_RE

ID_REGEX = r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}"  # no '#': keeps room for record types (replica#)
ID_PATTERN = re.compile(ID_REGEX)
SOURCE_SERVER_PATTERN = re.compile(r"s-[0-9a-zA-Z]{17}")  # DRS's SourceServerID
REGION_NAME_PATTERN = re.compile(REGION_NAME)
WAVE_NAME_PATTERN = re.compile(r"[^#\x00-\x1f\x7f]+")  # a DRS tag value and a log field
IDEMPOTENCY_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")
MAX_SERVERS_PER_WAVE = 200  # DRS StartRecovery takes at most 200 source servers
MAX_WAVES = 100
# One execution is one DynamoDB item (400 KB); a tracked server takes ~250 bytes of it.
MAX_SERVERS_PER_PLAN = 1000
MAX_NAME = 256
MAX_DESCRIPTION = 2048
MAX_JSON_DEPTH = 32  # a plan body nests 4 deep
MAX_PAGE = 100
DEFAULT_PAGE = 50


def is_id(value: str) -> bool:
    """Plan and execution ids, whole: letters, digits and ``._:-``, at most 128 characters."""
    return ID_PATTERN.fullmatch(value) is not None


# ---- bodies -------------------------------------------------------------------------------------
_STRINGS = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)  # possessive: linear on any input
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")  # opening +1, closing -1 (after - 1)


def json_depth(raw: bytes) -> int:
    """How deep ``raw``'s arrays and objects nest, brackets inside strings not counted.

    Cheap on anything up to the body limit: one regex pass removes the strings, then the
    bracket walk runs in C (translate, map, accumulate). It reads valid JSON exactly; on
    anything else it may over- or under-count, which json.loads then refuses anyway.
    """
    steps = _STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS).translate(_STEPS)
    return max(accumulate(map(sub, steps, repeat(1)), initial=0))


def parse_json(raw: bytes, field: str, label: str | None = None) -> Any:
    """``raw`` parsed, once its nesting is known to be within ``MAX_JSON_DEPTH``; errors name
    ``field`` and call it ``label`` (default: the field)."""
    label = label or field
    # fewer brackets than the limit cannot nest deeper: most bodies skip the walk
    if raw.count(b"[") + raw.count(b"{") > MAX_JSON_DEPTH and json_depth(raw) > MAX_JSON_DEPTH:
        raise ApiError(400, f"{label} nests deeper than {MAX_JSON_DEPTH} levels of arrays and objects", field)
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        raise ApiError(400, f"{label} is not valid JSON: {err}", field) from None


async def read_json_object(request: web.Request, optional: bool = False) -> dict[str, Any]:
    """The body as a JSON object; 413 beyond the server's limit, 400 for anything not an object."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge as err:
        raise ApiError(
            413, f"request body too large: limit is {request.app._client_max_size} bytes", "body"
        ) from err
    except RequestPayloadError as err:
        raise ApiError(400, f"request body could not be read: {err}", "body") from None
    if not raw.strip():
        if optional:
            return {}
        raise ApiError(400, "request body must be a JSON object", "body")
    body = parse_json(raw, "body", "request body")
    if not isinstance(body, dict):
        raise ApiError(400, f"request body must be a JSON object, not {type(body).__name__}", "body")
    return body


# ---- validation errors as ApiError --------------------------------------------------------------
Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], data: Mapping[str, Any], context: dict[str, Any] | None = None) -> Model:
    """``data`` as ``model``, or ApiError(400) for its first failure (shallowest first)."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as err:
        errors = sorted(err.errors(), key=lambda e: (len(e["loc"]), e["type"] != "extra_forbidden"))
        raise _api_error(model, errors[0]) from None


def _api_error(model: type[BaseModel], error: ErrorDetails) -> ApiError:
    loc = error["loc"]
    field = path(loc) or "body"
    owner, rule = _rule(model, loc)
    kind = error["type"]
    if kind == "request":  # raised by a validator below, with its own words and field
        ctx = error.get("ctx") or {}
        return ApiError(400, str(ctx.get("message", error["msg"])), str(ctx.get("field") or field))
    if kind == "extra_forbidden":
        allowed = ", ".join(owner.model_fields) if owner else ""
        where = f" in {path(loc[:-1])}" if len(loc) > 1 else ""
        return ApiError(400, f"unknown field {loc[-1]!r}{where}; allowed: {allowed}", field)
    if rule is None:
        return ApiError(400, f"{field}: {error['msg']}", field)
    if kind == "missing":
        return ApiError(400, f"{field} is required; it must {rule}", field)
    return ApiError(400, f"{field} must {rule}, not {_shown(error['input'])}", field)


def path(loc: Sequence[int | str]) -> str:
    """A validation location in the API's notation: ``Waves[0].SourceServerIds[1]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _rule(model: type[BaseModel], loc: Sequence[int | str]) -> tuple[type[BaseModel] | None, str | None]:
    """The model owning the last named field of ``loc``, and the rule (description) at ``loc``."""
    owner: type[BaseModel] | None = None
    annotation: Any = model
    rule: str | None = None
    for part in loc:
        if isinstance(part, str):
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                return owner, None
            owner = annotation
            info = annotation.model_fields.get(part)
            if info is None:
                return owner, None
            annotation, rule = info.annotation, info.description
        else:  # an element of a list: its rule is on the element type
            args = typing.get_args(annotation)
            if not args:
                return owner, None
            annotation, rule = _element(args[0])
    return owner, rule


def _element(annotation: Any) -> tuple[Any, str | None]:
    if typing.get_origin(annotation) is Annotated:
        base, *metadata = typing.get_args(annotation)
        rule = next((m.description for m in metadata if isinstance(m, FieldInfo) and m.description), None)
        return base, rule
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, "be an object"
    return annotation, None


def _shown(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def refused(message: str, field: str | None = None) -> PydanticCustomError:
    """A validator's refusal in its own words; ``field`` for a rule across fields (default: where
    the validator runs)."""
    context = {"message": message} if field is None else {"message": message, "field": field}
    return PydanticCustomError("request", "{message}", context)


def _whole(pattern: re.Pattern[str]) -> Callable[[str], str]:
    def check(value: str) -> str:
        if pattern.fullmatch(value) is None:
            raise ValueError(f"does not match {pattern.pattern}")
        return value

    return check


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("blank")
    return value


def _names(value: Any) -> Any:
    """DependsOn: one wave name or a list of them; null is none."""
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


# ---- the request models -------------------------------------------------------------------------
class Request(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


# After the drill (README): seconds as JSON numbers, or as the Decimals a stored plan comes back with
MAX_TARGET_SECONDS = 30 * 24 * 3600  # a month: beyond that a value is a unit mistake (milliseconds?)


def _seconds(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise refused("be a number of seconds")
    return value


Seconds = Annotated[float, BeforeValidator(_seconds), Field(strict=False)]


SourceServerId = Annotated[
    str,
    AfterValidator(_whole(SOURCE_SERVER_PATTERN)),
    Field(description="be a DRS source server ID (s- and 17 letters or digits)"),
]
WaveRef = Annotated[str, Field(description="be the name of an earlier wave")]


class WaveRequest(Request):
    WaveName: Annotated[str, AfterValidator(_whole(WAVE_NAME_PATTERN)), AfterValidator(_not_blank)] | None = (
        Field(
            default=None,
            max_length=MAX_NAME,
            description=f"be a non-empty string of at most {MAX_NAME} characters, without '#' or control characters",
        )
    )
    Region: Annotated[str, AfterValidator(_whole(REGION_NAME_PATTERN))] = Field(
        max_length=64, description="be an AWS region name (like us-east-1) that this poller serves"
    )
    AccountId: Annotated[str, AfterValidator(_whole(ACCOUNT_ID_RE))] | None = Field(
        default=None,
        max_length=12,
        description="be an AWS account ID of exactly 12 digits (the member account the wave recovers in)",
    )
    SourceServerIds: list[SourceServerId] = Field(
        min_length=1,
        max_length=MAX_SERVERS_PER_WAVE,
        description=f"be a non-empty list of at most {MAX_SERVERS_PER_WAVE} source server IDs "
        f"(DRS starts at most {MAX_SERVERS_PER_WAVE} per recovery)",
    )
    DependsOn: Annotated[list[WaveRef], BeforeValidator(_names)] = Field(
        default_factory=list,
        max_length=MAX_WAVES,
        description="be a wave name or a list of earlier waves' names",
    )
    RtoTargetSeconds: Seconds | None = Field(
        default=None, gt=0, le=MAX_TARGET_SECONDS, description="be seconds above 0, at most 30 days"
    )

    # operator control between waves (poller.domain.operators, poller.api.operators)
    PauseBefore: bool = Field(default=False, description="be true or false")
    OptionalServerIds: list[SourceServerId] = Field(
        default_factory=list,
        max_length=MAX_SERVERS_PER_WAVE,
        description="be a list of the wave's SourceServerIds whose failure alone leaves it COMPLETED",
    )

    @field_validator("OptionalServerIds")
    @classmethod
    def _optional_subset(cls, optional: list[str], info: ValidationInfo) -> list[str]:
        servers = info.data.get("SourceServerIds")
        if len(set(optional)) != len(optional):
            raise refused("OptionalServerIds lists a server twice")
        outside = [s for s in optional if servers is not None and s not in servers]
        if outside:
            raise refused(f"OptionalServerIds names {outside[0]}, which is not in the wave's SourceServerIds")
        return optional

    @field_validator("Region")
    @classmethod
    def _served(cls, region: str, info: ValidationInfo) -> str:
        regions = (info.context or {}).get("regions")
        if regions is not None and region not in regions:
            raise refused(
                f"region {region!r} is not one this poller serves ({', '.join(regions)}); "
                "add it to POLLER_DRS_REGIONS"
            )
        return region


class PlanRequest(Request):
    """POST /plans. Waves are named ``Wave-<n>`` when unnamed; the plan id is a UUID when absent."""

    PlanId: Annotated[str, AfterValidator(_whole(ID_PATTERN))] | None = Field(
        default=None, description=f"match {ID_REGEX}"
    )
    PlanName: Annotated[str, AfterValidator(_not_blank)] | None = Field(
        default=None,
        max_length=MAX_NAME,
        description=f"be a non-empty string of at most {MAX_NAME} characters",
    )
    WaveOrder: Literal["PARALLEL", "SEQUENTIAL"] = Field(
        default="PARALLEL", description="be one of PARALLEL, SEQUENTIAL"
    )
    Description: str | None = Field(
        default=None,
        max_length=MAX_DESCRIPTION,
        description=f"be a string of at most {MAX_DESCRIPTION} characters",
    )
    Waves: list[WaveRequest] = Field(
        min_length=1, max_length=MAX_WAVES, description=f"be a non-empty list of at most {MAX_WAVES} waves"
    )
    CleanupAfterSeconds: Seconds | None = Field(  # DRILL executions only (poller/domain/cleanup.py)
        default=None, ge=0, le=MAX_TARGET_SECONDS, description="be seconds from 0 to 30 days"
    )
    RtoTargetSeconds: Seconds | None = Field(
        default=None, gt=0, le=MAX_TARGET_SECONDS, description="be seconds above 0, at most 30 days"
    )

    @model_validator(mode="after")
    def _consistent(self) -> PlanRequest:
        """Across waves: unique names, dependencies on earlier waves only, each server once."""
        names: list[str] = []
        servers: dict[str, str] = {}
        for i, wave in enumerate(self.Waves):
            at = f"Waves[{i}]"
            name = self.wave_name(i)
            if name in names:
                raise refused(f"wave name {name!r} is used twice", f"{at}.WaveName")
            for d in wave.DependsOn:
                if d not in names:
                    raise refused(
                        f"{at}.DependsOn names {d!r}, which is not an earlier wave", f"{at}.DependsOn"
                    )
            for j, sid in enumerate(wave.SourceServerIds):
                if sid in servers:
                    raise refused(
                        f"source server {sid} is in wave {servers[sid]!r} and in wave {name!r}",
                        f"{at}.SourceServerIds[{j}]",
                    )
                servers[sid] = name
            names.append(name)
        if len(servers) > MAX_SERVERS_PER_PLAN:
            raise refused(
                f"{len(servers)} servers exceed the limit of {MAX_SERVERS_PER_PLAN} per plan "
                "(an execution is one DynamoDB item); split the plan",
                "Waves",
            )
        return self

    def wave_name(self, index: int) -> str:
        return self.Waves[index].WaveName or f"Wave-{index + 1}"


class ExecutionRequest(Request):
    """POST /executions."""

    PlanId: Annotated[str, AfterValidator(_whole(ID_PATTERN))] = Field(description=f"match {ID_REGEX}")
    ExecutionType: Annotated[ExecutionKind, Field(strict=False)] = Field(description="be DRILL or RECOVERY")


class CancelRequest(Request):
    """POST /executions/{id}/cancel (the body is optional)."""

    terminateRecoveryInstances: bool = Field(default=False, description="be true or false")


class PageQuery(BaseModel):
    """``?limit=&nextToken=``: query strings, so numbers are parsed from text."""

    model_config = ConfigDict(frozen=True)

    limit: int = Field(
        default=DEFAULT_PAGE, ge=1, le=MAX_PAGE, description=f"be an integer from 1 to {MAX_PAGE}"
    )
    nextToken: str | None = Field(default=None, description="be a token from a previous page")


class StatusPageQuery(PageQuery):
    """GET /executions: ``status`` is required."""

    status: ExecutionStatus = Field(description=f"be one of {', '.join(s.value for s in ExecutionStatus)}")


def query(request: web.Request, model: type[Model]) -> Model:
    """The query parameters as ``model`` (the first value of a repeated key); unknown keys are ignored."""
    known = {k: request.query.getone(k) for k in model.model_fields if k in request.query}
    return validated(model, known)


def encode_token(key: Mapping[str, Any]) -> str:
    """A page's last key as an opaque token (it comes back as ``nextToken``)."""
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode_token(token: str, field: str = "nextToken") -> dict[str, Any]:
    """The key inside a token, as JSON; whether it is a key of the listing is the store's check."""
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
    except (ValueError, binascii.Error, UnicodeEncodeError):
        raise ApiError(400, f"{field} is not a token this API issued", field) from None
    try:
        key = parse_json(raw, field)
    except ApiError:
        raise ApiError(400, f"{field} is not a token this API issued", field) from None
    if not isinstance(key, dict):
        raise ApiError(400, f"{field} is not a token this API issued", field)
    return key


def validate_plan_request(body: Mapping[str, Any], regions: Sequence[str]) -> PlanRequest:
    return validated(PlanRequest, body, {"regions": list(regions)})


__all__ = [
    "CancelRequest",
    "ExecutionRequest",
    "PlanRequest",
    "StatusPageQuery",
    "decode_token",
    "encode_token",
    "is_id",
    "read_json_object",
    "validated",
]
