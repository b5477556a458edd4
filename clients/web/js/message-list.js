// The message list: renders messages and their translations in order, keeps our own sends
// ("sending…", "held for review") until the server has them, follows deletes and clears,
// sticks to the bottom unless the reader scrolled up, and pages back through older history.

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { messageEl, messageActions, pendingEl, translationEl, setStatus } from "./message-item.js";

const NEAR_BOTTOM_PX = 48;
const REJECTED_SHOW_MS = 3000;
const ORPHANS_MAX = 500;

export class MessageList {
  /** ctx: see message-item.js; plus onLoadOlder() (a button press) and announce(text). */
  constructor(ctx) {
    this.ctx = ctx;
    this.msgById = new Map();
    this.msgByOffset = new Map();
    this.pendingEls = new Map(); // client_msg_id -> li
    this.heldEls = new Map(); // hold_id -> li
    this.orphans = new Map(); // message_id -> translation that came before its message
    this.oldest = null; // the smallest offset seen in this epoch
    this.hasMore = true;
    this.paging = true; // false after the room's history was reset
    this.atBottom = true;
    this.unread = 0;

    this.list = h("ol", { class: "msg-list" });
    this.olderBtn = h("button", { type: "button", class: "btn btn-ghost btn-sm older-btn", on: { click: () => ctx.onLoadOlder() } }, t("load_older"));
    this.older = h("div", { class: "older", hidden: true }, this.olderBtn);
    this.scroller = h("div", { class: "messages", role: "log", "aria-live": "off", "aria-label": t("messages"), tabindex: "0" },
      this.older, this.list);
    this.scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    this.newBtn = h("button", { type: "button", class: "new-messages", hidden: true, on: { click: () => this.scrollToBottom(true) } });
    this.el = h("div", { class: "messages-wrap" }, this.scroller, this.newBtn);
  }

  // Adding ------------------------------------------------------------------------------------

  /** A `message` event, live or from history. Returns true when it is someone else's, new and live. */
  addMessage(ev, fromHistory) {
    if (ev.id && this.msgById.has(ev.id)) return false;
    const mine = ev.author && ev.author.id === this.ctx.me().id;
    this.removeEmpty();
    let el = mine && ev.client_msg_id ? this.pendingEls.get(ev.client_msg_id) : null;
    // An approved held message carries the client_msg_id we sent it with.
    if (!el && mine && ev.client_msg_id) el = this.heldByClientId(ev.client_msg_id);
    if (!el && mine && !fromHistory && !ev.client_msg_id) el = this.heldFor(ev.text);
    const fresh = this.build(ev);
    if (el) {
      // Our own message takes its place in the room's order (others may have spoken since).
      if (ev.client_msg_id) this.pendingEls.delete(ev.client_msg_id);
      if (el.dataset.holdId) this.heldEls.delete(el.dataset.holdId);
      if (el === this.list.lastElementChild) el.replaceWith(fresh);
      else { el.remove(); this.append(fresh, { mine: true }); }
      return false;
    }
    if (mine && !fromHistory && !ev.client_msg_id) this.lastUnmatchedOwn = Date.now();
    this.append(fresh, { mine, fromHistory });
    return !fromHistory && !mine;
  }

  build(ev) {
    const li = messageEl(ev, this.ctx);
    if (typeof ev.offset === "number") this.msgByOffset.set(ev.offset, li);
    if (ev.id) {
      this.msgById.set(ev.id, li);
      const orphan = this.orphans.get(ev.id);
      if (orphan) { this.orphans.delete(ev.id); this.applyTranslation(li, orphan); }
    }
    if (li.classList.contains("awaiting")) this.giveUpLater(li);
    return li;
  }

  /** "translating…" ends: the server answers every message within its deadline (a history
   *  reader's missing ones within two), so a line still waiting after that is unavailable. */
  giveUpLater(li) {
    const deadline = Number(this.ctx.translationDeadline?.() || 5);
    setTimeout(() => {
      if (!li.isConnected || !li.classList.contains("awaiting")) return;
      const old = li.querySelector(".msg-tr");
      if (old) old.replaceWith(translationEl("unavailable"));
      li.classList.remove("awaiting");
    }, (2 * deadline + 5) * 1000);
  }

  append(el, { mine = false, fromHistory = false } = {}) {
    const stick = this.atBottom || mine || fromHistory;
    this.list.append(el);
    if (stick) {
      this.scrollToBottom();
    } else {
      this.unread += 1;
      this.newBtn.textContent = this.unread === 1 ? t("new_message") : t("new_messages", { n: this.unread });
      this.newBtn.hidden = false;
    }
  }

  divider(text) {
    this.list.append(h("li", { class: "divider", role: "separator" }, h("span", null, text)));
  }

  showEmpty() {
    if (!this.list.querySelector(".msg")) this.list.append(h("li", { class: "empty-state" }, t("empty_room")));
  }

  removeEmpty() {
    this.list.querySelector(".empty-state")?.remove();
  }

  hasMessages() {
    return !!this.list.querySelector(".msg");
  }

  /** Rebuild every message's action bar (they depend on our role). */
  refreshActions() {
    for (const li of this.list.querySelectorAll(".msg")) {
      const bar = li.querySelector(".msg-actions");
      if (bar && li.lbEvent) bar.replaceWith(messageActions(li.lbEvent, this.ctx));
    }
  }

  authorName(id) {
    for (const li of this.msgById.values()) if (li.lbEvent?.author?.id === id) return li.lbEvent.author.name;
    return null;
  }

  // Our own sends -----------------------------------------------------------------------------

  addPending(clientMsgId, text) {
    const el = pendingEl(text, this.ctx.me(), this.ctx.role());
    this.pendingEls.set(clientMsgId, el);
    this.removeEmpty();
    this.append(el, { mine: true });
  }

  /** After a (re)join: unacknowledged sends go after what the room said meanwhile. */
  movePendingToEnd() {
    for (const el of this.pendingEls.values()) this.list.append(el);
  }

  /** The server refused a send: drop its "sending…" line. Returns whether there was one. */
  dropPending(clientMsgId) {
    const el = this.pendingEls.get(clientMsgId);
    if (!el) return false;
    el.remove();
    this.pendingEls.delete(clientMsgId);
    return true;
  }

  markHeld(clientMsgId, holdId) {
    const el = this.pendingEls.get(clientMsgId);
    if (!el) return;
    this.pendingEls.delete(clientMsgId);
    el.dataset.clientMsgId = clientMsgId;
    el.classList.replace("pending", "held");
    setStatus(el, t("held"));
    if (holdId) {
      el.dataset.holdId = holdId;
      this.heldEls.set(holdId, el);
    }
  }

  /** The held message we sent with this client_msg_id, if it is still shown. */
  heldByClientId(clientMsgId) {
    return [...this.heldEls.values()].find((li) => li.dataset.clientMsgId === clientMsgId) || null;
  }

  /** The held message our own un-tagged `message` stands for: approved ones first. */
  heldFor(text) {
    const held = [...this.heldEls.values()];
    return held.find((li) => li.classList.contains("approved") && li.lbText === text)
      || held.find((li) => li.classList.contains("approved"))
      || [...this.list.querySelectorAll("li.msg.held")].find((li) => li.lbText === text) || null;
  }

  /** `notice` held_approved: the real message follows as a normal event. Returns false if unknown. */
  heldApproved(holdId) {
    const el = this.heldEls.get(holdId);
    if (!el) return false;
    if (this.lastUnmatchedOwn && Date.now() - this.lastUnmatchedOwn < 10_000) {
      // The published message (its text masked, so unmatched) is already shown.
      this.lastUnmatchedOwn = 0;
      this.heldEls.delete(holdId);
      el.remove();
      return true;
    }
    el.classList.add("approved");
    setStatus(el, t("held_approved"));
    return true;
  }

  /** `notice` held_rejected: say so on the message for a moment, then remove it. */
  heldRejected(holdId) {
    const el = this.heldEls.get(holdId);
    if (!el) return false;
    this.heldEls.delete(holdId);
    el.classList.replace("held", "rejected");
    setStatus(el, t("held_rejected"));
    setTimeout(() => el.remove(), REJECTED_SHOW_MS);
    return true;
  }

  // Translations, deletes, clears -------------------------------------------------------------

  findMessage(id, offset) {
    return (id && this.msgById.get(id)) || (typeof offset === "number" ? this.msgByOffset.get(offset) : null);
  }

  translation(ev) {
    if (ev.lang && ev.lang !== this.ctx.readLang) return;
    const li = this.findMessage(ev.message_id, ev.message_offset);
    if (!li) {
      // Its message may come later, in an older page of history.
      if (ev.message_id) {
        this.orphans.set(ev.message_id, ev);
        if (this.orphans.size > ORPHANS_MAX) this.orphans.delete(this.orphans.keys().next().value);
      }
      return;
    }
    const stick = this.atBottom;
    this.applyTranslation(li, ev);
    if (typeof ev.offset === "number") this.msgByOffset.set(ev.offset, li); // deletes retract it too
    if (stick) this.scrollToBottom();
  }

  applyTranslation(li, ev) {
    const fresh = translationEl("done", ev.text ?? "", ev.lang || this.ctx.readLang);
    const old = li.querySelector(".msg-tr");
    if (old) old.replaceWith(fresh);
    else li.querySelector(".msg-text").after(fresh);
    li.classList.remove("awaiting");
    li.classList.add("has-tr");
  }

  translationUnavailable(ev) {
    if (ev.lang && ev.lang !== this.ctx.readLang) return; // said about another language's readers
    const li = this.findMessage(ev.message_id, ev.message_offset);
    if (!li || li.classList.contains("has-tr")) return;
    const old = li.querySelector(".msg-tr");
    const fresh = translationEl("unavailable", ev.reason || "");
    if (old) old.replaceWith(fresh);
    else li.querySelector(".msg-text").after(fresh);
    li.classList.remove("awaiting");
  }

  /** Returns the offsets the `deleted` event retracts. */
  deleted(ev) {
    const offsets = Array.isArray(ev.retracted) ? ev.retracted : [ev.message_offset].filter((x) => typeof x === "number");
    const targets = new Set();
    const byId = ev.message_id ? this.msgById.get(ev.message_id) : null;
    if (byId) targets.add(byId);
    for (const off of offsets) {
      const el = this.msgByOffset.get(off);
      if (el) targets.add(el);
      this.msgByOffset.delete(off);
    }
    for (const el of targets) {
      if (!el.isConnected) continue;
      if (el.dataset.id) this.msgById.delete(el.dataset.id);
      el.replaceWith(h("li", { class: "note note-deleted" }, t("deleted_note")));
    }
    return offsets;
  }

  cleared(ev) {
    const upTo = typeof ev.up_to === "number" ? ev.up_to : Infinity;
    for (const el of [...this.list.children]) {
      if (el.classList.contains("msg") && el.dataset.offset !== "" && el.dataset.offset !== undefined && Number(el.dataset.offset) <= upTo) {
        if (el.dataset.id) this.msgById.delete(el.dataset.id);
        el.remove();
      } else if (el.classList.contains("note") || el.classList.contains("divider")) {
        el.remove();
      }
    }
    for (const [off] of this.msgByOffset) if (off <= upTo) this.msgByOffset.delete(off);
    this.list.append(h("li", { class: "note" }, t("cleared_note")));
    this.hasMore = false; // nothing older is left on the server
    this.updateOlder();
  }

  // Older history -----------------------------------------------------------------------------

  /** Every persistent event's offset passes here, to know where "load older" starts. */
  noteOffset(offset) {
    if (this.oldest === null || offset < this.oldest) this.oldest = offset;
  }

  /** The room's history was reset: old offsets mean nothing, and there is nothing to page. */
  epochReset() {
    this.msgByOffset.clear();
    this.oldest = null;
    this.paging = false;
  }

  updateOlder(loading = false) {
    this.older.hidden = !(this.paging && this.hasMore && this.oldest !== null && this.oldest > 1);
    this.olderBtn.disabled = loading;
    this.olderBtn.textContent = t(loading ? "loading_older" : "load_older");
  }

  /** A `history` page (oldest first): put it above what is shown, keeping the view still. */
  prepend(events, hasMore) {
    const s = this.scroller;
    const fromBottom = s.scrollHeight - s.scrollTop;
    const items = [];
    for (const ev of events) {
      if (typeof ev.offset === "number") this.noteOffset(ev.offset);
      if (ev.type === "message" && !(ev.id && this.msgById.has(ev.id))) items.push(this.build(ev));
      else if (ev.type === "translation") this.translation(ev);
    }
    if (items.length) this.removeEmpty();
    this.list.prepend(...items);
    this.hasMore = !!hasMore && events.length > 0;
    this.updateOlder();
    s.scrollTop = s.scrollHeight - fromBottom;
    return items.length;
  }

  // Scrolling ---------------------------------------------------------------------------------

  onScroll() {
    const s = this.scroller;
    this.atBottom = s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
    if (this.atBottom && this.unread) {
      this.unread = 0;
      this.newBtn.hidden = true;
    }
  }

  scrollToBottom(force = false) {
    const s = this.scroller;
    s.scrollTop = s.scrollHeight;
    this.atBottom = true;
    if (force || this.unread) {
      this.unread = 0;
      this.newBtn.hidden = true;
    }
  }
}
