"""The VoIPBin calls the engine and the channel logic make: a Protocol, so they depend on no HTTP stack.

voipbin/client.py's VoipbinClient is the implementation (its docstrings say what VoIPBin answers); unit
tests give it the simulator as an in-process transport, so what the logic sends is still checked
against the contract.
"""

from collections.abc import Sequence
from typing import Protocol

from voipbin_ai.models.voipbin import Address, Call, ConversationMessage, Email, Message, Page, Speaking, Transcribe


class VoipbinApi(Protocol):
    """Speakings (TTS into a call), transcribes (STT), messages, conversations, e-mails and calls."""

    def create_speaking(
        self, reference_id: str, *, language: str = "", provider: str = "", voice_id: str = "", direction: str = ""
    ) -> Speaking:
        """Start a TTS session on a call, ready for /say; a second live one on the call fails (500)."""
        ...

    def say(self, speaking_id: str, text: str) -> list[str]:
        """Speak text, in /say pieces of at most 5000 bytes; the pieces sent. A gone speaking: SPEAKING_GONE."""
        ...

    def flush_speaking(self, speaking_id: str) -> Speaking:
        """Drop queued text and cut the current playback (barge-in); the session stays active."""
        ...

    def stop_speaking(self, speaking_id: str) -> Speaking:
        """End the TTS session (VoIPBin does not on hangup)."""
        ...

    def delete_speaking(self, speaking_id: str) -> Speaking:
        """Delete a TTS session, stopping it if its pod answers; only then may the call have a new one."""
        ...

    def list_speakings(self, *, page_size: int | None = None) -> Page[Speaking]:
        """One page of speakings, newest first."""
        ...

    def create_transcribe(self, reference_id: str, *, language: str, direction: str = "both") -> Transcribe:
        """Start live transcription of a call; VoipbinConflict when one is progressing."""
        ...

    def get_transcribe(self, transcribe_id: str) -> Transcribe:
        """One transcribe: its reference is the call it listens to."""
        ...

    def send_message(self, source: Address, destinations: Sequence[Address], text: str) -> Message:
        """Send an SMS."""
        ...

    def send_conversation_message(self, conversation_id: str, text: str) -> ConversationMessage:
        """Send a text into a VoIPBin conversation (LINE, WhatsApp, its web chat widget)."""
        ...

    def send_email(self, destinations: Sequence[Address], subject: str, content: str) -> Email:
        """Send an e-mail (from VoIPBin's own sender)."""
        ...

    def hangup_call(self, call_id: str) -> Call:
        """Hang up a call (idempotent); call_hangup follows."""
        ...
