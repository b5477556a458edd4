// The room controller: wires the connection (conn.js) to the parts of the page (message
// list, composer, members, typing, notices, host panel), dispatches server events to them,
// and keeps the room's state: our role, its settings and pin, whether we were removed.

import { h, clear, icon } from "./dom.js";
import { t, setLang, translationReason } from "./i18n.js";
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
import { ModActions } from "./mod-actions.js";
import { openUserCard } from "./user-card.js";
import { Announcer } from "./announcer.js";
import { available } from "./slash.js";
import { RANK } from "./roles.js";
import { mentionsMe } from "./message-item.js";
import { compactMode, setCompactMode } from "./prefs.js";
import { quoteTranslation } from "./quote-translation.js";

const OLDER_PAGE = 50;
const CLOSE_KEYS = { 1000: "close_1000", 1007: "close_1007", 1009: "close_1009", 4400: "close_4400",
  4401: "err_unauthorized", 4403: "close_4403", 4429: "close_4429" };

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
    this.reviewCount = 0;
    this.unseenMentions = 0;
    this.title = `#${room}`;
  }

  get isMod() {
    return isHost(this.role);
  }

  // Layout ----------------------------------------------------------------------------------

  build() {
    setLang(this.readLang);
    const self = this;
    const quiet = (p) => p.catch(() => {}); // refusals are shown as notices
    this.mod = new ModActions({
      moderate: (action, params) => this.moderate(action, params, { quiet: true }),
      notify: (text, opts) => this.notify(text, opts),
      role: () => this.role, me: () => this.me, settings: () => this.settings,
      changed: () => this.host?.changed(),
    });
    this.messages = new MessageList({
      me: () => this.me, role: () => this.role, isMod: () => this.isMod, readLang: this.readLang,
      canTarget: (author) => this.mod.canTarget(author),
      translationOn: () => this.translation.enabled !== false,
      translationDeadline: (text) => deadlineFor(this.translation, text),
      onPin: (ev) => quiet(this.mod.pin(ev)),
      onDelete: (ev) => quiet(this.mod.del(ev)),
      onReport: (ev) => this.report(ev),
      onReply: (ev) => this.composer.setReply(ev),
      onTimeout: (author, seconds) => quiet(this.mod.timeout(author, seconds)),
      onBan: (author) => quiet(this.mod.ban(author)),
      onUser: (author) => this.userCard(author),
      onQuote: (reply) => { if (!this.messages.reveal(reply.offset)) this.notify(t("reply_not_shown"), { ttl: 4000, key: "reply" }); },
      onLoadOlder: () => this.loadOlder(),
      onJumpLatest: () => this.jumpLatest(),
    });
    this.messages.scroller.classList.add(`mode-${displayMode()}`);
    this.messages.scroller.classList.toggle("compact", compactMode());
    this.announcer = new Announcer({ translationOf: (ev) => {
      const tr = this.messages.findMessage(ev.id, ev.offset)?.querySelector(".msg-tr[data-state=done]");
      return tr ? { text: tr.querySelector(".tr-text")?.textContent || "", lang: tr.lang } : null;
    } });
    this.notices = new Notices({ onCooldown: () => this.composer?.update() });
    this.typing = new TypingIndicator();
    this.composer = new Composer({
      onSend: (text, extra) => this.messages.addPending(this.conn.send(this.room, text, extra), text),
      onTyping: () => this.conn.typing(this.room),
      state: () => ({ ended: this.ended, locked: this.settings.locked && !this.isMod, cooldown: self.notices.cooldown }),
      onRefused: () => this.notify(t("err_locked"), { kind: "warn" }),
      onCommand: (cmd) => this.runCommand(cmd),
      onLocalError: (key, vars) => this.notify(t(key, vars), { kind: "error", key: "slash", code: key }),
      suggest: {
        commands: () => available(this.powers()),
        names: () => this.knownNames(),
        powers: () => this.powers(),
      },
    });
    this.members = new MemberList({
      me: () => this.me, role: () => this.role, mod: this.mod,
      onUser: (m) => this.userCard(m),
      moderate: (action, params) => this.moderate(action, params).catch(() => {}),
      onChange: () => this.host?.setHosts(this.members.hosts()),
      page: (after, query) => this.conn.request({ type: "members", room: this.room, limit: 100,
        ...(after ? { after } : {}), ...(query ? { query } : {}) }),
    });
    this.shell = buildShell(this.root, this.room, {
      messages: this.messages.el, typing: this.typing.el, alerts: this.notices.alertBox, notices: this.notices.noticeBox,
      composer: this.composer.el, members: [this.members.head, this.members.search, this.members.list, this.members.more],
      peopleCount: this.members.countEl, announcer: this.announcer.el,
    }, {
      retry: () => this.conn.retryNow(),
      mode: (m) => this.setMode(m),
      compact: (on) => { setCompactMode(on); this.messages.scroller.classList.toggle("compact", on); if (this.messages.atBottom) this.messages.scrollToBottom(); },
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
    else {
      // The close code is ours to say in the page's language; the server's words are English.
      const known = info && CLOSE_KEYS[info.code];
      const detail = known ? t(known) : info && info.message ? info.message : "";
      text = detail ? `${t("state_offline")}: ${detail}` : t("state_offline");
    }
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
    const reason = translationReason(this.translation);
    if (off) banner.textContent = t("translation_off", { reason });
    else if (down) banner.textContent = t("translation_unavailable_now", { reason });
  }

  onJoined(frame, info) {
    this.role = frame.role || "member";
    if (frame.title) {
      this.shell.titleEl.textContent = frame.title;
      this.title = frame.title;
      this.updateTitle();
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
    // The reason is a code we say in the page's language; `note` is the moderator's own words.
    if (frame.reason === "banned" || frame.reason === "kicked") this.end(frame.reason, frame.note ? t("reason", { r: frame.note }) : null);
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
    if (this.messages.addMessage(ev, fromHistory)) {
      const awaiting = ev.lang && ev.lang !== this.readLang && !ev.no_translation && this.translation.enabled !== false;
      this.announcer.message(ev, { awaitingTranslation: awaiting });
      if (mentionsMe(ev, this.me)) this.mentioned(ev);
    }
    if (ev.author) this.typing.stopped(ev.author.id);
  }

  /** Someone mentioned us: a notice that jumps to it, and "@" in the title until we look. */
  mentioned(ev) {
    this.notify(t("mentioned_you", { name: ev.author?.name ?? "" }), {
      key: "mention", code: "mention", ttl: 10_000,
      action: { label: t("show_it"), run: () => this.messages.reveal(ev.offset) },
    });
    if (document.hidden || !this.messages.atBottom) {
      this.unseenMentions += 1;
      this.updateTitle();
      if (!this.mentionWatch) {
        this.mentionWatch = true;
        const check = () => {
          if (document.hidden || !this.messages.atBottom) return;
          this.unseenMentions = 0;
          this.mentionWatch = false;
          this.updateTitle();
          document.removeEventListener("visibilitychange", check);
          this.messages.scroller.removeEventListener("scroll", check);
        };
        document.addEventListener("visibilitychange", check);
        this.messages.scroller.addEventListener("scroll", check, { passive: true });
      }
    }
  }

  /** "(3) @ Main stage · LiveBridge": waiting reviews (hosts) and unseen mentions. */
  updateTitle() {
    const badge = this.isMod && this.reviewCount ? `(${this.reviewCount}) ` : "";
    const at = this.unseenMentions ? "@ " : "";
    document.title = `${badge}${at}${this.title} · ${t("app_name")}`;
    const tab = this.shell.tabBadge;
    tab.hidden = !(this.isMod && this.reviewCount);
    tab.textContent = String(this.reviewCount);
    tab.setAttribute("aria-label", t("review_waiting", { n: this.reviewCount }));
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
    if (this.settings.slow_mode === 0) this.notices.endCooldownOf("err_slow_mode");
    this.composer.update();
    if (fromHistory || this.isMod) return; // hosts see it in their panel
    if (this.settings.slow_mode === 0) this.notices.endCooldownOf("err_slow_mode"); // no slow mode, no wait
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
        this.notify(t("notice_timeout_lifted"), { code: ev.code, key: "timeout_lifted" });
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
        mod: this.mod,
        onQueueCount: (n) => { this.reviewCount = n; this.updateTitle(); },
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
      this.reviewCount = 0;
      this.updateTitle();
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

  // Users, commands --------------------------------------------------------------------------

  powers() {
    return { isMod: this.isMod, isOwner: (RANK[this.role] || 0) >= RANK.owner };
  }

  /** Every display name this page knows (members, authors), for autocomplete and commands. */
  knownNames() {
    const names = new Set();
    for (const m of this.members.members.values()) if (m.name && m.id !== this.me.id) names.add(m.name);
    for (const [id, name] of this.members.names) if (id !== this.me.id) names.add(name);
    for (const li of this.messages.msgById.values()) {
      const a = li.lbEvent?.author;
      if (a && a.id !== this.me.id && a.name) names.add(a.name);
    }
    return [...names];
  }

  /** The user a command names: members first, then recent authors, then the server's search. */
  async findUser(name) {
    const lower = name.toLowerCase();
    const match = (u) => u && String(u.name || "").toLowerCase() === lower;
    for (const m of this.members.members.values()) if (match(m)) return m;
    for (const li of [...this.messages.msgById.values()].reverse()) if (match(li.lbEvent?.author)) return li.lbEvent.author;
    try {
      const reply = await this.conn.request({ type: "members", room: this.room, limit: 100, query: name.slice(0, 32) });
      const found = (reply.members || []).find(match);
      if (found) return found;
    } catch { /* fall through */ }
    if (this.isMod) {
      try { // a banned or timed-out user who left is still in the lists, by name
        const [b, m] = await Promise.all([this.moderate("bans", {}, { quiet: true }), this.moderate("timeouts", {}, { quiet: true })]);
        for (const [id, rec] of [...Object.entries(b.bans || {}), ...Object.entries(m.timeouts || {})]) {
          if (match(rec) || id === name) return { id, name: rec.name || name };
        }
      } catch { /* fall through */ }
    }
    return null;
  }

  async runCommand(cmd) {
    const m = this.mod;
    if (cmd.command === "help") return this.showHelp();
    let user = null;
    if (cmd.name) {
      user = await this.findUser(cmd.name);
      if (!user) return this.notify(t("slash_no_user", { name: cmd.name }), { kind: "error", key: "slash", code: "slash_no_user" });
    }
    const run = {
      timeout: () => m.timeout(user, cmd.seconds, cmd.reason || ""),
      untimeout: () => m.untimeout(user),
      ban: () => m.ban(user, cmd.reason || ""),
      unban: () => m.unban(user),
      slow: () => m.slow(cmd.seconds),
      slowoff: () => m.slow(0),
      lock: () => m.lock(true),
      unlock: () => m.lock(false),
      clear: () => m.clear(),
      mod: () => m.addModerator(user),
      unmod: () => m.removeModerator(user),
    }[cmd.command];
    try { await run(); } catch { /* shown as a notice */ }
    return undefined;
  }

  showHelp() {
    const lines = available(this.powers()).map((c) => `/${c.name}${c.args ? " " + c.args : ""}: ${t("cmd_" + c.name)}`);
    const el = this.notify(t("slash_help_title"), { ttl: 30_000, key: "help", code: "help" });
    el?.querySelector(".notice-text")?.append(h("ul", { class: "help-list" }, lines.map((l) => h("li", null, l))));
  }

  userCard(user) {
    if (!user || !user.id) return;
    openUserCard(user, {
      mod: this.mod, isMod: () => this.isMod,
      recentBy: (id) => this.messages.recentBy(id),
      memberOf: (id) => this.members.members.get(id) || null,
      mention: (name) => this.composer.insert(`@${name} `),
      state: async (id) => {
        const [b, m] = await Promise.all([this.moderate("bans", {}, { quiet: true }), this.moderate("timeouts", {}, { quiet: true })]);
        const until = Number((m.timeouts || {})[id]?.until || 0);
        return { banned: !!(b.bans || {})[id], timedOutUntil: until > Date.now() / 1000 ? until : 0 };
      },
    });
  }

  async jumpLatest() {
    try {
      const reply = await this.conn.request({ type: "history", room: this.room, limit: OLDER_PAGE });
      this.messages.resetToLatest(reply.events || [], reply.has_more);
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

/** A message's translation deadline as the server computes it (docs/translation.md): the
 *  deadline, and for a message over long_chars characters the deadline per long_chars
 *  characters, at most max_deadline_s. */
export function deadlineFor(translation, text) {
  const base = Number(translation?.deadline_s) || 5;
  const long = Number(translation?.long_chars) || 0;
  const n = [...(text || "")].length;
  if (!long || n <= long) return base;
  const cap = Number(translation?.max_deadline_s) || base;
  return Math.max(base, Math.min(cap, base * n / long));
}
