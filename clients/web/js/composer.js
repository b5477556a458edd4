// The composer: a textarea (Enter sends, Shift+Enter adds a line, never while an IME is
// composing), the character counter against the server's limit, and the Send button.

import { h, nextId, charCount } from "./dom.js";
import { t } from "./i18n.js";
import { Autocomplete } from "./autocomplete.js";
import { parse } from "./slash.js";

const TYPING_SEND_MS = 2000;

export class Composer {
  /**
   * onSend(text, extra): send it (extra: {reply_to}); onTyping(): tell the room; state():
   * {ended, locked, cooldown} (locked means "locked for me"); onRefused(): the user tried to
   * send into a locked room; onCommand(parsed): a slash command (slash.js), never sent as
   * text; onLocalError(key, vars); suggest: {commands(), names(), powers()} for autocomplete.
   */
  constructor({ onSend, onTyping, state, onRefused, onCommand, onLocalError, suggest }) {
    this.onSend = onSend;
    this.onCommand = onCommand;
    this.onLocalError = onLocalError;
    this.suggest = suggest;
    this.replyTo = null;
    this.onTyping = onTyping;
    this.state = state;
    this.onRefused = onRefused;
    this.maxChars = 2000;
    this.lastTypingSent = 0;
    const ids = { input: nextId("composer"), counter: nextId("counter"), help: nextId("help") };
    this.input = h("textarea", { id: ids.input, class: "composer-input", rows: 1, placeholder: t("composer_placeholder"),
      "aria-describedby": `${ids.help} ${ids.counter}`, autocomplete: "off" });
    this.counter = h("span", { id: ids.counter, class: "counter", "aria-live": "off" });
    this.sendBtn = h("button", { type: "submit", class: "btn btn-primary send-btn", disabled: true }, t("send"));
    this.replyBar = h("div", { class: "reply-bar", hidden: true });
    this.ac = new Autocomplete(this.input, { commands: () => suggest.commands(), names: () => suggest.names() });
    this.el = h("form", { class: "composer", "aria-label": t("composer_label") },
      h("label", { for: ids.input, class: "sr-only" }, t("composer_label")),
      this.replyBar, this.ac.el,
      h("div", { class: "composer-box" }, this.input, this.sendBtn),
      h("div", { class: "composer-meta" }, h("span", { id: ids.help, class: "hint" }, t("composer_help")), this.counter));
    this.el.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(); });
    this.input.addEventListener("keydown", (ev) => {
      if (ev.isComposing || ev.keyCode === 229) return;
      if (this.ac.onKey(ev)) return;
      if (ev.key === "Escape" && this.replyTo) { ev.preventDefault(); this.setReply(null); return; }
      if (ev.key === "Enter" && !ev.shiftKey) {
        ev.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => this.onInput());
  }

  setLimit(maxChars) {
    this.maxChars = maxChars;
    this.updateCounter();
  }

  focus() {
    this.input.focus();
  }

  /** Answer `ev` (a message event) with the next send; null stops replying. */
  setReply(ev) {
    this.replyTo = ev && typeof ev.offset === "number" ? ev : null;
    this.replyBar.replaceChildren();
    this.replyBar.hidden = !this.replyTo;
    if (this.replyTo) {
      this.replyBar.append(
        h("span", { class: "reply-bar-label" }, t("replying_to", { name: ev.author?.name ?? "" })),
        h("span", { class: "reply-bar-text", dir: "auto" }, ev.text ?? ""),
        h("button", { type: "button", class: "notice-close", "aria-label": t("cancel_reply"), on: { click: () => { this.setReply(null); this.focus(); } } }, "×"));
      this.focus();
    }
  }

  /** Put text at the caret (e.g. "@Ann "). */
  insert(text) {
    const v = this.input.value;
    const at = this.input.selectionStart ?? v.length;
    const pad = at > 0 && !/\s$/.test(v.slice(0, at)) ? " " : "";
    this.input.value = v.slice(0, at) + pad + text + v.slice(at);
    const pos = at + pad.length + text.length;
    this.input.focus();
    this.input.setSelectionRange(pos, pos);
    this.onInput();
  }

  /** Put a refused message's text back, if the user has not started another one. */
  restore(text) {
    if (this.input.value || !text) return;
    this.input.value = text;
    this.onInput();
  }

  onInput() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
    this.updateCounter();
    const now = Date.now();
    if (this.input.value.trim() && now - this.lastTypingSent > TYPING_SEND_MS) {
      this.lastTypingSent = now;
      this.onTyping();
    }
  }

  updateCounter() {
    const n = charCount(this.input.value);
    this.counter.textContent = t("chars", { n, max: this.maxChars });
    this.counter.classList.toggle("warn", n > this.maxChars * 0.9 && n <= this.maxChars);
    this.counter.classList.toggle("over", n > this.maxChars);
    this.input.setAttribute("aria-invalid", String(n > this.maxChars));
    this.update();
  }

  update() {
    const s = this.state();
    this.input.disabled = !!s.ended;
    this.input.placeholder = s.locked ? t("composer_locked") : t("composer_placeholder");
    const n = charCount(this.input.value);
    const empty = this.input.value.trim() === "";
    // A command is not a message: cooldowns and locks do not stop it (the server decides).
    const command = this.input.value.startsWith("/") && !this.input.value.startsWith("//");
    this.sendBtn.disabled = !!s.ended || empty || n > this.maxChars || (!command && (s.locked || !!s.cooldown));
    this.el.classList.toggle("locked", !!s.locked);
  }

  submit() {
    let text = this.input.value.replace(/\s+$/u, "");
    if (!text.trim() || this.sendBtn.disabled) {
      if (this.state().locked && text.trim()) this.onRefused();
      return;
    }
    const parsed = parse(text, this.suggest.names().sort((a, b) => b.length - a.length), this.suggest.powers());
    if (parsed && parsed.error) {
      this.onLocalError(parsed.error, parsed);
      return; // the text stays, to be fixed
    }
    if (parsed && parsed.command) {
      this.onCommand(parsed);
      this.input.value = "";
      this.onInput();
      return;
    }
    if (parsed && parsed.post) text = parsed.post;
    this.onSend(text, this.replyTo ? { reply_to: this.replyTo.offset } : {});
    this.setReply(null);
    this.input.value = "";
    this.onInput();
    this.input.focus();
  }
}
