# Multilingual text on purpose: the full-width punctuation of CJK text is what these tests are about.
# ruff: noqa: RUF001
"""Sentence chunking for voice: SentenceChunker (streamed LLM deltas) and split_for_say (/say byte limit)."""

import random
import re

import pytest

from voipbin_ai.sentences import MAX_SAY_BYTES, SentenceChunker, split_for_say


def chunk_all(text: str, **options: int | None) -> list[str]:
    chunker = SentenceChunker(**options)  # type: ignore[arg-type]
    return chunker.feed(text) + chunker.flush()


def chunk_deltas(deltas: list[str], **options: int | None) -> list[str]:
    chunker = SentenceChunker(**options)  # type: ignore[arg-type]
    chunks = [chunk for delta in deltas for chunk in chunker.feed(delta)]
    return chunks + chunker.flush()


def random_deltas(text: str, seed: int) -> list[str]:
    rng = random.Random(seed)
    deltas, position = [], 0
    while position < len(text):
        size = rng.randint(1, 12)
        deltas.append(text[position : position + size])
        position += size
    return deltas


def without_whitespace(text: str) -> str:
    return re.sub(r"\s+", "", text)


NO_CLAUSES = {"first_clause_min_chars": None}

# (text, chunks) with clause cuts off: where sentences end.
SENTENCE_CASES = {
    "english": ("Hello there. How are you? I'm great!", ["Hello there.", "How are you?", "I'm great!"]),
    "question and exclamation runs": ("Really?! Yes!!! Ok?", ["Really?!", "Yes!!!", "Ok?"]),
    "spanish inverted marks": ("¿Cómo estás? ¡Muy bien! Gracias.", ["¿Cómo estás?", "¡Muy bien!", "Gracias."]),
    "french spaced marks": (
        "Bonjour ! Comment allez-vous ? Très bien.",
        ["Bonjour !", "Comment allez-vous ?", "Très bien."],
    ),
    "french guillemets": ("Il a dit « Oui. » Puis il est parti.", ["Il a dit « Oui. »", "Puis il est parti."]),
    "german abbreviations": (
        "Ich komme z. B. am Montag. Das ist gut usw. Danke.",
        ["Ich komme z. B. am Montag.", "Das ist gut usw.", "Danke."],
    ),
    "german quotes": ("Er sagte »Hallo.« Dann ging er.", ["Er sagte »Hallo.«", "Dann ging er."]),
    "japanese": ("こんにちは。元気ですか？はい、元気です！", ["こんにちは。", "元気ですか？", "はい、元気です！"]),
    "japanese quote brackets": ("「はい。」次へ。", ["「はい。」", "次へ。"]),
    "chinese": ("你好。今天天气很好！你呢？", ["你好。", "今天天气很好！", "你呢？"]),
    "korean": ("안녕하세요. 무엇을 도와드릴까요? 네.", ["안녕하세요.", "무엇을 도와드릴까요?", "네."]),
    "hindi danda": ("नमस्ते। आप कैसे हैं?", ["नमस्ते।", "आप कैसे हैं?"]),
    "arabic question mark": ("كيف حالك؟ أنا بخير.", ["كيف حالك؟", "أنا بخير."]),
    "titles": ("I met Dr. Who and Mrs. Smith. They left.", ["I met Dr. Who and Mrs. Smith.", "They left."]),
    "latin abbreviations": (
        "Bring fruit, e.g. Apples, i.e. Red ones. Ok.",
        ["Bring fruit, e.g. Apples, i.e. Red ones.", "Ok."],
    ),
    "etc before lowercase": ("Pens, paper, etc. are here. Good.", ["Pens, paper, etc. are here.", "Good."]),
    "etc at a sentence end": ("Pens, paper, etc. Then we go.", ["Pens, paper, etc.", "Then we go."]),
    "initials": ("John F. Kennedy spoke. Yes.", ["John F. Kennedy spoke.", "Yes."]),
    "spanish title": ("Hola Sr. García. Adiós.", ["Hola Sr. García.", "Adiós."]),
    "u.s. at a sentence end": ("I live in the U.S. It is big.", ["I live in the U.S.", "It is big."]),
    "u.s. mid sentence": ("The U.S. economy grew. Ok.", ["The U.S. economy grew.", "Ok."]),
    "decimals": (
        "The rate is 3.5 percent. It was 2.25. Now 4.",
        ["The rate is 3.5 percent.", "It was 2.25.", "Now 4."],
    ),
    "prices": ("It costs $4.99. Tax is €0.50 extra.", ["It costs $4.99.", "Tax is €0.50 extra."]),
    "times": (
        "Come at 10:30 a.m. tomorrow. Or at 5 p.m. See you.",
        ["Come at 10:30 a.m. tomorrow.", "Or at 5 p.m.", "See you."],
    ),
    "number at a sentence end": ("The total is 42. Shall I book it?", ["The total is 42.", "Shall I book it?"]),
    "urls": (
        "Visit https://example.com/a?b=1&c=2. Or www.example.org! Done.",
        ["Visit https://example.com/a?b=1&c=2.", "Or www.example.org!", "Done."],
    ),
    "e-mail addresses": (
        "Write to bob.smith@mail.co.uk. Or to a.b@example.com today.",
        ["Write to bob.smith@mail.co.uk.", "Or to a.b@example.com today."],
    ),
    "ellipsis inside a sentence": ("Well... ok. Fine.", ["Well... ok.", "Fine."]),
    "ellipsis ending a sentence": ("I see... Let me check…  Done.", ["I see...", "Let me check…", "Done."]),
    "quotes and brackets close the sentence": (
        'He said "go." Then (really!) we left. (See above.) Ok.',
        ['He said "go."', "Then (really!) we left.", "(See above.)", "Ok."],
    ),
    "no space after the mark": ("Hi!How are you?Fine.", ["Hi!How are you?Fine."]),
    "numbered list": ("Steps:\n1. Unplug it.\n2. Wait.\n10. Done", ["Steps:", "1. Unplug it.", "2. Wait.", "10. Done"]),
    "number after a sentence is not a list": ("Pick one. 2. Then go.", ["Pick one.", "2.", "Then go."]),
    "line breaks": ("First line\nSecond line\n\n  Third.", ["First line", "Second line", "Third."]),
    "whitespace only": ("  \n ", []),
    "no end mark": ("no punctuation at all", ["no punctuation at all"]),
}


@pytest.mark.parametrize(("text", "expected"), SENTENCE_CASES.values(), ids=SENTENCE_CASES.keys())
def test_sentence_ends(text: str, expected: list[str]) -> None:
    assert chunk_all(text, **NO_CLAUSES) == expected


@pytest.mark.parametrize(("text", "expected"), SENTENCE_CASES.values(), ids=SENTENCE_CASES.keys())
@pytest.mark.parametrize("how", ["one character at a time", "random sizes"])
def test_streaming_in_deltas_gives_the_same_chunks(text: str, expected: list[str], how: str) -> None:
    deltas = list(text) if how == "one character at a time" else random_deltas(text, seed=len(text))

    assert chunk_deltas(deltas, **NO_CLAUSES) == expected


@pytest.mark.parametrize(
    ("deltas", "ready"),
    [
        (["It costs 3.", "5 dollars. Ok"], [[], ["It costs 3.5 dollars."]]),
        (["Mail bob.", "smith@mail.co.uk. Thanks"], [[], ["Mail bob.smith@mail.co.uk."]]),
        (["Hello.", " ", "How"], [[], [], ["Hello."]]),
        (["Hello. ", "there"], [[], []]),  # lowercase: "Hello. there" is one sentence
        (["Hello?", "\n"], [[], ["Hello?"]]),  # a line break decides at once
        (["こんにちは。", "元気"], [[], ["こんにちは。"]]),  # a closing bracket could still follow
    ],
)
def test_an_end_waits_for_the_next_character(deltas: list[str], ready: list[list[str]]) -> None:
    chunker = SentenceChunker(**NO_CLAUSES)  # type: ignore[arg-type]

    assert [chunker.feed(delta) for delta in deltas] == ready


def test_flush_returns_the_rest_and_resets_for_the_next_reply() -> None:
    chunker = SentenceChunker(first_clause_min_chars=15)
    assert chunker.feed("First reply, long enough to cut here, then more") == ["First reply, long enough to cut here,"]
    assert chunker.flush() == ["then more"]
    assert chunker.flush() == []

    # A new reply: clause cuts are allowed again and a leading number is a list marker.
    assert chunker.feed("1. Another reply, cut at the comma. Ok") == ["1. Another reply,", "cut at the comma."]


CLAUSE_CASES = {
    "comma after the minimum": (
        10,
        "Well, let me check that for you, it takes a moment. Then, we go on, and on.",
        ["Well, let me check that for you,", "it takes a moment.", "Then, we go on, and on."],
    ),
    "semicolon": (10, "Your order shipped today; it arrives soon.", ["Your order shipped today;", "it arrives soon."]),
    "colon": (10, "Here is what I found: two flights.", ["Here is what I found:", "two flights."]),
    "em dash": (10, "That flight is full—the next one is not.", ["That flight is full—", "the next one is not."]),
    "spaced dash": (
        10,
        "That flight is full - the next one is not.",
        ["That flight is full -", "the next one is not."],
    ),
    "hyphen and en dash between numbers": (5, "Gates 10–20 and 3-4 open.", ["Gates 10–20 and 3-4 open."]),
    "japanese comma": (5, "今日は晴れです、明日は雨です。", ["今日は晴れです、", "明日は雨です。"]),
    "chinese full-width comma": (5, "我们明天见面，好吗？", ["我们明天见面，", "好吗？"]),
    "numbers, times, urls": (
        5,
        "About 10,000 people at 10:30 on https://x.com/a,b ok.",
        ["About 10,000 people at 10:30 on https://x.com/a,b ok."],
    ),
    "short first sentence first": (
        5,
        "Yes. Well, that is a long one, indeed.",
        ["Yes.", "Well, that is a long one, indeed."],
    ),
    "disabled": (
        None,
        "Well, let me check that for you, it takes a moment.",
        ["Well, let me check that for you, it takes a moment."],
    ),
}


@pytest.mark.parametrize(("minimum", "text", "expected"), CLAUSE_CASES.values(), ids=CLAUSE_CASES.keys())
def test_a_long_first_sentence_is_cut_at_a_clause(minimum: int | None, text: str, expected: list[str]) -> None:
    assert chunk_all(text, first_clause_min_chars=minimum) == expected
    assert chunk_deltas(list(text), first_clause_min_chars=minimum) == expected


def test_default_first_clause_minimum_is_forty_characters() -> None:
    short = "Sure, I can help you with that, but first tell me your account number."
    long = "Sure, I can help you with that booking right away, but first tell me your account number."

    assert chunk_all(short) == [short]
    assert chunk_all(long) == [
        "Sure, I can help you with that booking right away,",
        "but first tell me your account number.",
    ]


@pytest.mark.parametrize(
    ("text", "max_bytes", "pieces"),
    [
        ("word " * 2500, MAX_SAY_BYTES, 3),  # a 12,500-byte run-on sentence: cut between words
        ("天気" * 1000 + "。", MAX_SAY_BYTES, 2),  # 6,003 bytes, no spaces: cut between characters
        ("é😀€a" * 20, 10, 20),  # 1-, 2-, 3- and 4-byte characters around a tiny limit
    ],
    ids=["run-on english", "run-on japanese", "mixed widths"],
)
def test_no_chunk_exceeds_the_byte_limit(text: str, max_bytes: int, pieces: int) -> None:
    chunks = chunk_all(text, max_bytes=max_bytes)

    assert len(chunks) == pieces
    assert all(len(chunk.encode()) <= max_bytes for chunk in chunks)
    assert without_whitespace("".join(chunks)) == without_whitespace(text)
    assert chunk_deltas(random_deltas(text, seed=1), max_bytes=max_bytes) == chunks


def test_a_run_on_sentence_is_spoken_as_soon_as_it_passes_the_limit() -> None:
    chunker = SentenceChunker(max_bytes=20)

    assert chunker.feed("one two three four five") == ["one two three four"]
    assert chunker.feed(" six.") == []
    assert chunker.flush() == ["five six."]


# Tricky tokens for the fuzz test below; joined with random spacing they make hostile text.
FUZZ_TOKENS = [
    *("Dr.", "e.g.", "U.S.", "3.5", "$4.99", "10:30", "p.m.", "etc.", "1.", "a"),
    *("example.com", "bob.smith@mail.co.uk", "https://x.com/a?b=1", "...", "…", "?!", "!", "."),
    *(",", ";", ":", "—", "-", "「はい。」", "元気ですか？", "、", "¿Qué?", "Ça", "ß", "😀", "\n", "Word", "word"),
    "averyveryverylongwordthatneedscharactersplitting",
]


@pytest.mark.parametrize("seed", range(40))
def test_fuzz_nothing_lost_reordered_or_too_big_and_streaming_agrees(seed: int) -> None:
    rng = random.Random(seed)
    text = "".join(rng.choice(FUZZ_TOKENS) + rng.choice(["", " ", " ", "  "]) for _ in range(rng.randint(1, 80)))
    options: dict[str, int | None] = {"max_bytes": rng.choice([8, 24, 60, MAX_SAY_BYTES])}
    options["first_clause_min_chars"] = rng.choice([None, 1, 15])

    chunks = chunk_all(text, **options)

    assert without_whitespace("".join(chunks)) == without_whitespace(text)
    assert all(chunk and chunk == chunk.strip() for chunk in chunks)
    assert all(len(chunk.encode()) <= options["max_bytes"] for chunk in chunks)  # type: ignore[operator]
    assert chunk_deltas(list(text), **options) == chunks
    assert chunk_deltas(random_deltas(text, seed), **options) == chunks


@pytest.mark.parametrize(
    "options",
    [{"max_bytes": 3}, {"first_clause_min_chars": 0}],
    ids=["byte limit below one character", "clause minimum not positive"],
)
def test_invalid_options_are_refused(options: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        SentenceChunker(**options)


SPLIT_CASES = {
    "blank": ("  \n ", 20, []),
    "fits": ("  Hello there.  ", 20, ["Hello there."]),
    "exactly the limit": ("a" * 20, 20, ["a" * 20]),
    "sentences packed": ("One. Two. Three. Four.", 10, ["One. Two.", "Three.", "Four."]),
    "abbreviations are not sentence ends": ("Hi Dr. Smith. How are you?", 20, ["Hi Dr. Smith.", "How are you?"]),
    "words when a sentence is too long": ("one two three four five six.", 10, ["one two", "three four", "five six."]),
    "characters when a word is too long": ("abcdefghijkl mn", 5, ["abcde", "fghij", "kl mn"]),
    "multi-byte never cut inside a character": ("ééééé", 5, ["éé", "éé", "é"]),
    "emoji": ("😀😀 😀", 5, ["😀", "😀", "😀"]),
    "cjk sentences packed": ("こんにちは。元気ですか？", 18, ["こんにちは。", "元気ですか？"]),
    "4-byte limit": ("a😀b", 4, ["a", "😀", "b"]),
}


@pytest.mark.parametrize(("text", "limit", "expected"), SPLIT_CASES.values(), ids=SPLIT_CASES.keys())
def test_split_for_say(text: str, limit: int, expected: list[str]) -> None:
    pieces = split_for_say(text, limit)

    assert pieces == expected
    assert all(len(piece.encode()) <= limit for piece in pieces)


def test_split_for_say_keeps_the_default_say_limit() -> None:
    text = "Lorem ipsum dolor sit amet. " * 400  # 11,200 bytes

    pieces = split_for_say(text)

    assert [len(piece.encode()) for piece in pieces] == [4983, 4983, 1231]  # 178 whole sentences fit in 5,000 bytes
    assert " ".join(pieces) == text.strip()


def test_split_for_say_refuses_a_limit_below_one_character() -> None:
    with pytest.raises(ValueError):
        split_for_say("text", 3)
