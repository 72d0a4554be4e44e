"""Sentence handling for speech: where text may be cut so that each /say piece is speakable and fits.

Pure, standard library only. The VoIPBin client packs a whole text into /say pieces with split_for_say;
the voice channel feeds the LLM's streamed reply to a SentenceChunker so that each sentence is spoken as
soon as it ends. Both find sentence ends with _next_cut, the one place that knows the rules (listed in
SentenceChunker's docstring).
"""

import re
from collections.abc import Callable, Iterable, Iterator
from typing import Final

MAX_SAY_BYTES: Final = 5000
MIN_LIMIT_BYTES: Final = 4  # the longest UTF-8 character
DEFAULT_FIRST_CLAUSE_MIN_CHARS: Final = 40

# Closing quotes and brackets stay with the sentence they close: ." ?) 。」 !» (German quotes close with «).
_CLOSERS: Final = "\"'\u201d\u2019\u00bb\u00ab)]}\u300d\u300f\uff09\u3011\u3015\u3009\u300b"
# What may open a word and is not part of it: quotes, brackets, Spanish ¿ and ¡.
_OPENERS: Final = "\"'\u201c\u2018\u201e\u201a\u00ab\u00bb([{\u00bf\u00a1\u300c\u300e\uff08\u3010"
_BOUNDARY: Final = re.compile(
    # Unambiguous ends, no space needed after them: CJK 。 ｡ and full-width ! ?, Devanagari । and Arabic ؟.
    r"(?P<full>[\u3002\uff61\uff01\uff1f\u0964\u061f]+)[" + re.escape(_CLOSERS) + r"]*"
    # . ! ? … runs: an end only if whitespace follows (not in 3.5, example.com, bob.smith@mail.co.uk, a?b=1).
    # French sets a (no-break) space before its closing guillemet.
    r"|(?P<latin>[.!?\u2026]+)(?:[" + re.escape(_CLOSERS) + r"]|[ \u00a0\u202f]\u00bb)*"
    # Clause marks for the early first chunk: , ; : and their CJK forms, the em dash, a spaced hyphen or en dash.
    r"|(?P<clause>[,;:\u3001\uff0c\uff1b\uff1a\u2014]|(?<=\s)[-\u2013](?=\s))"
    r"|(?P<newline>\n)"
)
_SPACED_CLAUSE_MARKS: Final = ",;:"  # need whitespace after them: no cut in 10,000, 10:30 or https://
_NON_SPACE: Final = re.compile(r"\S")
_WORD: Final = re.compile(r"\S+\s*|\s+")
# Abbreviations that are followed by more of the same sentence (lower-cased, without the final dot).
# Single letters (initials: "John F. Kennedy", German "z. B.") never end a sentence either.
_NEVER_END: Final = frozenset(
    {
        *("mr", "mrs", "ms", "dr", "prof", "rev", "hon", "gen", "col", "capt", "lt", "sgt", "st", "mt"),
        *("vs", "cf", "approx", "fig", "e.g", "i.e"),
        *("sr", "sra", "srta", "dra", "mme", "mlle"),  # Spanish, French
        *("bzw", "ca", "nr", "evtl", "ggf", "vgl"),  # German
    }
)


def split_for_say(text: str, limit: int = MAX_SAY_BYTES) -> list[str]:
    """Text cut into pieces of at most `limit` UTF-8 bytes for /say, in order; [] for blank text.

    Packs as many whole sentences per piece as fit (fewest /say calls); a sentence that does not fit
    alone is cut between words, a word between characters (never inside one). Whitespace at a cut is
    dropped; everything else is kept.

    Raises:
        ValueError: limit is below 4 bytes, so some characters could not be sent.

    """
    _check_limit(limit)
    text = text.strip()
    if not text:
        return []
    return _stripped(_pack(_sentences(text), limit, _split_words))


class SentenceChunker:
    """Cuts a streamed LLM reply into speakable chunks, each ready as soon as its sentence has ended.

    Feed the text deltas in order; each call returns the chunks completed so far, and flush() returns
    the rest at the end of the reply (and resets the chunker for the next one). Chunks are stripped,
    never empty and at most max_bytes UTF-8 bytes; joined they hold the whole input, in order, with only
    the whitespace at cuts dropped.

    Where a sentence ends:
        - CJK 。 ｡ and full-width ! ?, । and ؟: right after the mark (and any closing quote or bracket);
          no space needed.
        - . ! ? and ellipses ("...", "…"): only before whitespace, so numbers (3.5, $4.99, 10:30), URLs
          and e-mail addresses are never cut; closing quotes/brackets stay with the sentence.
        - Not when the next word starts in lowercase: "5 p.m. tomorrow", "etc. and", and an ellipsis
          inside a sentence ("Well... ok." is one chunk; "I see... Let me check." is two).
        - Not after a title or Latin abbreviation (Dr., Mr., Mrs., St., e.g., i.e., vs., Sr., z. B., ...),
          a single-letter initial, or a list number at the start of a line ("1. Unplug the router.").
          Other abbreviations (etc., a.m./p.m., U.S.) follow the lowercase rule: "at 5 p.m. See you" is
          two chunks, and so is "the U.S. Army" (a short pause is cheaper than a late first chunk).
        - At a line break.

    A boundary followed by more text is decided once the next non-space character is known (a "3."
    waits for the "5" of "3.5"); flush() decides the last one.

    Until the first chunk of a reply is out, a clause mark (, ; : — and a spaced dash, CJK 、 and full-width , ; :)
    also cuts once at least first_clause_min_chars characters precede it, so the caller hears something
    before a long first sentence is complete. A sentence (or first clause) over max_bytes is cut between
    words, or between characters if a word alone is too long, as soon as the limit is passed.
    """

    def __init__(
        self,
        *,
        max_bytes: int = MAX_SAY_BYTES,
        first_clause_min_chars: int | None = DEFAULT_FIRST_CLAUSE_MIN_CHARS,
    ) -> None:
        """Set the limits.

        Args:
            max_bytes: The most UTF-8 bytes of one chunk (/say's limit by default); at least 4.
            first_clause_min_chars: The shortest first chunk that may end at a clause mark; 40 characters
                is about two seconds of speech, long enough not to sound clipped. None never cuts at clauses.

        Raises:
            ValueError: max_bytes is below 4 or first_clause_min_chars below 1.

        """
        _check_limit(max_bytes)
        if first_clause_min_chars is not None and first_clause_min_chars < 1:
            raise ValueError("first_clause_min_chars must be positive (or None to never cut at clauses)")
        self.max_bytes = max_bytes
        self.first_clause_min_chars = first_clause_min_chars
        self._pending = ""
        self._spoke = False  # a chunk of this reply is out: no more clause cuts
        self._line_start = True  # the pending text starts a line: a leading number is a list marker

    def feed(self, delta: str) -> list[str]:
        """The chunks that the text so far completes, in order (often none)."""
        self._pending += delta
        return self._drain(final=False)

    def flush(self) -> list[str]:
        """The remaining chunks at the end of the reply; the chunker is then ready for a new reply."""
        chunks = self._drain(final=True)
        self._spoke, self._line_start = False, True
        return chunks

    def _drain(self, *, final: bool) -> list[str]:
        chunks: list[str] = []
        while True:
            text = self._pending.lstrip()
            if "\n" in self._pending[: len(self._pending) - len(text)]:
                self._line_start = True
            self._pending = text
            if not text:
                return chunks
            # Decide on the text as if it had come one character at a time, whatever the delta sizes:
            # stop at the first prefix over the limit; no boundary decided in it means a forced cut there.
            over = _first_prefix_over(text, self.max_bytes)
            seen = text if over is None else text[:over]
            cut = _next_cut(
                seen,
                0,
                final=final and over is None,
                line_start=self._line_start,
                clause_min_chars=None if self._spoke else self.first_clause_min_chars,
            )
            if cut is not None:
                pieces, self._pending = [text[:cut]], text[cut:]
            elif over is not None:
                *pieces, rest = _split_words(seen, self.max_bytes)
                self._pending = rest + text[over:]
            elif final:
                pieces, self._pending = [text], ""
            else:
                return chunks
            chunks.extend(_stripped(pieces))
            self._spoke, self._line_start = True, False


def _check_limit(limit: int) -> None:
    if limit < MIN_LIMIT_BYTES:
        raise ValueError(f"the byte limit must hold any UTF-8 character ({MIN_LIMIT_BYTES} bytes)")


def _first_prefix_over(text: str, limit: int) -> int | None:
    """Length of the shortest prefix of text whose visible (right-stripped) UTF-8 size exceeds limit."""
    if len(text.encode()) <= limit:  # the usual case, without a loop in Python
        return None
    size = 0
    for index, character in enumerate(text):
        size += len(character.encode())
        if size > limit and not character.isspace():
            return index + 1
    return None


def _stripped(pieces: Iterable[str]) -> list[str]:
    return [piece.strip() for piece in pieces if piece.strip()]


def _next_cut(
    text: str,
    start: int,
    *,
    final: bool,
    line_start: bool,
    clause_min_chars: int | None = None,
) -> int | None:
    """Where the sentence starting at text[start] (not whitespace) ends; None while undecided or none.

    A boundary with text after it is decided once the next non-space character is known; one at the
    end of the text only when final. clause_min_chars enables clause cuts (see SentenceChunker).
    """
    for match in _BOUNDARY.finditer(text, start):
        mark_start, end = match.span()
        if match.group("newline"):
            return mark_start
        if end == len(text):
            return end if final else None
        if match.group("full") or (
            match.group("clause")
            and clause_min_chars is not None
            and end - start >= clause_min_chars
            and (text[mark_start] not in _SPACED_CLAUSE_MARKS or text[end].isspace())
        ):
            return end
        if match.group("latin") and text[end].isspace():
            ends = _latin_end(text, start, match, final=final, line_start=line_start)
            if ends is None:
                return None
            if ends:
                return end
    return None


def _latin_end(text: str, start: int, match: re.Match[str], *, final: bool, line_start: bool) -> bool | None:
    """Whether . ! ? or an ellipsis followed by whitespace ends a sentence; None while undecided."""
    following = _NON_SPACE.search(text, match.end())
    if "\n" in text[match.end() : following.start() if following else len(text)]:
        return True
    if following is None:
        return True if final else None
    if following.group().islower():
        return False
    if match.group("latin") != ".":
        return True
    mark_start = match.start()
    word_start = mark_start
    while word_start > start and not text[word_start - 1].isspace() and text[word_start - 1] not in _OPENERS:
        word_start -= 1
    word = text[word_start:mark_start]
    if word.lower() in _NEVER_END or (len(word) == 1 and word.isascii() and word.isalpha()):
        return False
    return not (line_start and word_start == start and word.isdigit())


def _sentences(text: str) -> Iterator[str]:
    """The sentences of a stripped text, each with the whitespace after it (together: the text)."""
    start, line_start = 0, True
    while start < len(text):
        cut = _next_cut(text, start, final=True, line_start=line_start)
        end = len(text) if cut is None else cut
        following = _NON_SPACE.search(text, end)
        next_start = following.start() if following else len(text)
        yield text[start:next_start]
        line_start = "\n" in text[end:next_start]
        start = next_start


def _pack(pieces: Iterable[str], limit: int, split_finer: Callable[[str, int], list[str]]) -> list[str]:
    """Greedy packing: as many whole pieces per chunk as fit, trailing whitespace not counted.

    A piece too long on its own is split finer, and packing goes on after its last part.
    """
    chunks: list[str] = []
    current, size = "", 0
    for piece in pieces:
        visible_size = len(piece.rstrip().encode())
        if size + visible_size > limit:
            if current:
                chunks.append(current)
            current, size = "", 0
            if visible_size > limit:
                *done, current = split_finer(piece, limit)
                chunks.extend(done)
                size = len(current.encode())
                continue
        current += piece
        size += len(piece.encode())
    if current:
        chunks.append(current)
    return chunks


def _split_words(text: str, limit: int) -> list[str]:
    return _pack(_WORD.findall(text), limit, _split_characters)


def _split_characters(text: str, limit: int) -> list[str]:
    """Last resort for a 'word' over the limit: cut between characters (code points)."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for character in text:
        character_size = len(character.encode())
        if size + character_size > limit:
            chunks.append("".join(current))
            current, size = [], 0
        current.append(character)
        size += character_size
    chunks.append("".join(current))
    return chunks
