"""The keep-alive server hands moto the environ werkzeug's server would have."""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request
from multidict import CIMultiDict
from poller_devtools.local_server import wsgi_environ


def test_path_query_and_body_reach_the_app_as_wsgi_expects() -> None:
    request = make_mocked_request("GET", "/moto-api/data.json?a=1&b=%2F")
    environ = wsgi_environ(request, b"payload", ("127.0.0.1", 5000))
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["PATH_INFO"] == "/moto-api/data.json"
    assert environ["QUERY_STRING"] == "a=1&b=%2F"
    assert environ["wsgi.input"].read() == b"payload"
    assert environ["CONTENT_LENGTH"] == "7"
    assert (environ["SERVER_NAME"], environ["SERVER_PORT"]) == ("127.0.0.1", "5000")


def test_headers_become_http_keys_and_repeated_ones_are_joined() -> None:
    headers = CIMultiDict(
        [
            ("X-Amz-Target", "DynamoDB_20120810.Query"),
            ("Content-Type", "application/x-amz-json-1.0"),
            ("X-Repeated", "one"),
            ("X-Repeated", "two"),
            ("Transfer-Encoding", "chunked"),
        ]
    )
    environ = wsgi_environ(make_mocked_request("POST", "/", headers=headers), b"{}", ("h", 1))
    assert environ["HTTP_X_AMZ_TARGET"] == "DynamoDB_20120810.Query"
    assert environ["CONTENT_TYPE"] == "application/x-amz-json-1.0"
    assert environ["HTTP_X_REPEATED"] == "one,two"
    assert "HTTP_TRANSFER_ENCODING" not in environ  # the body was read whole: a plain length
    assert environ["CONTENT_LENGTH"] == "2"


def test_an_escaped_path_is_unquoted_for_path_info() -> None:
    environ = wsgi_environ(make_mocked_request("GET", "/a%20b/c"), b"", ("h", 1))
    assert environ["PATH_INFO"] == "/a b/c"
    assert environ["RAW_URI"] == "/a%20b/c"
