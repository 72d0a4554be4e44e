"""How a function behind the bus or a queue receives a VoIPBin event: observability and parsing, written once.

A function's app.py decorates one small function that takes the parsed event model. Each event is acted
on once (store/idempotency.py), and only inside the replay window (WEBHOOK_MAX_AGE_SECONDS, by the
event's own timestamp): a signed webhook captured and sent again later is ignored. An event that does not
match the contract is logged with its type and field and fails like any other failure, so that it ends in
the dead-letter queue with nothing said to anyone: from the bus it is raised (Lambda's asynchronous retries,
then EventInvokeConfig OnFailure); from a queue its record fails (received again, then the queue's
RedrivePolicy). A contract break is not retried apart: it costs a receive or two, and it stays one path.

A `queued` function takes SQS records whose body is the webhook as VoIPBin sent it (the voice events, BatchSize
1), and still EventBridge deliveries (its warm-up); every record is its own event, logged with its message id.
"""

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from voipbin_ai.bus import is_warm_up
from voipbin_ai.config import event_settings
from voipbin_ai.exceptions import InvalidEventError
from voipbin_ai.models.events import outside_window, parse_webhook, prepare
from voipbin_ai.models.voipbin import VoipbinModel
from voipbin_ai.observability import Metric, emit_metric, logger, metrics
from voipbin_ai.store.idempotency import register_invocation, run_once

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

LambdaHandler = Callable[[dict[str, Any], LambdaContext], "PartialItemFailureResponse | None"]
Receive = Callable[[Mapping[str, Any] | str, LambdaContext], None]


def voipbin_event_handler(
    *event_models: type[VoipbinModel], claimed_by_process: tuple[type[VoipbinModel], ...] = (), queued: bool = False
) -> Callable[[Callable[[Any], None]], LambdaHandler]:
    """Turn `process(event)` into a Lambda handler for EventBridge deliveries (and SQS records, if queued).

    `process` is typed by its own annotation (one of event_models, or their union). Events of the
    claimed_by_process models reach it unclaimed: it claims them itself (run_once), beside its first reads.
    """
    prepare(event_models)
    # Made at init only where records come (a SnapStart snapshot then holds it): the batch utility is ~80 ms.
    receive_batch = _batch_receiver() if queued else None

    def decorate(process: Callable[[Any], None]) -> LambdaHandler:
        def receive(payload: Mapping[str, Any] | str, context: LambdaContext) -> None:
            """One webhook (an EventBridge detail or an SQS body): checked, windowed, acted on once."""
            try:
                webhook = parse_webhook(payload, accepting=event_models)
            except InvalidEventError as error:
                if error.event_type:  # a record's type is known only now; a delivery's is its detail-type
                    logger.append_keys(event_type=error.event_type)
                logger.error("Invalid VoIPBin event", field=error.field, reason=error.reason)
                emit_metric(Metric.INVALID_EVENTS)
                raise
            logger.append_keys(event_type=webhook.type)
            if outside_window(webhook, now=datetime.now(UTC), max_age_seconds=event_settings().webhook_max_age_seconds):
                logger.warning("Event outside the replay window ignored", occurred_at=str(webhook.occurred_at))
                emit_metric(Metric.STALE_EVENTS)
                return
            register_invocation(context)
            if isinstance(webhook, claimed_by_process):
                process(webhook)
            else:
                run_once(webhook.idempotency_key, lambda: process(webhook))

        @logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
        @metrics.log_metrics
        def lambda_handler(event: dict[str, Any], context: LambdaContext) -> "PartialItemFailureResponse | None":
            if receive_batch is not None and "Records" in event:
                return receive_batch(event, context, receive)
            if is_warm_up(event):  # the container is started, and nothing else is done
                conversation_id = (event.get("detail") or {}).get("conversation_id")
                logger.info("Warm-up: the container is started", conversation_id=conversation_id)
                return None
            logger.append_keys(event_type=str(event.get("detail-type", "")))
            receive(event.get("detail") or {}, context)
            return None

        return lambda_handler

    return decorate


def _batch_receiver() -> Callable[[dict[str, Any], LambdaContext, Receive], "PartialItemFailureResponse"]:
    """Powertools' batch utility over SQS records: the ids of the records that failed go back to SQS."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response

    processor = BatchProcessor(event_type=EventType.SQS)

    def receive_batch(event: dict[str, Any], context: LambdaContext, receive: Receive) -> "PartialItemFailureResponse":
        def receive_record(record: "SQSRecord", lambda_context: LambdaContext) -> None:
            # Each record is a conversation of its own: its log lines carry its ids only, none of the last one's.
            keys = set(logger.get_current_keys())
            logger.set_correlation_id(record.message_id)
            try:
                receive(record.body, lambda_context)
            finally:
                logger.remove_keys(set(logger.get_current_keys()) - keys)

        return process_partial_response(
            event=event, record_handler=receive_record, processor=processor, context=context
        )

    return receive_batch
