"""Builders of the events AWS hands our functions: HTTP API v2 requests, EventBridge and SQS deliveries.

Shared by the runner's callers (demo, bus emulator) and the tests, so every local event has AWS's shape.
"""

import base64
import hashlib
import uuid
from datetime import UTC, datetime
from typing import Any

from voipbin_ai.bus import EVENT_SOURCE

LOCAL_ACCOUNT = "123456789012"
LOCAL_REGION = "us-east-1"


def http_api_event(
    body: bytes,
    *,
    path: str,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    base64_encoded: bool = False,
    route: str | None = None,
    path_parameters: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An API Gateway HTTP API (payload format 2.0) request event; header names lower-cased as AWS does.

    route is the template's path when it has parameters (/webhooks/{token}), path the requested one.
    """
    now = datetime.now(UTC)
    route_key = f"{method} {route or path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {name.lower(): value for name, value in (headers or {}).items()},
        "requestContext": {
            "accountId": LOCAL_ACCOUNT,
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": (headers or {}).get("User-Agent", "Go-http-client/1.1"),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        },
        "body": base64.b64encode(body).decode("ascii") if base64_encoded else body.decode("utf-8"),
        "isBase64Encoded": base64_encoded,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event


def eventbridge_event(detail_type: str, detail: dict[str, Any], *, source: str = EVENT_SOURCE) -> dict[str, Any]:
    """An EventBridge event as a rule target receives it."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": LOCAL_ACCOUNT,
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": LOCAL_REGION,
        "resources": [],
        "detail": detail,
    }


def sqs_event(body: str, *, message_id: str, queue: str, receive_count: int = 1) -> dict[str, Any]:
    """An SQS event source mapping's delivery of one message."""
    now_ms = str(int(datetime.now(UTC).timestamp() * 1000))
    record = {
        "messageId": message_id,
        "receiptHandle": base64.b64encode(f"{message_id}#{receive_count}".encode()).decode("ascii"),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": str(receive_count),
            "SentTimestamp": now_ms,
            "SenderId": LOCAL_ACCOUNT,
            "ApproximateFirstReceiveTimestamp": now_ms,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(body.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{LOCAL_REGION}:{LOCAL_ACCOUNT}:{queue}",
        "awsRegion": LOCAL_REGION,
    }
    return {"Records": [record]}
