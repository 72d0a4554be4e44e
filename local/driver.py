"""The local stack with VoIPBin in front: what the demo, the end-to-end tests and the benchmarks drive.

One way to send VoIPBin's webhooks into the stack: the simulator signs and POSTs them to the stack's
webhook URL, as VoIPBin does, and the driver waits, when asked, until everything they set off has finished.
"""

from dataclasses import dataclass
from typing import Any

from local.fake_openai import FakeOpenAI
from local.stack import LocalStack
from local.voipbin_simulator import WEBHOOK_ATTEMPTS, VoipbinSimulator


def fakes_environment(voipbin: VoipbinSimulator, llm: FakeOpenAI) -> dict[str, str]:
    """The functions' settings when VoIPBin is the simulator and the LLM the fake.

    One attempt at the LLM (a retry would replay the fake's script) and no SMS burst window.
    """
    return {
        "EVENT_BUS_NAME": "voipbin-ai-local",
        "VOIPBIN_API_URL": voipbin.base_url,
        "VOIPBIN_API_TOKEN": voipbin.token,
        "VOIPBIN_WEBHOOK_SECRET": voipbin.webhook_secret,
        "OPENAI_BASE_URL": llm.base_url,
        "OPENAI_API_KEY": "test-key",
        "LLM_MODEL": "test-model",
        "LLM_MAX_RETRIES": "0",
        "SMS_BURST_SECONDS": "0",
    }


@dataclass
class StackDriver:
    """A running stack and the simulator that plays VoIPBin for it."""

    stack: LocalStack
    voipbin: VoipbinSimulator

    def webhook(
        self, event_type: str, data: dict[str, Any], *, wait: bool = True, attempts: int = WEBHOOK_ATTEMPTS
    ) -> int | None:
        """VoIPBin POSTs a signed event; by default wait until every function it triggered has finished."""
        status = self.voipbin.send_webhook(self.stack.webhook_url, event_type, data, attempts=attempts)
        if wait:
            self.stack.wait_idle()
        return status
