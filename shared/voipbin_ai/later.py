"""Delayed actions, one mechanism: an SQS queue with a per-message delay, consumed by functions/delayed_action.

Nothing waits by sleeping in a billed function: the SMS burst window and the pause before hanging up
after a goodbye are a message's DelaySeconds (whole seconds, at most 900). EventBridge Scheduler's one-time
schedules were the alternative, but they fire within a minute of their time, too coarse for a goodbye of
three seconds. The consumer is idempotent: what it does is claimed per turn (logic/later.py).
"""

import math
from functools import lru_cache
from typing import Final, Protocol

from voipbin_ai import sqs
from voipbin_ai.config import channel_settings
from voipbin_ai.container import per_container
from voipbin_ai.exceptions import PublishError
from voipbin_ai.models.later import DelayedAction

# SQS's longest per-message delay.
MAX_DELAY_SECONDS: Final = 900


class Later(Protocol):
    """Where the logic leaves work for later."""

    def schedule(self, action: DelayedAction, *, after_seconds: float) -> None:
        """Have the action run after this many seconds (rounded up to whole seconds).

        Raises:
            PublishError: the action could not be queued.

        """
        ...


class SqsLater:
    """The delayed-actions queue (DELAYED_ACTIONS_QUEUE_URL)."""

    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url

    def schedule(self, action: DelayedAction, *, after_seconds: float) -> None:
        """Later.schedule, as one SendMessage."""
        if not self.queue_url:
            raise PublishError("DELAYED_ACTIONS_QUEUE_URL is not set")
        delay = min(max(math.ceil(after_seconds), 0), MAX_DELAY_SECONDS)
        sqs.send_message(self.queue_url, action.model_dump_json(), delay_seconds=delay)


@per_container
@lru_cache(maxsize=1)
def get_later() -> SqsLater:
    """The container's queue of delayed actions."""
    return SqsLater(channel_settings().delayed_actions_queue_url)
