"""Each VoIPBin event is acted on once, though VoIPBin, EventBridge and Lambda may each deliver it again.

Powertools Idempotency on the same DynamoDB table, keyed on the event's identity (the event models'
`idempotency_key`: VoIPBin sends no event id). A duplicate that arrives while the first delivery is still
running is skipped, not failed: failing it would only make EventBridge retry it and end in the dead-letter
queue. If the first delivery fails, its record is removed and the retry runs; if it timed out, its record
expires with its invocation's deadline (register_invocation).
"""

import contextlib
from collections.abc import Callable
from functools import lru_cache
from typing import Final

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError
from aws_lambda_powertools.utilities.typing import LambdaContext

from voipbin_ai.config import store_settings
from voipbin_ai.container import forget_on_reset, holds_connections
from voipbin_ai.observability import Metric, emit_metric, logger
from voipbin_ai.store.dynamodb import TTL_ATTRIBUTE

# EventBridge retries for up to 5 minutes and Lambda's async retries add a few more: an hour covers both.
RECORD_SECONDS: Final = 3600
_CONFIG: Final = IdempotencyConfig(event_key_jmespath="key", expires_after_seconds=RECORD_SECONDS)


@holds_connections
@lru_cache(maxsize=1)
def _persistence_layer() -> DynamoDBPersistenceLayer:
    """Records live in the conversations' table: pk `idempotency#<function>`, sk the key's hash, TTL'd."""
    from voipbin_ai import aws

    return DynamoDBPersistenceLayer(
        table_name=store_settings().table_name,
        key_attr="pk",
        sort_key_attr="sk",
        expiry_attr=TTL_ATTRIBUTE,
        boto_config=aws.DYNAMODB,
    )


def register_invocation(context: LambdaContext) -> None:
    """The invocation's deadline, after which its records in progress no longer hold off a retry."""
    _CONFIG.register_lambda_context(context)


def _forget_invocation() -> None:
    """A new container has run no invocation: no deadline of an earlier one applies."""
    _CONFIG.lambda_context = None


forget_on_reset(_forget_invocation)


def run_once(key: str, work: Callable[[], None]) -> bool:
    """Run `work` unless an event with this key already ran or is running; True when it ran now (EventClaim).

    Raises whatever `work` raises (and then the event may run again).
    """
    ran = False

    @idempotent_function(
        data_keyword_argument="event",
        persistence_store=_persistence_layer(),
        config=_CONFIG,
        key_prefix="voipbin_event",
    )
    def once(event: dict[str, str]) -> dict[str, str]:
        nonlocal ran
        work()
        ran = True
        return {"key": event["key"]}

    with contextlib.suppress(IdempotencyAlreadyInProgressError):
        once(event={"key": key})
    if not ran:
        logger.info("Duplicate event skipped", idempotency_key=key)
        emit_metric(Metric.DUPLICATE_EVENTS)
    return ran
