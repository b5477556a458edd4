// The screen-reader announcer for new messages (an aria-live region), throttled: at most one
// announcement every INTERVAL_MS. One new message is read as "name: text", followed by its
// translation when the page shows one by then; each part carries its own `lang` (a Chinese
// voice for Chinese, an English one for English). Several at once are read as "N new
// messages" and the latest of them, in the page's language.

import { h } from "./dom.js";
import { t, lang as uiLang } from "./i18n.js";
import { langTag } from "./lang-tag.js";

const INTERVAL_MS = 2500;
const WAIT_FOR_TRANSLATION_MS = 1500;

export class Announcer {
  /** translationOf(ev): {text, lang} of the translation the page shows for ev, or null. */
  constructor({ translationOf }) {
    this.translationOf = translationOf;
    this.queue = [];
    this.timer = null;
    this.last = 0;
    this.count = 0; // announcements made (tests read it to check the throttle)
    this.el = h("div", { class: "sr-only", "aria-live": "polite", "aria-atomic": "true", id: "announcer" });
  }

  message(ev, { awaitingTranslation = false } = {}) {
    this.queue.push(ev);
    if (this.queue.length > 50) this.queue.shift();
    if (this.timer) return;
    const wait = Math.max(INTERVAL_MS - (Date.now() - this.last), awaitingTranslation ? WAIT_FOR_TRANSLATION_MS : 0);
    this.timer = setTimeout(() => this.flush(), wait);
  }

  flush() {
    this.timer = null;
    const items = this.queue;
    this.queue = [];
    if (!items.length) return;
    const ev = items[items.length - 1];
    const parts = [];
    if (items.length > 1) parts.push(h("span", { lang: uiLang() === "zh" ? "zh-CN" : "en" }, t("announce_many", { n: items.length }) + " "));
    const name = ev.author?.name ?? "";
    parts.push(h("span", { lang: langTag(ev.author?.lang || "en", name) }, name + ": "),
      h("span", { lang: langTag(ev.lang, ev.text) }, ev.text ?? ""));
    const tr = this.translationOf(ev);
    if (tr && tr.text) parts.push(" ", h("span", { lang: tr.lang || undefined }, tr.text));
    this.el.replaceChildren(...parts);
    this.el.lang = parts.length && tr ? "" : langTag(ev.lang, ev.text);
    this.last = Date.now();
    this.count += 1;
    this.el.dataset.count = String(this.count);
  }
}
