"""An AWS JSON-protocol endpoint on loopback: what boto3 sends to EventBridge and SQS, one operation per target.

boto3 reaches it through AWS_ENDPOINT_URL_<SERVICE>; each operation is a function from the request's JSON
to the answer's (X-Amz-Target names it, e.g. AWSEvents.PutEvents, AmazonSQS.SendMessage).
"""

import json
import threading
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Any

from local.processes import LoopbackHTTPServer

Operation = Callable[[dict[str, Any]], dict[str, Any]]


class AwsJsonEndpoint:
    """The operations of one service, served until stop()."""

    def __init__(self, operations: Mapping[str, Operation], *, content_type: str) -> None:
        self._server = LoopbackHTTPServer(("127.0.0.1", 0), _handler_for(operations, content_type))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The endpoint, for AWS_ENDPOINT_URL_<SERVICE>."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        """Serve in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and close the socket."""
        self._server.shutdown()
        self._server.server_close()


def _handler_for(operations: Mapping[str, Operation], content_type: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            target = self.headers.get("X-Amz-Target", "")
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            operation = operations.get(target)
            if operation is None:
                self._answer(400, {"__type": "UnknownOperationException", "message": target})
                return
            self._answer(200, operation(body))

        def _answer(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the demo prints what matters."""

    return Handler
