"""Which call a transcript belongs to: transcripts carry a transcribe id, not the call id (CONTRACT.md §6).

call_progressing stores the mapping once POST /transcribes returns, but VoIPBin starts streaming before
that, so a transcript can arrive first. The fallback asks VoIPBin (GET /transcribes/{id} -> reference_id)
and stores what it learns. A warm container remembers its mappings, so a turn reads DynamoDB only once.
"""

from typing import Final

from voipbin_ai.models.session import call_conversation_id
from voipbin_ai.observability import logger
from voipbin_ai.store.dynamodb import ConversationStore
from voipbin_ai.voipbin.client import VoipbinClient, VoipbinNotFound

_REFERENCE_TYPE_CALL: Final = "call"
# A warm container serves many calls over hours: it remembers the most recent ones, oldest forgotten first.
_KNOWN_MAX: Final = 4096
# transcribe id -> call conversation id; a transcribe never moves to another call.
_known: dict[str, str] = {}


def call_conversation_of(transcribe_id: str, *, store: ConversationStore, voipbin: VoipbinClient) -> str | None:
    """The conversation id of the call a transcribe belongs to; None when it is not a call's transcribe."""
    if transcribe_id in _known:
        return _known[transcribe_id]
    conversation_id = store.conversation_of_transcribe(transcribe_id)
    if conversation_id is None:
        conversation_id = _ask_voipbin(transcribe_id, store=store, voipbin=voipbin)
    if conversation_id is not None:
        if len(_known) >= _KNOWN_MAX:
            del _known[next(iter(_known))]
        _known[transcribe_id] = conversation_id
    return conversation_id


def _ask_voipbin(transcribe_id: str, *, store: ConversationStore, voipbin: VoipbinClient) -> str | None:
    try:
        transcribe = voipbin.get_transcribe(transcribe_id)
    except VoipbinNotFound:
        logger.warning("Transcribe unknown to VoIPBin", transcribe_id=transcribe_id)
        return None
    if transcribe.reference_type != _REFERENCE_TYPE_CALL or transcribe.reference_id is None:
        logger.info("Transcribe is not a call's", transcribe_id=transcribe_id, reference_type=transcribe.reference_type)
        return None
    conversation_id = call_conversation_id(transcribe.reference_id)
    store.map_transcribe(transcribe_id, conversation_id)
    logger.info("Transcribe mapped through VoIPBin", transcribe_id=transcribe_id, conversation_id=conversation_id)
    return conversation_id
