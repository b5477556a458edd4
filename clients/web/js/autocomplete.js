// Suggestions under the composer: "/" commands (for hosts), then the name a command takes,
// and "@name" anywhere. Arrow keys move, Tab or Enter accepts, Escape closes; the textarea
// keeps focus throughout (aria-activedescendant names the highlighted option).

import { h, clear, nextId } from "./dom.js";
import { t } from "./i18n.js";

const MAX_ITEMS = 8;
const NAME_COMMANDS = /^\/(timeout|untimeout|ban|unban|mod|unmod)\s+@?([^\s]*)$/i;

export class Autocomplete {
  /** input: the textarea; source: {commands(): [{name, args}], names(): [string]} */
  constructor(input, source) {
    this.input = input;
    this.source = source;
    this.items = [];
    this.active = 0;
    this.listId = nextId("ac");
    this.el = h("ul", { id: this.listId, class: "autocomplete", role: "listbox", hidden: true, "aria-label": t("suggestions") });
    input.setAttribute("aria-controls", this.listId);
    input.setAttribute("aria-autocomplete", "list");
    input.addEventListener("input", () => this.update());
    // Close a moment after focus leaves (a click on an option lands first), unless focus came
    // back meanwhile: a stale timer must not close the list the user is typing into again.
    input.addEventListener("blur", () => setTimeout(() => {
      if (document.activeElement !== this.input) this.close();
    }, 150));
  }

  get open() {
    return !this.el.hidden;
  }

  /** What the text before the caret asks for: {from, items: [{label, hint, insert}]} or null. */
  query() {
    const caret = this.input.selectionStart ?? this.input.value.length;
    const before = this.input.value.slice(0, caret);
    const cmd = before.match(/^\/(\w*)$/);
    if (cmd) {
      const p = cmd[1].toLowerCase();
      const items = this.source.commands().filter((c) => c.name.startsWith(p) && c.name !== p)
        .map((c) => ({ label: "/" + c.name, hint: c.args ? `${c.args} · ${t("cmd_" + c.name)}` : t("cmd_" + c.name), insert: `/${c.name} ` }));
      return { from: 0, items };
    }
    const named = before.match(NAME_COMMANDS);
    const at = before.match(/(^|[\s(（])@([^\s@]{0,32})$/);
    const partial = named ? named[2] : at ? at[2] : null;
    if (partial === null) return null;
    const from = caret - partial.length - (named ? (before.endsWith("@" + partial) ? 1 : 0) : 1);
    const p = partial.toLowerCase();
    const items = this.source.names().filter((n) => n.toLowerCase().startsWith(p) && n.toLowerCase() !== p)
      .map((n) => ({ label: "@" + n, hint: "", insert: (named ? "" : "@") + n + " " }));
    return { from, items };
  }

  update() {
    const q = this.query();
    this.q = q;
    this.items = q ? q.items.slice(0, MAX_ITEMS) : [];
    this.active = 0;
    this.render();
  }

  render() {
    clear(this.el);
    this.el.hidden = this.items.length === 0;
    if (this.el.hidden) {
      this.input.removeAttribute("aria-activedescendant");
      return;
    }
    this.items.forEach((item, i) => {
      const id = `${this.listId}-${i}`;
      this.el.append(h("li", { id, role: "option", class: "ac-item", "aria-selected": String(i === this.active),
        on: { mousedown: (e) => { e.preventDefault(); this.accept(i); } } },
        h("span", { class: "ac-label" }, item.label), item.hint ? h("span", { class: "ac-hint" }, item.hint) : null));
    });
    this.input.setAttribute("aria-activedescendant", `${this.listId}-${this.active}`);
  }

  close() {
    this.items = [];
    this.render();
  }

  /** Keys while open; returns true when the key was ours. */
  onKey(ev) {
    if (!this.open) return false;
    if (ev.key === "ArrowDown" || ev.key === "ArrowUp") {
      const n = this.items.length;
      this.active = (this.active + (ev.key === "ArrowDown" ? 1 : n - 1)) % n;
      this.render();
    } else if (ev.key === "Tab" || (ev.key === "Enter" && !ev.shiftKey)) {
      this.accept(this.active);
    } else if (ev.key === "Escape") {
      this.close();
    } else {
      return false;
    }
    ev.preventDefault();
    return true;
  }

  accept(i) {
    const item = this.items[i];
    if (!item || !this.q) return;
    const caret = this.input.selectionStart ?? this.input.value.length;
    const v = this.input.value;
    this.input.value = v.slice(0, this.q.from) + item.insert + v.slice(caret);
    const pos = this.q.from + item.insert.length;
    this.input.setSelectionRange(pos, pos);
    this.input.dispatchEvent(new Event("input"));
    this.input.focus();
  }
}
