"""The web chat's sessions: only those this server issued are taken (the limits: tests/unit/test_chat.py)."""

from typing import Any

import pytest

from voipbin_ai.exceptions import InvalidChatSessionError
from voipbin_ai.logic.chat import issue_session, verified_session

KEY = b"chat-session-key-for-tests"


def test_an_issued_session_verifies_and_its_conversation_id_holds_no_signature() -> None:
    session_id = issue_session(KEY)
    random_id, _, signature = session_id.partition(".")

    assert verified_session(KEY, session_id) == random_id
    assert len(random_id) >= 22 and signature not in random_id
    assert issue_session(KEY) != session_id


@pytest.mark.parametrize(
    "forge",
    [
        lambda issued: issued.partition(".")[0],  # no signature
        lambda issued: issued.partition(".")[0] + ".AAAAAAAAAAAAAAAAAAAAAAAA",
        lambda issued: "x" + issued,  # another id under the same signature
        lambda issued: "." + issued.partition(".")[2],
        lambda issued: "browser-session-1",
    ],
)
def test_a_session_not_issued_with_this_key_is_refused(forge: Any) -> None:
    with pytest.raises(InvalidChatSessionError):
        verified_session(KEY, forge(issue_session(KEY)))
    with pytest.raises(InvalidChatSessionError):
        verified_session(b"another deployment's key", issue_session(KEY))
