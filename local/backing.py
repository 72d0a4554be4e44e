"""The services the local stack stands on, started for the demo and for real traffic alike.

DynamoDB Local with the template's table, and an LLM: the configured OpenAI-compatible endpoint when
OPENAI_API_KEY is set, otherwise the offline SmolLM2 model on loopback (installed the first time).
"""

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
def backing_services(workdir: Path, *, silence_checks: bool = True) -> Iterator[Backing]:
    """DynamoDB Local and an LLM, for as long as the block runs.

    silence_checks False turns the agent's re-prompts of a quiet caller off: a scripted run waits until the
    stack is idle, and a pending silence check would make every such wait last until the call is hung up.
    """
    with contextlib.ExitStack() as stack:
        dynamodb = stack.enter_context(running(workdir))
        create_table(dynamodb.client(), LOCAL_TABLE)
        environment = {"TABLE_NAME": LOCAL_TABLE, "AWS_ENDPOINT_URL_DYNAMODB": dynamodb.endpoint_url}
        changes: dict[str, object] = {} if silence_checks else {"silence.enabled": False}
        if os.environ.get("OPENAI_API_KEY"):
            llm = f"{os.environ.get('LLM_MODEL', 'gpt-4o-mini')} at {os.environ.get('OPENAI_BASE_URL') or 'OpenAI'}"
        else:
            server = stack.enter_context(offline_llm.running())
            environment |= server.environment()
            llm = f"offline {server.model} at {server.base_url}"
            changes["channels.voice.deadline_seconds"] = OFFLINE_VOICE_DEADLINE_SECONDS
        if changes and not os.environ.get("AGENT_CONFIG_FILE"):
            environment["AGENT_CONFIG_FILE"] = str(agent_file(workdir, changes))
            if "channels.voice.deadline_seconds" in changes:
                llm += f" (voice deadline {OFFLINE_VOICE_DEADLINE_SECONDS:.0f} s for its slow first prompt)"
        yield Backing(environment, llm)


def agent_file(workdir: Path, changes: Mapping[str, object]) -> Path:
    """The default agent with some settings changed, each named by its dotted path ("silence.enabled")."""
    path_of_file = workdir / "agent.local.json"
    path_of_file.write_text(json.dumps(changed_agent(changes)), encoding="utf-8")
    return path_of_file


def agents_file(
    workdir: Path,
    agents: Mapping[str, Mapping[str, object]],
    *,
    numbers: Mapping[str, str],
    default: str | None = None,
) -> Path:
    """Several agents, each the default agent with its changes (as agent_file takes them), and their numbers."""
    configuration = {
        "agents": {agent_id: changed_agent(changes) for agent_id, changes in agents.items()},
        "numbers": dict(numbers),
        "default": default,
    }
    path_of_file = workdir / "agents.local.json"
    path_of_file.write_text(json.dumps(configuration), encoding="utf-8")
    return path_of_file


def changed_agent(changes: Mapping[str, object]) -> dict[str, Any]:
    """The default agent's JSON with some settings changed, each named by its dotted path."""
    from voipbin_ai.config import DEFAULT_AGENT_FILE

    agent: dict[str, Any] = json.loads(DEFAULT_AGENT_FILE.read_text(encoding="utf-8"))
    for path, value in changes.items():
        *parents, leaf = path.split(".")
        node = agent
        for name in parents:
            node = node.setdefault(name, {})  # a section the default leaves to its defaults
        node[leaf] = value
    return agent
