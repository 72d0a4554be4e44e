"""POST /webhooks/<token>: VoIPBin's one webhook. Verify, validate, drop noise, queue or publish.

<token> is `voipbin` unless WEBHOOK_PATH_TOKEN sets a secret one; any other path is 404.

This is the only code VoIPBin waits on, so it imports nothing heavy (no openai, no AI core).
"""

import base64
import binascii
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import (
    BadRequestError,
    InternalServerError,
    NotFoundError,
    RequestEntityTooLargeError,
    ServiceUnavailableError,
    UnauthorizedError,
)
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from voipbin_ai import bus, config, sqs
from voipbin_ai.exceptions import (
    ConfigurationError,
    MalformedWebhookError,
    PayloadTooLargeError,
    PublishError,
    SignatureMismatchError,
)
from voipbin_ai.logic.ingress import accept_webhook
from voipbin_ai.observability import Metric, emit_metric, logger, metrics
from voipbin_ai.voipbin.signature import SIGNATURE_HEADER, find_header

WEBHOOK_ROUTE = "/webhooks/<token>"
WEBHOOK_PATH = WEBHOOK_ROUTE.replace("<token>", config.DEFAULT_WEBHOOK_PATH_TOKEN)

app = APIGatewayHttpResolver()


@app.post(WEBHOOK_ROUTE)
def receive_webhook(token: str) -> Response[dict[str, str]]:
    """Answer 200 once the event is on its queue or the bus (or deliberately dropped)."""
    settings = config.ingress_settings()
    if not settings.path_token_matches(token):
        _reject(ValueError("unknown webhook path"), "path_token")
        raise NotFoundError("not found")
    event = app.current_event
    outcome = accept_webhook(
        _raw_body(event.body, event.is_base64_encoded),
        find_header(event.headers, SIGNATURE_HEADER),
        secrets=config.webhook_secrets(),
        settings=settings,
        publish=bus.publish,
        enqueue=sqs.send_message,
    )
    logger.append_keys(event_type=outcome.event_type, resource_id=outcome.resource_id)
    logger.info("Webhook accepted", action=outcome.action)
    emit_metric(Metric.WEBHOOKS_PUBLISHED if outcome.action == "published" else Metric.WEBHOOKS_DROPPED)
    return Response(
        status_code=200,
        content_type=content_types.APPLICATION_JSON,
        body={"status": outcome.action, "type": outcome.event_type},
    )


def _raw_body(body: str | None, is_base64_encoded: bool | None) -> bytes:
    """The body bytes as VoIPBin sent them: the signature covers these, not a re-encoded string."""
    if not body:
        return b""
    if is_base64_encoded:
        try:
            return base64.b64decode(body, validate=True)
        except binascii.Error as error:
            raise MalformedWebhookError("body is flagged base64 but is not valid base64") from error
    try:
        return body.encode("utf-8")
    except UnicodeEncodeError as error:  # lone surrogates: no UTF-8 body decodes to them
        raise MalformedWebhookError("body is not valid UTF-8") from error


def _reject(error: Exception, reason: str) -> None:
    logger.warning("Webhook rejected", reason=reason, error=str(error))
    emit_metric(Metric.WEBHOOKS_REJECTED)


@app.exception_handler(PayloadTooLargeError)
def _too_large(error: PayloadTooLargeError) -> Response[Any]:
    _reject(error, "too_large")
    raise RequestEntityTooLargeError(str(error))


@app.exception_handler(SignatureMismatchError)
def _bad_signature(error: SignatureMismatchError) -> Response[Any]:
    _reject(error, "signature")
    raise UnauthorizedError(str(error))


@app.exception_handler(MalformedWebhookError)
def _malformed(error: MalformedWebhookError) -> Response[Any]:
    _reject(error, "malformed")
    raise BadRequestError(str(error))


@app.exception_handler(PublishError)
def _publish_failed(error: PublishError) -> Response[Any]:
    # A 5xx is the one answer that makes VoIPBin deliver the event again.
    logger.error("Publish failed; VoIPBin will retry", error=str(error))
    emit_metric(Metric.WEBHOOK_PUBLISH_FAILURES)
    raise ServiceUnavailableError("the event bus or queue did not take the event; retry")


@app.exception_handler(ConfigurationError)
def _misconfigured(error: ConfigurationError) -> Response[Any]:
    logger.error("Ingress misconfigured", error=str(error))
    emit_metric(Metric.INGRESS_MISCONFIGURED)
    raise InternalServerError("the webhook is misconfigured")


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point."""
    return app.resolve(event, context)
