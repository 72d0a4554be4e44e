"""SQS SendMessage, one client per container: the delayed actions (later.py) and the queued voice events (the ingress).

AWS_ENDPOINT_URL_SQS points the client elsewhere (the local stack's queues).
"""

from functools import lru_cache
from typing import TYPE_CHECKING

from voipbin_ai.container import holds_connections
from voipbin_ai.exceptions import PublishError

if TYPE_CHECKING:
    from mypy_boto3_sqs import SQSClient


@holds_connections
@lru_cache(maxsize=1)
def _sqs_client() -> "SQSClient":
    import boto3

    from voipbin_ai import aws

    return boto3.client("sqs", config=aws.SQS)


def send_message(queue_url: str, body: str, *, delay_seconds: int = 0) -> None:
    """Put one message on a queue, delivered after delay_seconds (0 to 900).

    Raises:
        PublishError: the call failed.

    """
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        _sqs_client().send_message(QueueUrl=queue_url, MessageBody=body, DelaySeconds=delay_seconds)
    except (BotoCoreError, ClientError) as error:
        raise PublishError(f"SendMessage failed: {error}") from error
