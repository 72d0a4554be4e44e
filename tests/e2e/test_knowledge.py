"""A knowledge passage reaches the reply: the model calls search_knowledge, the built layer's index answers
from knowledge/dental, and the reply the caller hears (or the chat visitor reads) is made of that passage.

The fake LLM's second answer is written from the tool result it received, so the price and the source in
the reply can only have come from the index.
"""

import json
import re

from local.fake_openai import RecordedRequest, Script, ToolCall
from tests.e2e.conftest import CALLER, OURS, Stack, answer

WHITENING = ToolCall("search_knowledge", json.dumps({"query": "teeth whitening price"}))


def from_the_passage(request: RecordedRequest) -> Script:
    """After a search: the first passage's source and price, as a model answering from it would say them."""
    last = request.messages[-1]
    if last.get("role") != "tool":
        return answer(request)
    result = str(last["content"])
    source = re.match(r"\[1\] (\S+)", result)
    price = re.search(r"\$\d+", result)
    assert source and price, result
    return Script.text(f"Our records in {source.group(1)} say it costs {price.group(0)} dollars")


def test_a_callers_question_is_answered_from_the_knowledge_folder(e2e: Stack) -> None:
    e2e.llm.default = from_the_passage
    e2e.llm.enqueue(Script.tools(WHITENING))
    call = e2e.voipbin.add_call(CALLER, OURS)
    assert e2e.webhook("call_progressing", call) == 200
    (transcribe,) = [t for t in e2e.voipbin.resources("transcribes") if t["reference_id"] == call["id"]]
    (speaking,) = [s for s in e2e.voipbin.resources("speakings") if s["reference_id"] == call["id"]]

    e2e.webhook("transcript_created", e2e.voipbin.add_transcript(transcribe["id"], "How much is teeth whitening?"))

    assert " ".join(e2e.voipbin.said_texts(speaking["id"])[1:]) == (
        "Our records in services.md say it costs $350 dollars"
    )
    searched, answered = e2e.replies()[-2:]
    assert "search_knowledge" in [tool["function"]["name"] for tool in (searched.body or {})["tools"]]
    tool_result = str(answered.messages[-1]["content"])
    assert tool_result.startswith("[1] services.md (Services and prices > Teeth whitening)\nIn-office teeth whitening")
    assert len(tool_result) <= 1500  # the default agent's knowledge.max_characters


def test_a_web_chat_visitor_gets_the_same_knowledge(e2e: Stack) -> None:
    e2e.llm.default = from_the_passage
    e2e.llm.enqueue(Script.tools(ToolCall("search_knowledge", json.dumps({"query": "laughing gas"}))))

    reply = e2e.chat({"message": "Do you have laughing gas? I am nervous."})

    assert reply.status_code == 200
    assert reply.json()["response"] == "Our records in first-visit.html say it costs $45 dollars"
