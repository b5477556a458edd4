// Short notices above the composer (errors in an alert region, the rest polite; a notice may
// carry one action button, e.g. "Undo") and the send cooldown countdown.

import { h } from "./dom.js";
import { t } from "./i18n.js";

export class Notices {
  /** onCooldown(): called when a cooldown starts or ends (the composer re-checks Send). */
  constructor({ onCooldown }) {
    this.onCooldown = onCooldown;
    this.cooldown = null; // {until, key}
    this.noticeBox = h("div", { class: "notices", role: "status", "aria-live": "polite" });
    this.alertBox = h("div", { class: "notices notices-alert", role: "alert" });
  }

  notify(text, { kind = "info", ttl = 8000, key, code, action } = {}) {
    if (!text) return null;
    const box = kind === "error" ? this.alertBox : this.noticeBox;
    if (key) box.querySelector(`[data-key="${key}"]`)?.remove();
    const textEl = h("span", { class: "notice-text" }, text);
    const el = h("div", { class: ["notice", `notice-${kind}`], data: { code: code || key || kind } },
      textEl,
      action ? h("button", { type: "button", class: "btn btn-sm notice-action",
        on: { click: () => { el.remove(); action.run(); } } }, action.label) : null,
      h("button", { type: "button", class: "notice-close", "aria-label": t("dismiss"), on: { click: () => el.remove() } }, "×"));
    if (key) el.dataset.key = key;
    box.append(el);
    while (box.children.length > 3) box.firstChild.remove();
    if (ttl) setTimeout(() => el.remove(), ttl);
    el.textEl = textEl;
    return el;
  }

  startCooldown(key, seconds) {
    const until = Date.now() + seconds * 1000;
    clearInterval(this.timer);
    const el = this.notify(t(key, { s: Math.ceil(seconds) }), { kind: "warn", ttl: 0, key: "cooldown" });
    el.dataset.code = key.replace(/^err_/, "");
    this.cooldown = { until, key };
    this.timer = setInterval(() => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        this.endCooldown();
        return;
      }
      el.textEl.textContent = t(key, { s: left });
    }, 250);
    this.onCooldown();
  }

  endCooldown() {
    clearInterval(this.timer);
    this.cooldown = null;
    this.noticeBox.querySelector('[data-key="cooldown"]')?.remove();
    this.onCooldown();
  }

  /** The cooldown for `key` (e.g. "err_slow_mode") ends now, if it is the one running. */
  endCooldownOf(key) {
    if (this.cooldown && this.cooldown.key === key) this.endCooldown();
  }
}
