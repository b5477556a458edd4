// The room controller: wires the connection (conn.js) to the parts of the page (message
// list, composer, members, typing, notices, host panel), dispatches server events to them,
// and keeps the room's state: our role, its settings and pin, whether we were removed.

import { h, clear, icon } from "./dom.js";
import { t, setLang } from "./i18n.js";
import { saveIdentity, newGuest } from "./api.js";
import { Connection } from "./conn.js";
import { rememberUiLang, displayMode, setDisplayMode, MODES, chineseScript, setChineseScript } from "./prefs.js";
import { createHostPanel } from "./host.js";
import { isHost } from "./roles.js";
import { MessageList } from "./message-list.js";
import { Composer } from "./composer.js";
import { MemberList } from "./members.js";
import { TypingIndicator } from "./typing.js";
import { Notices } from "./notices.js";
import { buildShell } from "./room-shell.js";
import { askReportReason } from "./report-dialog.js";
import { quoteTranslation } from "./quote-translation.js";

const OLDER_PAGE = 50;

export class RoomController {
  constructor(root, room, ident) {
    this.root = root;
    this.room = room;
    this.ident = ident;
    this.me = ident.user;
    this.readLang = ident.readLang || ident.user.lang;
    this.role = "member";
    this.translation = { enabled: true };
    this.settings = { slow_mode: 0, locked: false, pinned: null };
    this.ended = null; // "banned" | "kicked" | "unauthorized"
    this.host = null;
    this.joinedOnce = false;
  }

  get isMod() {
    return isHost(this.role);
  }

  // Layout ----------------------------------------------------------------------------------

  build() {
    setLang(this.readLang);
    const self = this;
    this.messages = new MessageList({
      me: () => this.me, role: () => this.role, isMod: () => this.isMod, readLang: this.readLang,
      translationOn: () => this.translation.enabled !== false,
      translationDeadline: () => this.translation.deadline_s,
      onPin: (ev) => this.moderate("pin", { offset: ev.offset, message_id: ev.id }),
      onDelete: (ev) => this.moderate("delete", { offset: ev.offset, message_id: ev.id }),
      onReport: (ev) => this.report(ev),
      onLoadOlder: () => this.loadOlder(),
    });
    this.messages.scroller.classList.add(`mode-${displayMode()}`);
    this.notices = new Notices({ onCooldown: () => this.composer?.update() });
    this.typing = new TypingIndicator();
    this.composer = new Composer({
      onSend: (text) => this.messages.addPending(this.conn.send(this.room, text), text),
      onTyping: () => this.conn.typing(this.room),
      state: () => ({ ended: this.ended, locked: this.settings.locked && !this.isMod, cooldown: self.notices.cooldown }),
      onRefused: () => this.notify(t("err_locked"), { kind: "warn" }),
    });
    this.members = new MemberList({
      me: () => this.me, role: () => this.role,
      moderate: (action, params) => this.moderate(action, params).catch(() => {}),
      onChange: () => this.host?.setHosts(this.members.hosts()),
      page: (after, query) => this.conn.request({ type: "members", room: this.room, limit: 100,
        ...(after ? { after } : {}), ...(query ? { query } : {}) }),
    });
    this.shell = buildShell(this.root, this.room, {
      messages: this.messages.el, typing: this.typing.el, alerts: this.notices.alertBox, notices: this.notices.noticeBox,
      composer: this.composer.el, members: [this.members.head, this.members.search, this.members.list, this.members.more],
      peopleCount: this.members.countEl, announcer: this.notices.announcer,
    }, {
      retry: () => this.conn.retryNow(),
      mode: (m) => this.setMode(m),
      script: this.readLang === "zh" ? (sc) => this.setScript(sc) : null,
      lang: (lang) => { this.ident.readLang = lang; saveIdentity(this.ident); rememberUiLang(lang); location.reload(); },
      hostShown: () => this.host?.refresh(),
    });
    this.composer.updateCounter();
  }

  start() {
    this.build();
    this.conn = new Connection({
      token: this.ident.token,
      on: {
        state: (s, info) => this.onState(s, info),
        welcome: (f) => this.onWelcome(f),
        joined: (room, f, info) => this.onJoined(f, info),
        event: (room, f, info) => this.onEvent(f, info),
        error: (f) => this.onError(f),
        left: (room, f) => this.onLeft(f),
        unauthorized: () => this.renewToken(),
      },
    });
    this.conn.join(this.room);
    this.composer.focus();
  }

  async renewToken() {
    try {
      const ident = await newGuest(this.me.name, this.me.lang);
      ident.readLang = this.readLang;
      saveIdentity(ident);
      this.ident = ident;
      this.me = ident.user;
      return ident.token;
    } catch {
      this.end("unauthorized");
      return null;
    }
  }

  notify(text, opts) {
    return this.notices.notify(text, opts);
  }

  // Connection ------------------------------------------------------------------------------

  onState(state, info) {
    if (this.ended && state === "offline") state = "ended";
    const s = this.shell;
    s.status.dataset.state = state;
    let text;
    if (state === "live") text = t("state_live");
    else if (state === "connecting") text = t("state_connecting");
    else if (state === "reconnecting") {
      const secs = info && info.delay > 1500 ? Math.ceil(info.delay / 1000) : 0;
      text = secs ? t("state_reconnecting_in", { s: secs }) : t("state_reconnecting");
    } else if (state === "ended") text = t("state_offline");
    else text = info && info.message ? `${t("state_offline")}: ${info.message}` : t("state_offline");
    s.statusText.textContent = text;
    s.retryBtn.hidden = state !== "offline" || !!this.ended;
    this.composer.update();
  }

  onWelcome(frame) {
    this.translation = frame.translation || { enabled: false };
    if (frame.limits && frame.limits.max_text_chars) this.composer.setLimit(frame.limits.max_text_chars);
    if (frame.user) this.me = { ...this.me, ...frame.user };
    // Before the joins that follow, so history comes in our language and script too.
    const script = this.script();
    if (this.readLang !== frame.user?.lang || script !== "hans") this.conn.setLang(this.readLang, script);
    const banner = this.shell.translationBanner;
    const off = this.translation.enabled === false;
    const down = !off && this.translation.available === false; // e.g. no translation worker alive
    banner.hidden = !off && !down;
    if (off) banner.textContent = t("translation_off", { reason: this.translation.reason || "—" });
    else if (down) banner.textContent = t("translation_unavailable_now", { reason: this.translation.reason || "—" });
  }

  onJoined(frame, info) {
    this.role = frame.role || "member";
    if (frame.title) {
      this.shell.titleEl.textContent = frame.title;
      document.title = `${frame.title} · ${t("app_name")}`;
    }
    if (info.epochChanged) {
      // Offsets of the old history mean nothing now; keep what is shown, say so plainly.
      this.messages.epochReset();
      if (this.messages.hasMessages()) this.messages.divider(t("history_reset"));
    } else if (info.gap) {
      this.messages.divider(t("history_gap"));
    }
    this.messages.movePendingToEnd(); // they are re-sent now
    this.members.reset(frame.members || [], frame.member_count);
    const s = frame.settings || {};
    this.settings = { slow_mode: Number(s.slow_mode || 0), locked: !!s.locked, pinned: s.pinned || null };
    this.renderSettings();
    this.setupHost();
    if (!this.joinedOnce && !(frame.history || []).some((e) => e.type === "message")) this.messages.showEmpty();
    this.joinedOnce = true;
    this.composer.update();
    // History follows through onEvent (deduplicated by the connection); then "load older".
    requestAnimationFrame(() => { this.messages.updateOlder(); this.messages.scrollToBottom(true); });
  }

  onLeft(frame) {
    if (frame.reason === "banned" || frame.reason === "kicked") this.end(frame.reason, frame.message);
  }

  end(kind, detail) {
    this.ended = kind;
    const s = this.shell;
    clear(s.endBox);
    const key = { banned: "err_banned", kicked: "err_kicked", unauthorized: "err_unauthorized" }[kind];
    s.endBox.append(h("p", { class: "ended-text" }, t(key)));
    if (detail && typeof detail === "string") s.endBox.append(h("p", { class: "ended-detail" }, detail));
    if (kind !== "banned") {
      s.endBox.append(h("button", { type: "button", class: "btn", on: { click: () => location.reload() } }, t("rejoin")));
    }
    s.endBox.hidden = false;
    s.endBox.dataset.kind = kind;
    this.composer.el.hidden = true;
    this.typing.el.hidden = true;
    s.status.dataset.state = "ended";
    s.statusText.textContent = t("state_offline");
    s.retryBtn.hidden = true;
    this.composer.update();
  }

  // Events ----------------------------------------------------------------------------------

  onEvent(frame, { fromHistory }) {
    if (typeof frame.offset === "number" && frame.type !== "ack") this.messages.noteOffset(frame.offset);
    switch (frame.type) {
      case "message": return this.onMessage(frame, fromHistory);
      case "translation": this.pinTranslated(frame); return this.messages.translation(frame);
      case "translation_unavailable": return this.messages.translationUnavailable(frame);
      case "deleted": return this.onDeleted(frame);
      case "cleared": return this.messages.cleared(frame);
      case "pinned": this.settings.pinned = frame.pin || null; return this.renderPin();
      case "unpinned": this.settings.pinned = null; return this.renderPin();
      case "room_settings": return this.onRoomSettings(frame, fromHistory);
      case "presence": return this.onPresence(frame);
      case "ack": return this.onAck(frame);
      case "review": return this.host?.onReview(frame);
      case "notice": return this.onNotice(frame);
      case "role": return this.onRoleChange(this.me.id, frame.role);
      default: return undefined;
    }
  }

  onMessage(ev, fromHistory) {
    if (this.messages.addMessage(ev, fromHistory)) this.notices.announce(`${ev.author?.name ?? ""}: ${ev.text ?? ""}`);
    if (ev.author) this.typing.stopped(ev.author.id);
  }

  onDeleted(ev) {
    const offsets = this.messages.deleted(ev);
    if (this.settings.pinned && offsets.includes(this.settings.pinned.offset)) {
      this.settings.pinned = null;
      this.renderPin();
    }
  }

  onRoomSettings(ev, fromHistory) {
    const before = { ...this.settings };
    this.settings.slow_mode = Number(ev.slow_mode || 0);
    this.settings.locked = !!ev.locked;
    this.renderSettings();
    this.host?.onSettings(this.settings);
    this.composer.update();
    if (fromHistory || this.isMod) return; // hosts see it in their panel
    if (before.locked !== this.settings.locked) this.notify(t(this.settings.locked ? "notice_locked" : "notice_unlocked"));
    if (before.slow_mode !== this.settings.slow_mode) {
      this.notify(this.settings.slow_mode > 0 ? t("notice_slow_on", { s: this.settings.slow_mode }) : t("notice_slow_off"));
    }
  }

  onPresence(ev) {
    if (ev.event === "diff") {
      this.members.diff(ev.joins, ev.leaves, ev.member_count);
      for (const left of ev.leaves || []) this.typing.stopped(left.id);
      return;
    }
    const m = ev.member;
    if (!m || !m.id) return;
    if (ev.event === "typing" && m.id !== this.me.id) this.typing.typing(m);
    else if (ev.event === "role") this.onRoleChange(m.id, m.role);
  }

  onAck(ev) {
    if (ev.status !== "held") return;
    this.messages.markHeld(ev.client_msg_id, ev.hold_id);
    this.notify(t("err_held"));
  }

  onNotice(ev) {
    switch (ev.code) {
      case "timed_out": {
        const seconds = typeof ev.until === "number" ? ev.until - Date.now() / 1000 : 0;
        if (seconds > 0) this.notices.startCooldown("err_timed_out", seconds);
        else this.notify(t("err_timed_out_plain"), { kind: "warn", code: ev.code });
        return;
      }
      case "timeout_lifted":
        this.notices.endCooldown();
        this.notify(t("notice_timeout_lifted"), { code: ev.code });
        return;
      case "held_approved":
        if (!this.messages.heldApproved(ev.id)) this.notify(t("notice_held_approved"), { code: ev.code });
        return;
      case "held_rejected":
        if (!this.messages.heldRejected(ev.id)) this.notify(t("notice_held_rejected"), { code: ev.code });
        return;
      default:
        this.notify(ev.message || ev.text || "", { code: ev.code });
    }
  }

  /** A member's role changed (presence `role`, our own `role` frame, or our own action). */
  onRoleChange(userId, role) {
    if (!role) return;
    this.members.setRole(userId, role);
    if (userId === this.me.id && role !== this.role) {
      this.role = role;
      this.notify(t("notice_role", { role: t(`role_${role}`) }), { code: "role" });
      this.setupHost();
      this.composer.update();
    }
  }

  onError(frame) {
    if (frame.joinFailed && frame.code === "banned") return this.end("banned");
    if (frame.client_msg_id && frame.code !== "unavailable" && this.messages.dropPending(frame.client_msg_id)) {
      this.composer.restore(frame.text);
    }
    return this.showError(frame);
  }

  showError(frame) {
    const retry = Number(frame.retry_after || 0);
    const warn = (text) => this.notify(text, { kind: "warn" });
    const countdown = (key, fallback) => (retry > 0 ? this.notices.startCooldown(key, retry) : warn(fallback));
    switch (frame.code) {
      case "rate_limited": return countdown("err_rate_limited", t("err_rate_limited", { s: 1 }));
      case "slow_mode": return countdown("err_slow_mode", t("err_slow_mode", { s: this.settings.slow_mode }));
      case "timed_out": return countdown("err_timed_out", t("err_timed_out_plain"));
      case "flood": return countdown("err_flood", t("err_flood"));
      case "banned": return this.end("banned");
      case "unauthorized": return this.end("unauthorized");
      case "blocked_term": return this.notify(t("err_blocked"), { kind: "error" });
      case "room_locked": return warn(t("err_locked"));
      case "forbidden": return this.notify(t("err_forbidden"), { kind: "error" });
      case "text_too_long": return this.notify(t("err_too_long"), { kind: "error" });
      case "unavailable": return warn(t("err_unavailable"));
      default: return this.notify(t("err_generic", { msg: frame.message || frame.code || "?" }), { kind: "error" });
    }
  }

  // Settings, pin, host panel -----------------------------------------------------------------

  renderSettings() {
    const parts = [];
    if (this.settings.locked) parts.push(t("notice_locked"));
    if (this.settings.slow_mode > 0) parts.push(t("notice_slow_on", { s: this.settings.slow_mode }));
    this.shell.settingsBar.textContent = parts.join(" ");
    this.shell.settingsBar.hidden = parts.length === 0;
  }

  renderPin() {
    const pin = this.settings.pinned;
    const bar = this.shell.pinBar;
    clear(bar);
    bar.hidden = !pin;
    if (!pin) return;
    bar.append(
      h("span", { class: "pin-icon", "aria-hidden": "true" }, icon("pin")),
      h("span", { class: "pin-label" }, t("pinned")),
      h("span", { class: "author" }, pin.name || ""),
      h("span", { class: "pin-text", dir: "auto" }, pin.text || ""),
      quoteTranslation(pin.translations, this.readLang, { cls: "pin-tr" }));
    if (this.isMod) {
      bar.append(h("button", { type: "button", class: "btn btn-ghost btn-sm", on: { click: () => this.moderate("unpin", {}).catch(() => {}) } }, t("unpin")));
    }
  }

  /** A translation of the pinned message that came after the pin: shown beside it. */
  pinTranslated(ev) {
    const pin = this.settings.pinned;
    if (!pin || ev.message_id !== pin.message_id || ev.lang !== this.readLang) return;
    pin.translations = { ...(pin.translations || {}), [ev.lang]: ev.text };
    this.renderPin();
  }

  /** Show or hide the host panel for our current role, and redraw what depends on it. */
  setupHost() {
    const s = this.shell;
    if (this.isMod && !this.host) {
      this.host = createHostPanel({
        room: this.room,
        token: () => this.ident.token,
        moderate: (action, params) => this.moderate(action, params, { quiet: true }),
        notify: (text, opts) => this.notify(text, opts),
        settings: () => this.settings,
        nameOf: (id) => this.members.nameOf(id) || this.messages.authorName(id) || id,
      });
      s.hostSlot.append(this.host.el);
      s.tabHost.hidden = false;
      s.sidebar.classList.add("has-host");
    } else if (!this.isMod && this.host) {
      this.host.el.remove();
      this.host = null;
      s.tabHost.hidden = true;
      s.sidebar.classList.remove("has-host");
      s.showTab("members");
    }
    this.host?.onSettings(this.settings);
    this.host?.setHosts(this.members.hosts());
    this.messages.refreshActions();
    this.members.render();
    this.renderPin();
  }

  setMode(mode) {
    setDisplayMode(mode);
    for (const m of MODES) this.messages.scroller.classList.toggle(`mode-${m}`, m === mode);
    if (this.messages.atBottom) this.messages.scrollToBottom();
  }

  /** The script Chinese translations come in: only Chinese readers choose one. */
  script() {
    return this.readLang === "zh" ? chineseScript() : "hans";
  }

  /** Simplified / traditional: new translations follow; what is shown stays as it is. */
  setScript(script) {
    setChineseScript(script);
    this.conn.setLang(this.readLang, this.script());
  }

  // Requests ----------------------------------------------------------------------------------

  async moderate(action, params, { quiet = false } = {}) {
    try {
      const reply = await this.conn.request({ type: "moderate", room: this.room, action, params });
      if (action === "add_moderator" || action === "remove_moderator") {
        const res = reply.result || {};
        this.onRoleChange(res.user_id || params.user_id, res.role || (action === "add_moderator" ? "moderator" : "member"));
      }
      if (!quiet) this.notify(t("done"), { ttl: 2500, key: "done" });
      return reply.result;
    } catch (err) {
      this.showError(err || {});
      throw err;
    }
  }

  async report(ev) {
    const reason = await askReportReason(ev);
    if (reason === null) return;
    try {
      const reply = await this.conn.request({ type: "report", room: this.room, offset: ev.offset, ...(reason ? { reason } : {}) });
      const dup = reply.result && reply.result.duplicate;
      this.notify(t(dup ? "reported_again" : "reported"), { key: "reported", code: "reported" });
    } catch (err) {
      this.showError(err || {});
    }
  }

  async loadOlder() {
    const list = this.messages;
    if (this.loadingOlder || list.oldest === null) return;
    this.loadingOlder = true;
    list.updateOlder(true);
    const epoch = this.conn.rooms.get(this.room)?.epoch;
    try {
      const reply = await this.conn.request({ type: "history", room: this.room, before: list.oldest, limit: OLDER_PAGE });
      if (reply.epoch && epoch && reply.epoch !== epoch) list.epochReset();
      else list.prepend(reply.events || [], reply.has_more);
    } catch (err) {
      this.showError(err || {});
    } finally {
      this.loadingOlder = false;
      list.updateOlder();
    }
  }
}
