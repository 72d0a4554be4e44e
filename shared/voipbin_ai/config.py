"""Settings of every function, validated once from the environment, and secrets read at run time.

This is the only module that reads os.environ. Secrets never sit in plain environment values in AWS:
the template passes the *names* of SSM SecureString parameters or Secrets Manager secrets, read here
through Powertools Parameters (cached for SECRET_MAX_AGE_SECONDS). The plain variables
(VOIPBIN_WEBHOOK_SECRET, VOIPBIN_API_TOKEN, VOIPBIN_ACCESS_KEY, OPENAI_API_KEY) win when set, for local
runs and tests.
"""

import hmac
import json
import os
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from voipbin_ai.container import holds_connections, per_container
from voipbin_ai.exceptions import ConfigurationError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

    from voipbin_ai.models.agent import Agents

DEFAULT_VOIPBIN_API_URL = "https://api.voipbin.net/v1.0"
SECRET_MAX_AGE_SECONDS = 300
DEFAULT_LLM_MODEL = "gpt-4o-mini"
# The agent shipped in the layer; AGENT_CONFIG_FILE (local runs) or AGENT_CONFIG_PARAMETER (SSM) replace it.
DEFAULT_AGENT_FILE = Path(__file__).parent / "ai" / "agent.json"
# EventBridge takes at most 256 KiB per PutEvents entry, envelope and metadata included.
MAX_EVENT_BYTES = 240 * 1024
# Settings that were environment variables and are now each agent's (models/agent.py): variable -> field.
MOVED_TO_AGENTS = {
    "ANSWER_NUMBERS": "numbers",
    "TRANSCRIBE_LANGUAGE": "language",
    "SPEAKING_LANGUAGE": "speaking.language",
    "SPEAKING_PROVIDER": "speaking.provider",
    "SPEAKING_VOICE_ID": "speaking.voice_id",
}
# The webhook URL's last segment (/webhooks/<token>) unless WEBHOOK_PATH_TOKEN makes it unguessable.
DEFAULT_WEBHOOK_PATH_TOKEN = "voipbin"

# Types that no function consumes: answered 200 and never published (the bus would only bill for them).
# transcribe_speech_interim alone comes once per partial speech result.
DEFAULT_DROPPED_EVENT_TYPES = frozenset(
    {
        "call_created",
        "call_updated",
        "call_dialing",
        "call_ringing",
        "call_terminating",
        "call_canceling",
        "call_deleted",
        "transcribe_created",
        "transcribe_progressing",
        "transcribe_done",
        "transcribe_speech_interim",
        "transcribe_speech_ended",
        "message_updated",
        "message_deleted",
        "conversation_created",
        "conversation_updated",
        "conversation_message_updated",
        "conversation_message_deleted",
        "recording_started",
        "recording_finished",
        # send_email's own e-mails, as VoIPBin creates them and the provider delivers them.
        "email_created",
        "email_updated",
        "email_deleted",
    }
)


def _split_csv(value: Any) -> Any:
    """'a, b,,c' -> {'a', 'b', 'c'}: list settings are comma-separated environment values."""
    if isinstance(value, str):
        return frozenset(item.strip() for item in value.split(",") if item.strip())
    return value


CsvSet = Annotated[frozenset[str], BeforeValidator(_split_csv)]


class _Settings(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)


class BusSettings(_Settings):
    """The event bus the functions publish to."""

    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)


class IngressSettings(BusSettings):
    """What the webhook ingress needs."""

    max_body_bytes: int = Field(default=64 * 1024, alias="MAX_BODY_BYTES", gt=0, le=MAX_EVENT_BYTES)
    dropped_event_types: CsvSet = Field(default=DEFAULT_DROPPED_EVENT_TYPES, alias="DROPPED_EVENT_TYPES")
    # A second, optional lock besides the signature: scanners that guess /webhooks/voipbin find nothing.
    webhook_path_token: str = Field(
        default=DEFAULT_WEBHOOK_PATH_TOKEN, alias="WEBHOOK_PATH_TOKEN", pattern=r"^[A-Za-z0-9_-]{7,128}$"
    )
    # The types a caller waits on travel an SQS queue, faster to its function than the bus; template.yaml
    # sets both, beside the queue's consumer.
    queued_event_types: CsvSet = Field(default=frozenset(), alias="QUEUED_EVENT_TYPES")
    voice_events_queue_url: str = Field(default="", alias="VOICE_EVENTS_QUEUE_URL")

    @model_validator(mode="after")
    def _queued_types_have_a_queue(self) -> "IngressSettings":
        if self.queued_event_types and not self.voice_events_queue_url:
            raise ValueError("QUEUED_EVENT_TYPES is set but VOICE_EVENTS_QUEUE_URL is not")
        return self

    def path_token_matches(self, token: str) -> bool:
        """Whether a request's path token is this deployment's (compared in constant time)."""
        return hmac.compare_digest(token.encode(), self.webhook_path_token.encode())


class EventSettings(_Settings):
    """How old an event may be and still be acted on: a signed webhook captured once is not honoured later."""

    # The idempotency records (an hour) outlive the window, so an event is acted on at most once.
    webhook_max_age_seconds: int = Field(default=300, alias="WEBHOOK_MAX_AGE_SECONDS", ge=0, le=1800)


class VoipbinSettings(_Settings):
    """Where VoIPBin's REST API is and how long to wait for it."""

    api_url: str = Field(default=DEFAULT_VOIPBIN_API_URL, alias="VOIPBIN_API_URL", min_length=1)
    timeout_seconds: float = Field(default=5.0, alias="VOIPBIN_TIMEOUT_SECONDS", gt=0)


class StoreSettings(_Settings):
    """The DynamoDB table that holds idempotency records, sessions and history, and how long items live."""

    table_name: str = Field(alias="TABLE_NAME", min_length=1)
    session_ttl_seconds: int = Field(default=7 * 24 * 3600, alias="SESSION_TTL_SECONDS", gt=0)


class LlmSettings(_Settings):
    """Which OpenAI-compatible endpoint and model answer, and how long one request may take."""

    model: str = Field(default=DEFAULT_LLM_MODEL, alias="LLM_MODEL", min_length=1)
    # None is OpenAI itself; Azure OpenAI, vLLM, Ollama and llama.cpp's server each have their own URL.
    base_url: str | None = Field(default=None, alias="OPENAI_BASE_URL")
    timeout_seconds: float = Field(default=30.0, alias="LLM_TIMEOUT_SECONDS", gt=0)
    max_retries: int = Field(default=1, alias="LLM_MAX_RETRIES", ge=0, le=5)

    @field_validator("base_url", mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any) -> Any:
        return value or None


class ChannelSettings(_Settings):
    """How calls and texts are handled around the AI core (which numbers, languages and voices: the agents)."""

    # CONTRACT.md §9: which direction the caller hears is ambiguous in VoIPBin's code; "both" always works.
    speaking_direction: Literal["in", "out", "both"] = Field(default="both", alias="SPEAKING_DIRECTION")
    # How fast the TTS voice speaks: when a reply may still be playing (barge-in) and when a goodbye ends.
    speech_chars_per_second: float = Field(default=15.0, alias="SPEECH_CHARS_PER_SECOND", gt=0)
    # Texts within this window of each other are answered together (the latest wins), on every text channel.
    sms_burst_seconds: float = Field(default=1.0, alias="SMS_BURST_SECONDS", ge=0, le=10)
    # A text thread with no message for this long starts a fresh context, as VoIPBin's managed AI does.
    conversation_idle_hours: float = Field(default=24.0, alias="CONVERSATION_IDLE_HOURS", gt=0)
    # Where the burst's answer and the hang-up after a goodbye wait (template.yaml: DelayedActionsQueue).
    delayed_actions_queue_url: str = Field(default="", alias="DELAYED_ACTIONS_QUEUE_URL")
    # Opt-in: memory is keyed on a phone number, and callers can spoof caller IDs (README, "Data protection").
    cross_channel_memory: bool = Field(default=False, alias="CROSS_CHANNEL_MEMORY")

    @model_validator(mode="before")
    @classmethod
    def _no_moved_settings(cls, environment: Any) -> Any:
        """A variable whose setting moved into the agent configuration fails loudly rather than being ignored."""
        if isinstance(environment, Mapping):
            moved = [f"{name} (now {field})" for name, field in MOVED_TO_AGENTS.items() if environment.get(name)]
            if moved:
                raise ValueError(f"set in the agent configuration instead: {', '.join(moved)}")
        return environment


class ChatSettings(_Settings):
    """What one website visitor may ask of the agent, and what the web chat may spend in a day."""

    session_messages_per_minute: int = Field(default=10, alias="CHAT_SESSION_MESSAGES_PER_MINUTE", gt=0)
    address_messages_per_minute: int = Field(default=30, alias="CHAT_ADDRESS_MESSAGES_PER_MINUTE", gt=0)
    # LLM tokens (prompt and reply) of the web chat per UTC day; then 429 until midnight. Calls are apart.
    daily_token_budget: int = Field(default=1_000_000, alias="CHAT_DAILY_TOKEN_BUDGET", ge=0)


class ToolSettings(_Settings):
    """Where the agent's tools may reach: texts' countries, HTTPS tools' hosts, search_knowledge's index."""

    # Country calling codes ("1", "44"); empty: only the country of the number the conversation came in on.
    sms_allowed_country_codes: CsvSet = Field(default=frozenset(), alias="SMS_ALLOWED_COUNTRY_CODES")
    # Local development only: HTTPS tools may call loopback and private addresses (refused in Lambda).
    allow_private_tool_urls: bool = Field(default=False, alias="ALLOW_PRIVATE_TOOL_URLS")
    # search_knowledge's index; unset: the one the build shipped in the layer (voipbin_ai/knowledge/index.sqlite3).
    knowledge_index_file: Path | None = Field(default=None, alias="KNOWLEDGE_INDEX_FILE")

    @field_validator("sms_allowed_country_codes")
    @classmethod
    def _calling_codes(cls, codes: frozenset[str]) -> frozenset[str]:
        cleaned = frozenset(code.removeprefix("+") for code in codes)
        if not all(code.isdigit() and 1 <= len(code) <= 3 for code in cleaned):
            raise ValueError("country calling codes are 1 to 3 digits, e.g. 1,44")
        return cleaned

    @field_validator("allow_private_tool_urls")
    @classmethod
    def _local_only(cls, allowed: bool) -> bool:
        if allowed and _in_lambda():
            raise ValueError("ALLOW_PRIVATE_TOOL_URLS is for local runs; in Lambda tools reach public hosts only")
        return allowed


def _load[SettingsT: _Settings](model: type[SettingsT]) -> SettingsT:
    try:
        return model.model_validate(os.environ)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigurationError(f"invalid configuration: {problems}") from error


@per_container
@lru_cache(maxsize=1)
def bus_settings() -> BusSettings:
    """The bus settings, validated on first use and cached for the container's life."""
    return _load(BusSettings)


@per_container
@lru_cache(maxsize=1)
def ingress_settings() -> IngressSettings:
    """The ingress settings, validated on first use and cached for the container's life."""
    return _load(IngressSettings)


@per_container
@lru_cache(maxsize=1)
def event_settings() -> EventSettings:
    """The event window, validated on first use and cached for the container's life."""
    return _load(EventSettings)


@per_container
@lru_cache(maxsize=1)
def voipbin_settings() -> VoipbinSettings:
    """The VoIPBin API settings, validated on first use and cached for the container's life."""
    return _load(VoipbinSettings)


@per_container
@lru_cache(maxsize=1)
def store_settings() -> StoreSettings:
    """The store settings, validated on first use and cached for the container's life."""
    return _load(StoreSettings)


@per_container
@lru_cache(maxsize=1)
def llm_settings() -> LlmSettings:
    """The LLM settings, validated on first use and cached for the container's life."""
    return _load(LlmSettings)


@per_container
@lru_cache(maxsize=1)
def channel_settings() -> ChannelSettings:
    """The channel settings, validated on first use and cached for the container's life."""
    return _load(ChannelSettings)


@per_container
@lru_cache(maxsize=1)
def tool_settings() -> ToolSettings:
    """The tool settings, validated on first use and cached for the container's life."""
    return _load(ToolSettings)


@per_container
@lru_cache(maxsize=1)
def chat_settings() -> ChatSettings:
    """The web chat's limits, validated on first use and cached for the container's life."""
    return _load(ChatSettings)


def agent_config() -> "Agents":
    """The agents' configuration, from the first of these that is set.

    The SSM parameter named by AGENT_CONFIG_PARAMETER (re-read every SECRET_MAX_AGE_SECONDS, so a change
    applies without a deploy), the file AGENT_CONFIG_FILE, the agent.json in the layer.
    """
    parameter = os.environ.get("AGENT_CONFIG_PARAMETER")
    if parameter:
        return _parse_agent(_read_secret(parameter, store="ssm", decrypt=False), source=f"SSM parameter {parameter!r}")
    path = os.environ.get("AGENT_CONFIG_FILE") or str(DEFAULT_AGENT_FILE)
    return _agent_file(path)


@per_container
@lru_cache(maxsize=4)
def _agent_file(path: str) -> "Agents":
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigurationError(f"cannot read the agent configuration {path!r}: {error}") from error
    return _parse_agent(text, source=path)


@per_container
@lru_cache(maxsize=4)
def _parse_agent(text: str, *, source: str) -> "Agents":
    from voipbin_ai.models.agent import Agents

    try:
        data = json.loads(text, object_pairs_hook=_unique_keys)
    except ValueError as error:  # json.JSONDecodeError is one
        raise ConfigurationError(f"invalid agent configuration in {source}: {error}") from error
    try:
        return Agents.of(data)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
        raise ConfigurationError(f"invalid agent configuration in {source}: {problems}") from error


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are unique: a number (or any field) written twice is a mistake, not the last wins."""
    data = dict(pairs)
    if len(data) != len(pairs):
        twice = sorted({key for key, _ in pairs if [k for k, _ in pairs].count(key) > 1})
        raise ValueError(f"{', '.join(twice)}: written more than once")
    return data


class VoipbinCredential(BaseModel):
    """An API token (sent as a Bearer header) or an access key (sent as ?accesskey=, never a header)."""

    model_config = ConfigDict(defer_build=True, frozen=True)

    kind: Literal["token", "accesskey"]
    value: SecretStr


@holds_connections
@lru_cache(maxsize=1)
def _ssm() -> "SSMProvider":
    """One SSM provider per container (its cache lives in it), with the secrets' timeouts and retries."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    from voipbin_ai import aws

    return SSMProvider(boto_config=aws.SECRETS)


@holds_connections
@lru_cache(maxsize=1)
def _secrets_manager() -> "SecretsProvider":
    """One Secrets Manager provider per container, like _ssm."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from voipbin_ai import aws

    return SecretsProvider(boto_config=aws.SECRETS)


def _read_secret(name: str, *, store: str | None = None, decrypt: bool = True) -> str:
    """A secret (or parameter) by name from `store`, by default SECRETS_STORE ('ssm' or 'secretsmanager').

    Powertools Parameters caches it for SECRET_MAX_AGE_SECONDS.
    """
    # Imported here: Parameters pulls in boto3 clients that local runs with plain variables never need.
    from aws_lambda_powertools.utilities import parameters

    store = store or os.environ.get("SECRETS_STORE", "ssm")
    try:
        if store == "ssm":
            value = _ssm().get(name, decrypt=decrypt, max_age=SECRET_MAX_AGE_SECONDS)
        elif store == "secretsmanager":
            value = _secrets_manager().get(name, max_age=SECRET_MAX_AGE_SECONDS)
        else:
            raise ConfigurationError(f"SECRETS_STORE must be 'ssm' or 'secretsmanager', not {store!r}")
    except parameters.exceptions.GetParameterError as error:
        raise ConfigurationError(f"cannot read secret {name!r} from {store}: {error}") from error
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"secret {name!r} in {store} is empty")
    return value


def _secret(plain_variable: str, name_variable: str) -> str | None:
    """The plain variable if set, else the secret named by name_variable, else None (not configured)."""
    plain = os.environ.get(plain_variable)
    if plain:
        return plain
    name = os.environ.get(name_variable)
    return _read_secret(name) if name else None


def webhook_secrets() -> tuple[str, ...]:
    """The secrets a webhook may be signed with: the current one and, during a rotation, the previous one.

    The value (plain or stored) holds one secret, or two separated by a comma: current, then previous.
    Fails closed: with none configured this raises ConfigurationError, unless ALLOW_UNSIGNED_WEBHOOKS is
    true outside Lambda (a local run without a secret), which returns () and signatures are not checked.
    """
    value = _secret("VOIPBIN_WEBHOOK_SECRET", "VOIPBIN_WEBHOOK_SECRET_NAME") or ""
    secrets = tuple(secret.strip() for secret in value.split(",") if secret.strip())
    if secrets:
        return secrets
    if os.environ.get("ALLOW_UNSIGNED_WEBHOOKS", "").lower() == "true" and not _in_lambda():
        return ()
    raise ConfigurationError("no webhook secret: set VOIPBIN_WEBHOOK_SECRET_NAME (or, locally, VOIPBIN_WEBHOOK_SECRET)")


def _in_lambda() -> bool:
    """Running in AWS Lambda itself, not in `sam local` or the project's local runner."""
    return "AWS_LAMBDA_FUNCTION_NAME" in os.environ and os.environ.get("AWS_SAM_LOCAL") != "true"


def voipbin_credential() -> VoipbinCredential:
    """The credential for VoIPBin's REST API: VOIPBIN_API_TOKEN, else VOIPBIN_ACCESS_KEY, else the stored one."""
    token = os.environ.get("VOIPBIN_API_TOKEN")
    if token:
        return VoipbinCredential(kind="token", value=SecretStr(token))
    access_key = os.environ.get("VOIPBIN_ACCESS_KEY")
    if access_key:
        return VoipbinCredential(kind="accesskey", value=SecretStr(access_key))
    name = os.environ.get("VOIPBIN_CREDENTIAL_NAME")
    if not name:
        raise ConfigurationError(
            "no VoIPBin credential: set VOIPBIN_API_TOKEN or VOIPBIN_ACCESS_KEY, or VOIPBIN_CREDENTIAL_NAME"
        )
    kind = os.environ.get("VOIPBIN_CREDENTIAL_TYPE", "token")
    if kind not in ("token", "accesskey"):
        raise ConfigurationError(f"VOIPBIN_CREDENTIAL_TYPE must be 'token' or 'accesskey', not {kind!r}")
    return VoipbinCredential(kind=kind, value=SecretStr(_read_secret(name)))


def phone_id_pepper() -> bytes:
    """The pepper of ids derived from phone numbers (models/session.py PhoneIds)."""
    return _generated_secret("PHONE_ID_PEPPER", "PHONE_ID_PEPPER_NAME", what="phone id pepper")


def chat_session_key() -> bytes:
    """The key that signs web-chat session ids (logic/chat.py)."""
    return _generated_secret("CHAT_SESSION_SECRET", "CHAT_SESSION_SECRET_NAME", what="chat session key")


def _generated_secret(plain_variable: str, name_variable: str, *, what: str) -> bytes:
    """A secret the template generates (a random value no one types, so always in Secrets Manager).

    The plain variable wins (local runs); else the secret named by name_variable; neither fails closed.
    """
    plain = os.environ.get(plain_variable)
    if plain:
        return plain.encode()
    name = os.environ.get(name_variable)
    if not name:
        raise ConfigurationError(f"no {what}: set {name_variable} (or, locally, {plain_variable})")
    return _read_secret(name, store="secretsmanager").encode()


def openai_api_key() -> str | None:
    """The LLM provider's key; None for OpenAI-compatible servers that need none (a local llama.cpp)."""
    return _secret("OPENAI_API_KEY", "OPENAI_API_KEY_NAME")
