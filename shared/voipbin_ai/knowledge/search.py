"""search_knowledge's two sources: the index the build shipped in the layer, or an Amazon Bedrock knowledge base.

The tool sees KnowledgeBase only. sqlite3 and the Bedrock client are loaded when a search runs, not at a
cold start. Whatever the caller or the model wrote reaches FTS5 as quoted words only (fts_query), so
neither can use its query syntax (column filters, NEAR, prefix scans) against the index.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Protocol, cast
from urllib.parse import urlsplit

from voipbin_ai.container import holds_connections
from voipbin_ai.knowledge.index import INDEX_FILE, PASSAGES_TABLE, SETS_TABLE
from voipbin_ai.models.agent import Knowledge

# The words of a query that reach the index: enough for a question, bounded for any text.
MAX_QUERY_TERMS: Final = 24
_MAX_TERM_CHARS: Final = 40
# bm25's weight of each column (title, body, source, knowledge_set): a heading's word counts double.
_RANK: Final = f"bm25({PASSAGES_TABLE}, 2.0, 1.0, 0.0, 0.0)"


class KnowledgeError(Exception):
    """A search could not run (no index, no such knowledge set, Bedrock refused); the model is told."""


@dataclass(frozen=True)
class Found:
    """A passage found, and where it comes from: its document's path in the knowledge set, or Bedrock's location."""

    source: str
    text: str
    title: str = ""


class KnowledgeBase(Protocol):
    """Where search_knowledge finds passages, best first."""

    def search(self, query: str, *, limit: int) -> list[Found]:
        """At most `limit` passages for the query, best first; none when nothing matches.

        Raises:
            KnowledgeError: the search could not run.

        """
        ...


def fts_query(text: str) -> str | None:
    """The text's words as an FTS5 query of quoted terms, any of which may match (bm25 ranks those with more).

    Only letters and digits pass, each word quoted: FTS5's operators, column filters and prefixes cannot.
    None when no word is left.
    """
    terms: list[str] = []
    for word in re.findall(r"[^\W_]+", text.lower()):
        if (len(word) > 1 or word.isdigit()) and word[:_MAX_TERM_CHARS] not in terms:
            terms.append(word[:_MAX_TERM_CHARS])
    return " OR ".join(f'"{term}"' for term in terms[:MAX_QUERY_TERMS]) or None


class IndexedKnowledge:
    """One knowledge set of the build's index, opened read-only (Lambda's /opt is)."""

    def __init__(self, index_file: Path, knowledge_set: str) -> None:
        self._uri = f"{index_file.resolve().as_uri()}?mode=ro&immutable=1"
        self._knowledge_set = knowledge_set

    def search(self, query: str, *, limit: int) -> list[Found]:
        """bm25's best passages of the set for the query's words."""
        import sqlite3

        match = fts_query(query)
        try:
            database = sqlite3.connect(self._uri, uri=True)
        except sqlite3.Error as error:
            raise KnowledgeError("the knowledge index is missing from this deployment") from error
        try:
            known = database.execute(f"SELECT 1 FROM {SETS_TABLE} WHERE name = ?", (self._knowledge_set,)).fetchone()
            if known is None:
                raise KnowledgeError(f"the knowledge index has no set named {self._knowledge_set!r}")
            if match is None:
                return []
            rows = database.execute(
                f"SELECT source, title, body FROM {PASSAGES_TABLE} WHERE {PASSAGES_TABLE} MATCH ? AND knowledge_set = ?"
                f" ORDER BY {_RANK} LIMIT ?",
                (match, self._knowledge_set, limit),
            ).fetchall()
        except sqlite3.Error as error:
            raise KnowledgeError(f"the knowledge index could not be searched: {error}") from error
        finally:
            database.close()
        return [Found(source=source, title=title, text=body) for source, title, body in rows]


class Retriever(Protocol):
    """What BedrockKnowledge needs of boto3's bedrock-agent-runtime client."""

    def retrieve(self, **request: Any) -> Mapping[str, Any]:
        """Bedrock's Retrieve: POST /knowledgebases/{knowledgeBaseId}/retrieve."""
        ...


class BedrockKnowledge:
    """An Amazon Bedrock knowledge base, through the Retrieve API (vector search; Bedrock ranks)."""

    def __init__(self, knowledge_base_id: str, client: Callable[[], Retriever] | None = None) -> None:
        self._id = knowledge_base_id
        self._client = client or _bedrock_client

    def search(self, query: str, *, limit: int) -> list[Found]:
        """Retrieve's best results for the query, with their locations as sources."""
        from botocore.exceptions import BotoCoreError, ClientError

        if not query.strip():
            return []
        try:
            answer = self._client().retrieve(
                knowledgeBaseId=self._id,
                retrievalQuery={"text": query[:1000]},
                retrievalConfiguration={"vectorSearchConfiguration": {"numberOfResults": limit}},
            )
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            raise KnowledgeError(f"the knowledge base refused the search ({code})") from error
        except BotoCoreError as error:
            raise KnowledgeError("the knowledge base could not be reached") from error
        found = []
        for result in answer.get("retrievalResults", [])[:limit]:
            text = result.get("content", {}).get("text", "").strip()
            if text:
                found.append(Found(source=_source(dict(result.get("location", {}))), text=text))
        return found


def _source(location: dict[str, Any]) -> str:
    """A Bedrock result's location as a name: an S3 document's key, else the page's URL or the document's id."""
    s3_uri = str(location.get("s3Location", {}).get("uri", ""))
    if s3_uri:
        return urlsplit(s3_uri).path.lstrip("/") or s3_uri
    for field, key in (
        ("webLocation", "url"),
        ("confluenceLocation", "url"),
        ("salesforceLocation", "url"),
        ("sharePointLocation", "url"),
        ("kendraDocumentLocation", "uri"),
        ("customDocumentLocation", "id"),
    ):
        value = location.get(field, {}).get(key)
        if value:
            return str(value)
    return str(location.get("type", "knowledge base")).lower()


@holds_connections
@lru_cache(maxsize=1)
def _bedrock_client() -> Retriever:
    """One client per container, with timeouts that fit a voice turn."""
    import boto3

    from voipbin_ai import aws

    return cast(Retriever, boto3.client("bedrock-agent-runtime", config=aws.BEDROCK_RETRIEVE))


def knowledge_base(config: Knowledge, *, index_file: Path | None = None) -> KnowledgeBase:
    """The source an agent's knowledge names: a set of the index (the layer's, unless given), or Bedrock."""
    if config.source == "bedrock" and config.knowledge_base_id:
        return BedrockKnowledge(config.knowledge_base_id)
    if config.folder is None:
        raise KnowledgeError("the agent's knowledge names no folder")
    return IndexedKnowledge(index_file or INDEX_FILE, config.folder)
