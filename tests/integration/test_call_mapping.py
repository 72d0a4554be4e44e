"""A transcript's call, also when the transcript comes before the mapping (VoIPBin simulator + DynamoDB Local)."""

import pytest

from local.voipbin_simulator import VoipbinSimulator
from tests.fakes.dynamodb_local import DynamoDBTable
from tests.store_calls import counted_calls
from voipbin_ai.logic import calls
from voipbin_ai.logic.calls import call_conversation_of
from voipbin_ai.models.session import call_conversation_id
from voipbin_ai.store.dynamodb import DynamoDBStore
from voipbin_ai.voipbin.client import VoipbinClient, get_client

pytestmark = pytest.mark.integration

CALL_ID = "9c5e2a1d-6f4b-4e0a-9d2e-3b7c8a1f0e55"


@pytest.fixture
def store(dynamodb_table: DynamoDBTable) -> DynamoDBStore:
    return DynamoDBStore(dynamodb_table.name, ttl_seconds=3600, client=dynamodb_table.client)


@pytest.fixture
def voipbin(voipbin_env: VoipbinSimulator) -> VoipbinClient:
    return get_client()


def transcribe_lookups(simulator: VoipbinSimulator) -> int:
    return len(simulator.requests("GET", "/v1.0/transcribes/"))


def test_a_stored_mapping_is_used_without_asking_voipbin(
    store: DynamoDBStore, voipbin: VoipbinClient, voipbin_env: VoipbinSimulator
) -> None:
    store.map_transcribe("bbf08426-3979-41bc-a544-5fc92c237848", call_conversation_id(CALL_ID))

    found = call_conversation_of("bbf08426-3979-41bc-a544-5fc92c237848", store=store, voipbin=voipbin)

    assert found == call_conversation_id(CALL_ID)
    assert transcribe_lookups(voipbin_env) == 0


def test_a_transcript_before_its_mapping_asks_voipbin_and_stores_the_answer(
    store: DynamoDBStore, voipbin: VoipbinClient, voipbin_env: VoipbinSimulator
) -> None:
    # Given a live transcribe whose mapping call_progressing has not written yet
    transcribe = voipbin.create_transcribe(CALL_ID, language="en-US", direction="in")

    # When its first transcript needs the call
    found = call_conversation_of(transcribe.id, store=store, voipbin=voipbin)

    # Then VoIPBin was asked once, and the answer is stored for the other containers
    assert found == call_conversation_id(CALL_ID)
    assert transcribe_lookups(voipbin_env) == 1
    assert store.conversation_of_transcribe(transcribe.id) == call_conversation_id(CALL_ID)


def test_a_warm_container_resolves_a_known_transcribe_without_a_round_trip(
    store: DynamoDBStore, voipbin: VoipbinClient, voipbin_env: VoipbinSimulator
) -> None:
    store.map_transcribe("bbf08426-3979-41bc-a544-5fc92c237848", call_conversation_id(CALL_ID))
    call_conversation_of("bbf08426-3979-41bc-a544-5fc92c237848", store=store, voipbin=voipbin)

    with counted_calls(store.client) as calls:
        call_conversation_of("bbf08426-3979-41bc-a544-5fc92c237848", store=store, voipbin=voipbin)

    assert sum(calls.values()) == 0


def test_a_transcribe_unknown_to_voipbin_has_no_call(
    store: DynamoDBStore, voipbin: VoipbinClient, voipbin_env: VoipbinSimulator
) -> None:
    assert call_conversation_of("0f0f0f0f-0000-4000-8000-000000000000", store=store, voipbin=voipbin) is None
    assert transcribe_lookups(voipbin_env) == 1


def test_a_warm_container_forgets_its_oldest_mappings_first(
    store: DynamoDBStore, voipbin: VoipbinClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(calls, "_KNOWN_MAX", 2)
    for n in range(3):
        store.map_transcribe(f"t{n}", call_conversation_id(f"c{n}"))
        call_conversation_of(f"t{n}", store=store, voipbin=voipbin)

    assert list(calls._known) == ["t1", "t2"]
