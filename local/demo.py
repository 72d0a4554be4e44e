"""The demo: phone calls, an SMS thread, a LINE and a web chat widget conversation through the local stack.

Two numbers, two agents: the usual one in English on OURS, a Spanish one on SPANISH_LINE.

The VoIPBin simulator plays the caller, the texter and the LINE user: it sends signed webhooks to the
stack's HTTP API (the ingress, the bus and every function, routed by template.yaml) and records what the
backend asks of it (transcribe, speaking, /say, /flush, /messages, /conversations/{id}/messages), and the
call's summary is read off the local bus as the business's own rule would receive it. The LLM
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.backing import backing_services
from local.driver import StackDriver
from local.dynamodb_local import DynamoDBLocalError
from local.offline_llm import OfflineLlmError
from local.stack import LocalStack, cold_start
from local.voipbin_simulator import VoipbinSimulator
from voipbin_ai.bus import OWN_SOURCE
from voipbin_ai.config import DEFAULT_AGENT_FILE
from voipbin_ai.knowledge.search import IndexedKnowledge
from voipbin_ai.models.summary import CALL_SUMMARIZED
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
# What the Spanish agent has of its own; the rest is the usual agent's.
SPANISH_AGENT = {
    "name": "Sofía",
    "persona": "Eres Sofía, la asistente de la Clínica Dental Ejemplo. Responde siempre en español, con brevedad.",
    "greeting": "Hola, soy Sofía de la Clínica Dental Ejemplo. ¿En qué puedo ayudarle?",
    "language": "es-ES",
    "knowledge": None,  # knowledge/dental is in English
}
# Not in the agent's facts: only knowledge/dental/services.md says it.
KNOWLEDGE_QUESTION = "How much does teeth whitening cost?"
_POLL_SECONDS = 0.01
_WAIT_SECONDS = 60.0
# The silent caller's call: a re-prompt after this much quiet once the agent's words end playing.
REPROMPT_SECONDS = 2
SILENT_CALL_WORDS = "Yes, sorry! Do you take new patients?"


def main() -> int:
    """Start the stack, play the call and the texts, print them."""
    print("Starting the local stack (DynamoDB Local, VoIPBin simulator, LLM)...", flush=True)
    with (
        tempfile.TemporaryDirectory(prefix="voipbin-ai-demo-") as workdir,
        VoipbinSimulator(token="demo-token", webhook_secret=WEBHOOK_SECRET) as voipbin,
    ):
        try:
            with backing_services(Path(workdir), silence_checks=False) as backing:
                agent_path = demo_agents(Path(workdir), backing.environment)
                environment = {
                    **backing.environment,
                    "AGENT_CONFIG_FILE": str(agent_path),
                    "EVENT_BUS_NAME": "voipbin-ai-local",
                    "VOIPBIN_API_URL": voipbin.base_url,
                    "VOIPBIN_API_TOKEN": voipbin.token,
                    "VOIPBIN_WEBHOOK_SECRET": WEBHOOK_SECRET,
                    "POWERTOOLS_LOG_LEVEL": "WARNING",
                    "POWERTOOLS_METRICS_DISABLED": "true",
                    "SMS_BURST_SECONDS": "0",
                }
                stack = LocalStack(environment)
                with stack.running():
                    print(f"HTTP API {stack.url} (POST /webhooks/voipbin, POST /chat); LLM: {backing.llm}\n")
                    Demo(stack, voipbin, agent_path).play()
                    if stack.dead_letters:
                        print(f"\n{len(stack.dead_letters)} event(s) failed: {stack.dead_letters}", file=sys.stderr)
                        return 1
        except (DynamoDBLocalError, OfflineLlmError) as error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    return 0


def demo_agents(workdir: Path, environment: dict[str, str]) -> Path:
    """The demo's agents: the usual one on OURS (and any other number), a Spanish one on SPANISH_LINE.

    Each summarizes calls only, since a text thread's idle check outlasts the demo. A configuration of
    several agents given in AGENT_CONFIG_FILE keeps its agents and numbers.
    """
    base = Path(environment.get("AGENT_CONFIG_FILE") or os.environ.get("AGENT_CONFIG_FILE") or DEFAULT_AGENT_FILE)
    configuration = json.loads(base.read_text(encoding="utf-8"))
    if "agents" not in configuration:
        ava = configuration
        sofia = ava | SPANISH_AGENT
        numbers = {OURS: "ava", SPANISH_LINE: "sofia"}
        configuration = {"agents": {"ava": ava, "sofia": sofia}, "numbers": numbers, "default": "ava"}
    for agent in configuration["agents"].values():
        agent["summary"] = {**agent.get("summary", {}), "channels": ["voice"]}
    path = workdir / "agents.demo.json"
    path.write_text(json.dumps(configuration), encoding="utf-8")
    return path


@dataclass
class Demo(StackDriver):
    """The script, played through the simulator."""

    agent_path: Path

    def play(self) -> None:
        """The call, the silent caller's call, the texts, LINE, then a call to the Spanish line."""
        self.call()
        self.silent_call()
        self.texts()
        self.line()
        self.spanish_call()
        self.knowledge()

    def agent_changed(self, **sections: Any) -> None:
        """Replace sections of the demo's agents; the functions' containers start afresh to read them."""
        configuration = json.loads(self.agent_path.read_text(encoding="utf-8"))
        for agent in configuration["agents"].values():
            agent.update(sections)
        self.agent_path.write_text(json.dumps(configuration), encoding="utf-8")
        cold_start()

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
        if (media := self.media(call)) is None:
            return
        speaking_id, transcribe_id = media[0]["id"], media[1]["id"]
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
        print(f"  [call ended: {flushes} flush(es), speaking stopped: {stopped}]")
        self.show_summary(call["id"])

    def show_summary(self, call_id: str) -> None:
        """The call_summarized event the hangup published on the bus, as the business's own rule receives it."""
        events = [
            event["detail"]
            for event in self.stack.bus.published
            if event["source"] == OWN_SOURCE
            and event["detail-type"] == CALL_SUMMARIZED
            and event["detail"]["voipbin_id"] == call_id
        ]
        if not events:
            print("  (no call_summarized event: see the logs above)\n")
            return
        print(f"  [{CALL_SUMMARIZED} on the bus, source {OWN_SOURCE}:]")
        for line in json.dumps(events[0], indent=2, ensure_ascii=False).splitlines():
            print(f"    {line}")
        print()

    def silent_call(self) -> None:
        """A call whose caller says nothing at first: re-prompted after REPROMPT_SECONDS of quiet, then speaks."""
        self.agent_changed(silence={"reprompt_seconds": REPROMPT_SECONDS, "max_reprompts": 2})
        call = self.voipbin.add_call(CALLER, OURS)
        print(f"Phone call from {mask_phone(CALLER)}, silence handling on: {REPROMPT_SECONDS} s of quiet, a re-prompt")
        self.send("call_progressing", call, wait=False)  # the stack stays busy: a silence check is queued
        if (media := self.media(call)) is None:
            return
        speaking_id, transcribe_id = media[0]["id"], media[1]["id"]
        greeted = self.wait_for(lambda: self.voipbin.requests("POST", f"/speakings/{speaking_id}/say"))
        print(f"  AI:     {' '.join(self.voipbin.said_texts(speaking_id)) or '(nothing)'}")
        print("  Caller: (says nothing)")
        said = self.wait_for(lambda: self.voipbin.requests("POST", f"/speakings/{speaking_id}/say")[1:])
        if greeted and said:
            quiet = said[0].received_at - greeted[0].received_at
            print(f"  AI:     {said[0].body['text']}   [re-prompt {quiet:.1f} s after the greeting was sent]")
        print(f"  Caller: {SILENT_CALL_WORDS}")
        sent_at = self.send(
            "transcript_created", self.voipbin.add_transcript(transcribe_id, SILENT_CALL_WORDS), wait=False
        )
        # Its reply is over when it queues the turn's own silence check (the caller is quiet again from then on).
        self.wait_for(lambda: self.silence_checks(turn=1))
        self.show_said(speaking_id, 2, sent_at)
        self.send("call_hangup", {**call, "status": "hangup", "hangup_by": "remote", "hangup_reason": "normal"})
        print("  [call ended by the caller; the reply's own silence check found the call over]\n")
        self.agent_changed(silence={"enabled": False})

    def silence_checks(self, *, turn: int) -> list[dict[str, Any]]:
        """The silence checks queued so far for one turn of the calls."""
        actions = [json.loads(queued["body"]) for queued in self.stack.queues.sent_to("DelayedActionsQueue")]
        return [action for action in actions if action["kind"] == "silence" and action["turn"] == turn]

    def media(self, call: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The speaking and the transcribe the answered call started (waited for); None, said so, when it was not."""

        def of_call(kind: str) -> list[dict[str, Any]]:
            return [resource for resource in self.voipbin.resources(kind) if resource["reference_id"] == call["id"]]

        speakings, transcribes = (
            self.wait_for(lambda: of_call("speakings")),
            self.wait_for(lambda: of_call("transcribes")),
        )
        if not speakings or not transcribes:
            print("  (the call was not answered: see the logs above)")
            return None
        return speakings[0], transcribes[0]

    def wait_for[T](self, found: Callable[[], T]) -> T:
        """What `found` gives once it is something (polled, up to _WAIT_SECONDS); its last answer otherwise."""
        deadline = time.monotonic() + _WAIT_SECONDS
        while not (result := found()) and time.monotonic() < deadline:
            time.sleep(_POLL_SECONDS)
        return result

    def spanish_call(self) -> None:
        """A call to the second number: its agent greets, listens and speaks in Spanish, with its own voice."""
        call = self.voipbin.add_call(CALLER, SPANISH_LINE)
        print(f"\nPhone call from {mask_phone(CALLER)} to {mask_phone(SPANISH_LINE)} (a second agent, in Spanish)")
        self.send("call_progressing", call)
        if (media := self.media(call)) is None:
            return
        speaking, transcribe = media
        voice = f"speaking {speaking['language']} as voice {speaking['voice_id']}"
        print(f"  [listening in {transcribe['language']}, {voice}]")
        self.show_said(speaking["id"], 0, None)
        for words in SPANISH_SCRIPT:
            print(f"  Caller: {words}")
            before = len(self.voipbin.said_texts(speaking["id"]))
            sent_at = self.send("transcript_created", self.voipbin.add_transcript(transcribe["id"], words))
            self.show_said(speaking["id"], before, sent_at)
        self.send("call_hangup", {**call, "status": "hangup", "hangup_by": "remote", "hangup_reason": "normal"})
        self.show_summary(call["id"])  # written by the Spanish number's agent

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
        for text in SMS_SCRIPT:
            before = len(self.voipbin.requests("POST", "/messages"))
            print(f"  Texter: {text}")
            message = self.voipbin.inbound_sms(CALLER, OURS, text)
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
        """A question the agent's facts do not answer, in VoIPBin's web chat widget, answered from the documents.

        knowledge.prefetch puts the passages in the model's prompt before it answers: the offline model calls
        no tools, so search_knowledge alone would never reach it.
        """
        self.agent_changed(knowledge={"folder": "dental", "prefetch": True, "max_passages": 2})
        conversation = self.voipbin.add_conversation("webchat", "demo-widget-session", peer_name="Visitor")
        replies = f"/conversations/{conversation['id']}/messages"
        print("\nWeb chat widget (VoIPBin conversation channel): a question only the business's documents answer")
        print(f"  Visitor: {KNOWLEDGE_QUESTION}")
        message = self.voipbin.add_conversation_message(conversation["id"], KNOWLEDGE_QUESTION)
        sent_at = self.send("conversation_message_created", message)
        for request in self.voipbin.requests("POST", replies):
            print(f"  AI:     {request.body['text']}   [{1000 * (request.received_at - sent_at):.0f} ms]")
        index = IndexedKnowledge(Path(os.environ["KNOWLEDGE_INDEX_FILE"]), "dental")
        print("  [from knowledge/dental, searched before the reply and given to the model (source, heading):]")
        for found in index.search(KNOWLEDGE_QUESTION, limit=2):
            print(f"    {found.source} ({found.title}): {found.text[:90]}...")


if __name__ == "__main__":
    sys.exit(main())
