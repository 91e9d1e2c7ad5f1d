"""The scoring server's pixel check: a request with NaN, infinite or out-of-range pixels is a 400, never NaN."""

import asyncio
import json

import pytest

from mnistflow.tracking.scoring import checked, pixel_problem


@pytest.mark.parametrize(("body", "problem"), [
    (b'{"inputs": [[0, 255.0, 12]]}', None),
    (b'{"inputs": [[0, NaN]]}', "the pixels hold NaN or infinite values; expected finite numbers in 0-255"),
    (b'{"instances": [[Infinity]]}', "the pixels hold NaN or infinite values; expected finite numbers in 0-255"),
    (b'{"inputs": [[0, 1e30]]}', "the pixels range from 0 to 1e+30; expected numbers in 0-255"),
    (b'{"inputs": [[-1, 3]]}', "the pixels range from -1 to 3; expected numbers in 0-255"),
    (b'{"dataframe_split": {"columns": ["a"], "data": [[1]]}}', None),  # MLflow's own checks apply
    (b"not json", None),
])
def test_pixel_problem(body, problem):
    assert pixel_problem(body) == problem


def _call(app, method: str, path: str, chunks: list[bytes]) -> tuple[int, bytes]:
    """Drive an ASGI app with a request sent in `chunks`; (status, response body)."""
    received, sent = list(chunks), []

    async def receive():
        chunk = received.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(received)}

    async def send(message):
        sent.append(message)

    asyncio.run(app({"type": "http", "method": method, "path": path}, receive, send))
    start = next(message for message in sent if message["type"] == "http.response.start")
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return start["status"], body


async def echo(scope, receive, send):
    """An app that answers 200 with the whole body it read."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_a_bad_request_is_answered_400_and_a_good_one_reaches_the_app_whole():
    app = checked(echo)
    status, body = _call(app, "POST", "/invocations", [b'{"inputs": [[1, ', b"NaN]]}"])
    assert status == 400 and json.loads(body) == {
        "error_code": "BAD_REQUEST",
        "message": "the pixels hold NaN or infinite values; expected finite numbers in 0-255"}
    status, body = _call(app, "POST", "/invocations", [b'{"inputs": [[1, ', b"2]]}"])
    assert (status, body) == (200, b'{"inputs": [[1, 2]]}')
    assert _call(app, "GET", "/ping", [b""])[0] == 200
