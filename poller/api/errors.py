"""API errors as JSON: ``{"error": message, "field": name}`` for every failure, 404 and 5xx included."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import structlog
from aiohttp import web

from poller.store.dynamodb import DynamoDBError

log = structlog.get_logger("poller.api")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Paths served by the API (the token, when configured, is required for these only)
API_PREFIXES = ("/plans", "/executions", "/drill-instances")
#: The longest request target and header (name or value) answered: longer ones get a JSON 414 /
#: 431. aiohttp's own parser limits are set above these (poller.runtime.http), so this answer,
#: not the parser's plain-text one, is what a client over the limit sees.
MAX_REQUEST_TARGET = 8190
MAX_HEADER_FIELD = 8190


class ApiError(Exception):
    """A client-visible error; ``field`` names the input at fault (a body path, a header, a query key)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field

    def response(self) -> web.Response:
        body: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            body["field"] = self.field
        headers = {"WWW-Authenticate": 'Bearer realm="drs-poller"'} if self.status == 401 else None
        return web.json_response(body, status=self.status, headers=headers)


def to_json_value(value: Any) -> Any:
    """DynamoDB values as JSON: Decimals as numbers (int when integral), sets as sorted lists."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: to_json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(to_json_value(v) for v in value)
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return value


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(to_json_value(body), status=status, headers=headers)


def error_middleware(api_token: str | None) -> Any:
    """JSON for every error (unknown routes, wrong methods, too large, crashes); the API's bearer token."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            _check_head(request)
            if api_token and request.path.startswith(API_PREFIXES):
                _check_token(request, api_token)
            return await handler(request)
        except ApiError as err:
            return err.response()
        except web.HTTPException as err:
            if err.status < 400:
                raise
            message = {404: f"no route {request.method} {request.path}"}.get(err.status, err.reason)
            if err.status == 405:
                message = f"method {request.method} not allowed on {request.path}"
            if err.status == 413:
                message = f"request body too large: limit is {request.app._client_max_size} bytes"
            return web.json_response({"error": message}, status=err.status, headers=_allow(err))
        except DynamoDBError as err:
            log.error("api_dynamodb_error", path=request.path, error=str(err))
            return web.json_response({"error": f"storage unavailable: {err.code}"}, status=503)
        except Exception as err:
            log.exception("api_handler_failed", path=request.path, method=request.method)
            return web.json_response({"error": f"internal error: {type(err).__name__}"}, status=500)

    return middleware


def _allow(err: web.HTTPException) -> dict[str, str] | None:
    allow = err.headers.get("Allow")
    return {"Allow": allow} if allow else None


def _check_head(request: web.Request) -> None:
    """Over-long request targets and headers: one log line naming the part, never its content.
    A compressed body is refused: the server does not decompress (no decompression bombs, no
    decoder errors past the handler), and a body of at most 256 KB needs no compression."""
    if len(request.raw_path) > MAX_REQUEST_TARGET:
        log.warning("http_request_refused", reason="request target too long", size=len(request.raw_path))
        raise ApiError(
            414, f"request target too long: {len(request.raw_path)} bytes, limit {MAX_REQUEST_TARGET}", "path"
        )
    for name, value in request.raw_headers:
        if len(name) > MAX_HEADER_FIELD or len(value) > MAX_HEADER_FIELD:
            shown = name[:64].decode("latin-1")
            log.warning(
                "http_request_refused", reason="header too long", header=shown, size=len(name) + len(value)
            )
            raise ApiError(
                431, f"header {shown} too long: {len(value)} bytes, limit {MAX_HEADER_FIELD}", shown
            )
    encoding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if request.body_exists and encoding not in ("", "identity"):
        raise ApiError(
            415,
            "request bodies are not decompressed: send the JSON without Content-Encoding",
            "Content-Encoding",
        )


def _check_token(request: web.Request, token: str) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(401, "missing or wrong bearer token", "Authorization")
