"""The knowledge index: the business's documents cut into passages in an SQLite FTS5 table, built by `sam build`.

The Makefile's build-SharedLayer runs `python -m voipbin_ai.knowledge.index <knowledge folder> <index file>`
in the build's own python, where no dependency is installed: this module uses the standard library only.
Each subfolder of the knowledge folder is one knowledge set, the `folder` an agent's knowledge names;
its .md, .txt and .html files (in subfolders too) are its documents, named by their path inside the set.

Passages are bounded (MAX_PASSAGE_CHARS): Markdown is cut at its headings, then at blank lines; HTML is
reduced to its text with html.parser (headings kept as headings, scripts and styles dropped); plain text
at blank lines. Each passage keeps the headings above it as its title. The runtime (search.py) opens the
file read-only: Lambda's /opt is.
"""

import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Final

# Where the layer ships the index (the Makefile writes it there), and what the runtime opens by default.
INDEX_FILE: Final = Path(__file__).with_name("index.sqlite3")
MAX_PASSAGE_CHARS: Final = 800
# The schema, read by search.py: title and body are searched (bm25 weighs a title's words higher).
PASSAGES_TABLE: Final = "passages"
SETS_TABLE: Final = "knowledge_sets"
_SCHEMA: Final = f"""
CREATE VIRTUAL TABLE {PASSAGES_TABLE} USING fts5(
    title, body, source UNINDEXED, knowledge_set UNINDEXED, tokenize = 'porter unicode61 remove_diacritics 2'
);
CREATE TABLE {SETS_TABLE} (name TEXT PRIMARY KEY, documents INTEGER NOT NULL);
"""
_MARKDOWN: Final = frozenset({".md", ".markdown"})
_HTML: Final = frozenset({".html", ".htm"})
_TEXT: Final = frozenset({".txt"})
_HEADING: Final = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE: Final = re.compile(r"^\s*(```|~~~)")


class KnowledgeFolderError(ValueError):
    """A document the index cannot take: the build fails naming it, rather than ship a partial index."""


@dataclass(frozen=True)
class Passage:
    """One bounded piece of a document, under the headings above it."""

    title: str
    body: str


# A document as blocks: a heading (its level, 1 to 6) or a paragraph (level 0).
type Block = tuple[int, str]


def passages(name: str, text: str) -> list[Passage]:
    """A document's passages, by the kind its file name says."""
    suffix = Path(name).suffix.lower()
    if suffix in _MARKDOWN:
        return _sections(_markdown_blocks(text))
    if suffix in _HTML:
        return _sections(_html_blocks(text))
    if suffix in _TEXT:
        return _sections((0, paragraph) for paragraph in _paragraphs(text.splitlines()))
    raise KnowledgeFolderError(f"{name}: only .md, .txt and .html documents are indexed")


def _paragraphs(lines: Sequence[str]) -> Iterator[str]:
    """Runs of non-blank lines, each joined into one paragraph."""
    run: list[str] = []
    for line in [*lines, ""]:
        if line.strip():
            run.append(line.strip())
        elif run:
            yield " ".join(run)
            run = []


def _markdown_blocks(text: str) -> Iterator[Block]:
    """Headings and paragraphs; a fenced code block is one paragraph, as written, and a # inside it no heading."""
    lines: list[str] = []
    code: list[str] = []
    for line in text.splitlines():
        if code or _FENCE.match(line):
            code.append(line)
            if len(code) > 1 and _FENCE.match(line):
                yield from ((0, paragraph) for paragraph in _paragraphs(lines))
                yield 0, "\n".join(code)
                lines, code = [], []
            continue
        heading = _HEADING.match(line)
        if heading:
            yield from ((0, paragraph) for paragraph in _paragraphs(lines))
            lines = []
            yield len(heading.group(1)), heading.group(2)
        else:
            lines.append(line)
    yield from ((0, paragraph) for paragraph in _paragraphs(lines))
    if code:
        yield 0, "\n".join(code)


class _HtmlText(HTMLParser):
    """An HTML document's text as blocks: h1-h6 are headings, block elements end a paragraph."""

    _BREAKS: Final = frozenset(
        {"address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "figcaption", "footer", "form"}
        | {"header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul"}
    )
    _HIDDEN: Final = frozenset({"script", "style", "template", "noscript", "head", "svg"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[Block] = []
        self._words: list[str] = []
        self._heading = 0
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._HIDDEN:
            self._hidden += 1
        elif re.fullmatch(r"h[1-6]", tag):
            self._flush()
            self._heading = int(tag[1])
        elif tag in self._BREAKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self._hidden = max(0, self._hidden - 1)
        elif re.fullmatch(r"h[1-6]", tag) or tag in self._BREAKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self._words.extend(data.split())

    def close(self) -> None:
        super().close()
        self._flush()

    def _flush(self) -> None:
        if self._words:
            self.blocks.append((self._heading, " ".join(self._words)))
        self._words = []
        self._heading = 0


def _html_blocks(text: str) -> list[Block]:
    parser = _HtmlText()
    parser.feed(text)
    parser.close()
    return parser.blocks


def _sections(blocks: Iterable[Block]) -> list[Passage]:
    """Each heading's paragraphs packed into passages of at most MAX_PASSAGE_CHARS, titled by the headings above."""
    found: list[Passage] = []
    headings: list[tuple[int, str]] = []
    paragraphs: list[str] = []

    def close_section() -> None:
        title = " > ".join(text for _, text in headings)
        found.extend(Passage(title, body) for body in _packed(paragraphs, MAX_PASSAGE_CHARS))
        paragraphs.clear()

    for level, text in blocks:
        if level:
            close_section()
            headings[:] = [*(heading for heading in headings if heading[0] < level), (level, text)]
        else:
            paragraphs.append(text)
    close_section()
    return found


def _packed(paragraphs: Sequence[str], limit: int) -> Iterator[str]:
    """Paragraphs joined while they fit the limit; a paragraph longer than it is cut at sentences, then words."""
    piece = ""
    for part in (part for paragraph in paragraphs for part in _cut(paragraph, limit)):
        if piece and len(piece) + 2 + len(part) > limit:
            yield piece
            piece = ""
        piece = f"{piece}\n\n{part}" if piece else part
    if piece:
        yield piece


def _cut(text: str, limit: int) -> Iterator[str]:
    """Pieces of at most `limit` characters, cut after a sentence where one ends in time, else at a space."""
    while len(text) > limit:
        window = text[: limit + 1]
        sentence = max(window.rfind(". "), window.rfind("! "), window.rfind("? "))
        at = sentence + 1 if sentence > limit // 2 else window.rfind(" ")
        at = at if at > 0 else limit
        yield text[:at].strip()
        text = text[at:].strip()
    if text:
        yield text


def build(folder: Path, index_file: Path) -> dict[str, int]:
    """Index every knowledge set of `folder` into `index_file` (replaced whole); the documents of each set.

    No folder is no knowledge: an empty index, so that a deployment without documents builds too.

    Raises:
        KnowledgeFolderError: a document is not one the index takes, or lies outside a knowledge set.

    """
    import sqlite3  # here: the runtime imports this module for its names, and a cold start needs no sqlite3

    documents: dict[str, list[tuple[str, list[Passage]]]] = {}
    for path in sorted(folder.rglob("*")) if folder.is_dir() else []:
        relative = path.relative_to(folder)
        if path.is_dir() or any(part.startswith(".") for part in relative.parts):
            continue
        if len(relative.parts) < 2:
            raise KnowledgeFolderError(f"{relative}: documents go in a subfolder, one per knowledge set")
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise KnowledgeFolderError(f"{relative}: not UTF-8 text ({error.reason})") from error
        knowledge_set, source = relative.parts[0], Path(*relative.parts[1:]).as_posix()
        documents.setdefault(knowledge_set, []).append((source, passages(source, text)))
    index_file.parent.mkdir(parents=True, exist_ok=True)
    partial = index_file.with_name(index_file.name + ".partial")
    partial.unlink(missing_ok=True)
    with sqlite3.connect(partial) as database:
        database.executescript(_SCHEMA)
        for knowledge_set, its_documents in documents.items():
            database.execute(f"INSERT INTO {SETS_TABLE} VALUES (?, ?)", (knowledge_set, len(its_documents)))
            database.executemany(
                f"INSERT INTO {PASSAGES_TABLE} (title, body, source, knowledge_set) VALUES (?, ?, ?, ?)",
                [
                    (passage.title, passage.body, source, knowledge_set)
                    for source, found in its_documents
                    for passage in found
                ],
            )
        database.execute(f"INSERT INTO {PASSAGES_TABLE} ({PASSAGES_TABLE}) VALUES ('optimize')")
    database.close()
    partial.replace(index_file)
    return {knowledge_set: len(its_documents) for knowledge_set, its_documents in documents.items()}


def main(argv: Sequence[str] | None = None) -> None:
    """Index a knowledge folder: `python -m voipbin_ai.knowledge.index <knowledge folder> <index file>`."""
    arguments = sys.argv[1:] if argv is None else list(argv)
    if len(arguments) != 2:
        raise SystemExit("usage: python -m voipbin_ai.knowledge.index <knowledge folder> <index file>")
    try:
        indexed = build(Path(arguments[0]), Path(arguments[1]))
    except KnowledgeFolderError as error:
        raise SystemExit(f"knowledge index: {error}") from error
    summary = ", ".join(f"{name} ({count} documents)" for name, count in indexed.items()) or "no knowledge sets"
    print(f"knowledge index {arguments[1]}: {summary}")


if __name__ == "__main__":
    main()
