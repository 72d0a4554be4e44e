"""The chat page's GET routes (functions/web_chat): the files, their content types and security headers."""

import re
from typing import Any

import pytest

from functions.web_chat import app as web_chat
from local.lambda_events import http_api_event
from local.stack import routes_from_template
from tests.helpers import lambda_context


def get(path: str) -> dict[str, Any]:
    response: dict[str, Any] = web_chat.lambda_handler(http_api_event(b"", path=path, method="GET"), lambda_context())
    return response


def header(response: dict[str, Any], name: str) -> str:
    (value,) = (value for key, value in response["headers"].items() if key.lower() == name.lower())
    return str(value)


@pytest.mark.parametrize(
    ("path", "content_type", "start"),
    [
        ("/", "text/html; charset=utf-8", "<!doctype html>"),
        ("/widget.js", "text/javascript; charset=utf-8", "// The web chat widget"),
        ("/widget.css", "text/css; charset=utf-8", "/* The web chat widget"),
    ],
)
def test_each_file_is_served_with_its_content_type_and_the_security_headers(
    path: str, content_type: str, start: str
) -> None:
    response = get(path)

    assert response["statusCode"] == 200
    assert not response["isBase64Encoded"]
    assert response["body"].startswith(start)
    assert header(response, "Content-Type") == content_type
    assert header(response, "X-Content-Type-Options") == "nosniff"
    assert header(response, "Referrer-Policy") == "no-referrer"
    policy = dict(directive.split(" ", 1) for directive in header(response, "Content-Security-Policy").split("; "))
    assert policy["default-src"] == "'none'"
    assert policy["script-src"] == policy["style-src"] == policy["connect-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'"


def test_only_the_widget_files_may_be_loaded_by_other_sites_and_cached() -> None:
    page, script, style = get("/"), get("/widget.js"), get("/widget.css")

    assert header(page, "Cross-Origin-Resource-Policy") == "same-origin"
    assert header(page, "Cache-Control") == "no-cache"
    for asset in (script, style):
        assert header(asset, "Cross-Origin-Resource-Policy") == "cross-origin"
        assert header(asset, "Cache-Control").startswith("public, max-age=")


def test_the_template_routes_exactly_the_page_files_to_the_web_chat_on_the_chat_api() -> None:
    gets = {route.path for route in routes_from_template() if route.method == "GET"}
    functions = {route.function for route in routes_from_template() if route.method == "GET"}

    assert gets == set(web_chat.PAGE_FILES)
    assert functions == {"WebChatFunction"}


def test_the_page_has_no_inline_code_the_policy_would_block() -> None:
    html = get("/")["body"]

    assert re.findall(r"<script\b[^>]*>", html) == ['<script src="widget.js" defer>']
    assert not re.search(r"<style\b|\sstyle=|\son[a-z]+=", html)
    assert 'id="voipbin-chat"' in html


def test_the_widget_writes_text_never_html() -> None:
    script = get("/widget.js")["body"]

    # What the LLM writes must never run on the page: the widget builds nodes and sets textContent.
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", script)


@pytest.mark.filterwarnings("ignore:No application metrics to publish")  # a 404 counts nothing
def test_an_unknown_path_is_not_served() -> None:
    assert get("/app.py")["statusCode"] == 404
