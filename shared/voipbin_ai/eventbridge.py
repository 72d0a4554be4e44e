"""How a function behind the bus receives a VoIPBin event: observability and parsing, written once.

A function's app.py decorates one small function that takes the parsed event model. Each event is acted
on once (store/idempotency.py), and only inside the replay window (WEBHOOK_MAX_AGE_SECONDS, by the
event's own timestamp): a signed webhook captured and sent again later is ignored. An event that does not
match the contract is logged with its type and field and raised: Lambda's asynchronous retries then end
in the dead-letter queue (template.yaml: EventInvokeConfig OnFailure), with nothing said to anyone.
"""

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from voipbin_ai.bus import is_warm_up
from voipbin_ai.config import event_settings
from voipbin_ai.exceptions import InvalidEventError
from voipbin_ai.models.events import outside_window, parse_webhook, prepare
from voipbin_ai.models.voipbin import VoipbinModel
from voipbin_ai.observability import Metric, emit_metric, logger, metrics
from voipbin_ai.store.idempotency import register_invocation, run_once

LambdaHandler = Callable[[dict[str, Any], LambdaContext], None]


def voipbin_event_handler(
    *event_models: type[VoipbinModel], claimed_by_process: tuple[type[VoipbinModel], ...] = ()
) -> Callable[[Callable[[Any], None]], LambdaHandler]:
    """Turn `process(event)` into a Lambda handler for EventBridge deliveries of these event models.

    `process` is typed by its own annotation (one of event_models, or their union). Events of the
    claimed_by_process models reach it unclaimed: it claims them itself (run_once), beside its first reads.
    """
    prepare(event_models)

    def decorate(process: Callable[[Any], None]) -> LambdaHandler:
        @logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
        @metrics.log_metrics
        def lambda_handler(event: dict[str, Any], context: LambdaContext) -> None:
            if is_warm_up(event):  # the container is started, and nothing else is done
                conversation_id = (event.get("detail") or {}).get("conversation_id")
                logger.info("Warm-up: the container is started", conversation_id=conversation_id)
                return
            detail_type = str(event.get("detail-type", ""))
            logger.append_keys(event_type=detail_type)
            try:
                webhook = parse_webhook(event.get("detail") or {}, accepting=event_models)
            except InvalidEventError as error:
                logger.error("Invalid VoIPBin event", field=error.field, reason=error.reason)
                emit_metric(Metric.INVALID_EVENTS)
                raise
            if outside_window(webhook, now=datetime.now(UTC), max_age_seconds=event_settings().webhook_max_age_seconds):
                logger.warning("Event outside the replay window ignored", occurred_at=str(webhook.occurred_at))
                emit_metric(Metric.STALE_EVENTS)
                return
            register_invocation(context)
            if isinstance(webhook, claimed_by_process):
                process(webhook)
            else:
                run_once(webhook.idempotency_key, lambda: process(webhook))

        return lambda_handler

    return decorate
