"""What the AI agent is: persona, business facts, per-channel rules, limits and tools, as configuration.

The default is voipbin_ai/ai/agent.json in the layer; a deployment replaces it with its own JSON in an
SSM parameter (config.agent_config). Nothing of what the agent says or may do is written in code.
"""

import ipaddress
import re
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from voipbin_ai.models.session import Channel

# OpenAI's rule for function names.
TOOL_NAME_PATTERN: Final = r"^[a-zA-Z0-9_-]{1,64}$"
BUILT_IN_TOOLS: Final = frozenset({"end_call", "send_sms", "send_email", "search_knowledge"})
# An address ("frontdesk@example.com") or a whole domain ("@example.com"), as send_email's allowlist takes them.
_LABEL: Final = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_DOMAIN: Final = rf"{_LABEL}(\.{_LABEL})+"
EMAIL_ADDRESS_PATTERN: Final = rf"[a-z0-9!#$%&'*+/=?^_`{{|}}~-]+(\.[a-z0-9!#$%&'*+/=?^_`{{|}}~-]+)*@{_DOMAIN}"
_RECIPIENT: Final = re.compile(rf"{EMAIL_ADDRESS_PATTERN}|@{_DOMAIN}")


class _Config(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChannelRules(_Config):
    """How the agent writes on one channel, and the limits of a reply there."""

    rules: str = Field(min_length=1, description="Style rules for this channel, added to the system prompt.")
    fallback: str = Field(min_length=1, description="Said or sent when the LLM is too slow or fails.")
    closing: str = Field(min_length=1, description="Said or sent when the conversation reaches max_turns.")
    deadline_seconds: float = Field(
        gt=0, description="Time from the user's words to the reply's first piece before the fallback is used."
    )
    max_tokens: int = Field(gt=0, description="Most tokens the LLM may write for one reply.")


class SmsRules(ChannelRules):
    """SMS also has a length: replies are cut to fit this many concatenated segments."""

    max_segments: int = Field(default=2, ge=1, le=10)


class MessagingRules(ChannelRules):
    """A messaging app (LINE, WhatsApp, VoIPBin's web chat widget) also has a length and its own formatting."""

    max_characters: int = Field(
        default=1000, ge=1, le=4096, description="Replies are cut at a word to fit (WhatsApp takes 4096 at most)."
    )
    formatting: Literal["plain", "whatsapp", "markdown"] = Field(
        default="plain",
        description="plain: markdown reduced to its words; whatsapp: WhatsApp's *bold* and _italic_; markdown: as is.",
    )


class Channels(_Config):
    """The rules of each channel.

    A conversation channel of VoIPBin's without rules here is not answered: a deployment opts in to LINE,
    WhatsApp or VoIPBin's web chat widget by writing its rules.
    """

    voice: ChannelRules
    sms: SmsRules
    chat: ChannelRules
    line: MessagingRules | None = None
    whatsapp: MessagingRules | None = None
    webchat: MessagingRules | None = None

    def serves(self, channel: Channel) -> bool:
        """Whether the agent has rules for a channel, and so answers on it."""
        return getattr(self, channel) is not None

    def of(self, channel: Channel) -> ChannelRules:
        """The rules of one channel (one it serves)."""
        rules: ChannelRules | None = getattr(self, channel)
        if rules is None:
            raise ValueError(f"the agent has no rules for the {channel} channel")
        return rules


class Limits(_Config):
    """Bounds on a conversation's length and on what the LLM sees of it."""

    max_turns: int = Field(default=50, gt=0, description="User turns before the closing line ends the conversation.")
    history_messages: int = Field(default=20, ge=2, description="Most recent messages sent to the LLM verbatim.")
    summarize_every: int = Field(
        default=6, gt=0, description="Older messages are folded into the rolling summary this many turns at a time."
    )
    summary_max_tokens: int = Field(default=200, gt=0)
    tool_rounds: int = Field(default=3, ge=1, description="LLM calls per turn that may end in tool calls.")
    tool_calls_per_round: int = Field(default=3, ge=1, description="Tool calls run from one LLM answer.")
    tool_calls_per_turn: int = Field(default=6, ge=1, description="Tool calls run in one turn, all rounds together.")
    sms_per_conversation: int = Field(default=2, ge=0, description="Texts send_sms may send in one conversation.")
    emails_per_conversation: int = Field(
        default=2, ge=0, description="E-mails send_email may send in one conversation."
    )


class EmailRules(_Config):
    """Where send_email may write: the business's own inboxes (the front desk), never an address a caller gives.

    An entry is an address ("frontdesk@example.com") or a whole domain ("@example.com"); none, the
    default, and the tool is not offered. The web chats are left out of the default channels: anyone can
    open as many of them as they like, and each e-mail lands in a person's inbox and is billed.
    """

    recipients: tuple[str, ...] = Field(default=(), description="The addresses and @domains e-mails may go to.")
    channels: tuple[Channel, ...] = ("voice", "sms", "line", "whatsapp")

    @field_validator("recipients")
    @classmethod
    def _addresses_or_domains(cls, recipients: tuple[str, ...]) -> tuple[str, ...]:
        """Lower-cased, as VoIPBin normalizes them; a mistake fails the load, not the first e-mail."""
        lowered = tuple(recipient.strip().lower() for recipient in recipients)
        for recipient in lowered:
            if not _RECIPIENT.fullmatch(recipient):
                raise ValueError(f"{recipient!r} is neither an e-mail address nor an @domain")
        if len(set(lowered)) != len(lowered):
            raise ValueError("recipients must be unique")
        return lowered

    @property
    def addresses(self) -> tuple[str, ...]:
        """The allowed addresses named one by one."""
        return tuple(recipient for recipient in self.recipients if not recipient.startswith("@"))

    @property
    def domains(self) -> tuple[str, ...]:
        """The domains any of whose addresses is allowed, without their @."""
        return tuple(recipient[1:] for recipient in self.recipients if recipient.startswith("@"))

    def allows(self, address: str) -> bool:
        """Whether an e-mail may go to address (compared as VoIPBin does: trimmed, lower-cased)."""
        address = address.strip().lower()
        if not re.fullmatch(EMAIL_ADDRESS_PATTERN, address):
            return False
        return address in self.addresses or address.rpartition("@")[2] in self.domains


class Silence(_Config):
    """What a call does when the caller says nothing: re-prompt, and after the last re-prompt say goodbye and hang up.

    VoIPBin's integration guide suggests prompting a caller from whom no transcript came within 30 seconds.
    """

    enabled: bool = True
    reprompt_seconds: float = Field(
        default=30.0, gt=0, description="Quiet after the agent's words end playing before the re-prompt is said."
    )
    max_reprompts: int = Field(default=2, ge=0, le=10, description="Re-prompts before the goodbye.")
    reprompt: str = Field(default="Are you still there?", min_length=1)
    goodbye: str = Field(default="I can't hear you, so I will end the call now. Goodbye!", min_length=1)


class Knowledge(_Config):
    """Where search_knowledge looks: a knowledge set indexed at build time, or an Amazon Bedrock knowledge base.

    source "index": `folder` is a subfolder of the deployment's knowledge/ folder (README: "Knowledge").
    source "bedrock": `knowledge_base_id` is queried with Bedrock's Retrieve, for corpora that outgrow the
    layer; the template grants bedrock:Retrieve on the knowledge base of its KnowledgeBaseArn only.
    """

    source: Literal["index", "bedrock"] = "index"
    folder: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")
    knowledge_base_id: str | None = Field(default=None, pattern=r"^[0-9a-zA-Z]{10}$")
    max_passages: int = Field(default=3, ge=1, le=10, description="Passages one search returns at most.")
    max_characters: int = Field(
        default=1500, ge=200, le=4000, description="What the model reads of one search at most, sources included."
    )

    @model_validator(mode="after")
    def _one_place(self) -> "Knowledge":
        """A folder for the index, a knowledge base id for Bedrock: never neither, never both."""
        if self.source == "index" and (self.folder is None or self.knowledge_base_id is not None):
            raise ValueError('source "index" takes a folder and no knowledge_base_id')
        if self.source == "bedrock" and (self.knowledge_base_id is None or self.folder is not None):
            raise ValueError('source "bedrock" takes a knowledge_base_id and no folder')
        return self


class HttpTool(_Config):
    """A tool the LLM may call that POSTs its JSON arguments to an HTTPS endpoint and reads the JSON answer.

    It is offered on calls and texts; on the web chat, which anyone on the internet reaches, only when its
    channels name "chat".
    """

    name: str = Field(pattern=TOOL_NAME_PATTERN)
    description: str = Field(min_length=1)
    url: str
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="The JSON Schema of the arguments; calls that do not match it are refused before anything runs.",
    )
    channels: tuple[Channel, ...] = ("voice", "sms")
    timeout_seconds: float = Field(default=5.0, gt=0, le=30)
    headers: dict[str, str] = Field(default_factory=dict, description="Sent with every request, e.g. an API key.")

    @field_validator("url")
    @classmethod
    def _https_only(cls, url: str) -> str:
        """HTTPS, except plain HTTP to a loopback host (a local endpoint in development and tests)."""
        parts = urlsplit(url)
        if parts.scheme == "https" and parts.hostname:
            return url
        if parts.scheme == "http" and parts.hostname and _is_loopback(parts.hostname):
            return url
        raise ValueError("tool URLs must be https:// (plain http only to a loopback host)")

    @field_validator("parameters")
    @classmethod
    def _a_json_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        """A schema the arguments can be checked against: a mistake fails the load, not the first call."""
        import fastjsonschema

        try:
            fastjsonschema.compile(schema)
        except fastjsonschema.JsonSchemaDefinitionException as error:
            raise ValueError(f"not a usable JSON Schema: {error}") from error
        if schema.get("type") != "object":
            raise ValueError('a tool\'s parameters are a JSON Schema of "type": "object"')
        return schema

    @field_validator("name")
    @classmethod
    def _not_built_in(cls, name: str) -> str:
        if name in BUILT_IN_TOOLS:
            raise ValueError(f"{name!r} is a built-in tool")
        return name


class AgentConfig(_Config):
    """The whole agent: one persona and one set of facts for every channel."""

    name: str = Field(min_length=1)
    persona: str = Field(min_length=1, description="Who the agent is and how it behaves.")
    facts: str = Field(default="", description="What the business wants every caller and texter told the same way.")
    greeting: str = Field(min_length=1, description="The first words spoken when a call is answered.")
    summary_prompt: str = Field(min_length=1, description="How to summarize a conversation for later turns.")
    channels: Channels
    limits: Limits = Limits()
    silence: Silence = Silence()
    tools: tuple[HttpTool, ...] = ()
    email: EmailRules = Field(default=EmailRules(), description="Where send_email may write; nowhere by default.")
    knowledge: Knowledge | None = Field(default=None, description="What search_knowledge searches; none: not offered.")

    @model_validator(mode="after")
    def _unique_tool_names(self) -> "AgentConfig":
        names = [tool.name for tool in self.tools]
        if len(names) != len(set(names)):
            raise ValueError("tool names must be unique")
        return self


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
