"""What the AI agents are: persona, facts, language and voice, per-channel rules, limits, tools and knowledge.

One configuration (Agents) holds the agents of a deployment and which of our numbers each answers. The
default is voipbin_ai/ai/agent.json in the layer; a deployment replaces it with its own JSON in an SSM
parameter (config.agent_config). Nothing of what an agent says or may do is written in code.
"""

import ipaddress
import re
from collections.abc import Mapping
from typing import Any, Final, Literal, Self
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
# A BCP 47 language tag as VoIPBin's transcribe and speaking take them ("en-US", "es-ES", "ja").
LANGUAGE_PATTERN: Final = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
E164_PATTERN: Final = r"^\+[1-9][0-9]{1,14}$"
AGENT_ID_PATTERN: Final = r"^[A-Za-z0-9_-]{1,64}$"
# The agent id an old single-agent file loads as (it is the default agent).
SINGLE_AGENT_ID: Final = "default"
# VoIPBin's default ElevenLabs voice of each language (the "Neutral" column of "default ElevenLabs Voice IDs"
# in VoIPBin's AI overview, bin-api-manager/docsdev/source/ai_overview.rst, as bin-tts-manager's
# pkg/streaminghandler/elevenlabs.go elevenlabsVoiceIDMap holds them), by the language's primary subtag.
# VoIPBin looks these up by language names ("spanish"), which a BCP 47 tag never matches, so a speaking
# started with "es-ES" alone gets the English default voice: the voice is sent explicitly instead.
ELEVENLABS_VOICES: Final[Mapping[str, str]] = {
    "en": "EXAVITQu4vr4xnSDxMaL",  # Rachel, also VoIPBin's default for every other language
    "ja": "PmgfHCGeS5b7sH90BOOJ",  # Fumi
    "zh": "ZL9dtgFhmkTzAHUUtQL8",  # Xiao
    "de": "nF7t9cuYo0u3kuVI9q4B",  # Dana
    "fr": "SmWACbi37pETyxxMhSpc",
    "hi": "MF4J4IDTRo0AxOO4dpFR",  # Devi
    "ko": "AW5wrnG1jVizOYY7R1Oo",  # Jiyoung
    "it": "b8jhBTcGAq4kQGWmKprT",  # Sami
    "es": "UOIqAnmS11Reiei1Ytkc",  # Carolina (Spain)
    "pt": "CZD4BJ803C6T0alQxsR7",  # Andreia (Brazil)
    "nl": "YUdpWWny7k5yb4QCeweX",  # Ruth
    "ru": "ymDCYd8puC7gYjxIamPt",
    "ar": "4wf10lgibMnboGJGCLrP",  # Farah
    "pl": "W0sqKm1Sfw1EzlCH14FQ",  # Beata
}


class _Config(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True, extra="forbid")


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


class Speaking(_Config):
    """The agent's voice on calls (POST /speakings): what is left empty follows the agent's language."""

    language: str = Field(default="", description="The TTS language; empty: the agent's language.")
    provider: Literal["", "elevenlabs", "gcp", "aws"] = Field(default="", description="Empty: VoIPBin's, ElevenLabs.")
    voice_id: str = Field(default="", description="Empty: ElevenLabs' voice of the language (ELEVENLABS_VOICES).")

    @field_validator("language")
    @classmethod
    def _a_language_tag(cls, language: str) -> str:
        if language and not re.fullmatch(LANGUAGE_PATTERN, language):
            raise ValueError(f"{language!r} is not a language tag such as 'es-ES'")
        return language


class Voice(_Config):
    """What a call's speaking is started with: the agent's Speaking with its defaults filled in."""

    language: str
    provider: str
    voice_id: str


class SummaryDelivery(_Config):
    """Where the structured summary of a finished conversation goes: the bus, and one inbox if set.

    A call is summarized at its hangup, a text thread once it has been idle CONVERSATION_IDLE_HOURS. The
    address is the deployment's own choice, never the model's, so it need not be in email.recipients.
    """

    channels: tuple[Channel, ...] = Field(
        default=("voice", "sms", "line", "whatsapp", "webchat"), description="The channels summarized; () for none."
    )
    email_to: str = Field(default="", description="Where each summary is e-mailed too; empty: not e-mailed.")

    @field_validator("channels")
    @classmethod
    def _ends_known(cls, channels: tuple[Channel, ...]) -> tuple[Channel, ...]:
        if "chat" in channels:
            raise ValueError("the web chat (chat) has no end to summarize: its sessions are the visitor's")
        return channels

    @field_validator("email_to")
    @classmethod
    def _an_address(cls, address: str) -> str:
        address = address.strip().lower()
        if address and not re.fullmatch(EMAIL_ADDRESS_PATTERN, address):
            raise ValueError(f"{address!r} is not an e-mail address")
        return address


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
    prefetch: bool = Field(
        default=False,
        description=(
            "Search the user's words before each reply and give the model the passages in its prompt: no tool "
            "round trip (a second LLM request, a second or more on a call), for the passages' tokens every turn."
        ),
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
    language: str = Field(
        default="en-US", pattern=LANGUAGE_PATTERN, description="The callers' language (VoIPBin's transcribe)."
    )
    speaking: Speaking = Speaking()
    summary: SummaryDelivery = Field(
        default=SummaryDelivery(), description="Conversation summaries published on the bus, and e-mailed."
    )
    knowledge: Knowledge | None = Field(default=None, description="What search_knowledge searches; none: not offered.")

    @model_validator(mode="after")
    def _unique_tool_names(self) -> "AgentConfig":
        names = [tool.name for tool in self.tools]
        if len(names) != len(set(names)):
            raise ValueError("tool names must be unique")
        return self

    @property
    def voice(self) -> Voice:
        """The speaking's language, provider and voice, defaults filled in: one voice per language by default."""
        language = self.speaking.language or self.language
        voice_id = self.speaking.voice_id
        if not voice_id and self.speaking.provider in ("", "elevenlabs"):
            voice_id = ELEVENLABS_VOICES.get(language.split("-")[0], "")
        return Voice(language=language, provider=self.speaking.provider, voice_id=voice_id)


class Agents(_Config):
    """The agents of a deployment and which of our numbers each answers.

    A call or SMS to one of our numbers, and a WhatsApp message to our business number, is answered by
    the agent the number maps to; any other number by the default agent, or by none (ignored) when there
    is no default. LINE and VoIPBin's web chat widget carry no number of ours: the default agent answers
    them. The web chat (POST /chat) is the `chat` agent's, else the default's.
    """

    agents: dict[str, AgentConfig] = Field(min_length=1)
    numbers: dict[str, str] = Field(default_factory=dict, description="Our E.164 numbers -> the agent answering.")
    default: str | None = Field(default=None, description="The agent of any other number; None: not answered.")
    chat: str | None = Field(default=None, description="The agent of the web chat; None: the default agent.")

    @classmethod
    def of(cls, data: object) -> Self:
        """The configuration from parsed JSON: an Agents object, or an old single-agent file as the default agent."""
        if isinstance(data, dict) and "agents" not in data:
            agent = AgentConfig.model_validate(data)
            return cls(agents={SINGLE_AGENT_ID: agent}, default=SINGLE_AGENT_ID)
        return cls.model_validate(data)

    @field_validator("agents")
    @classmethod
    def _agent_ids(cls, agents: dict[str, AgentConfig]) -> dict[str, AgentConfig]:
        for agent_id in agents:
            if not re.fullmatch(AGENT_ID_PATTERN, agent_id):
                raise ValueError(f"agent id {agent_id!r} is not 1 to 64 letters, digits, '_' or '-'")
        return agents

    @field_validator("numbers")
    @classmethod
    def _e164_numbers(cls, numbers: dict[str, str]) -> dict[str, str]:
        for number in numbers:
            if not re.fullmatch(E164_PATTERN, number):
                raise ValueError(f"{number!r} is not an E.164 number such as '+15551234567'")
        return numbers

    @model_validator(mode="after")
    def _known_agents(self) -> Self:
        named = [(f"numbers.{number}", agent_id) for number, agent_id in self.numbers.items()]
        named += [(name, getattr(self, name)) for name in ("default", "chat") if getattr(self, name) is not None]
        for where, agent_id in named:
            if agent_id not in self.agents:
                raise ValueError(f"{where}: no agent {agent_id!r} in agents (there are {sorted(self.agents)})")
        return self

    def of_number(self, number: str) -> AgentConfig | None:
        """The agent that answers calls and texts to one of our numbers; None when it is not served."""
        agent_id = self.numbers.get(number, self.default)
        return None if agent_id is None else self.agents[agent_id]

    def of_conversation(self, channel: Channel, our_address: str) -> AgentConfig | None:
        """The agent of a conversation by its channel and our end of it (Session.our_address); None: not served."""
        if channel == "chat":
            agent_id = self.chat or self.default
            return None if agent_id is None else self.agents[agent_id]
        if channel == "whatsapp" and our_address.isdigit():
            return self.of_number(f"+{our_address}")  # WhatsApp writes numbers without the plus
        if channel in ("line", "webchat"):
            return None if self.default is None else self.agents[self.default]
        return self.of_number(our_address)

    def is_ours(self, number: str) -> bool:
        """Whether a number is one this configuration names (a text from it is never answered)."""
        return number in self.numbers

    @property
    def most_history_messages(self) -> int:
        """The longest history any agent reads: a read made before the conversation's agent is known."""
        return max(agent.limits.history_messages for agent in self.agents.values())


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
