"""The local stack for real VoIPBin traffic: point a tunnel at it and VoIPBin's webhook at the tunnel.

    make serve            # or: python -m local.serve --port 8080

Needs VOIPBIN_API_TOKEN (or VOIPBIN_ACCESS_KEY) and VOIPBIN_WEBHOOK_SECRET in the environment; the LLM is
the configured endpoint when OPENAI_API_KEY is set, else the offline model. Serves until Ctrl-C.
"""

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from local.backing import backing_services
from local.dynamodb_local import DynamoDBLocalError
from local.offline_llm import OfflineLlmError
from local.stack import LocalStack

DEFAULT_PORT = 8080


def main(argv: list[str] | None = None) -> int:
    """Start the stack on the port and serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="the HTTP API's port on 127.0.0.1")
    args = parser.parse_args(argv)
    missing = [
        name
        for name, present in (
            (
                "VOIPBIN_API_TOKEN or VOIPBIN_ACCESS_KEY",
                os.environ.get("VOIPBIN_API_TOKEN") or os.environ.get("VOIPBIN_ACCESS_KEY"),
            ),
            ("VOIPBIN_WEBHOOK_SECRET", os.environ.get("VOIPBIN_WEBHOOK_SECRET")),
        )
        if not present
    ]
    if missing:
        print(f"error: set {' and '.join(missing)} (GET /v1.0/customer shows the webhook secret)", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with (
            tempfile.TemporaryDirectory(prefix="voipbin-ai-serve-") as workdir,
            backing_services(Path(workdir)) as backing,
        ):
            stack = LocalStack({**backing.environment, "EVENT_BUS_NAME": "voipbin-ai-local"}, port=args.port)
            with stack.running():
                print(f"Webhook: {stack.webhook_url}   Chat page: {stack.route_url('WebChatFunction', 'GET')}")
                print(f"LLM: {backing.llm}. Tunnel it, e.g. `cloudflared tunnel --url {stack.url}`, then set")
                print("webhook_uri to https://<tunnel>/webhooks/voipbin (PUT /v1.0/customer). Ctrl-C stops.")
                with contextlib.suppress(KeyboardInterrupt):
                    stop.wait()
    except (DynamoDBLocalError, OfflineLlmError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
