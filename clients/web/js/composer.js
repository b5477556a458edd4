// The composer: a textarea (Enter sends, Shift+Enter adds a line, never while an IME is
// composing), the character counter against the server's limit, and the Send button.

import { h, nextId, charCount } from "./dom.js";
import { t } from "./i18n.js";

const TYPING_SEND_MS = 2000;

export class Composer {
  /**
   * onSend(text): send it; onTyping(): tell the room; state(): {ended, locked, cooldown}
   * (locked means "locked for me"); onRefused(): the user tried to send into a locked room.
   */
  constructor({ onSend, onTyping, state, onRefused }) {
    this.onSend = onSend;
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
    this.el = h("form", { class: "composer", "aria-label": t("composer_label") },
      h("label", { for: ids.input, class: "sr-only" }, t("composer_label")),
      h("div", { class: "composer-box" }, this.input, this.sendBtn),
      h("div", { class: "composer-meta" }, h("span", { id: ids.help, class: "hint" }, t("composer_help")), this.counter));
    this.el.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(); });
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
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
    this.sendBtn.disabled = !!s.ended || s.locked || empty || n > this.maxChars || !!s.cooldown;
    this.el.classList.toggle("locked", !!s.locked);
  }

  submit() {
    const text = this.input.value.replace(/\s+$/u, "");
    if (!text.trim() || this.sendBtn.disabled) {
      if (this.state().locked && text.trim()) this.onRefused();
      return;
    }
    this.onSend(text);
    this.input.value = "";
    this.onInput();
    this.input.focus();
  }
}
