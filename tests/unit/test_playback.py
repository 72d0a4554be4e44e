"""When spoken words end playing, and a call's id read back from its conversation id."""

import pytest

from voipbin_ai.models.session import Playback, call_conversation_id, call_of_conversation

NOW = 1_800_000_000.0


def test_words_queue_after_what_still_plays_at_the_voices_pace() -> None:
    playback = Playback(chars_per_second=10, clock=lambda: NOW)
    now_ms = int(NOW * 1000)

    first = playback.until_ms(0, "x" * 20)  # nothing playing: from now, 2 s
    second = playback.until_ms(first, "x" * 5)  # after the first, 0.5 s

    assert (first, second) == (now_ms + 2000, now_ms + 2500)
    assert playback.still_playing(second) and not playback.still_playing(now_ms)
    assert (playback.seconds_left(second), playback.seconds_left(now_ms - 5)) == (2.5, 0.0)


def test_a_calls_id_reads_back_from_its_conversation_id_and_nothing_else_does() -> None:
    assert call_of_conversation(call_conversation_id("c-1")) == "c-1"
    with pytest.raises(ValueError, match="not a call"):
        call_of_conversation("sms:abc")
