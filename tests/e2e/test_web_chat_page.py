"""The web chat page in a browser: Debian's chromium, headless, driven by Playwright, against the local stack.

Playwright's expect() waits for each condition; nothing here sleeps.
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from local.fake_openai import Script
from tests.e2e.conftest import Stack
from tests.helpers import PATIENCE_SECONDS

pytestmark = [
    pytest.mark.e2e,
    # The browser fetches the page's two files at once: the stack's threads share the functions' one Metrics
    # object, so one flush can take another's metric (a Lambda container serves one request at a time).
    pytest.mark.filterwarnings("ignore:No application metrics to publish"),
]

# Debian's browser (apt-get install chromium), so no Playwright browser download is needed.
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is missing: apt-get install chromium (.ci/run installs it)"
        if os.environ.get("CI"):
            pytest.fail(reason)  # CI must run the browser test, never skip it
        pytest.skip(reason)
    expect.set_options(timeout=PATIENCE_SECONDS * 1000)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, e2e: Stack) -> Iterator[Page]:
    """The chat page in a fresh browser context; the test fails on a script error or a CSP violation."""
    context = browser.new_context()
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(str(error)))
    opened.on(
        "console", lambda message: problems.append(message.text) if "Content Security Policy" in message.text else None
    )
    opened.goto(e2e.stack.route_url("WebChatFunction", "GET"))
    yield opened
    context.close()
    assert problems == []


def messages(page: Page) -> Locator:
    return page.get_by_role("list", name="Conversation").get_by_role("listitem")


def shown_session(page: Page) -> Locator:
    return page.locator(".vbc-session code")


def test_a_visitor_chats_and_after_a_reload_the_session_continues(e2e: Stack, page: Page) -> None:
    # Given a first reply the fake LLM holds back until the page shows that it is waiting
    first_reply = "Hello! We are open <b>today</b>, 8-18."
    held = Script.text(first_reply, hold_after=1)
    e2e.llm.enqueue(held)
    expect(page.get_by_text("No session yet")).to_be_visible()

    # When the visitor types and sends
    page.get_by_label("Message").fill("Are you open today?")
    with page.expect_response(lambda response: response.url.endswith("/chat")) as answered:
        page.get_by_role("button", name="Send").click()
        expect(page.get_by_role("status")).to_have_text("The assistant is typing…")
        held.release.set()
    session_id = answered.value.json()["session_id"]

    # Then the reply is shown as text (never as HTML), and the session the server issued
    expect(messages(page)).to_have_text(["Are you open today?", first_reply])
    expect(page.get_by_role("status")).to_be_hidden()
    expect(shown_session(page)).to_have_text(session_id.partition(".")[0])

    # When the page is reloaded and the visitor sends again, with Enter
    page.reload()
    expect(messages(page)).to_have_text(["Are you open today?", first_reply])
    page.get_by_label("Message").fill("And tomorrow?")
    with page.expect_request(lambda request: request.url.endswith("/chat")) as sent:
        page.get_by_label("Message").press("Enter")

    # Then the same session goes on: the page sent its id, and the agent saw the whole conversation
    expect(messages(page)).to_have_text(
        ["Are you open today?", first_reply, "And tomorrow?", "You asked: And tomorrow. We are open from eight to six."]
    )
    assert sent.value.post_data_json == {"session_id": session_id, "message": "And tomorrow?"}
    expect(shown_session(page)).to_have_text(session_id.partition(".")[0])
    assert [m["content"] for m in e2e.replies()[-1].messages[1:]] == [
        "Are you open today?",
        first_reply,
        "And tomorrow?",
    ]


def test_a_refused_message_is_explained_in_words_and_kept_to_send_again(
    e2e: Stack, page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    from voipbin_ai.config import chat_settings

    monkeypatch.setenv("CHAT_DAILY_TOKEN_BUDGET", "0")
    chat_settings.cache_clear()

    page.get_by_label("Message").fill("Hello?")
    page.get_by_role("button", name="Send").click()

    expect(page.get_by_role("alert")).to_have_text("The chat is not available for the rest of the day.")
    expect(page.get_by_label("Message")).to_have_value("Hello?")
    expect(messages(page)).to_have_count(0)
    expect(page.get_by_text("No session yet")).to_be_visible()
    assert e2e.replies() == []


def test_a_session_the_server_refuses_is_dropped_and_the_next_message_starts_a_new_one(e2e: Stack, page: Page) -> None:
    # Given a tab holding a session id the server never issued
    chat_url = e2e.stack.route_url("WebChatFunction")
    saved = json.dumps({"sessionId": "made-up-session.signature", "messages": []})
    page.evaluate("([key, value]) => sessionStorage.setItem(key, value)", [f"voipbin-chat:{chat_url}", saved])
    page.reload()
    expect(shown_session(page)).to_have_text("made-up-session")

    page.get_by_label("Message").fill("Hi")
    page.get_by_role("button", name="Send").click()

    expect(page.get_by_role("alert")).to_have_text(
        "This chat session has expired. Send your message again to start a new one."
    )
    expect(page.get_by_text("No session yet")).to_be_visible()
    page.get_by_role("button", name="Send").click()  # the message is back in the box
    expect(messages(page)).to_have_text(["Hi", "You asked: Hi. We are open from eight to six."])
    expect(page.get_by_role("alert")).to_be_hidden()
    expect(shown_session(page)).not_to_have_text("made-up-session")
