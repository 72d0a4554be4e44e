"""Sentence handling for speech: where text may be cut so that each /say piece is speakable and fits.

Pure functions, no I/O: the VoIPBin client uses split_for_say to respect /say's byte limit, and the
voice channel cuts the LLM's streamed reply here.
"""

import re
from collections.abc import Callable, Iterable
from typing import Final

MAX_SAY_BYTES: Final = 5000
# A sentence: text up to and including its end mark and the whitespace after it (or the end of text).
# CJK full stop, exclamation and question marks (U+3002, U+FF01, U+FF1F) need no whitespace after them.
_SENTENCE: Final = re.compile(r".+?(?:[.!?…]+(?:\s+|\Z)|[\u3002\uff01\uff1f]+\s*|\Z)", re.DOTALL)
_WORD: Final = re.compile(r"\S+\s*|\s+")


def split_for_say(text: str, limit: int = MAX_SAY_BYTES) -> list[str]:
    """Text cut into pieces of at most `limit` UTF-8 bytes for /say, in order; [] for blank text.

    Cuts at sentence ends where possible, else between words, else between characters (never inside
    one). Whitespace at a cut is dropped; everything else is kept.
    """
    if limit < 4:
        raise ValueError("limit must hold any UTF-8 character (4 bytes)")
    text = text.strip()
    if not text:
        return []
    chunks = _pack(_SENTENCE.findall(text), limit, _split_words)
    return [chunk.strip() for chunk in chunks if chunk.strip()]


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
