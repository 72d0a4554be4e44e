"""Ids derived from phone numbers are keyed digests: not reversible by trying every number without the pepper."""

import hashlib

import pytest

from voipbin_ai import config
from voipbin_ai.exceptions import ConfigurationError
from voipbin_ai.models.session import PhoneIds

CALLER, OURS = "+15551234567", "+15559876543"


def test_the_ids_depend_on_the_pepper_and_are_no_plain_hash_of_the_number() -> None:
    ours, theirs = PhoneIds(b"one pepper"), PhoneIds(b"another pepper")

    assert ours.contact(CALLER) == PhoneIds(b"one pepper").contact(CALLER)
    assert ours.contact(CALLER) != theirs.contact(CALLER)
    assert ours.sms_conversation(OURS, CALLER) != theirs.sms_conversation(OURS, CALLER)
    assert hashlib.sha256(CALLER.encode()).hexdigest()[:32] not in ours.contact(CALLER)
    assert CALLER.lstrip("+") not in ours.contact(CALLER) + ours.sms_conversation(OURS, CALLER)


def test_without_a_pepper_the_ids_cannot_be_made(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PHONE_ID_PEPPER")
    monkeypatch.delenv("PHONE_ID_PEPPER_NAME", raising=False)

    with pytest.raises(ConfigurationError, match="PHONE_ID_PEPPER"):
        config.phone_id_pepper()
