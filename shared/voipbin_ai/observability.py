"""The one Logger and Metrics, the metrics every function emits, and helpers that keep personal data out of logs.

Service name and metric namespace come from POWERTOOLS_SERVICE_NAME and POWERTOOLS_METRICS_NAMESPACE
(template.yaml Globals), so nothing here is per function. No Tracer: Lambda's active tracing (template
`Tracing: Active`) records each invocation's segments without the X-Ray SDK, which is in maintenance and
cost most of a second of every cold start.
"""

from enum import StrEnum

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger()
metrics = Metrics()

_VISIBLE_DIGITS = 2


class Metric(StrEnum):
    """Every metric the functions emit, each with the one dimension `service`.

    The one list of them: template.yaml's dashboard shows each, and its alarms name these or AWS's own
    (tests/unit/test_template.py). A name ending in Ms is in milliseconds, in Percent a percentage; the
    others count occurrences.
    """

    # The webhook ingress.
    WEBHOOKS_PUBLISHED = "WebhooksPublished"
    WEBHOOKS_DROPPED = "WebhooksDropped"  # a type no function needs: answered 200, not published
    WEBHOOKS_REJECTED = "WebhooksRejected"  # 4xx: signature, body, size or path token
    WEBHOOK_PUBLISH_FAILURES = "WebhookPublishFailures"  # 503: VoIPBin sends it again
    INGRESS_MISCONFIGURED = "IngressMisconfigured"  # 500: no webhook secret, every webhook refused
    # The functions behind the bus: events not acted on.
    INVALID_EVENTS = "InvalidEvents"
    STALE_EVENTS = "StaleEvents"
    DUPLICATE_EVENTS = "DuplicateEvents"
    # Calls.
    CALLS_ANSWERED = "CallsAnswered"
    VOICE_TURNS = "VoiceTurns"  # caller turns answered (said, or superseded by a newer one)
    FALLBACK_REPLIES = "FallbackReplies"
    REPLIES_CUT_SHORT = "RepliesCutShort"
    HISTORY_NOT_KEPT = "HistoryNotKept"
    TURN_RECEIVED_MS = "TurnReceivedMs"  # VoIPBin's transcript time to this function's start
    LLM_FIRST_TOKEN_MS = "LlmFirstTokenMs"  # from this function's start
    FIRST_SAY_MS = "FirstSayMs"  # from this function's start
    # Texts and the web chat.
    SMS_REPLIES = "SmsReplies"
    CONVERSATION_REPLIES = "ConversationReplies"  # LINE, WhatsApp and VoIPBin's web chat widget
    CHAT_PAGE_FILES_SERVED = "ChatPageFilesServed"  # the chat page and its widget's files (GET)
    CHAT_MESSAGES = "ChatMessages"
    CHAT_REPLIES = "ChatReplies"
    CHAT_SESSIONS_REFUSED = "ChatSessionsRefused"
    CHAT_RATE_LIMITED = "ChatRateLimited"
    CHAT_BUDGET_SPENT = "ChatBudgetSpent"
    CHAT_BUDGET_USED_PERCENT = "ChatBudgetUsedPercent"  # of today's tokens, after each answer


def emit_metric(metric: Metric, value: float = 1) -> None:
    """Add `value` to the invocation's metrics (flushed by the handler's `metrics.log_metrics`)."""
    if metric.endswith("Ms"):
        unit = MetricUnit.Milliseconds
    elif metric.endswith("Percent"):
        unit = MetricUnit.Percent
    else:
        unit = MetricUnit.Count
    metrics.add_metric(name=metric, unit=unit, value=value)


def mask_phone(number: str | None, *, visible: int = _VISIBLE_DIGITS) -> str:
    """A phone number reduced to what an operator needs to tell two apart: '+1*********67'.

    Phone numbers are personal data and never appear whole in logs. A summary for the business shows four
    (visible=4: '+1******4567'), enough for its staff to recognize a customer.
    """
    if not number:
        return ""
    head = "+" if number.startswith("+") else ""
    digits = number[len(head) :]
    if len(digits) <= visible * 2:
        return head + "*" * len(digits)
    return head + digits[0] + "*" * (len(digits) - 1 - visible) + digits[-visible:]
