"""The delayed-actions queue: an SMS burst's answer, a hang-up after the goodbye, a re-prompt (voipbin_ai/later.py).

Each message is one action; one that fails goes back to the queue and, after the queue's receives, to the
dead-letter queue (ReportBatchItemFailures: the others of the batch are not redone).
"""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from voipbin_ai.logic.later import run_delayed
from voipbin_ai.logic.services import Services
from voipbin_ai.models.later import DelayedAction
from voipbin_ai.observability import logger, metrics

processor = BatchProcessor(event_type=EventType.SQS)


def run_record(record: SQSRecord) -> None:
    """One queued action; a body that is not one is an error, dead-lettered after the queue's receives."""
    run_delayed(DelayedAction.model_validate_json(record.body), Services.default())


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    """The batch's actions, with the ids of those that failed."""
    return process_partial_response(event=event, record_handler=run_record, processor=processor, context=context)
