"""Text made fit for a channel after the LLM wrote it: the prompt asks, this makes sure.

Voice: no markdown marks read aloud. SMS: plain text within the configured number of segments (GSM-7
when every character allows it, else UCS-2, as phones count them). LINE, WhatsApp and VoIPBin's web chat
widget: the configured formatting within the configured number of characters. Chat: as written.
"""

import re
from collections.abc import Callable
from typing import Final, Literal

# GSM 03.38: the basic set (one septet each) and the extension table (two septets: escape + character).
_GSM_BASIC: Final = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿"
    "abcdefghijklmnopqrstuvwxyzäöñüà"
)
_GSM_EXTENDED: Final = frozenset("^{}\\[~]|€\f")
# Characters per segment: alone, and when the message is split (the rest of each segment is its header).
_GSM_SINGLE, _GSM_PART = 160, 153
_UCS2_SINGLE, _UCS2_PART = 70, 67
_ELLIPSIS: Final = "..."

_MARKDOWN_LINK: Final = re.compile(r"\[([^\]]+)\]\((\S+?)\)")
_EMPHASIS: Final = re.compile(r"(\*\*|__|\*|`+|~~)(?=\S)(.+?)(?<=\S)\1")
_LINE_MARKER: Final = re.compile(r"^[ \t]*(?:#{1,6}[ \t]+|[-*+•][ \t]+|>[ \t]?)", re.MULTILINE)
_HEADING: Final = re.compile(r"^[ \t]*#{1,6}[ \t]+", re.MULTILINE)
# Markdown's emphasis marks as WhatsApp writes them (its *x* is bold, _x_ italic, ~x~ struck through).
_WHATSAPP_MARKS: Final = {"**": "*", "__": "*", "*": "_", "~~": "~"}
_SPACES: Final = re.compile(r"[ \t]+")


def plain_text(text: str) -> str:
    """Markdown reduced to its words: no emphasis marks, headings, bullets or quote marks; links as URLs."""
    text = _MARKDOWN_LINK.sub(r"\1 (\2)", text)
    text = _EMPHASIS.sub(r"\2", text)
    text = _LINE_MARKER.sub("", text)
    return "\n".join(_SPACES.sub(" ", line).strip() for line in text.splitlines()).strip()


def whatsapp_text(text: str) -> str:
    """Markdown in WhatsApp's own marks: emphasis converted, headings unmarked, links as URLs; lists stay."""
    text = _MARKDOWN_LINK.sub(r"\1 (\2)", text)
    text = _EMPHASIS.sub(lambda match: f"{(mark := _WHATSAPP_MARKS.get(match[1], match[1]))}{match[2]}{mark}", text)
    return _HEADING.sub("", text).strip()


def fit_message(text: str, *, max_characters: int, formatting: Literal["plain", "whatsapp", "markdown"]) -> str:
    """A messaging app's reply: in its formatting, cut at a word with "..." to max_characters if it must be."""
    if formatting == "plain":
        text = plain_text(text)
    elif formatting == "whatsapp":
        text = whatsapp_text(text)
    else:
        text = text.strip()
    if len(text) <= max_characters:
        return text
    return _cut(text, max_characters - len(_ELLIPSIS), len)


def speakable(text: str) -> str:
    """A chunk as the caller should hear it: plain text on one line."""
    return " ".join(plain_text(text).split())


def sms_length(text: str) -> tuple[int, bool]:
    """(units, is_gsm): septets when the text is GSM-7 encodable, else UTF-16 code units."""
    if all(char in _GSM_BASIC or char in _GSM_EXTENDED for char in text):
        return sum(2 if char in _GSM_EXTENDED else 1 for char in text), True
    return len(text.encode("utf-16-le")) // 2, False


def sms_capacity(segments: int, *, gsm: bool) -> int:
    """How many units fit in that many segments."""
    single, part = (_GSM_SINGLE, _GSM_PART) if gsm else (_UCS2_SINGLE, _UCS2_PART)
    return single if segments == 1 else part * segments


def fit_sms(text: str, *, max_segments: int) -> str:
    """Plain text that fits in max_segments SMS segments, cut at a word with "..." if it must be cut."""
    text = plain_text(text)
    units, gsm = sms_length(text)
    capacity = sms_capacity(max_segments, gsm=gsm)
    if units <= capacity:
        return text
    return _cut(
        text,
        capacity - len(_ELLIPSIS),
        (lambda char: sms_length(char)[0]) if gsm else (lambda char: len(char.encode("utf-16-le")) // 2),
    )


def _cut(text: str, budget: int, cost: Callable[[str], int]) -> str:
    """The text cut to `budget` units (each character costs what `cost` says), at a word when one is near, + "..."."""
    kept, used = [], 0
    for char in text:
        if used + cost(char) > budget:
            break
        kept.append(char)
        used += cost(char)
    cut = "".join(kept)
    head, space, _ = cut.rpartition(" ")
    return (head if space and len(head) > len(cut) // 2 else cut).rstrip(" ,;:") + _ELLIPSIS
