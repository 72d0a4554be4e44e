import pytest

from tests.helpers import WEBHOOK_SAMPLES, load_json
from voipbin_ai.voipbin import signature

VECTOR = load_json(WEBHOOK_SAMPLES / "signature_test_vector.json")
BODY = VECTOR["body_utf8"].encode()
SECRET = VECTOR["secret"]


def test_the_contract_vector_verifies() -> None:
    assert signature.sign(SECRET, BODY) == VECTOR["expected_header_value"]
    assert signature.verify(SECRET, BODY, VECTOR["expected_header_value"])


@pytest.mark.parametrize("position", [0, len(BODY) // 2, len(BODY) - 1])
def test_one_changed_body_byte_fails(position: int) -> None:
    tampered = bytearray(BODY)
    tampered[position] ^= 0x01
    assert not signature.verify(SECRET, bytes(tampered), VECTOR["expected_header_value"])


def test_a_wrong_secret_fails() -> None:
    assert not signature.verify(SECRET + "x", BODY, VECTOR["expected_header_value"])


@pytest.mark.parametrize("header", [None, "", "sha256=", VECTOR["expected_header_value"].removeprefix("sha256=")])
def test_a_missing_or_incomplete_header_fails(header: str | None) -> None:
    assert not signature.verify(SECRET, BODY, header)


@pytest.mark.parametrize(
    "name", ["X-VoIPBIN-Signature", "X-Voipbin-Signature", "x-voipbin-signature", "X-VOIPBIN-SIGNATURE"]
)
def test_the_header_is_found_whatever_its_case(name: str) -> None:
    assert signature.find_header({"content-type": "application/json", name: "v"}) == "v"


def test_no_header_is_none() -> None:
    assert signature.find_header({"content-type": "application/json"}) is None
    assert signature.find_header(None) is None
