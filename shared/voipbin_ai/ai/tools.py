"""Tools the LLM may call: built-in end_call, send_sms, send_email and search_knowledge, and HTTPS tools.

Each tool says on which channels it makes sense; only those are offered (no end_call on SMS). A tool's
side effect runs once per (conversation, turn, tool call), even when the event is delivered again: the
store claims it first (begin_tool_call) and keeps its answer. The call is identified by the tool's name
and its canonical arguments (or those of its identity) rather than by the provider's tool call id, because
a redelivered event asks the LLM again and providers mint a new id for every completion.

end_call acts after the reply: the goodbye is said first. There is no transfer to a person: VoIPBin
transfers only calls in a conference bridge, which a call driven by /speakings and /transcribes is not in
(README: "Handing a call to a person").

The limits are here, in code, whatever the prompt says or a caller talks the model into: arguments must
match the tool's JSON Schema before anything runs; at most limits.tool_calls_per_round calls of one LLM
answer and limits.tool_calls_per_turn of a turn run; send_sms sends at most limits.sms_per_conversation
texts, only to numbers of the allowed countries and never to premium-rate ones (the caller's number can be
spoofed); send_email sends at most limits.emails_per_conversation e-mails, only to the addresses and domains
of the agent's email.recipients: the model can pick no other (the schema's enum or pattern), and code
refuses any other all the same, since a caller may talk the model into anything. search_knowledge's
answer is bounded: knowledge.max_passages passages, knowledge.max_characters characters with their sources.
"""

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, get_args

from voipbin_ai.ai.llm import ToolCallRequest, ToolSchema
from voipbin_ai.ai.tool_http import ToolHttpError, post_json
from voipbin_ai.config import ToolSettings
from voipbin_ai.knowledge.search import Found, KnowledgeError, knowledge_base
from voipbin_ai.models.agent import AgentConfig, HttpTool, Knowledge, Limits
from voipbin_ai.models.session import Channel
from voipbin_ai.models.voipbin import Address
from voipbin_ai.observability import logger
from voipbin_ai.store.base import ToolLedger
from voipbin_ai.voipbin.api import VoipbinApi
from voipbin_ai.voipbin.client import VoipbinError

# What the LLM reads of an HTTPS tool's answer, and the bytes read for it (UTF-8 takes up to 4 a character).
MAX_RESULT_CHARS: Final = 2000
_MAX_RESULT_BYTES: Final = 4 * MAX_RESULT_CHARS
MAX_SMS_TOOL_CHARS: Final = 320
MAX_EMAIL_SUBJECT_CHARS: Final = 150
MAX_EMAIL_BODY_CHARS: Final = 4000
MAX_KNOWLEDGE_QUERY_CHARS: Final = 300
# A passage's source as the model reads it, and the least of a passage worth giving it.
_MAX_SOURCE_CHARS: Final = 120
_MIN_PASSAGE_CHARS: Final = 60
_NOTHING_FOUND: Final = "Nothing in this business's documents matches. Say you do not know rather than guess."
_UNKNOWN_OUTCOME: Final = "This was already attempted for this turn and its outcome is unknown; do not retry it."
_TOO_MANY: Final = "refused: too many tool calls; at most {} per answer, fewer in a turn. Do not retry it."
_NO_ARGUMENTS: Final[dict[str, Any]] = {"type": "object", "properties": {}, "additionalProperties": False}


class ToolArgumentError(ValueError):
    """The model called a tool with arguments it does not take; the model is told, nothing runs."""


class ToolRefusedError(Exception):
    """The call is well formed but not allowed here (a limit, a destination); the model is told, nothing runs."""


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
    """What the model is told, and the call to run once the reply has been heard (ToolBox.run_after_reply)."""

    result: str
    after_reply: ToolCallRequest | None = None


@dataclass(frozen=True)
class Tool:
    """One function the model may call."""

    name: str
    description: str
    plan: Callable[[dict[str, Any], ToolContext], ToolPlan]
    channels: frozenset[Channel]
    parameters: Mapping[str, Any] = field(default_factory=lambda: _NO_ARGUMENTS)
    # Most runs in one conversation (None: no such limit), counted in the session.
    per_conversation: int | None = None
    # The arguments that make two calls of a turn the same call (None: all of them). An e-mail is one per
    # recipient: a redelivered turn's LLM words it anew, and is told it was sent rather than send another.
    identity: tuple[str, ...] | None = None

    def key(self, arguments: Mapping[str, Any]) -> str:
        """A call's identity within a turn: call_key of its identifying arguments."""
        if self.identity is None:
            return call_key(self.name, arguments)
        return call_key(self.name, {name: arguments.get(name) for name in self.identity})

    def schema(self) -> ToolSchema:
        """The tool as the Chat Completions API takes it."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": dict(self.parameters)},
        }


class ToolBox:
    """The tools of this deployment, run at most once per (conversation, turn, tool call), within the limits."""

    def __init__(
        self,
        tools: Iterable[Tool],
        *,
        store: ToolLedger,
        limits: Limits,
        prefetch: Callable[[str], str] | None = None,
    ) -> None:
        self._tools = {tool.name: tool for tool in tools}
        self._store = store
        self._limits = limits
        self._prefetch = prefetch

    def documents_for(self, user_text: str) -> str:
        """The agent's passages for the user's words, searched before the reply (knowledge.prefetch); else "".

        A search that fails leaves the reply to the model and its search_knowledge tool.
        """
        if self._prefetch is None or not user_text.strip():
            return ""
        try:
            return self._prefetch(user_text)
        except KnowledgeError as error:
            logger.warning("Knowledge not searched before the reply", error=str(error))
            return ""

    def schemas(self, channel: Channel) -> list[ToolSchema]:
        """The tools offered on a channel."""
        return [tool.schema() for tool in self._tools.values() if channel in tool.channels]

    def turn(self, context: ToolContext) -> "ToolTurn":
        """The tool calls of one turn, counted against the per-round and per-turn limits."""
        return ToolTurn(self, context, self._limits)

    def call(self, request: ToolCallRequest, context: ToolContext) -> ToolOutcome:
        """Run (or schedule) one tool call; mistakes of the model become results it can read, not errors."""
        tool = self._tools.get(request.name)
        if tool is None or context.channel not in tool.channels:
            return ToolOutcome(f"error: there is no tool named {request.name!r}")
        try:
            arguments = _checked_arguments(tool, request.arguments)
            plan = tool.plan(arguments, context)
        except (ValueError, ToolArgumentError) as error:
            return ToolOutcome(f"error: invalid arguments: {error}")
        except ToolRefusedError as error:
            logger.warning("Tool call refused", tool=request.name, reason=str(error))
            return ToolOutcome(f"refused: {error}")
        key = tool.key(arguments)
        logger.info("Tool called", tool=request.name, tool_call_id=request.id, call_key=key)
        if plan.after_reply:
            return ToolOutcome(plan.acknowledgement, after_reply=request)
        return ToolOutcome(self._once(tool, context, key, plan.effect))

    def run_after_reply(self, request: ToolCallRequest, context: ToolContext) -> str:
        """Run a call that call() left for after the reply (later, from the delayed-action queue), once per turn.

        Its arguments are checked and its plan made again: the call arrives as data, not as a closure.
        """
        tool = self._tools.get(request.name)
        if tool is None or context.channel not in tool.channels:
            return f"error: there is no tool named {request.name!r}"
        try:
            arguments = _checked_arguments(tool, request.arguments)
            plan = tool.plan(arguments, context)
        except (ValueError, ToolArgumentError, ToolRefusedError) as error:
            return f"refused: {error}"
        return self._once(tool, context, tool.key(arguments), plan.effect)

    def _once(self, tool: Tool, context: ToolContext, key: str, effect: Callable[[], str]) -> str:
        earlier = self._store.begin_tool_call(context.conversation_id, context.turn, key)
        if earlier is not None:
            logger.info("Tool call already run", call_key=key, done=earlier.done)
            return earlier.result if earlier.done else _UNKNOWN_OUTCOME
        if tool.per_conversation is not None and not self._store.claim_tool_use(
            context.conversation_id, tool.name, limit=tool.per_conversation
        ):
            logger.warning("Tool limit reached", tool=tool.name, limit=tool.per_conversation)
            result = f"refused: {_spent(tool)}"
        else:
            try:
                result = effect()
            except (VoipbinError, ToolHttpError, KnowledgeError) as error:
                logger.warning("Tool failed", call_key=key, error=type(error).__name__)
                result = f"failed: {error}"
        self._store.finish_tool_call(context.conversation_id, context.turn, key, result)
        return result


class ToolTurn:
    """One turn's tool calls: the calls past a round's or the turn's limit are refused, not run."""

    def __init__(self, box: ToolBox, context: ToolContext, limits: Limits) -> None:
        self._box = box
        self._context = context
        self._limits = limits
        self._calls = 0

    def run_round(self, requests: Sequence[ToolCallRequest]) -> list[ToolOutcome]:
        """The outcome of each tool call of one LLM answer, in order."""
        outcomes = []
        for index, request in enumerate(requests):
            if index >= self._limits.tool_calls_per_round or self._calls >= self._limits.tool_calls_per_turn:
                logger.warning("Tool call over the limit", tool=request.name, calls_this_turn=self._calls)
                outcomes.append(ToolOutcome(_TOO_MANY.format(self._limits.tool_calls_per_round)))
                continue
            self._calls += 1
            outcomes.append(self._box.call(request, self._context))
        return outcomes


def _spent(tool: Tool) -> str:
    return f"{tool.name} may run at most {tool.per_conversation} time(s) in a conversation, and has"


def _checked_arguments(tool: Tool, raw: str) -> dict[str, Any]:
    """The arguments the model wrote, if they match the tool's JSON Schema.

    Raises:
        ToolArgumentError: they are not JSON, or do not match.

    """
    # Imported here, as the tools are called: not a cold start's cost.
    import fastjsonschema

    try:
        arguments = _validator(json.dumps(dict(tool.parameters), sort_keys=True))(json.loads(raw or "{}"))
    except fastjsonschema.JsonSchemaValueException as error:  # a ValueError too: caught first
        raise ToolArgumentError(error.message) from error
    except ValueError as error:  # json.JSONDecodeError
        raise ToolArgumentError(f"not JSON: {error}") from error
    if not isinstance(arguments, dict):
        raise ToolArgumentError("arguments must be a JSON object")
    return arguments


@lru_cache(maxsize=64)
def _validator(schema: str) -> Callable[[Any], Any]:
    """The compiled check of a tool's arguments (compiled once per schema and container)."""
    import fastjsonschema

    return fastjsonschema.compile(json.loads(schema))


def call_key(name: str, arguments: Mapping[str, Any]) -> str:
    """A tool call's identity within a turn: its name and a digest of its canonical arguments."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return f"{name}#{hashlib.sha256(canonical.encode()).hexdigest()[:16]}"


def toolbox(
    agent: AgentConfig, *, store: ToolLedger, voipbin: Callable[[], VoipbinApi], settings: ToolSettings
) -> ToolBox:
    """The built-in tools and the configured HTTPS tools; voipbin is called only when a tool needs it."""
    tools = [*built_in_tools(agent, voipbin, settings), *(http_tool(tool, settings) for tool in agent.tools)]
    knowledge = agent.knowledge
    prefetch = _documents(knowledge, settings) if knowledge is not None and knowledge.prefetch else None
    return ToolBox(tools, store=store, limits=agent.limits, prefetch=prefetch)


def _documents(config: Knowledge, settings: ToolSettings) -> Callable[[str], str]:
    """The passages for the user's words as the model reads them, or "" when none match."""
    search = knowledge_search(config, settings)

    def documents(user_text: str) -> str:
        found = search(user_text)
        return knowledge_result(found, max_characters=config.max_characters) if found else ""

    return documents


def built_in_tools(agent: AgentConfig, voipbin: Callable[[], VoipbinApi], settings: ToolSettings) -> list[Tool]:
    """The built-in tools the agent's configuration calls for.

    end_call and send_sms on calls; send_email where the agent's email rules allow it, if they name
    recipients; search_knowledge on every channel, if the agent has knowledge.
    """

    def end_call(_: dict[str, Any], context: ToolContext) -> ToolPlan:
        call_id = _call_of(context)

        def hang_up() -> str:
            voipbin().hangup_call(call_id)
            return "The call was hung up."

        return ToolPlan(hang_up, after_reply=True, acknowledgement="The call will end once your goodbye is spoken.")

    def send_sms(arguments: dict[str, Any], context: ToolContext) -> ToolPlan:
        text: str = arguments["text"]
        if not context.our_address or not context.their_address:
            raise ToolArgumentError("the caller's number is not known")
        refusal = sms_refusal(context.their_address, ours=context.our_address, settings=settings)
        if refusal:
            raise ToolRefusedError(refusal)

        def send() -> str:
            voipbin().send_message(Address.tel(context.our_address), [Address.tel(context.their_address)], text)
            return "The text message was sent to the caller."

        return ToolPlan(send)

    def send_email(arguments: dict[str, Any], context: ToolContext) -> ToolPlan:
        to, subject, body = arguments["to"].strip().lower(), arguments["subject"].strip(), arguments["body"].strip()
        if not agent.email.allows(to):
            raise ToolRefusedError("e-mails go only to this business's own addresses, and that is not one of them")
        if len(subject) > MAX_EMAIL_SUBJECT_CHARS or len(body) > MAX_EMAIL_BODY_CHARS or "\n" in subject:
            raise ToolArgumentError("the subject or the body is too long, or the subject is more than one line")
        with_whom = f" with {context.their_address}" if context.their_address else ""
        content = f"{body}\n\n--\n{agent.name}, from a {context.channel} conversation{with_whom}"

        def send() -> str:
            voipbin().send_email([Address.email(to)], subject, content)
            return f"The e-mail was sent to {to}."

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
                "properties": {
                    "text": {
                        "type": "string",
                        "description": "The message, plain text, short.",
                        "pattern": r"\S",
                        "maxLength": MAX_SMS_TOOL_CHARS,
                    }
                },
                "required": ["text"],
                "additionalProperties": False,
            },
            per_conversation=agent.limits.sms_per_conversation,
        ),
    ]
    if agent.email.recipients:
        tools.append(
            Tool(
                name="send_email",
                description="E-mail this business's staff: a message for the front desk, a request to call back.",
                plan=send_email,
                channels=frozenset(agent.email.channels),
                parameters=_email_parameters(agent),
                per_conversation=agent.limits.emails_per_conversation,
                identity=("to",),
            )
        )
    if agent.knowledge is not None:
        tools.append(knowledge_tool(agent.knowledge, settings))
    return tools


def knowledge_search(config: Knowledge, settings: ToolSettings) -> Callable[[str], Sequence[Found]]:
    """The agent's best passages for a query (at most knowledge.max_passages): the tool's and the prefetch's."""
    source = knowledge_base(config, index_file=settings.knowledge_index_file)

    def search(query: str) -> Sequence[Found]:
        found = source.search(query, limit=config.max_passages)
        logger.info("Knowledge searched", source=config.source, passages=len(found))
        return found

    return search


def knowledge_tool(config: Knowledge, settings: ToolSettings) -> Tool:
    """search_knowledge: the best passages of the agent's documents for a question, with their sources, bounded."""
    search = knowledge_search(config, settings)

    def plan(arguments: dict[str, Any], _: ToolContext) -> ToolPlan:
        query: str = arguments["query"]
        return ToolPlan(lambda: knowledge_result(search(query), max_characters=config.max_characters))

    return Tool(
        name="search_knowledge",
        description=(
            "Search this business's own documents (services, prices, policies, preparation, frequently asked "
            "questions) for what answers a question. Answer from the passages it returns; they name their source."
        ),
        plan=plan,
        channels=frozenset(get_args(Channel)),
        parameters={
            "type": "object",
            "properties": {
                "query": {
                    "type": "string",
                    "description": "The question or its key words, e.g. 'whitening price'.",
                    "pattern": r"\S",
                    "maxLength": MAX_KNOWLEDGE_QUERY_CHARS,
                }
            },
            "required": ["query"],
            "additionalProperties": False,
        },
    )


def knowledge_result(found: Sequence[Found], *, max_characters: int) -> str:
    """The passages as the model reads them, best first, each under its source: at most max_characters in all.

    A passage that does not fit is cut at a word; the passages after it are left out.
    """
    if not found:
        return _NOTHING_FOUND
    parts: list[str] = []
    room = max_characters
    for number, passage in enumerate(found, start=1):
        title = f" ({passage.title})" if passage.title else ""
        head = _clipped(f"[{number}] {passage.source}{title}", _MAX_SOURCE_CHARS) + "\n"
        space = room - len(head) - (2 if parts else 0)
        if space < min(_MIN_PASSAGE_CHARS, len(passage.text)):
            break
        parts.append(head + _clipped(passage.text, space))
        room -= len(parts[-1]) + (2 if len(parts) > 1 else 0)
    return "\n\n".join(parts)


def _clipped(text: str, limit: int) -> str:
    """The text if it fits the limit, else cut at a word with an ellipsis, within the limit."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    at = cut.rfind(" ")
    return (cut[:at] if at > limit // 2 else cut).rstrip() + "…"


def _email_parameters(agent: AgentConfig) -> dict[str, Any]:
    """send_email's JSON Schema: the recipient is one of the allowed addresses (an enum, when no domain is)."""
    rules = agent.email
    to: dict[str, Any] = {"type": "string", "description": "Who gets it: " + ", ".join(rules.recipients) + "."}
    if rules.domains:
        allowed = [re.escape(address) for address in rules.addresses]
        allowed += [r"[^@\s]+@" + re.escape(domain) for domain in rules.domains]
        to["pattern"] = f"^({'|'.join(allowed)})$"
    else:
        to["enum"] = list(rules.addresses)
    line = r"^[^\r\n]*\S[^\r\n]*$"
    return {
        "type": "object",
        "properties": {
            "to": to,
            "subject": {"type": "string", "pattern": line, "maxLength": MAX_EMAIL_SUBJECT_CHARS},
            "body": {
                "type": "string",
                "description": "Plain text: who called, what they want, how to reach them.",
                "pattern": r"\S",
                "maxLength": MAX_EMAIL_BODY_CHARS,
            },
        },
        "required": ["to", "subject", "body"],
        "additionalProperties": False,
    }


def http_tool(config: HttpTool, settings: ToolSettings) -> Tool:
    """A configured tool: POST the arguments as JSON to its URL, and give the model the answer."""

    def plan(arguments: dict[str, Any], _: ToolContext) -> ToolPlan:
        def post() -> str:
            status, text = post_json(
                config.url,
                arguments,
                headers=config.headers,
                deadline_seconds=config.timeout_seconds,
                max_bytes=_MAX_RESULT_BYTES,
                allow_private=settings.allow_private_tool_urls,
            )
            if not 200 <= status < 300:  # redirects are not followed: a 3xx is a failure too
                return f"failed: the service answered HTTP {status}"
            return text[:MAX_RESULT_CHARS]

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


def sms_refusal(number: str, *, ours: str, settings: ToolSettings) -> str | None:
    """Why a text may not go to `number` (None: it may): a country not allowed, or a premium-rate number.

    The allowed countries are SMS_ALLOWED_COUNTRY_CODES, by default the country of our own number.
    """
    # Imported here: its metadata costs tens of milliseconds, paid only when a text is to be sent.
    from phonenumbers import phonenumberutil

    try:
        theirs, own = phonenumberutil.parse(number), phonenumberutil.parse(ours)
    except phonenumberutil.NumberParseException:
        return "the caller's number is not a phone number a text can go to"
    allowed = settings.sms_allowed_country_codes or frozenset({str(own.country_code)})
    if str(theirs.country_code) not in allowed:
        return "texts go only to numbers of this business's countries; the caller's number is not one"
    paid_by_sender = {phonenumberutil.PhoneNumberType.PREMIUM_RATE, phonenumberutil.PhoneNumberType.SHARED_COST}
    if phonenumberutil.number_type(theirs) in paid_by_sender:
        return "texts never go to premium-rate or shared-cost numbers"
    return None
