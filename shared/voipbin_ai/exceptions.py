"""Domain errors shared by every layer; handlers map them to responses or dead-letter records."""


class VoipbinAIError(Exception):
    """Base class of this package's errors."""


class ConfigurationError(VoipbinAIError):
    """A setting or secret is missing or invalid: a deployment problem, not bad input."""


class InvalidEventError(VoipbinAIError):
    """A VoIPBin event does not match the contract; names the event type and the offending field."""

    def __init__(self, event_type: str, field: str, reason: str) -> None:
        self.event_type = event_type
        self.field = field
        self.reason = reason
        super().__init__(f"invalid {event_type or 'event'}: field '{field}': {reason}")


class WebhookRejectedError(VoipbinAIError):
    """A webhook request VoIPBin must not retry: answered with a 4xx, since VoIPBin retries only 5xx."""


class SignatureMismatchError(WebhookRejectedError):
    """The X-VoIPBIN-Signature header is missing or does not sign the body with our secret."""


class MalformedWebhookError(WebhookRejectedError):
    """The body is not a JSON object with a string 'type' and an object 'data'."""


class PayloadTooLargeError(WebhookRejectedError):
    """The body is over the configured size limit."""


class PublishError(VoipbinAIError):
    """The bus or a queue did not take an event or action: the one ingress failure VoIPBin should retry."""


class StoreError(VoipbinAIError):
    """DynamoDB failed or was unreachable: the event fails, and Lambda's retries or the dead-letter queue take it."""


class LlmError(VoipbinAIError):
    """The LLM provider failed or answered something unusable: the turn falls back to the channel's fallback line."""


class LlmTimeoutError(LlmError):
    """The LLM did not answer within the turn's deadline."""


class ConversationEndedError(VoipbinAIError):
    """The conversation reached its end (max turns) and takes no more messages."""


class ConversationBusyError(VoipbinAIError):
    """A newer message of the same conversation is being answered; this one's answer was dropped."""


class InvalidChatSessionError(VoipbinAIError):
    """A web-chat session id that was not issued by this deployment (made up, altered, or signed with an old key)."""


class ChatNotServedError(VoipbinAIError):
    """The agent configuration names no agent for the web chat (no `chat`, no `default`): there is no chat here."""


class ChatRateLimitedError(VoipbinAIError):
    """A web-chat session or address sent more messages this minute than allowed."""


class ChatBudgetSpentError(VoipbinAIError):
    """The web chat's LLM tokens for the day are spent; calls and texts are not affected."""
