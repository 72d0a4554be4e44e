"""A webhook body's envelope, {"type": "<snake_case>", "data": {...}}: checked alike at the ingress and behind the bus.

Standard library only: the ingress imports it and must stay light (models/events.py builds the models).
"""

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from voipbin_ai.exceptions import InvalidEventError

# VoIPBin's types are snake_case words; anything else would be a bus detail-type no rule expects, and one
# EventBridge refuses (control characters) would fail the publish.
_EVENT_TYPE: Final = re.compile(r"[a-z][a-z0-9_]{0,127}")


def read_envelope(payload: Mapping[str, Any] | bytes | str) -> tuple[str, Mapping[str, Any], Mapping[str, Any]]:
    """(type, data, the whole body) of a webhook body, raw or already decoded.

    Raises:
        InvalidEventError: naming the type (when known) and the field: "body" when the body is not a JSON
            object in strict UTF-8 (any nesting depth), "type" or "data" when those are not as above.

    """
    body = _decoded(payload) if isinstance(payload, bytes | str) else payload
    if not isinstance(body, Mapping):
        raise InvalidEventError("", "body", f"must be a JSON object with 'type' and 'data', not {type(body).__name__}")
    event_type = body.get("type")
    if not isinstance(event_type, str) or not _EVENT_TYPE.fullmatch(event_type):
        raise InvalidEventError("", "type", "must be a snake_case VoIPBin event type")
    data = body.get("data")
    if not isinstance(data, Mapping):
        raise InvalidEventError(event_type, "data", "must be a JSON object")
    return event_type, data, body


def _decoded(payload: bytes | str) -> Any:
    try:
        # Strict UTF-8 first: json.loads would take UTF-16 and UTF-32 bytes too, which VoIPBin never sends.
        return json.loads(payload.decode("utf-8") if isinstance(payload, bytes) else payload)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InvalidEventError("", "body", f"not valid UTF-8 JSON: {error}") from error
    except RecursionError as error:  # nested deeper than the parser goes: no genuine webhook is
        raise InvalidEventError("", "body", "nested too deeply") from error
