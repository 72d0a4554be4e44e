"""The services the local stack stands on, started for the demo and for real traffic alike.

DynamoDB Local with the template's table, and an LLM: the configured OpenAI-compatible endpoint when
OPENAI_API_KEY is set, otherwise the offline SmolLM2 model on loopback (installed the first time).
"""

import contextlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from local import offline_llm
from local.dynamodb_local import create_table, running

LOCAL_TABLE = "voipbin-ai-local"
# The offline model reads a new conversation's first prompt (about 300 tokens) in about 4 s on 2 cores,
# later turns a second or two; the default 4 s voice deadline would give its first answer up.
OFFLINE_VOICE_DEADLINE_SECONDS = 10.0


@dataclass(frozen=True)
class Backing:
    """Where the functions find their table and their LLM."""

    environment: dict[str, str]
    llm: str  # what answers, for people to read


@contextlib.contextmanager
def backing_services(workdir: Path) -> Iterator[Backing]:
    """DynamoDB Local and an LLM, for as long as the block runs."""
    with contextlib.ExitStack() as stack:
        dynamodb = stack.enter_context(running(workdir))
        create_table(dynamodb.client(), LOCAL_TABLE)
        environment = {"TABLE_NAME": LOCAL_TABLE, "AWS_ENDPOINT_URL_DYNAMODB": dynamodb.endpoint_url}
        if os.environ.get("OPENAI_API_KEY"):
            llm = f"{os.environ.get('LLM_MODEL', 'gpt-4o-mini')} at {os.environ.get('OPENAI_BASE_URL') or 'OpenAI'}"
        else:
            server = stack.enter_context(offline_llm.running())
            environment |= server.environment()
            llm = f"offline {server.model} at {server.base_url}"
            if not os.environ.get("AGENT_CONFIG_FILE"):
                environment["AGENT_CONFIG_FILE"] = str(_patient_agent(workdir))
                llm += f" (voice deadline {OFFLINE_VOICE_DEADLINE_SECONDS:.0f} s for its slow first prompt)"
        yield Backing(environment, llm)


def _patient_agent(workdir: Path) -> Path:
    """The default agent with a voice deadline the offline model's first prompt of a call fits in."""
    from voipbin_ai.config import DEFAULT_AGENT_FILE

    agent = json.loads(DEFAULT_AGENT_FILE.read_text(encoding="utf-8"))
    agent["channels"]["voice"]["deadline_seconds"] = OFFLINE_VOICE_DEADLINE_SECONDS
    path = workdir / "agent.offline.json"
    path.write_text(json.dumps(agent), encoding="utf-8")
    return path
