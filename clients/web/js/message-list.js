// The message list: renders messages and their translations in order, keeps our own sends
// ("sending…", "held for review") until the server has them, follows deletes and clears,
// sticks to the bottom unless the reader scrolled up, and pages back through older history.
// The DOM is bounded: at most MAX_SHOWN items while the reader follows the bottom (older
// ones are dropped and come back through "load older" or by scrolling up), HARD_MAX while
// they read back; past that, paging back drops the newest and the list is "detached" from
// the live end until "jump to latest" reloads it.

import { h } from "./dom.js";
import { t } from "./i18n.js";
import { messageEl, messageActions, pendingEl, translationEl, setStatus } from "./message-item.js";

const NEAR_BOTTOM_PX = 48;
const REJECTED_SHOW_MS = 3000;
const ORPHANS_MAX = 500;
export const MAX_SHOWN = 150;
export const HARD_MAX = 450;
const AUTO_OLDER_PX = 120;

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
    this.detached = false; // the newest messages are not in the DOM (after paging far back)

    this.list = h("ol", { class: "msg-list" });
    this.olderBtn = h("button", { type: "button", class: "btn btn-ghost btn-sm older-btn", on: { click: () => ctx.onLoadOlder() } }, t("load_older"));
    this.older = h("div", { class: "older", hidden: true }, this.olderBtn);
    this.scroller = h("div", { class: "messages", role: "log", "aria-live": "off", "aria-label": t("messages"), tabindex: "0" },
      this.older, this.list);
    this.scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    this.newBtn = h("button", { type: "button", class: "new-messages", hidden: true, on: { click: () => this.jumpToLatest() } });
    this.watchLongPress();
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
    li.lbOffsets = [];
    if (typeof ev.offset === "number") this.mapOffset(ev.offset, li);
    if (ev.reply) this.fillQuote(li);
    if (ev.id) {
      this.msgById.set(ev.id, li);
      const orphan = this.orphans.get(ev.id);
      if (orphan) { this.orphans.delete(ev.id); this.applyTranslation(li, orphan); }
    }
    if (li.classList.contains("awaiting")) this.giveUpLater(li, ev.text || "");
    return li;
  }

  /** "translating…" ends: the server answers every message within its deadline (a history
   *  reader's missing ones within two), so a line still waiting after that is unavailable. */
  giveUpLater(li, text = "") {
    // A long message's deadline is longer (welcome.translation.long_chars / max_deadline_s).
    const deadline = Number(this.ctx.translationDeadline?.(text) || 5);
    setTimeout(() => {
      if (!li.isConnected || !li.classList.contains("awaiting")) return;
      const old = li.querySelector(".msg-tr");
      if (old) old.replaceWith(translationEl("unavailable"));
      li.classList.remove("awaiting");
    }, (2 * deadline + 5) * 1000);
  }

  mapOffset(offset, li) {
    this.msgByOffset.set(offset, li);
    li.lbOffsets?.push(offset);
  }

  append(el, { mine = false, fromHistory = false } = {}) {
    const stick = this.atBottom || mine || fromHistory;
    if (this.detached && !mine) {
      this.forget(el); // not shown: "jump to latest" reloads the newest page
      this.unread += 1;
      this.newBtn.textContent = this.unread === 1 ? t("new_message") : t("new_messages", { n: this.unread });
      this.newBtn.hidden = false;
      return;
    }
    this.list.append(el);
    this.trim(stick);
    if (stick) {
      this.scrollToBottom();
    } else {
      this.unread += 1;
      this.newBtn.textContent = this.unread === 1 ? t("new_message") : t("new_messages", { n: this.unread });
      this.newBtn.hidden = false;
    }
  }

  /** Keep the DOM bounded: drop the oldest items past MAX_SHOWN (HARD_MAX while reading back). */
  trim(following) {
    const bound = following ? MAX_SHOWN : HARD_MAX;
    const over = this.list.children.length - bound;
    if (over <= 0) return;
    const s = this.scroller;
    const before = s.scrollHeight;
    for (let i = 0; i < over; i += 1) {
      const el = this.list.firstElementChild;
      if (!el) break;
      el.remove();
      this.forget(el);
    }
    if (!following) s.scrollTop -= before - s.scrollHeight; // what the reader looks at stays put
    const first = this.list.querySelector("li.msg[data-offset]:not([data-offset=''])");
    if (first) this.oldest = Number(first.dataset.offset);
    this.hasMore = true;
    this.updateOlder();
  }

  /** An item leaves the DOM: drop what points at it. */
  forget(el) {
    if (el.dataset?.id && this.msgById.get(el.dataset.id) === el) this.msgById.delete(el.dataset.id);
    for (const off of el.lbOffsets || []) if (this.msgByOffset.get(off) === el) this.msgByOffset.delete(off);
  }

  /** The messages shown by `userId`, newest last (for the user card). */
  recentBy(userId, n = 5) {
    const out = [];
    const items = this.list.querySelectorAll(`li.msg[data-author="${CSS.escape(userId)}"]`);
    for (let i = items.length - 1; i >= 0 && out.length < n; i -= 1) if (items[i].lbEvent) out.unshift(items[i]);
    return out.map((li) => ({ ev: li.lbEvent, tr: li.querySelector(".msg-tr .tr-text")?.textContent || "",
      trLang: li.querySelector(".msg-tr")?.lang || "" }));
  }

  /** A reply's quote shows the original's translation when the original is shown with one. */
  fillQuote(li) {
    const off = li.lbEvent?.reply?.offset ?? li.querySelector(".msg-reply")?.dataset.offset;
    const original = this.msgByOffset.get(Number(off));
    const tr = original?.querySelector(".msg-tr[data-state=done] .tr-text");
    const slot = li.querySelector(".reply-tr");
    if (!slot || !tr) return;
    slot.textContent = tr.textContent;
    slot.lang = original.querySelector(".msg-tr").lang;
    slot.hidden = false;
  }

  /** Jump to a replied message: scroll it into view and flash it. Returns false when it is not shown. */
  reveal(offset) {
    const li = this.msgByOffset.get(offset);
    if (!li || !li.isConnected || !li.classList.contains("msg")) return false;
    li.scrollIntoView({ block: "center" });
    li.classList.remove("flash");
    void li.offsetWidth; // restart the animation
    li.classList.add("flash");
    li.querySelector(".author-btn")?.focus({ preventScroll: true });
    return true;
  }

  /** Long-press (touch) on a message shows its actions; a tap elsewhere hides them. */
  watchLongPress() {
    let timer = null;
    const cancel = () => { clearTimeout(timer); timer = null; };
    this.list.addEventListener("touchstart", (e) => {
      const li = e.target.closest?.("li.msg");
      cancel();
      for (const open of this.list.querySelectorAll("li.msg.actions-open")) if (open !== li) open.classList.remove("actions-open");
      if (!li || e.target.closest(".msg-actions")) return;
      timer = setTimeout(() => {
        li.classList.add("actions-open");
        li.querySelector(".msg-actions button, .msg-actions summary")?.focus({ preventScroll: true });
      }, 450);
    }, { passive: true });
    for (const ev of ["touchend", "touchmove", "touchcancel"]) this.list.addEventListener(ev, cancel, { passive: true });
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
    if (this.detached) this.jumpToLatest();
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
    if (typeof ev.offset === "number") this.mapOffset(ev.offset, li); // deletes retract it too
    for (const reply of this.list.querySelectorAll(`.msg-reply[data-offset="${li.dataset.offset}"]`)) this.fillQuote(reply.closest("li"));
    if (stick) this.scrollToBottom();
  }

  applyTranslation(li, ev) {
    const fresh = translationEl("done", ev.text ?? "", ev.lang || this.ctx.readLang, ev.script || "");
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

  /** "N new messages ↓": to the bottom; when detached, the newest page is loaded again first. */
  jumpToLatest() {
    if (!this.detached) { this.scrollToBottom(true); return; }
    this.ctx.onJumpLatest?.();
  }

  /** The newest page of history (after "jump to latest"): it replaces what is shown. */
  resetToLatest(events, hasMore) {
    for (const el of [...this.list.children]) {
      if (el.classList.contains("pending") || el.classList.contains("held")) continue;
      el.remove();
      this.forget(el);
    }
    this.detached = false;
    this.oldest = null;
    const pending = [...this.list.children];
    for (const ev of events) {
      if (typeof ev.offset === "number") this.noteOffset(ev.offset);
      if (ev.type === "message" && !(ev.id && this.msgById.has(ev.id))) this.list.insertBefore(this.build(ev), pending[0] || null);
      else if (ev.type === "translation") this.translation(ev);
    }
    this.hasMore = !!hasMore;
    this.updateOlder();
    this.scrollToBottom(true);
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
    // Far back: the newest leave the DOM; new live messages wait behind "jump to latest".
    let over = this.list.children.length - HARD_MAX;
    while (over > 0 && this.list.lastElementChild) {
      const el = this.list.lastElementChild;
      if (el.classList.contains("pending")) break;
      el.remove();
      this.forget(el);
      this.detached = true;
      over -= 1;
    }
    if (this.detached) { this.newBtn.hidden = false; this.newBtn.textContent = t("jump_latest"); }
    return items.length;
  }

  // Scrolling ---------------------------------------------------------------------------------

  onScroll() {
    const s = this.scroller;
    this.atBottom = !this.detached && s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM_PX;
    if (this.atBottom && this.unread) {
      this.unread = 0;
      this.newBtn.hidden = true;
    }
    if (this.atBottom) this.trim(true);
    // Scrolling up near the top pages back by itself (the button stays for keyboards).
    else if (s.scrollTop < AUTO_OLDER_PX && !this.older.hidden && !this.olderBtn.disabled) this.ctx.onLoadOlder();
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
