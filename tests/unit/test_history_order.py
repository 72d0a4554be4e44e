"""History in the order the person wrote or spoke: replies stay put, the texts between them follow their times."""

from voipbin_ai.models.session import HistoryMessage, epoch_ms, in_the_order_written


def user(turn: int, text: str, sent_at_ms: int | None) -> HistoryMessage:
    return HistoryMessage(turn=turn, role="user", text=text, sent_at_ms=sent_at_ms)


def reply(turn: int, text: str) -> HistoryMessage:
    return HistoryMessage(turn=turn, role="assistant", text=text)


def texts(messages: list[HistoryMessage]) -> list[str]:
    return [message.text for message in messages]


def test_a_burst_processed_out_of_order_is_put_back_in_the_order_written() -> None:
    processed = [user(1, "b", 2_000), user(2, "c", 3_000), user(3, "a", 1_000), reply(3, "answer")]

    assert texts(in_the_order_written(processed)) == ["a", "b", "c", "answer"]


def test_a_reply_is_a_boundary_the_times_never_cross() -> None:
    messages = [user(1, "first", 5_000), reply(1, "one"), user(2, "second", 1_000), reply(2, "two")]

    assert texts(in_the_order_written(messages)) == ["first", "one", "second", "two"]


def test_the_input_order_does_not_matter_only_turns_and_times() -> None:
    messages = [reply(2, "answer"), user(2, "late", 9_000), user(1, "early", 8_000)]

    assert texts(in_the_order_written(messages)) == ["early", "late", "answer"]


def test_messages_without_times_keep_their_turn_order() -> None:
    messages = [user(2, "two", None), user(1, "one", None), reply(2, "answer"), user(3, "three", None)]

    assert texts(in_the_order_written(messages)) == ["one", "two", "answer", "three"]


def test_epoch_ms_reads_voipbin_timestamps() -> None:
    from datetime import UTC, datetime

    assert epoch_ms(datetime(2026, 8, 22, 10, 15, 1, 204871, tzinfo=UTC)) == 1_787_393_701_205
    assert epoch_ms(None) is None
