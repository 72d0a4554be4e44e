"""Tools the LLM may call: built-in end_call, send_sms and transfer_call, and HTTPS tools from configuration.

Each tool says on which channels it makes sense; only those are offered (no end_call on SMS). A tool's
side effect runs once per (conversation, turn, tool call), even when the event is delivered again: the
store claims it first (begin_tool_call) and keeps its answer. The call is identified by the tool's name
and its canonical arguments rather than by the provider's tool call id, because a redelivered event asks
the LLM again and providers mint a new id for every completion.

end_call and transfer_call act after the reply: the goodbye or "let me transfer you" is said first.
"""

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

import httpx2

from voipbin_ai.ai.llm import ToolCallRequest, ToolSchema
from voipbin_ai.container import holds_connections
from voipbin_ai.models.agent import AgentConfig, HttpTool
from voipbin_ai.models.session import Channel
from voipbin_ai.models.voipbin import Address
from voipbin_ai.observability import logger
from voipbin_ai.store.dynamodb import ConversationStore
from voipbin_ai.voipbin.client import VoipbinClient, VoipbinError

# What the LLM reads of an HTTPS tool's answer.
MAX_RESULT_CHARS: Final = 2000
MAX_SMS_TOOL_CHARS: Final = 320
_UNKNOWN_OUTCOME: Final = "This was already attempted for this turn and its outcome is unknown; do not retry it."
_NO_ARGUMENTS: Final[dict[str, Any]] = {"type": "object", "properties": {}, "additionalProperties": False}


class ToolArgumentError(ValueError):
    """The model called a tool with arguments it does not take; the model is told, nothing runs."""


@dataclass(frozen=True)
class ToolContext:
    """The conversation a tool call belongs to."""

    conversation_id: str
    channel: Channel
    turn: int
    our_address: str = ""
    their_address: str = ""
    call_id: str | None = None


@dataclass(frozen=True)
class ToolPlan:
    """What a tool call will do: its side effect (returning what the model is told) and when it runs."""

    effect: Callable[[], str]
    # Run once the reply has been delivered; the model is told `acknowledgement` meanwhile.
    after_reply: bool = False
    acknowledgement: str = ""


@dataclass(frozen=True)
class ToolOutcome:
    """What the model is told, and the side effect still to run once the reply is out (if any)."""

    result: str
    after_reply: Callable[[], None] | None = None


@dataclass(frozen=True)
class Tool:
    """One function the model may call."""

    name: str
    description: str
    plan: Callable[[dict[str, Any], ToolContext], ToolPlan]
    channels: frozenset[Channel]
    parameters: Mapping[str, Any] = field(default_factory=lambda: _NO_ARGUMENTS)

    def schema(self) -> ToolSchema:
        """The tool as the Chat Completions API takes it."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": dict(self.parameters)},
        }


class ToolBox:
    """The tools of this deployment, run at most once per (conversation, turn, tool call)."""

    def __init__(self, tools: Iterable[Tool], *, store: ConversationStore) -> None:
        self._tools = {tool.name: tool for tool in tools}
        self._store = store

    def schemas(self, channel: Channel) -> list[ToolSchema]:
        """The tools offered on a channel."""
        return [tool.schema() for tool in self._tools.values() if channel in tool.channels]

    def call(self, request: ToolCallRequest, context: ToolContext) -> ToolOutcome:
        """Run (or schedule) one tool call; mistakes of the model become results it can read, not errors."""
        tool = self._tools.get(request.name)
        if tool is None or context.channel not in tool.channels:
            return ToolOutcome(f"error: there is no tool named {request.name!r}")
        try:
            arguments = json.loads(request.arguments or "{}")
            if not isinstance(arguments, dict):
                raise ToolArgumentError("arguments must be a JSON object")
            plan = tool.plan(arguments, context)
        except (ValueError, ToolArgumentError) as error:
            return ToolOutcome(f"error: invalid arguments: {error}")
        key = call_key(request.name, arguments)
        logger.info("Tool called", tool=request.name, tool_call_id=request.id, call_key=key)
        if plan.after_reply:

            def run_after_reply() -> None:
                self._once(context, key, plan.effect)

            return ToolOutcome(plan.acknowledgement, after_reply=run_after_reply)
        return ToolOutcome(self._once(context, key, plan.effect))

    def _once(self, context: ToolContext, key: str, effect: Callable[[], str]) -> str:
        earlier = self._store.begin_tool_call(context.conversation_id, context.turn, key)
        if earlier is not None:
            logger.info("Tool call already run", call_key=key, done=earlier.done)
            return earlier.result if earlier.done else _UNKNOWN_OUTCOME
        try:
            result = effect()
        except (VoipbinError, httpx2.HTTPError) as error:
            logger.warning("Tool failed", call_key=key, error=type(error).__name__)
            result = f"failed: {error}"
        self._store.finish_tool_call(context.conversation_id, context.turn, key, result)
        return result


def call_key(name: str, arguments: Mapping[str, Any]) -> str:
    """A tool call's identity within a turn: its name and a digest of its canonical arguments."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{name}#{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


def toolbox(agent: AgentConfig, *, store: ConversationStore, voipbin: Callable[[], VoipbinClient]) -> ToolBox:
    """The built-in tools and the configured HTTPS tools; voipbin is called only when a tool needs it."""
    return ToolBox([*built_in_tools(agent, voipbin), *(http_tool(tool) for tool in agent.tools)], store=store)


def built_in_tools(agent: AgentConfig, voipbin: Callable[[], VoipbinClient]) -> list[Tool]:
    """end_call and send_sms on calls; transfer_call too when a transfer number is configured."""

    def end_call(_: dict[str, Any], context: ToolContext) -> ToolPlan:
        call_id = _call_of(context)

        def hang_up() -> str:
            voipbin().hangup_call(call_id)
            return "The call was hung up."

        return ToolPlan(hang_up, after_reply=True, acknowledgement="The call will end once your goodbye is spoken.")

    def send_sms(arguments: dict[str, Any], context: ToolContext) -> ToolPlan:
        text = arguments.get("text")
        if not isinstance(text, str) or not text.strip():
            raise ToolArgumentError("'text' must be a non-empty string")
        if not context.our_address or not context.their_address:
            raise ToolArgumentError("the caller's number is not known")

        def send() -> str:
            voipbin().send_message(_tel(context.our_address), [_tel(context.their_address)], text[:MAX_SMS_TOOL_CHARS])
            return "The text message was sent to the caller."

        return ToolPlan(send)

    tools = [
        Tool(
            name="end_call",
            description="Hang up the call. Use it after you have said goodbye, when the caller has nothing more.",
            plan=end_call,
            channels=frozenset({"voice"}),
        ),
        Tool(
            name="send_sms",
            description="Send the caller a text message, e.g. a link, an address or a confirmation.",
            plan=send_sms,
            channels=frozenset({"voice"}),
            parameters={
                "type": "object",
                "properties": {"text": {"type": "string", "description": "The message, plain text, short."}},
                "required": ["text"],
                "additionalProperties": False,
            },
        ),
    ]
    transfer = agent.transfer
    if transfer is not None:

        def transfer_call(_: dict[str, Any], context: ToolContext) -> ToolPlan:
            call_id = _call_of(context)

            def transfer_now() -> str:
                voipbin().create_transfer(call_id, [_tel(transfer.number)])
                return f"The caller was transferred to {transfer.description}."

            return ToolPlan(
                transfer_now,
                after_reply=True,
                acknowledgement=f"The caller will be transferred to {transfer.description} once your words are spoken.",
            )

        tools.append(
            Tool(
                name="transfer_call",
                description=f"Transfer the caller to {transfer.description}. Tell them first.",
                plan=transfer_call,
                channels=frozenset({"voice"}),
            )
        )
    return tools


def http_tool(config: HttpTool) -> Tool:
    """A configured tool: POST the arguments as JSON to its URL, and give the model the answer."""

    def plan(arguments: dict[str, Any], _: ToolContext) -> ToolPlan:
        def post() -> str:
            response = _http_client().post(
                config.url, json=arguments, headers=config.headers, timeout=config.timeout_seconds
            )
            if response.is_error:
                return f"failed: the service answered HTTP {response.status_code}"
            return response.text[:MAX_RESULT_CHARS]

        return ToolPlan(post)

    return Tool(
        name=config.name,
        description=config.description,
        plan=plan,
        channels=frozenset(config.channels),
        parameters=config.parameters,
    )


def _call_of(context: ToolContext) -> str:
    if context.call_id is None:
        raise ToolArgumentError("this conversation is not a call")
    return context.call_id


def _tel(number: str) -> Address:
    return Address(type="tel", target=number)


@holds_connections
@lru_cache(maxsize=1)
def _http_client() -> httpx2.Client:
    """One pooled client for the configured tools' endpoints."""
    return httpx2.Client(follow_redirects=False)
