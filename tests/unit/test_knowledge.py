"""search_knowledge: the build-time index (passages of Markdown, HTML and text), its search, and the tool.

The index is built by the module the build runs, into a temporary folder; what is asserted is what the
index holds and what the search and the tool return.
"""

import json
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from local.fake_openai import Script
from local.template import REPO_ROOT
from tests.fakes.in_process import engine_of
from tests.fakes.memory_store import InMemoryStore
from tests.fakes.scripted_llm import ScriptedLlm
from voipbin_ai.ai.core import Conversation
from voipbin_ai.ai.llm import ToolCallRequest
from voipbin_ai.ai.tools import ToolContext, knowledge_result, toolbox
from voipbin_ai.config import DEFAULT_AGENT_FILE, ToolSettings
from voipbin_ai.knowledge.index import MAX_PASSAGE_CHARS, KnowledgeFolderError, Passage, build, main, passages
from voipbin_ai.knowledge.search import (
    MAX_QUERY_TERMS,
    BedrockKnowledge,
    Found,
    IndexedKnowledge,
    KnowledgeError,
    fts_query,
)
from voipbin_ai.models.agent import AgentConfig, Knowledge
from voipbin_ai.models.session import Channel
from voipbin_ai.voipbin.client import VoipbinClient

DEFAULT_AGENT = AgentConfig.model_validate_json(DEFAULT_AGENT_FILE.read_text())
CHANNELS: tuple[Channel, ...] = ("voice", "sms", "chat", "line", "whatsapp", "webchat")

MARKDOWN = """# Prices

What things cost.

## Whitening

Teeth whitening costs $350 and takes ninety minutes.

```sh
# not a heading
```

## Cleaning
A cleaning costs $95.

# Hours

Open Monday to Friday.
"""

HTML = """<!doctype html><html><head><title>Ignored</title><style>p { color: red }</style></head>
<body><h1>First visit</h1><p>Arrive <b>fifteen</b> minutes early &amp; bring ID.</p>
<h2>Parking</h2><p>Free parking behind the building.</p><ul><li>Mill Lane entrance</li><li>Ground floor</li></ul>
<script>var secret = "never indexed";</script></body></html>"""


def write(folder: Path, documents: Mapping[str, str]) -> Path:
    for name, text in documents.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index of two knowledge sets: a clinic's (three kinds of document, one in a subfolder) and a shop's."""
    tmp_path = tmp_path_factory.mktemp("index")
    folder = write(
        tmp_path / "knowledge",
        {
            "clinic/prices.md": MARKDOWN,
            "clinic/visit.html": HTML,
            "clinic/faq/insurance.txt": "We accept Delta Dental and Cigna.\n\nPayment is due at each visit.",
            "shop/whitening.md": "# Whitening strips\n\nOur whitening strips cost $20.",
        },
    )
    built = tmp_path / "index.sqlite3"
    assert build(folder, built) == {"clinic": 3, "shop": 1}
    return built


def test_markdown_is_cut_at_its_headings_each_passage_titled_by_the_headings_above() -> None:
    found = passages("prices.md", MARKDOWN)

    assert [passage.title for passage in found] == ["Prices", "Prices > Whitening", "Prices > Cleaning", "Hours"]
    assert found[1].body.startswith("Teeth whitening costs $350")
    assert "# not a heading" in found[1].body  # a fenced block's # is code, not a heading
    assert found[3] == Passage("Hours", "Open Monday to Friday.")


def test_html_is_reduced_to_its_text_with_headings_and_without_scripts_or_styles() -> None:
    found = passages("visit.HTML", HTML)

    assert [passage.title for passage in found] == ["First visit", "First visit > Parking"]
    assert found[0].body == "Arrive fifteen minutes early & bring ID."
    assert found[1].body == "Free parking behind the building.\n\nMill Lane entrance\n\nGround floor"
    assert all("secret" not in p.body and "color" not in p.body and "Ignored" not in p.body for p in found)


def test_plain_text_is_cut_at_blank_lines_and_every_passage_is_bounded() -> None:
    long_paragraph = " ".join(f"Sentence number {n} is here." for n in range(200))
    found = passages("notes.txt", f"Short one.\nStill the first.\n\n{long_paragraph}")

    assert found[0].body.startswith("Short one. Still the first.")
    assert len(found) > 5
    assert all(len(passage.body) <= MAX_PASSAGE_CHARS for passage in found)
    assert all(passage.body.endswith(".") for passage in found)  # cut after sentences, not inside them
    assert " ".join(p.body.replace("\n\n", " ") for p in found) == f"Short one. Still the first. {long_paragraph}"


@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=3000))
def test_any_document_gives_bounded_passages(text: str) -> None:
    for name in ("a.md", "a.html", "a.txt"):
        assert all(0 < len(passage.body) <= MAX_PASSAGE_CHARS for passage in passages(name, text))


@pytest.mark.parametrize(
    ("documents", "named"),
    [
        ({"clinic/brochure.pdf": "%PDF"}, "brochure.pdf"),
        ({"loose.md": "# Not in a set"}, "loose.md"),
    ],
)
def test_a_document_the_index_cannot_take_fails_the_build_naming_it(
    tmp_path: Path, documents: dict[str, str], named: str
) -> None:
    with pytest.raises(KnowledgeFolderError, match=named):
        build(write(tmp_path / "knowledge", documents), tmp_path / "index.sqlite3")
    with pytest.raises(SystemExit, match=named):
        main([str(tmp_path / "knowledge"), str(tmp_path / "index.sqlite3")])
    assert not (tmp_path / "index.sqlite3").exists()


def test_hidden_files_are_skipped_and_no_folder_is_an_empty_index(tmp_path: Path) -> None:
    folder = write(tmp_path / "knowledge", {"clinic/.DS_Store": "\x00", ".gitkeep": "", "clinic/a.txt": "Hello."})

    assert build(folder, tmp_path / "one.sqlite3") == {"clinic": 1}
    assert build(tmp_path / "absent", tmp_path / "none.sqlite3") == {}
    with pytest.raises(KnowledgeError, match="no set named 'clinic'"):
        IndexedKnowledge(tmp_path / "none.sqlite3", "clinic").search("hello", limit=3)


def test_the_search_ranks_by_bm25_within_the_agents_set_and_names_sources_inside_it(index: Path) -> None:
    clinic = IndexedKnowledge(index, "clinic")

    best = clinic.search("How much does whitening cost?", limit=3)
    assert best[0] == Found(
        source="prices.md",
        title="Prices > Whitening",
        text="Teeth whitening costs $350 and takes ninety minutes.\n\n```sh\n# not a heading\n```",
    )
    assert all(found.source != "whitening.md" for found in best)  # the shop's set is not the clinic's
    assert clinic.search("insurance Cigna", limit=3)[0].source == "faq/insurance.txt"
    assert clinic.search("where can I park", limit=3)[0].source == "visit.html"
    assert len(clinic.search("the costs and the visit and the parking", limit=2)) == 2
    assert clinic.search("zebra", limit=3) == []
    assert IndexedKnowledge(index, "shop").search("whitening", limit=3)[0].source == "whitening.md"


@pytest.mark.parametrize(
    "query",
    [
        'whitening" OR body:*',
        "NEAR(whitening cleaning, 2)",
        "title:Prices",
        "whiten*",
        "-whitening ^cost",
        "whitening AND NOT cleaning",
        '"""',
        "(((",
        "{title body}: cost",
        "'; DROP TABLE passages; --",
    ],
)
def test_fts5_syntax_in_a_query_is_only_words(index: Path, query: str) -> None:
    clinic = IndexedKnowledge(index, "clinic")

    clinic.search(query, limit=3)  # never an FTS5 syntax error

    words = fts_query(query)
    assert words is None or all(term.startswith('"') and term.endswith('"') for term in words.split(" OR "))
    assert IndexedKnowledge(index, "clinic").search("whitening", limit=3)  # the table is still there


def test_a_query_is_its_distinct_words_bounded() -> None:
    assert fts_query("Whitening, whitening: COST? a") == '"whitening" OR "cost"'
    assert fts_query("?! -- *") is None
    many = fts_query(" ".join(f"word{n}" for n in range(100)))
    assert many is not None and many.count(" OR ") == MAX_QUERY_TERMS - 1


@given(st.text(max_size=300))
def test_no_text_breaks_the_search(index: Path, text: str) -> None:
    assert len(IndexedKnowledge(index, "clinic").search(text, limit=3)) <= 3


def test_the_index_is_only_read(index: Path) -> None:
    before = (index.read_bytes(), sorted(path.name for path in index.parent.iterdir()))

    IndexedKnowledge(index, "clinic").search("whitening", limit=3)

    assert (index.read_bytes(), sorted(path.name for path in index.parent.iterdir())) == before
    with pytest.raises(KnowledgeError, match="missing"):
        IndexedKnowledge(index.with_name("absent.sqlite3"), "clinic").search("whitening", limit=3)
    assert not index.with_name("absent.sqlite3").exists()


def test_the_repositorys_knowledge_folder_indexes(tmp_path: Path) -> None:
    """knowledge/dental, the default agent's: what sam build indexes (tests/integration/test_build.py)."""
    built = build(REPO_ROOT / "knowledge", tmp_path / "index.sqlite3")

    assert DEFAULT_AGENT.knowledge is not None and DEFAULT_AGENT.knowledge.folder in built
    dental = IndexedKnowledge(tmp_path / "index.sqlite3", DEFAULT_AGENT.knowledge.folder)
    assert dental.search("teeth whitening price", limit=1)[0].source == "services.md"
    assert dental.search("Do you take Visa?", limit=1)[0].source == "insurance-and-payment.txt"
    assert dental.search("where do I park", limit=1)[0].source == "first-visit.html"


@pytest.mark.parametrize(
    "knowledge",
    [
        {},
        {"source": "index", "folder": "dental", "knowledge_base_id": "ABCDEFGHIJ"},
        {"source": "bedrock"},
        {"source": "bedrock", "knowledge_base_id": "ABCDEFGHIJ", "folder": "dental"},
        {"folder": "../etc"},
        {"source": "bedrock", "knowledge_base_id": "not-an-id"},
        {"folder": "dental", "max_passages": 0},
        {"folder": "dental", "max_characters": 100_000},
        {"folder": "dental", "top_k": 3},
    ],
)
def test_a_knowledge_mistake_fails_the_agents_load_naming_the_field(knowledge: dict[str, Any]) -> None:
    agent = json.loads(DEFAULT_AGENT_FILE.read_text())
    agent["knowledge"] = knowledge

    with pytest.raises(ValidationError, match="knowledge"):
        AgentConfig.model_validate(agent)


def box(store: InMemoryStore, voipbin: VoipbinClient, agent: AgentConfig, index: Path) -> Any:
    settings = ToolSettings.model_validate({"KNOWLEDGE_INDEX_FILE": str(index)})
    return toolbox(agent, store=store, voipbin=lambda: voipbin, settings=settings)


def with_knowledge(**knowledge: Any) -> AgentConfig:
    return DEFAULT_AGENT.model_copy(update={"knowledge": Knowledge.model_validate(knowledge) if knowledge else None})


def search(query: str, *, call: str = "1") -> ToolCallRequest:
    return ToolCallRequest(id=f"call_{call}", name="search_knowledge", arguments=json.dumps({"query": query}))


def context(channel: Channel = "voice", turn: int = 1) -> ToolContext:
    return ToolContext(conversation_id="call:k", channel=channel, turn=turn)


def test_search_knowledge_is_offered_on_every_channel_and_only_with_knowledge(
    memory_store: InMemoryStore, voipbin: VoipbinClient, index: Path
) -> None:
    offered = box(memory_store, voipbin, with_knowledge(folder="clinic"), index)
    not_offered = box(memory_store, voipbin, with_knowledge(), index)

    for channel in CHANNELS:
        assert "search_knowledge" in [schema["function"]["name"] for schema in offered.schemas(channel)]
        assert "search_knowledge" not in [schema["function"]["name"] for schema in not_offered.schemas(channel)]


def test_the_tool_gives_the_best_passages_under_their_sources_within_the_agents_bounds(
    memory_store: InMemoryStore, voipbin: VoipbinClient, index: Path
) -> None:
    tools = box(memory_store, voipbin, with_knowledge(folder="clinic", max_passages=2, max_characters=200), index)

    result = tools.call(search("whitening price and the cleaning cost"), context()).result

    assert result.startswith("[1] prices.md (Prices > Cleaning)\nA cleaning costs $95.\n\n")
    assert "[2] prices.md (Prices > Whitening)\nTeeth whitening costs $350" in result
    assert "[3]" not in result
    assert len(result) <= 200
    nothing = tools.call(search("zebra crossing"), context(turn=2)).result
    assert nothing.startswith("Nothing in this business's documents matches")


def test_a_search_is_a_tool_call_like_the_others_limited_per_round(
    memory_store: InMemoryStore, voipbin: VoipbinClient, index: Path
) -> None:
    tools = box(memory_store, voipbin, with_knowledge(folder="clinic"), index)
    limit = DEFAULT_AGENT.limits.tool_calls_per_round

    outcomes = tools.turn(context()).run_round([search(f"whitening {n}", call=str(n)) for n in range(limit + 1)])

    assert all(outcome.result.startswith("[1] prices.md") for outcome in outcomes[:limit])
    assert outcomes[limit].result.startswith("refused: too many tool calls")
    assert tools.call(search(" "), context(turn=2)).result.startswith("error: invalid arguments")
    assert tools.call(search("x" * 301), context(turn=2)).result.startswith("error: invalid arguments")


def test_a_search_that_cannot_run_is_told_to_the_model(
    memory_store: InMemoryStore, voipbin: VoipbinClient, index: Path
) -> None:
    tools = box(memory_store, voipbin, with_knowledge(folder="nursery"), index)

    assert tools.call(search("whitening"), context()).result == (
        "failed: the knowledge index has no set named 'nursery'"
    )


def test_a_passage_that_does_not_fit_is_cut_at_a_word_and_the_rest_left_out() -> None:
    found = [Found("a.md", "word " * 100), Found("b.md", "other " * 10)]

    result = knowledge_result(found, max_characters=200)

    assert result.startswith("[1] a.md\nword word") and result.endswith("word…")
    assert len(result) <= 200 and "b.md" not in result


@given(
    st.lists(st.tuples(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=2000)), max_size=10),
    st.integers(min_value=200, max_value=4000),
)
def test_the_result_never_exceeds_its_budget(found: list[tuple[str, str]], budget: int) -> None:
    result = knowledge_result([Found(source=s, text=t) for s, t in found], max_characters=budget)

    assert len(result) <= budget
    if found:
        assert result.startswith("[1] ")


class FakeRetriever:
    """Bedrock's client as BedrockKnowledge calls it (the wire format is tests/integration's)."""

    def __init__(self, answer: Mapping[str, Any]) -> None:
        self.answer = answer
        self.requests: list[dict[str, Any]] = []

    def retrieve(self, **request: Any) -> Mapping[str, Any]:
        self.requests.append(request)
        return self.answer


def test_bedrock_results_are_named_by_their_location() -> None:
    results = [
        {"content": {"text": "From S3."}, "location": {"type": "S3", "s3Location": {"uri": "s3://kb/docs/a.md"}}},
        {
            "content": {"text": "From the web."},
            "location": {"type": "WEB", "webLocation": {"url": "https://x.example/p"}},
        },
        {"content": {"text": "Custom."}, "location": {"type": "CUSTOM", "customDocumentLocation": {"id": "doc-7"}}},
        {"content": {"text": "  "}, "location": {"type": "S3", "s3Location": {"uri": "s3://kb/empty.md"}}},
        {"content": {"text": "Somewhere."}, "location": {"type": "SQL"}},
    ]
    retriever = FakeRetriever({"retrievalResults": results})

    found = BedrockKnowledge("ABCDEFGHIJ", lambda: retriever).search("where", limit=5)

    assert [(f.source, f.text) for f in found] == [
        ("docs/a.md", "From S3."),
        ("https://x.example/p", "From the web."),
        ("doc-7", "Custom."),
        ("sql", "Somewhere."),
    ]
    assert retriever.requests == [
        {
            "knowledgeBaseId": "ABCDEFGHIJ",
            "retrievalQuery": {"text": "where"},
            "retrievalConfiguration": {"vectorSearchConfiguration": {"numberOfResults": 5}},
        }
    ]


def test_sqlite_here_has_fts5() -> None:
    """The index needs FTS5 in the build's and the runtime's SQLite (python3.12 on Amazon Linux 2023 has it)."""
    database = sqlite3.connect(":memory:")
    database.execute("CREATE VIRTUAL TABLE probe USING fts5(body)")
    database.close()


# --- the passages searched before the reply (knowledge.prefetch) ------------------------------------


def prompted_with(
    llm: ScriptedLlm, store: InMemoryStore, voipbin: VoipbinClient, agent: AgentConfig, index: Path, words: str
) -> str:
    """The system prompt of the agent's reply to `words` on the web chat."""
    engine = engine_of(agent, llm=llm, store=store, voipbin=voipbin, KNOWLEDGE_INDEX_FILE=str(index))
    llm.enqueue(Script.text("Sure."))
    conversation = Conversation(context=ToolContext(conversation_id="chat:k", channel="chat", turn=1))
    assert list(engine.reply(conversation, words).pieces) == ["Sure."]
    return str(llm.requests[-1].messages[0]["content"])


def test_with_prefetch_the_passages_for_the_users_words_are_in_the_prompt_with_their_sources(
    llm: ScriptedLlm, memory_store: InMemoryStore, voipbin: VoipbinClient, index: Path
) -> None:
    agent = with_knowledge(folder="clinic", prefetch=True, max_passages=1)

    prompt = prompted_with(llm, memory_store, voipbin, agent, index, "How much is teeth whitening?")

    documents = prompt.split("From this business's documents (name the source when you use one):\n", 1)[1]
    assert documents.startswith("[1] prices.md (Prices > Whitening)\nTeeth whitening costs $350")
    assert "[2]" not in documents


@pytest.mark.parametrize(
    ("knowledge", "words"),
    [
        ({"folder": "clinic"}, "How much is teeth whitening?"),  # no prefetch: the tool alone
        ({"folder": "clinic", "prefetch": True}, "zebra crossing"),  # nothing matches
        ({"folder": "nursery", "prefetch": True}, "whitening"),  # the search fails: the reply goes on without it
    ],
)
def test_without_passages_to_give_the_prompt_has_no_documents_section(
    llm: ScriptedLlm,
    memory_store: InMemoryStore,
    voipbin: VoipbinClient,
    index: Path,
    knowledge: dict[str, Any],
    words: str,
) -> None:
    prompt = prompted_with(llm, memory_store, voipbin, with_knowledge(**knowledge), index, words)

    assert "From this business's documents" not in prompt
