"""The services the local stack stands on, started for the demo and for real traffic alike.

DynamoDB Local with the template's table, and an LLM: the configured OpenAI-compatible endpoint when
OPENAI_API_KEY is set, otherwise the offline SmolLM2 model on loopback (built the first time).
"""

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from local import offline_llm
from local.dynamodb_local import create_table, running

LOCAL_TABLE = "voipbin-ai-local"


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
        yield Backing(environment, llm)
