"""`mnistflow serve`'s HTTP server: MLflow's own scoring app for the model, behind a check of the pixels.

    python -m mnistflow.tracking.scoring MODEL_URI HOST PORT

POST /invocations takes raw 28x28 pixels as MLflow's scoring server does (`{"inputs": [...]}`); a request
whose pixels are not all finite numbers in 0-255 is answered 400 with a message, never with NaN. One access
line per request; no progress bars.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from mnistflow.core.errors import one_line_errors

PIXEL_RANGE = (0.0, 255.0)
INPUT_KEYS = ("inputs", "instances")

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


def pixel_problem(body: bytes) -> str | None:
    """Why a JSON request's pixels cannot be scored (NaN, infinite, outside 0-255), or None.

    Anything that is not a JSON object with numeric `inputs` or `instances` is left to MLflow's own checks.
    """
    try:
        document = json.loads(body)  # Python's json reads NaN and Infinity, which other clients send
        values = next(document[key] for key in INPUT_KEYS if isinstance(document, dict) and key in document)
        pixels = np.asarray(values, dtype=np.float64)
    except (ValueError, TypeError, StopIteration):
        return None
    if not np.isfinite(pixels).all():
        return "the pixels hold NaN or infinite values; expected finite numbers in 0-255"
    low, high = PIXEL_RANGE
    if pixels.size and (pixels.min() < low or pixels.max() > high):
        return f"the pixels range from {pixels.min():g} to {pixels.max():g}; expected numbers in 0-255"
    return None


def checked(app: Any) -> Any:
    """An ASGI app that answers 400 to a POST /invocations whose pixels fail `pixel_problem`, else `app`."""

    async def wrapper(scope: dict, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/invocations" or scope["method"] != "POST":
            await app(scope, receive, send)
            return
        messages, body = [], b""
        while True:
            message = await receive()
            messages.append(message)
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        problem = pixel_problem(body)
        if problem is not None:
            content = json.dumps({"error_code": "BAD_REQUEST", "message": problem}).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": content})
            return

        async def replay() -> dict:
            return messages.pop(0) if messages else await receive()

        await app(scope, replay, send)

    return wrapper


class OnnxModel:
    """The predict that MLflow's pyfunc wrapper calls, run by the logged model's ONNX copy (no TensorFlow)."""

    def __init__(self, predictor: Callable[[np.ndarray], np.ndarray]) -> None:
        self.predictor = predictor

    def predict(self, data: Any, params: dict | None = None) -> np.ndarray:
        return self.predictor(np.asarray(data))


def pyfunc_model(model_uri: str) -> tuple[Any, list[str]]:
    """The model as MLflow's scoring server takes it: its ONNX copy behind the logged model's signature (the
    server is up in seconds, without TensorFlow); a model logged without one is loaded by MLflow (Keras). With
    it, the class names its outputs are in order of."""
    import mlflow.pyfunc
    from mlflow.models import Model

    from mnistflow.tracking import queries
    from mnistflow.tracking.predictors import ONNX_FILE, model_metadata, onnx_predictor

    folder = queries.model_folder(model_uri)
    classes = model_metadata(folder)["classes"]
    if not (folder / ONNX_FILE).is_file():
        return mlflow.pyfunc.load_model(str(folder)), classes
    return mlflow.pyfunc.PyFuncModel(Model.load(str(folder)), OnnxModel(onnx_predictor(folder / ONNX_FILE))), classes


@one_line_errors
def main(argv: list[str] | None = None) -> None:
    model_uri, host, port = sys.argv[1:] if argv is None else argv
    import uvicorn
    from mlflow.pyfunc import scoring_server

    model, classes = pyfunc_model(model_uri)
    print(f"serving {model_uri} on http://{host}:{port} (POST /invocations; Ctrl-C stops it); each prediction "
          f"is {len(classes)} probabilities, of classes {', '.join(classes)}", file=sys.stderr, flush=True)
    uvicorn.run(checked(scoring_server.init(model)), host=host, port=int(port), log_level="info")


if __name__ == "__main__":
    main()
