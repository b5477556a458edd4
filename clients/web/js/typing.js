// "Ann is typing…": who typed in the last few seconds.

import { h } from "./dom.js";
import { t } from "./i18n.js";

const SHOW_MS = 5000;

export class TypingIndicator {
  constructor() {
    this.typers = new Map(); // user id -> {name, until}
    this.el = h("div", { class: "typing", "aria-hidden": "true" });
    this.timer = setInterval(() => this.render(), 1000);
  }

  typing(member) {
    this.typers.set(member.id, { name: member.name, until: Date.now() + SHOW_MS });
    this.render();
  }

  stopped(userId) {
    if (this.typers.delete(userId)) this.render();
  }

  render() {
    const now = Date.now();
    for (const [id, v] of this.typers) if (v.until < now) this.typers.delete(id);
    const names = [...this.typers.values()].map((v) => v.name);
    let text = "";
    if (names.length === 1) text = t("typing_one", { a: names[0] });
    else if (names.length === 2) text = t("typing_two", { a: names[0], b: names[1] });
    else if (names.length > 2) text = t("typing_many");
    if (this.el.textContent !== text) this.el.textContent = text;
  }
}
