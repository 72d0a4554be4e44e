"""POST /chat: the website's chat. {"session_id", "message"} -> {"response", "session_id"}, the same AI core.

GET /, /widget.js and /widget.css: the chat page and its embeddable widget (static/), on the chat's own origin.
"""

from functools import cache
from pathlib import Path
from typing import Any, Final

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from voipbin_ai.config import chat_session_key, chat_settings
from voipbin_ai.exceptions import (
    ChatBudgetSpentError,
    ChatNotServedError,
    ChatRateLimitedError,
    ConversationBusyError,
    ConversationEndedError,
    InvalidChatSessionError,
)
from voipbin_ai.logic.chat import ChatGate, reply_to_chat
from voipbin_ai.logic.services import Services
from voipbin_ai.models.chat import ChatRequest, ChatResponse
from voipbin_ai.observability import Metric, emit_metric, logger, metrics

CHAT_PATH = "/chat"
STATIC_DIR: Final = Path(__file__).with_name("static")
# Path -> (file, content type). The page is the chat's own; the widget's files are loaded by other sites too.
PAGE_FILES: Final = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/widget.js": ("widget.js", "text/javascript; charset=utf-8"),
    "/widget.css": ("widget.css", "text/css; charset=utf-8"),
}
# Scripts and styles only from this origin (no inline code: a reply injected as HTML could not run), requests
# only to it, and never in a frame. Another site embeds the widget with a script tag, under its own policy.
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Strict-Transport-Security": "max-age=31536000",
}

# enable_validation: a body that is not a ChatRequest gets a 422 before our code runs.
app = APIGatewayHttpResolver(enable_validation=True)


@app.post(CHAT_PATH)
def chat(request: ChatRequest) -> ChatResponse:
    """Answer one message."""
    emit_metric(Metric.CHAT_MESSAGES)
    answer = reply_to_chat(
        request.session_id,
        request.message,
        source_address=app.current_event.request_context.http.source_ip,
        gate=ChatGate(key=chat_session_key(), settings=chat_settings()),
        services=Services.default(),
    )
    return ChatResponse(response=answer.text, session_id=answer.session_id)


@app.get("/")
@app.get("/widget.js")
@app.get("/widget.css")
def page() -> Response[str]:
    """The chat page, or one of the widget's files: read from the function's code, once per container."""
    path = app.current_event.path
    emit_metric(Metric.CHAT_PAGE_FILES_SERVED)
    name, content_type = PAGE_FILES[path]
    headers = {
        **SECURITY_HEADERS,
        # The page may change with a deploy; the widget's files may be loaded by any site that embeds it.
        "Cache-Control": "no-cache" if path == "/" else "public, max-age=300",
        "Cross-Origin-Resource-Policy": "same-origin" if path == "/" else "cross-origin",
    }
    return Response(status_code=200, content_type=content_type, body=_static(name), headers=headers)


@cache
def _static(name: str) -> str:
    return (STATIC_DIR / name).read_text(encoding="utf-8")


@app.exception_handler(RequestValidationError)
def _invalid(error: RequestValidationError) -> Response[dict[str, Any]]:
    """A body that is not JSON is 400; JSON that is not a ChatRequest stays 422, as Powertools answers it."""
    errors = error.errors()
    status = 400 if any(e.get("type") == "json_invalid" for e in errors) else 422
    detail = [{"type": e.get("type"), "loc": list(e.get("loc", ())), "msg": e.get("msg")} for e in errors]
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body={"statusCode": status, "detail": detail}
    )


@app.exception_handler(UnicodeDecodeError)
@app.exception_handler(RecursionError)
def _undecodable(error: Exception) -> Response[dict[str, str]]:
    """Bytes that are not UTF-8, or JSON nested deeper than the parser goes: no chat client sends either."""
    logger.warning("Chat body not decodable", error=type(error).__name__)
    return Response(status_code=400, content_type=content_types.APPLICATION_JSON, body={"message": "invalid body"})


@app.exception_handler(InvalidChatSessionError)
def _not_ours(error: InvalidChatSessionError) -> Response[dict[str, str]]:
    emit_metric(Metric.CHAT_SESSIONS_REFUSED)
    return Response(status_code=401, content_type=content_types.APPLICATION_JSON, body={"message": str(error)})


@app.exception_handler(ChatRateLimitedError)
@app.exception_handler(ChatBudgetSpentError)
def _too_much(error: ChatRateLimitedError | ChatBudgetSpentError) -> Response[dict[str, str]]:
    spent = isinstance(error, ChatBudgetSpentError)
    emit_metric(Metric.CHAT_BUDGET_SPENT if spent else Metric.CHAT_RATE_LIMITED)
    return Response(
        status_code=429,
        content_type=content_types.APPLICATION_JSON,
        body={"message": str(error)},
        headers={"Retry-After": "3600" if spent else "60"},
    )


@app.exception_handler(ChatNotServedError)
def _no_chat(error: ChatNotServedError) -> Response[dict[str, str]]:
    return Response(status_code=404, content_type=content_types.APPLICATION_JSON, body={"message": str(error)})


@app.exception_handler(ConversationEndedError)
def _ended(error: ConversationEndedError) -> Response[dict[str, str]]:
    return Response(status_code=410, content_type=content_types.APPLICATION_JSON, body={"message": str(error)})


@app.exception_handler(ConversationBusyError)
def _busy(error: ConversationBusyError) -> Response[dict[str, str]]:
    return Response(status_code=409, content_type=content_types.APPLICATION_JSON, body={"message": str(error)})


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP, clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Lambda entry point."""
    return app.resolve(event, context)
