"""Delayed actions on moto's SQS: what the queue is sent, and the consumer's handling of a bad message."""

import json

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from local.lambda_events import sqs_event
from tests.helpers import lambda_context
from voipbin_ai.exceptions import PublishError
from voipbin_ai.later import SqsLater
from voipbin_ai.models.later import DelayedAction

ACTION = DelayedAction(kind="after_reply", conversation_id="call:abc", turn=3, tool="end_call")


@pytest.fixture
def queue_url(aws: None) -> str:
    import boto3

    return boto3.client("sqs").create_queue(QueueName="delayed-actions")["QueueUrl"]


@pytest.mark.parametrize(("after_seconds", "delay"), [(1.2, 2), (0.0, 0), (-1.0, 0), (3600.0, 900)])
def test_an_action_is_queued_with_its_delay_in_whole_seconds(queue_url: str, after_seconds: float, delay: int) -> None:
    import boto3

    SqsLater(queue_url).schedule(ACTION, after_seconds=after_seconds)

    sqs = boto3.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
    visible, delayed = attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesDelayed"]
    assert (int(visible), int(delayed)) == ((1, 0) if delay == 0 else (0, 1))


def test_an_action_comes_back_as_it_was_queued(queue_url: str) -> None:
    import boto3

    SqsLater(queue_url).schedule(ACTION, after_seconds=0)

    (message,) = boto3.client("sqs").receive_message(QueueUrl=queue_url)["Messages"]
    assert DelayedAction.model_validate_json(message["Body"]) == ACTION


def test_without_a_queue_nothing_is_queued_silently() -> None:
    with pytest.raises(PublishError, match="DELAYED_ACTIONS_QUEUE_URL"):
        SqsLater("").schedule(ACTION, after_seconds=1)


def test_a_message_that_is_no_action_fails_for_the_dead_letter_queue() -> None:
    from functions.delayed_action.app import lambda_handler

    event = sqs_event(json.dumps({"kind": "reboot"}), message_id="m1", queue="DelayedActionsQueue")

    with pytest.raises(BatchProcessingError):
        lambda_handler(event, lambda_context())
