"""The demo: phone calls, an SMS thread, a LINE and a web chat widget conversation through the local stack.

The VoIPBin simulator plays the caller, the texter and the LINE user: it sends signed webhooks to the
stack's HTTP API (the ingress, the bus and every function, routed by template.yaml) and records what the
backend asks of it (transcribe, speaking, /say, /flush, /messages, /conversations/{id}/messages). The LLM
is the configured endpoint when OPENAI_API_KEY is set, otherwise an offline model on loopback. Printed as
the caller, the texter and the LINE user experience it, with each turn's latency from the transcript's
webhook to the first /say; a second number's agent answers in Spanish; the web chat widget asks what only
the business's documents (knowledge/dental) say, and the passages search_knowledge gives the model for it
are shown with their sources. Run with `make demo`.
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from local.backing import backing_services
from local.driver import StackDriver
from local.dynamodb_local import DynamoDBLocalError
from local.offline_llm import OfflineLlmError
from local.stack import LocalStack
from local.voipbin_simulator import VoipbinSimulator
from voipbin_ai.knowledge.search import IndexedKnowledge
from voipbin_ai.observability import mask_phone

CALLER, OURS = "+15551234567", "+15559876543"
WEBHOOK_SECRET = "demo-webhook-secret"
CALL_SCRIPT = (
    "Hi, what are your opening hours?",
    "Great. How much does a cleaning cost?",  # the caller barges in during this answer
    "Sorry, I meant a check-up. How much is that?",
    "Thanks, that's all. Goodbye!",
)
SMS_SCRIPT = ("Hi, can I book a check-up on Friday?", "What is your address?")
LINE_USER = "U4af4980629d3c1a7e8b2f5c6d9e0a1b2"
LINE_SCRIPT = ("Hello! Are you open on Saturday morning?", "And how much is a cleaning?")
# A second number, answered by a second agent in Spanish (its own greeting, transcribe language and voice).
SPANISH_LINE = "+34910000000"
SPANISH_SCRIPT = ("Hola, ¿abren el sábado por la mañana?", "Gracias, adiós.")
# Not in the agent's facts: only knowledge/dental/services.md says it.
KNOWLEDGE_QUESTION = "How much does teeth whitening cost?"
_POLL_SECONDS = 0.01
_WAIT_SECONDS = 60.0


def main() -> int:
    """Start the stack, play the call and the texts, print them."""
    print("Starting the local stack (DynamoDB Local, VoIPBin simulator, LLM)...", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="voipbin-ai-demo-") as workdir,
        VoipbinSimulator(token="demo-token", webhook_secret=WEBHOOK_SECRET) as voipbin,
    ):
        try:
            with backing_services(Path(workdir), silence_checks=False) as backing:
                environment = {
                    **backing.environment,
                    "EVENT_BUS_NAME": "voipbin-ai-local",
                    "VOIPBIN_API_URL": voipbin.base_url,
                    "VOIPBIN_API_TOKEN": voipbin.token,
                    "VOIPBIN_WEBHOOK_SECRET": WEBHOOK_SECRET,
                    "POWERTOOLS_LOG_LEVEL": "WARNING",
                    "POWERTOOLS_METRICS_DISABLED": "true",
                    "SMS_BURST_SECONDS": "0",
                }
                stack = LocalStack(with_a_spanish_line(Path(workdir), environment))
                with stack.running():
                    print(f"HTTP API {stack.url} (POST /webhooks/voipbin, POST /chat); LLM: {backing.llm}\n")
                    Demo(stack, voipbin).play()
                    if stack.dead_letters:
                        print(f"\n{len(stack.dead_letters)} event(s) failed: {stack.dead_letters}", file=sys.stderr)
                        return 1
        except (DynamoDBLocalError, OfflineLlmError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    return 0


class Demo(StackDriver):
    """The script, played through the simulator."""

    def play(self) -> None:
        """The call, then the texts, then LINE."""
        self.call()
        self.texts()
        self.line()
        self.spanish_call()
        self.knowledge()

    def send(self, event_type: str, data: dict[str, Any], *, wait: bool = True) -> float:
        """VoIPBin POSTs a signed webhook; returns when it was sent (monotonic)."""
        sent_at = time.monotonic()
        self.webhook(event_type, data, wait=wait)
        return sent_at

    def call(self) -> None:
        """A call: answered, four utterances with a barge-in, hung up."""
        call = self.voipbin.add_call(CALLER, OURS)
        print(f"Phone call from {mask_phone(CALLER)} to {mask_phone(OURS)}")
        self.send("call_progressing", call)
        speakings = [s for s in self.voipbin.resources("speakings") if s["reference_id"] == call["id"]]
        transcribes = [t for t in self.voipbin.resources("transcribes") if t["reference_id"] == call["id"]]
        if not speakings or not transcribes:
            print("  (the call was not answered: see the logs above)")
            return
        speaking_id, transcribe_id = speakings[0]["id"], transcribes[0]["id"]
        self.show_said(speaking_id, 0, None)
        for index, words in enumerate(CALL_SCRIPT):
            print(f"  Caller: {words}")
            before = len(self.voipbin.said_texts(speaking_id))
            sent_at = self.send("transcript_created", self.voipbin.add_transcript(transcribe_id, words), wait=False)
            if index == 1:
                self.barge_in(transcribe_id, speaking_id, before)
            self.stack.wait_idle()
            self.show_said(speaking_id, before, sent_at)
        self.send("call_hangup", {**call, "status": "hangup", "hangup_by": "remote", "hangup_reason": "normal"})
        flushes = len(self.voipbin.requests("POST", f"/speakings/{speaking_id}/flush"))
        stopped = bool(self.voipbin.requests("POST", f"/speakings/{speaking_id}/stop"))
        print(f"  [call ended: {flushes} flush(es), speaking stopped: {stopped}]\n")

    def spanish_call(self) -> None:
        """A call to the second number: its agent greets, listens and speaks in Spanish, with its own voice."""
        call = self.voipbin.add_call(CALLER, SPANISH_LINE)
        print(f"\nPhone call from {mask_phone(CALLER)} to {mask_phone(SPANISH_LINE)} (a second agent, in Spanish)")
        self.send("call_progressing", call)
        speakings = [s for s in self.voipbin.resources("speakings") if s["reference_id"] == call["id"]]
        transcribes = [t for t in self.voipbin.resources("transcribes") if t["reference_id"] == call["id"]]
        if not speakings or not transcribes:
            print("  (the call was not answered: see the logs above)")
            return
        speaking, transcribe = speakings[0], transcribes[0]
        voice = f"speaking {speaking['language']} as voice {speaking['voice_id']}"
        print(f"  [listening in {transcribe['language']}, {voice}]")
        self.show_said(speaking["id"], 0, None)
        for words in SPANISH_SCRIPT:
            print(f"  Caller: {words}")
            before = len(self.voipbin.said_texts(speaking["id"]))
            sent_at = self.send("transcript_created", self.voipbin.add_transcript(transcribe["id"], words))
            self.show_said(speaking["id"], before, sent_at)
        self.send("call_hangup", {**call, "status": "hangup", "hangup_by": "remote", "hangup_reason": "normal"})

    def barge_in(self, transcribe_id: str, speaking_id: str, before: int) -> None:
        """Wait for the answer's first sentence, then the caller starts talking over it."""
        deadline = time.monotonic() + _WAIT_SECONDS
        while len(self.voipbin.said_texts(speaking_id)) <= before and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
        started = self.voipbin.speech_started(transcribe_id)
        self.send("transcribe_speech_started", started, wait=False)
        print("  Caller: (starts talking over the answer: barge-in)")

    def show_said(self, speaking_id: str, before: int, sent_at: float | None) -> None:
        """What the caller heard since `before`, and how long after the transcript it started."""
        said = self.voipbin.said_texts(speaking_id)[before:]
        says = self.voipbin.requests("POST", f"/speakings/{speaking_id}/say")[before:]
        latency = ""
        if sent_at is not None and says:
            latency = f"   [first /say {1000 * (says[0].received_at - sent_at):.0f} ms after the transcript]"
        print(f"  AI:     {' '.join(said) or '(nothing)'}{latency}")

    def texts(self) -> None:
        """An SMS thread: each text delivered twice (both webhooks), answered once."""
        print(f"SMS thread between {mask_phone(CALLER)} and {mask_phone(OURS)}")
        for index, text in enumerate(SMS_SCRIPT):
            before = len(self.voipbin.requests("POST", "/messages"))
            print(f"  Texter: {text}")
            message = inbound_sms(f"demo-sms-{index}", text)
            sent_at = self.send("message_created", message)
            self.send("conversation_message_created", message)  # the same SMS again: answered once
            for request in self.voipbin.requests("POST", "/messages")[before:]:
                print(f"  AI:     {request.body['text']}   [{1000 * (request.received_at - sent_at):.0f} ms]")
        print(f"  [{len(self.voipbin.requests('POST', '/messages'))} replies to {len(SMS_SCRIPT)} texts]")

    def line(self) -> None:
        """A LINE conversation: each message answered in it; our replies come back and are not answered."""
        conversation = self.voipbin.add_conversation("line", LINE_USER, peer_name="Jane")
        replies = f"/conversations/{conversation['id']}/messages"
        print("\nLINE conversation with Jane (VoIPBin conversation channel)")
        for text in LINE_SCRIPT:
            before = len(self.voipbin.requests("POST", replies))
            print(f"  Jane:   {text}")
            sent_at = self.send(
                "conversation_message_created", self.voipbin.add_conversation_message(conversation["id"], text)
            )
            for request in self.voipbin.requests("POST", replies)[before:]:
                print(f"  AI:     {request.body['text']}   [{1000 * (request.received_at - sent_at):.0f} ms]")
            ours = [m for m in self.voipbin.resources("conversation_messages") if m["direction"] == "outgoing"]
            if ours:  # VoIPBin sends our own reply back as conversation_message_created (outgoing)
                self.send("conversation_message_created", {**ours[-1], "status": "progressing"})
        answered = len(self.voipbin.requests("POST", replies))
        print(f"  [{answered} replies to {len(LINE_SCRIPT)} messages; our own replies came back and were not answered]")

    def knowledge(self) -> None:
        """A question the agent's facts do not answer, in VoIPBin's web chat widget, and what search_knowledge finds."""
        conversation = self.voipbin.add_conversation("webchat", "demo-widget-session", peer_name="Visitor")
        replies = f"/conversations/{conversation['id']}/messages"
        print("\nWeb chat widget (VoIPBin conversation channel): a question only the business's documents answer")
        print(f"  Visitor: {KNOWLEDGE_QUESTION}")
        message = self.voipbin.add_conversation_message(conversation["id"], KNOWLEDGE_QUESTION)
        sent_at = self.send("conversation_message_created", message)
        for request in self.voipbin.requests("POST", replies):
            print(f"  AI:     {request.body['text']}   [{1000 * (request.received_at - sent_at):.0f} ms]")
        index = IndexedKnowledge(Path(os.environ["KNOWLEDGE_INDEX_FILE"]), "dental")
        print("  search_knowledge finds, for the model to answer from (knowledge/dental: source, heading):")
        for found in index.search(KNOWLEDGE_QUESTION, limit=2):
            print(f"    {found.source} ({found.title}): {found.text[:90]}...")
        if not os.environ.get("OPENAI_API_KEY"):
            print("  [the offline model calls no tools: its reply does not draw on these; with OPENAI_API_KEY it does]")


def with_a_spanish_line(workdir: Path, environment: dict[str, str]) -> dict[str, str]:
    """The demo's agents: the usual one on OURS (and any other number), a Spanish one on SPANISH_LINE.

    A configuration of several agents given in AGENT_CONFIG_FILE is left as it is.
    """
    from voipbin_ai.config import DEFAULT_AGENT_FILE

    ava = json.loads(Path(environment.get("AGENT_CONFIG_FILE") or DEFAULT_AGENT_FILE).read_text(encoding="utf-8"))
    if "agents" in ava:
        return environment
    sofia = ava | {
        "name": "Sofía",
        "persona": "Eres Sofía, la asistente de la Clínica Dental Ejemplo. Responde siempre en español, con brevedad.",
        "greeting": "Hola, soy Sofía de la Clínica Dental Ejemplo. ¿En qué puedo ayudarle?",
        "language": "es-ES",
    }
    agents = {"agents": {"ava": ava, "sofia": sofia}, "numbers": {OURS: "ava", SPANISH_LINE: "sofia"}, "default": "ava"}
    path = workdir / "agents.demo.json"
    path.write_text(json.dumps(agents), encoding="utf-8")
    return environment | {"AGENT_CONFIG_FILE": str(path)}


def inbound_sms(key: str, text: str) -> dict[str, Any]:
    """An inbound SMS as message_created carries it."""
    import uuid

    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, key + str(time.time()))),
        "customer_id": "5e4a0680-804e-11ec-8477-2fea5968d85b",
        "type": "sms",
        "source": {"type": "tel", "target": CALLER},
        "targets": [{"destination": {"type": "tel", "target": OURS}, "status": "received", "parts": 1}],
        "text": text,
        "direction": "inbound",
        "tm_create": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime()),
    }


if __name__ == "__main__":
    sys.exit(main())
