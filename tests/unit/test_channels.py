"""Text made fit for each channel: no markdown read aloud, SMS within its segments, messaging apps' formats."""

import pytest

from voipbin_ai.ai.channels import fit_message, fit_sms, plain_text, sms_capacity, sms_length, speakable, whatsapp_text


@pytest.mark.parametrize(
    ("markdown", "plain"),
    [
        ("**Yes**, we do.", "Yes, we do."),
        ("# Hours\n- Mon: 8-18\n* Sat: 9-13", "Hours\nMon: 8-18\nSat: 9-13"),
        ("See [our site](https://example.com/a_b).", "See our site (https://example.com/a_b)."),
        ("Use `code` and _kept_as_is", "Use code and _kept_as_is"),
        ("2 * 3 = 6 and 5 * 4", "2 * 3 = 6 and 5 * 4"),
        ("> quoted  text", "quoted text"),
    ],
)
def test_plain_text_drops_markdown_marks_only(markdown: str, plain: str) -> None:
    assert plain_text(markdown) == plain


def test_speakable_is_one_line() -> None:
    assert speakable("- First\n- Second") == "First Second"


@pytest.mark.parametrize(
    ("text", "units", "gsm"),
    [
        ("Hello", 5, True),
        ("Price: 5€ {ok}", 17, True),  # € { } take two septets each
        ("Grüße", 5, True),  # ü is in the GSM basic set, ß too
        ("ça va? très bien", 16, False),  # lowercase ç is not GSM-7 (Ç is)
        ("日本語", 3, False),
        ("ok 👍", 5, False),  # an emoji is two UTF-16 units
    ],
)
def test_sms_length_counts_like_a_phone(text: str, units: int, gsm: bool) -> None:
    assert sms_length(text) == (units, gsm)


def test_segment_capacity() -> None:
    assert (sms_capacity(1, gsm=True), sms_capacity(2, gsm=True), sms_capacity(2, gsm=False)) == (160, 306, 134)


def test_a_short_sms_is_kept_whole() -> None:
    assert fit_sms("We open at 8.", max_segments=2) == "We open at 8."


@pytest.mark.parametrize(("word", "segments"), [("hello", 1), ("hello", 2), ("こんにちは", 2), ("grüß", 3)])
def test_a_long_sms_is_cut_at_a_word_to_fit(word: str, segments: int) -> None:
    text = " ".join([word] * 200)

    fitted = fit_sms(text, max_segments=segments)

    units, gsm = sms_length(fitted)
    assert units <= sms_capacity(segments, gsm=gsm)
    assert fitted.endswith("...")
    assert fitted.removesuffix("...").split(" ")[-1] == word  # never half a word


@pytest.mark.parametrize(
    ("markdown", "whatsapp"),
    [
        ("We open at **8:00** on _Saturday_.", "We open at *8:00* on _Saturday_."),
        ("An *italic* word and ~~old~~ price", "An _italic_ word and ~old~ price"),
        ("## Hours\n- Mon-Fri 8-18\n- Sat 9-13", "Hours\n- Mon-Fri 8-18\n- Sat 9-13"),
        ("See [our site](https://example.com/dental).", "See our site (https://example.com/dental)."),
    ],
)
def test_whatsapp_text_writes_markdown_in_whatsapps_own_marks(markdown: str, whatsapp: str) -> None:
    assert whatsapp_text(markdown) == whatsapp


def test_a_messaging_reply_is_formatted_then_cut_at_a_word() -> None:
    text = "**Yes.** " + "word " * 50

    assert fit_message(text, max_characters=100, formatting="markdown") == text.strip()[:97].rpartition(" ")[0] + "..."
    plain = fit_message(text, max_characters=30, formatting="plain")
    assert plain == "Yes. word word word word..." and len(plain) <= 30
    assert fit_message("**Yes**", max_characters=30, formatting="whatsapp") == "*Yes*"
