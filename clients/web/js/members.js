// The member list: who is here (at most 200 listed, hosts first; "N people here" counts
// everyone), their language and role badge, and for hosts a menu on each member they outrank.

import { h, clear, colorClass, icon } from "./dom.js";
import { t } from "./i18n.js";
import { RANK, roleBadge, langChip, isHost } from "./roles.js";

export class MemberList {
  /** ctx: {me(): user, role(): string, moderate(action, params), onChange(),
   *  page(after, query): Promise<members reply>} */
  constructor(ctx) {
    this.ctx = ctx;
    this.members = new Map();
    this.names = new Map(); // every name seen, for the audit log
    this.count = 0;
    this.next = undefined; // cursor of the next page of the server's list (undefined: from the start)
    this.found = null; // {query, items, total} while a search is shown
    this.searchTimer = null;
    this.list = h("ul", { class: "member-list" });
    this.head = h("h2", { class: "side-title", id: "members-h" }, t("members"));
    this.search = h("input", { type: "search", class: "input member-search", placeholder: t("find_member"),
      "aria-label": t("find_member"), maxlength: 32, on: { input: () => this.onSearch() } });
    this.more = h("button", { type: "button", class: "btn-ghost small members-more", hidden: true,
      on: { click: () => this.loadMore() } });
    this.countEl = h("span", { class: "people-count", "aria-live": "off" });
  }

  /** From `joined`: the listed members and the room's member_count. */
  reset(members, count) {
    this.members.clear();
    for (const m of members) this.add(m);
    this.next = undefined;
    this.count = Math.max(typeof count === "number" ? count : 0, this.members.size);
    this.changed();
  }

  /** The next page of the member list (big rooms list only the first few in `joined`). */
  async loadMore() {
    if (this.next === null) return;
    try {
      const reply = await this.ctx.page(this.next, "");
      for (const m of reply.members || []) this.add(m);
      this.next = reply.next ?? null;
      if (typeof reply.total === "number") this.count = Math.max(reply.total, this.members.size);
      this.changed();
    } catch (_) { /* shown as unavailable by the caller's next error, nothing to undo here */ }
  }

  onSearch() {
    clearTimeout(this.searchTimer);
    const query = this.search.value.trim();
    if (!query) {
      this.found = null;
      this.render();
      return;
    }
    this.searchTimer = setTimeout(async () => {
      try {
        const reply = await this.ctx.page(undefined, query);
        if (this.search.value.trim() !== query) return; // typed on meanwhile
        this.found = { query, items: reply.members || [], total: reply.total || 0 };
        for (const m of this.found.items) if (m.name) this.names.set(m.id, m.name);
        this.render();
      } catch (_) { /* the list stays as it was */ }
    }, 250);
  }

  add(m) {
    this.members.set(m.id, { ...m });
    if (m.name) this.names.set(m.id, m.name);
  }

  /** A presence `diff`: who arrived, who left (none named in big rooms), and the count. */
  diff(joins, leaves, count) {
    for (const m of joins || []) this.add(m);
    for (const m of leaves || []) this.members.delete(m.id);
    if (typeof count === "number") this.count = Math.max(count, this.members.size);
    this.changed();
  }

  /** A member's role changed; returns whether that member is listed. */
  setRole(userId, role) {
    const m = this.members.get(userId);
    if (m) m.role = role;
    this.changed();
    return !!m;
  }

  nameOf(id) {
    return this.names.get(id) || null;
  }

  hosts() {
    return this.sorted().filter((m) => isHost(m.role));
  }

  sorted() {
    return [...this.members.values()].sort((a, b) =>
      (RANK[b.role] || 0) - (RANK[a.role] || 0) || String(a.name).localeCompare(String(b.name)));
  }

  changed() {
    this.render();
    this.ctx.onChange?.();
  }

  render() {
    clear(this.list);
    const sorted = this.sorted();
    const people = this.count === 1 ? t("people_here_one") : t("people_here", { n: this.count });
    this.head.textContent = people;
    this.countEl.textContent = people;
    this.countEl.dataset.count = String(this.count);
    if (this.found) {
      for (const m of this.found.items) this.list.append(this.memberEl(m));
      if (!this.found.items.length) this.list.append(h("li", { class: "muted empty" }, t("no_member_found")));
      this.more.hidden = true;
      return;
    }
    for (const m of sorted) this.list.append(this.memberEl(m));
    this.more.hidden = this.count <= sorted.length;
    this.more.textContent = t("members_more", { n: this.count - sorted.length });
  }

  memberEl(m) {
    const me = this.ctx.me();
    const isMe = m.id === me.id;
    const li = h("li", { class: "member", data: { id: m.id, role: m.role || "" } },
      h("span", { class: ["avatar", colorClass(m.id)], "aria-hidden": "true" }, String(m.name || "?").slice(0, 1).toUpperCase()),
      h("span", { class: "member-main" },
        h("button", { type: "button", class: ["author", "author-btn", colorClass(m.id)], "aria-haspopup": "dialog",
          title: t("user_card_open", { name: m.name || "" }), on: { click: () => this.ctx.onUser?.(m) } }, m.name || ""),
        isMe ? h("span", { class: "you-tag" }, `(${t("you")})`) : null),
      roleBadge(m.role),
      m.lang ? langChip(m.lang) : null);
    const role = this.ctx.role();
    if (isHost(role) && !isMe && (RANK[role] || 0) > (RANK[m.role] || 0)) li.append(this.menu(m, role));
    return li;
  }

  /** The "..." menu of a member we outrank. It closes after an action (and on Escape or when
   *  focus leaves it), so it never covers the next row. */
  menu(m, role) {
    const mod = this.ctx.mod;
    const quiet = (p) => Promise.resolve(p).catch(() => {});
    const details = h("details", { class: "member-menu" });
    const item = (label, run, danger = false) => h("button", { type: "button", class: ["menu-item", danger ? "danger" : ""],
      on: { click: () => { details.open = false; quiet(run()); } } }, label);
    const buttons = [
      item(t("timeout_ellipsis"), () => mod.timeout(m, null)),
      item(t("kick_ellipsis"), () => mod.kick(m)),
      item(t("ban_ellipsis"), () => mod.ban(m), true),
    ];
    if (RANK[role] >= RANK.owner) {
      buttons.push(m.role === "moderator" ? item(t("remove_mod"), () => mod.removeModerator(m)) : item(t("make_mod"), () => mod.addModerator(m)));
    }
    const label = t("member_actions", { name: m.name || "" });
    details.append(
      h("summary", { class: "icon-btn", "aria-label": label, title: label }, icon("more")),
      h("div", { class: "menu", role: "group", "aria-label": label }, buttons));
    details.addEventListener("keydown", (e) => {
      if (e.key === "Escape" && details.open) { details.open = false; details.querySelector("summary").focus(); }
    });
    details.addEventListener("focusout", (e) => { if (e.relatedTarget && !details.contains(e.relatedTarget)) details.open = false; });
    return details;
  }
}
