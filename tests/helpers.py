"""Shared test helpers: paths, sample loading, Lambda contexts."""

import io
import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from local.lambda_bootstrap import LocalContext
from local.template import REPO_ROOT, template_resources
from voipbin_ai.models.session import PhoneIds
from voipbin_ai.models.voipbin import Message

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

# VoIPBin's webhook and API payloads, copied from VoIPBin's source into the repo (tests/data/voipbin/SAMPLES.md).
VOIPBIN_SAMPLES = REPO_ROOT / "tests" / "data" / "voipbin"
WEBHOOK_SAMPLES = VOIPBIN_SAMPLES / "webhooks"
API_SAMPLES = VOIPBIN_SAMPLES / "api"
EVENTS_DIR = REPO_ROOT / "events"
# The ids the functions derive from phone numbers under the tests' PHONE_ID_PEPPER (tests/conftest.py).
PHONE_IDS = PhoneIds(b"pepper-of-the-tests")
# How long a test waits for something another thread does: long enough for a machine under full load.
PATIENCE_SECONDS = 10.0


def wait_until(condition: Callable[[], bool], *, timeout: float = PATIENCE_SECONDS) -> bool:
    """Whether condition became true within timeout, checked every few milliseconds (no fixed sleep)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() >= deadline:
            return False
        pause.wait(0.005)
    return True


def sms_message(words: str, *, sender: str, to: str, direction: str = "inbound") -> Message:
    """An SMS of VoIPBin's shape, as message_created carries it: from sender to our number `to`, dated now."""
    return Message.model_validate(
        {
            "id": str(uuid.uuid4()),
            "type": "sms",
            "source": {"type": "tel", "target": sender},
            "targets": [{"destination": {"type": "tel", "target": to}, "status": "received", "parts": 1}],
            "text": words,
            "direction": direction,
            "tm_create": datetime.now(UTC).isoformat(),
        }
    )


def load_json(path: Path) -> Any:
    """A JSON file, parsed."""
    return json.loads(path.read_text(encoding="utf-8"))


def lambda_context() -> "LambdaContext":
    """Lambda's context object for a handler called in the test's process: the local runner's, one of them."""
    return cast("LambdaContext", LocalContext("test-function", memory_mb=256, timeout_s=30))


class LogCapture:
    """What the Powertools logger wrote during a test, as parsed JSON records."""

    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]

    def assert_no_personal_data(self, *values: str) -> None:
        """Secrets and phone numbers never appear in logs."""
        for value in values:
            assert value not in self.text, f"{value!r} leaked into the logs"


def granted_dynamodb(function: str) -> tuple[frozenset[str], list[str] | None]:
    """The DynamoDB actions template.yaml grants a function, and the partition keys it is limited to, if any."""
    resources = template_resources("AWS::Serverless::Function")
    actions: set[str] = set()
    leading_keys: list[str] | None = None
    for policy in resources[function]["Properties"]["Policies"]:
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            granted = [action for action in statement["Action"] if action.startswith("dynamodb:")]
            actions.update(granted)
            condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
            if granted and "dynamodb:LeadingKeys" in condition:
                leading_keys = list(condition["dynamodb:LeadingKeys"])
    return frozenset(actions), leading_keys
