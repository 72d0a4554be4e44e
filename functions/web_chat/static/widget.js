// The web chat widget: a conversation with the agent through POST /chat, plain JavaScript with no build step.
// On the chat page (GET /) or as a snippet on another site:
//   <div id="voipbin-chat"></div>  (optional: where the widget goes; else at the end of the page)
//   <script src="https://<ChatApi host>/widget.js" defer></script>
// /chat and widget.css are found next to this script's own URL, so the snippet needs no settings. Replies are
// shown as text (textContent), never as HTML: what the LLM writes cannot run on the page.
(() => {
  "use strict";

  const script = document.currentScript;
  const chatUrl = new URL("chat", script.src).href;
  const styleUrl = new URL("widget.css", script.src).href;
  // Per tab: a reload continues the chat, a closed tab (or a shared computer's next user) does not.
  const storageKey = "voipbin-chat:" + chatUrl;
  const keptMessages = 50;

  const state = load();

  function load() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(storageKey) || "null");
      if (saved && Array.isArray(saved.messages)) {
        return { sessionId: typeof saved.sessionId === "string" ? saved.sessionId : null, messages: saved.messages };
      }
    } catch {
      // Storage off or its value unreadable: a new chat.
    }
    return { sessionId: null, messages: [] };
  }

  function save() {
    try {
      state.messages = state.messages.slice(-keptMessages);
      sessionStorage.setItem(storageKey, JSON.stringify(state));
    } catch {
      // Storage off or full: the chat goes on, a reload starts a new one.
    }
  }

  function element(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  if (![...document.querySelectorAll('link[rel="stylesheet"]')].some((link) => link.href === styleUrl)) {
    const link = element("link");
    link.rel = "stylesheet";
    link.href = styleUrl;
    document.head.append(link);
  }

  const root = element("section", "vbc");
  root.setAttribute("aria-label", "Chat");
  const header = element("div", "vbc-header");
  const restart = element("button", "vbc-new", "New chat");
  restart.type = "button";
  header.append(element("span", "vbc-title", "Chat"), restart);
  const log = element("ol", "vbc-log");
  log.setAttribute("aria-live", "polite");
  log.setAttribute("aria-label", "Conversation");
  const typing = element("p", "vbc-typing", "The assistant is typing…");
  typing.setAttribute("role", "status");
  typing.hidden = true;
  const error = element("p", "vbc-error");
  error.setAttribute("role", "alert");
  error.hidden = true;
  const form = element("form", "vbc-form");
  const label = element("label", "vbc-hidden-label", "Message");
  const input = element("textarea");
  input.id = "vbc-input-" + Math.random().toString(36).slice(2);
  label.htmlFor = input.id;
  input.rows = 2;
  input.maxLength = 4000; // ChatRequest's limit
  input.required = true;
  input.placeholder = "Type a message";
  const sendButton = element("button", "vbc-send", "Send");
  sendButton.type = "submit";
  form.append(label, input, sendButton);
  const session = element("p", "vbc-session");
  root.append(header, log, typing, error, form, session);
  (document.getElementById("voipbin-chat") || document.body).append(root);

  function show(message) {
    const item = element("li", "vbc-message " + (message.role === "user" ? "vbc-user" : "vbc-agent"), message.text);
    log.append(item);
    log.scrollTop = log.scrollHeight;
  }

  function showSession() {
    // The random part of the id: the signature after the dot means nothing to a visitor.
    session.replaceChildren();
    if (state.sessionId) {
      session.append("Session ", element("code", "", state.sessionId.split(".")[0]));
    } else {
      session.textContent = "No session yet: your first message starts one.";
    }
  }

  function showError(text) {
    error.textContent = text;
    error.hidden = !text;
  }

  function forgetSession() {
    state.sessionId = null;
    save();
    showSession();
  }

  // The API's answers in words; 429 carries the reason (session, address, or the day's budget) in its body.
  function errorText(status, body) {
    if (status === 429 && typeof body.message === "string") {
      return body.message.charAt(0).toUpperCase() + body.message.slice(1) + ".";
    }
    if (status === 401) return "This chat session has expired. Send your message again to start a new one.";
    if (status === 410) return "This chat has ended. Send a message to start a new one.";
    if (status === 409) return "An earlier message is still being answered. Try again in a moment.";
    if (status === 400 || status === 422) return "That message could not be sent: it must be 1 to 4000 characters.";
    return "The assistant could not answer just now. Please try again in a moment.";
  }

  async function send(text) {
    showError("");
    show({ role: "user", text });
    typing.hidden = false;
    sendButton.disabled = true;
    const body = state.sessionId ? { session_id: state.sessionId, message: text } : { message: text };
    try {
      const response = await fetch(chatUrl, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      const answer = await response.json().catch(() => ({}));
      if (response.ok) {
        state.sessionId = answer.session_id;
        state.messages.push({ role: "user", text }, { role: "agent", text: answer.response });
        save();
        show({ role: "agent", text: answer.response });
        showSession();
        return;
      }
      if (response.status === 401 || response.status === 410) forgetSession();
      fail(text, errorText(response.status, answer));
    } catch {
      // fetch rejects on no network, and on another site whose origin ChatAllowedOrigins does not list (CORS).
      fail(text, "The chat could not be reached. Check your connection and try again.");
    } finally {
      typing.hidden = true;
      sendButton.disabled = false;
    }
  }

  // An unsent message leaves the conversation and goes back into the box, to send again.
  function fail(text, reason) {
    log.lastElementChild.remove();
    if (!input.value) input.value = text;
    showError(reason);
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || sendButton.disabled) return;
    input.value = "";
    send(text);
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  restart.addEventListener("click", () => {
    state.messages = [];
    log.replaceChildren();
    showError("");
    forgetSession();
    input.focus();
  });

  state.messages.forEach(show);
  showSession();
})();
