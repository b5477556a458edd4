// "/r/{room}": the live room. Messages with their translations, members, typing, composer,
// connection state and notices; the host panel (host.js) for owners and moderators.

import { h, clear, nextId, colorClass, charCount, icon } from "./dom.js";
import { t, setLang, lang as uiLang } from "./i18n.js";
import { loadIdentity, saveIdentity, newGuest, ROOM_RE } from "./api.js";
import { Connection } from "./conn.js";
import { identityForm } from "./identity.js";
import { topbar, languageSwitch } from "./home.js";
import { rememberUiLang, displayMode, setDisplayMode, MODES } from "./prefs.js";
import { createHostPanel } from "./host.js";

const RANK = { guest: 0, member: 1, moderator: 2, owner: 3, admin: 4 };
const MOD_ROLES = new Set(["moderator", "owner", "admin"]);
const TYPING_SEND_MS = 2000;
const TYPING_SHOW_MS = 5000;
const NEAR_BOTTOM_PX = 48;

export function renderRoom(root, room) {
  clear(root);
  if (!ROOM_RE.test(room)) {
    root.append(topbar(), h("main", { id: "main", class: "center-page" },
      h("section", { class: "card narrow" }, h("p", { class: "form-error" }, t("invalid_room")),
        h("a", { href: "/", class: "btn" }, t("back_to_rooms")))));
    return;
  }
  const ident = loadIdentity();
  if (!ident) {
    renderJoin(root, room);
    return;
  }
  new RoomView(root, room, ident).start();
}

function renderJoin(root, room, draftName = "") {
  clear(root);
  const form = identityForm({
    initialName: draftName,
    onDone: () => renderRoom(root, room),
    onLangChange: (lang, name) => { rememberUiLang(lang); renderJoin(root, room, name); root.querySelector("input[name=name]")?.focus(); },
  });
  root.append(
    topbar([languageSwitch((lang) => { rememberUiLang(lang); renderJoin(root, room, form.nameInput.value); })]),
    h("main", { id: "main", class: "center-page", tabindex: "-1" },
      h("section", { class: "card narrow join-card", "aria-labelledby": "join-h" },
        h("p", { class: "join-room" }, "#" + room),
        h("h1", { id: "join-h", class: "card-title big" }, t("join_title")),
        h("p", { class: "muted" }, t("join_intro")),
        form)));
  document.title = `#${room} · ${t("app_name")}`;
  setTimeout(() => form.nameInput.focus(), 0);
}

function fmtTime(ts) {
  const d = new Date(typeof ts === "number" ? ts : Date.now());
  return {
    short: new Intl.DateTimeFormat(uiLang() === "zh" ? "zh-CN" : "en-GB", { hour: "2-digit", minute: "2-digit" }).format(d),
    full: d.toLocaleString(uiLang() === "zh" ? "zh-CN" : "en-GB"),
    iso: d.toISOString(),
  };
}

function roleBadge(role) {
  if (!role || !MOD_ROLES.has(role)) return null;
  return h("span", { class: ["badge", `badge-${role}`], title: t(`role_${role}`) }, t(`role_${role}`));
}

function langChip(lang) {
  return h("span", { class: "lang-chip", title: lang === "zh" ? t("lang_zh") : t("lang_en") }, lang === "zh" ? "中文" : "EN");
}

class RoomView {
  constructor(root, room, ident) {
    this.root = root;
    this.room = room;
    this.ident = ident;
    this.me = ident.user;
    this.readLang = ident.readLang || ident.user.lang;
    this.role = "member";
    this.translation = { enabled: true };
    this.maxChars = 2000;
    this.members = new Map();
    this.knownNames = new Map();
    this.msgById = new Map();
    this.msgByOffset = new Map();
    this.pendingEls = new Map();
    this.typers = new Map();
    this.settings = { slow_mode: 0, locked: false, pinned: null };
    this.atBottom = true;
    this.unread = 0;
    this.cooldown = null; // {until, key}
    this.ended = null; // "banned" | "kicked" | "unauthorized"
    this.lastTypingSent = 0;
    this.host = null;
    this.joinedOnce = false;
  }

  get isMod() {
    return MOD_ROLES.has(this.role);
  }

  // Layout ----------------------------------------------------------------------------------

  build() {
    setLang(this.readLang);
    const ids = { composer: nextId("composer"), counter: nextId("counter"), help: nextId("help"), mode: nextId("mode") };
    this.statusText = h("span", { class: "conn-text" }, t("state_connecting"));
    this.retryBtn = h("button", { type: "button", class: "btn btn-sm", hidden: true, on: { click: () => this.conn.retryNow() } }, t("rejoin"));
    this.status = h("div", { class: "conn", data: { state: "connecting" }, role: "status", "aria-live": "polite" },
      h("span", { class: "conn-dot", "aria-hidden": "true" }), this.statusText);
    this.titleEl = h("h1", { class: "room-h1" }, this.room);
    const modeSelect = h("select", { id: ids.mode, class: "select select-sm", on: { change: () => this.setMode(modeSelect.value) } },
      MODES.map((m) => h("option", { value: m }, t(`display_${m}`))));
    modeSelect.value = displayMode();
    this.sidebarToggle = h("button", { type: "button", class: "btn btn-ghost btn-sm sidebar-toggle", "aria-expanded": "false",
      "aria-controls": "sidebar", on: { click: () => this.toggleSidebar() } }, t("members"));
    const header = topbar([
      h("div", { class: "room-head" },
        h("a", { href: "/", class: "back-link" }, h("span", { "aria-hidden": "true" }, "← "), t("back_to_rooms")),
        h("div", { class: "room-name" }, this.titleEl, h("span", { class: "room-slug" }, "#" + this.room))),
      this.status, this.retryBtn,
      h("div", { class: "mode-switch" }, h("label", { for: ids.mode, class: "mode-label" }, t("show")), modeSelect),
      languageSwitch((lang) => { this.ident.readLang = lang; saveIdentity(this.ident); rememberUiLang(lang); location.reload(); }),
      this.sidebarToggle,
    ]);
    header.classList.add("room-topbar");

    this.banners = h("div", { class: "banners" });
    this.translationBanner = h("div", { class: "banner banner-info", hidden: true, role: "note" });
    this.pinBar = h("div", { class: "pinbar", hidden: true, "aria-label": t("pinned") });
    this.settingsBar = h("div", { class: "banner banner-warn", hidden: true });
    this.banners.append(this.translationBanner, this.settingsBar, this.pinBar);

    this.list = h("ol", { class: "msg-list" });
    this.scroller = h("div", { class: ["messages", `mode-${displayMode()}`], role: "log", "aria-live": "off",
      "aria-label": t("messages"), tabindex: "0" }, this.list);
    this.scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    this.newBtn = h("button", { type: "button", class: "new-messages", hidden: true, on: { click: () => this.scrollToBottom(true) } });
    this.typingEl = h("div", { class: "typing", "aria-hidden": "true" });
    this.noticeBox = h("div", { class: "notices", role: "status", "aria-live": "polite" });
    this.alertBox = h("div", { class: "notices notices-alert", role: "alert" });

    this.input = h("textarea", { id: ids.composer, class: "composer-input", rows: 1, placeholder: t("composer_placeholder"),
      "aria-describedby": `${ids.help} ${ids.counter}`, autocomplete: "off" });
    this.counter = h("span", { id: ids.counter, class: "counter", "aria-live": "off" });
    this.sendBtn = h("button", { type: "submit", class: "btn btn-primary send-btn", disabled: true }, t("send"));
    this.composer = h("form", { class: "composer", "aria-label": t("composer_label") },
      h("label", { for: ids.composer, class: "sr-only" }, t("composer_label")),
      h("div", { class: "composer-box" }, this.input, this.sendBtn),
      h("div", { class: "composer-meta" }, h("span", { id: ids.help, class: "hint" }, t("composer_help")), this.counter));
    this.composer.addEventListener("submit", (ev) => { ev.preventDefault(); this.submit(); });
    this.input.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing && ev.keyCode !== 229) {
        ev.preventDefault();
        this.submit();
      }
    });
    this.input.addEventListener("input", () => this.onInput());

    this.endBox = h("div", { class: "ended", hidden: true, role: "alert" });

    // Sidebar: members and (for hosts) the host panel.
    this.memberList = h("ul", { class: "member-list" });
    this.memberHead = h("h2", { class: "side-title", id: "members-h" }, t("members"));
    this.membersSection = h("section", { class: "side-section", id: "members-panel", role: "tabpanel", "aria-labelledby": "tab-members" },
      this.memberHead, this.memberList);
    this.tabMembers = h("button", { type: "button", role: "tab", id: "tab-members", "aria-controls": "members-panel", "aria-selected": "true",
      class: "tab", on: { click: () => this.showTab("members"), keydown: (e) => this.tabKeys(e) } }, t("members"));
    this.tabHost = h("button", { type: "button", role: "tab", id: "tab-host", "aria-controls": "host-panel", "aria-selected": "false",
      class: "tab", tabindex: "-1", hidden: true, on: { click: () => this.showTab("host"), keydown: (e) => this.tabKeys(e) } }, t("host_tools"));
    this.tabs = h("div", { class: "tabs", role: "tablist", "aria-label": t("members") }, this.tabMembers, this.tabHost);
    this.hostSlot = h("section", { class: "side-section host-section", id: "host-panel", role: "tabpanel", "aria-labelledby": "tab-host", hidden: true });
    this.sidebar = h("aside", { class: "sidebar", id: "sidebar", "aria-label": t("members") }, this.tabs, this.membersSection, this.hostSlot);

    this.announcer = h("div", { class: "sr-only", "aria-live": "polite", "aria-atomic": "true", id: "announcer" });

    const chat = h("section", { class: "chat", "aria-label": t("messages") },
      this.banners,
      h("div", { class: "messages-wrap" }, this.scroller, this.newBtn),
      this.typingEl, this.alertBox, this.noticeBox, this.endBox, this.composer);
    this.root.append(h("div", { class: "room-page" }, header,
      h("main", { id: "main", class: "room-main", tabindex: "-1" }, chat, this.sidebar), this.announcer));
    document.title = `#${this.room} · ${t("app_name")}`;
    this.updateCounter();
    this.typingTimer = setInterval(() => this.renderTyping(), 1000);
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
    this.input.focus();
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

  // Connection ------------------------------------------------------------------------------

  onState(state, info) {
    if (this.ended && state === "offline") state = "ended";
    this.status.dataset.state = state;
    let text;
    if (state === "live") text = t("state_live");
    else if (state === "connecting") text = t("state_connecting");
    else if (state === "reconnecting") {
      const s = info && info.delay > 1500 ? Math.ceil(info.delay / 1000) : 0;
      text = s ? t("state_reconnecting_in", { s }) : t("state_reconnecting");
    } else if (state === "ended") text = t("state_offline");
    else text = info && info.message ? `${t("state_offline")}: ${info.message}` : t("state_offline");
    this.statusText.textContent = text;
    this.retryBtn.hidden = state !== "offline" || !!this.ended;
    this.updateComposer();
  }

  onWelcome(frame) {
    this.translation = frame.translation || { enabled: false };
    if (frame.limits && frame.limits.max_text_chars) this.maxChars = frame.limits.max_text_chars;
    if (frame.user) this.me = { ...this.me, ...frame.user };
    if (this.readLang !== frame.user?.lang) this.conn.setLang(this.readLang);
    if (this.translation.enabled === false) {
      this.translationBanner.textContent = t("translation_off", { reason: this.translation.reason || "—" });
      this.translationBanner.hidden = false;
    } else {
      this.translationBanner.hidden = true;
    }
    this.updateCounter();
  }

  onJoined(frame, info) {
    this.role = frame.role || "member";
    if (frame.title) {
      this.titleEl.textContent = frame.title;
      document.title = `${frame.title} · ${t("app_name")}`;
    }
    if (info.epochChanged) {
      // Offsets of the old history mean nothing now; keep what is shown, say so plainly.
      this.msgByOffset.clear();
      if (this.list.querySelector(".msg")) this.addDivider(t("history_reset"));
    } else if (info.gap) {
      this.addDivider(t("history_gap"));
    }
    // Unacknowledged sends go after what the room said meanwhile (they are re-sent now).
    for (const el of this.pendingEls.values()) this.list.append(el);
    this.members.clear();
    for (const m of frame.members || []) { this.members.set(m.id, m); this.knownNames.set(m.id, m.name); }
    this.renderMembers();
    const s = frame.settings || {};
    this.settings = { slow_mode: Number(s.slow_mode || 0), locked: !!s.locked, pinned: s.pinned || null };
    this.renderSettings();
    this.renderPin();
    this.setupHost();
    if (!this.joinedOnce && !(frame.history || []).some((e) => e.type === "message")) {
      this.list.append(h("li", { class: "empty-state" }, t("empty_room")));
    }
    this.joinedOnce = true;
    this.updateComposer();
    // History follows through onEvent (deduplicated by the connection).
    requestAnimationFrame(() => this.scrollToBottom(true));
  }

  onLeft(frame) {
    if (frame.reason === "banned") this.end("banned", frame.message);
    else if (frame.reason === "kicked") this.end("kicked", frame.message);
  }

  end(kind, detail) {
    this.ended = kind;
    clear(this.endBox);
    const key = { banned: "err_banned", kicked: "err_kicked", unauthorized: "err_unauthorized" }[kind];
    this.endBox.append(h("p", { class: "ended-text" }, t(key)));
    if (detail && typeof detail === "string") this.endBox.append(h("p", { class: "ended-detail" }, detail));
    if (kind !== "banned") {
      this.endBox.append(h("button", { type: "button", class: "btn", on: { click: () => location.reload() } }, t("rejoin")));
    }
    this.endBox.hidden = false;
    this.composer.hidden = true;
    this.typingEl.hidden = true;
    this.endBox.dataset.kind = kind;
    this.status.dataset.state = "ended";
    this.statusText.textContent = t("state_offline");
    this.retryBtn.hidden = true;
    this.updateComposer();
  }

  // Events ----------------------------------------------------------------------------------

  onEvent(frame, { fromHistory }) {
    switch (frame.type) {
      case "message": return this.onMessage(frame, fromHistory);
      case "translation": return this.onTranslation(frame);
      case "translation_unavailable": return this.onTranslationUnavailable(frame);
      case "deleted": return this.onDeleted(frame);
      case "cleared": return this.onCleared(frame);
      case "pinned": this.settings.pinned = frame.pin || null; return this.renderPin();
      case "unpinned": this.settings.pinned = null; return this.renderPin();
      case "room_settings": return this.onRoomSettings(frame, fromHistory);
      case "presence": return this.onPresence(frame);
      case "ack": return this.onAck(frame);
      case "review": return this.host?.onReview(frame);
      case "notice": return this.onNotice(frame);
      case "role": return this.onRoleChange(frame.user_id || this.me.id, frame.role);
      default: return undefined;
    }
  }

  onMessage(ev, fromHistory) {
    if (ev.id && this.msgById.has(ev.id)) return;
    const mine = ev.author && ev.author.id === this.me.id;
    this.list.querySelector(".empty-state")?.remove();
    let el = mine && ev.client_msg_id ? this.pendingEls.get(ev.client_msg_id) : null;
    if (!el && mine && !fromHistory) {
      // A message of ours that was held for review and has now been approved.
      el = [...this.list.querySelectorAll("li.msg.held")].find((li) => li.lbText === ev.text) || null;
    }
    const fresh = this.messageEl(ev);
    if (el) {
      // Our own message takes its place in the room's order (others may have spoken since).
      if (ev.client_msg_id) this.pendingEls.delete(ev.client_msg_id);
      const wasLast = el === this.list.lastElementChild;
      if (wasLast) el.replaceWith(fresh);
      else { el.remove(); this.appendItem(fresh, { mine: true }); }
    } else {
      this.appendItem(fresh, { mine, fromHistory });
      if (!fromHistory && !mine) this.announce(`${ev.author?.name ?? ""}: ${ev.text ?? ""}`);
    }
    if (ev.author) this.typers.delete(ev.author.id);
    this.renderTyping();
  }

  messageEl(ev) {
    const author = ev.author || { id: "?", name: "?", lang: "en" };
    const mine = author.id === this.me.id;
    const time = fmtTime(ev.ts);
    const needsTranslation = ev.lang && ev.lang !== this.readLang;
    const li = h("li", { class: ["msg", mine ? "mine" : ""], data: { id: ev.id || "", offset: ev.offset ?? "", lang: ev.lang || "" } });
    const textEl = h("p", { class: "msg-text", lang: ev.lang === "zh" ? "zh-CN" : "en", dir: "auto" }, ev.text ?? "");
    li.append(
      h("div", { class: "msg-head" },
        h("time", { class: "msg-time", datetime: time.iso, title: time.full }, time.short),
        roleBadge(author.role),
        h("span", { class: ["author", colorClass(author.id)] }, author.name),
        mine ? h("span", { class: "you-tag" }, `(${t("you")})`) : null),
      textEl);
    if (needsTranslation && this.translation.enabled !== false) {
      li.append(this.translationEl("pending"));
      li.classList.add("awaiting");
    }
    if (typeof ev.offset === "number") {
      li.append(this.messageActions(ev));
      this.msgByOffset.set(ev.offset, li);
    }
    if (ev.id) this.msgById.set(ev.id, li);
    li.lbEvent = ev;
    return li;
  }

  translationEl(state, text = "", lang = this.readLang) {
    const el = h("p", { class: "msg-tr", data: { state }, lang: lang === "zh" ? "zh-CN" : "en", dir: "auto" });
    if (state === "pending") {
      el.append(h("span", { class: "tr-pending" }, t("translating")));
    } else if (state === "unavailable") {
      el.append(h("span", { class: "tr-unavailable" }, t("translation_unavailable")));
    } else {
      el.append(h("span", { class: "tr-label", "aria-label": t("translated") }, lang === "zh" ? "译" : "TR"), h("span", { class: "tr-text" }, text));
    }
    return el;
  }

  messageActions(ev) {
    const bar = h("div", { class: "msg-actions", role: "group", "aria-label": t("message_actions", { name: ev.author?.name ?? "" }) });
    const target = { offset: ev.offset, message_id: ev.id };
    if (this.isMod) {
      bar.append(
        h("button", { type: "button", class: "icon-btn", "aria-label": `${t("pin")}`, title: t("pin"),
          on: { click: () => this.moderate("pin", target) } }, icon("pin")),
        h("button", { type: "button", class: "icon-btn danger", "aria-label": `${t("delete")}`, title: t("delete"),
          on: { click: () => this.moderate("delete", target) } }, icon("trash")));
    } else if (this.role !== "guest" && ev.author?.id !== this.me.id) {
      bar.append(h("button", { type: "button", class: "icon-btn", "aria-label": t("report"), title: t("report"),
        on: { click: () => this.report(ev.offset) } }, icon("flag")));
    }
    return bar;
  }

  findMessage(id, offset) {
    return (id && this.msgById.get(id)) || (typeof offset === "number" ? this.msgByOffset.get(offset) : null);
  }

  onTranslation(ev) {
    if (ev.lang && ev.lang !== this.readLang) return;
    const li = this.findMessage(ev.message_id, ev.message_offset);
    if (!li) return;
    const stick = this.atBottom;
    const fresh = this.translationEl("done", ev.text ?? "", ev.lang || this.readLang);
    const old = li.querySelector(".msg-tr");
    if (old) old.replaceWith(fresh);
    else li.querySelector(".msg-text").after(fresh);
    li.classList.remove("awaiting");
    li.classList.add("has-tr");
    if (typeof ev.offset === "number") this.msgByOffset.set(ev.offset, li); // deletes retract it too
    if (stick) this.scrollToBottom();
  }

  onTranslationUnavailable(ev) {
    const li = this.findMessage(ev.message_id, ev.message_offset);
    if (!li || li.classList.contains("has-tr")) return;
    const old = li.querySelector(".msg-tr");
    const fresh = this.translationEl("unavailable");
    if (old) old.replaceWith(fresh);
    else li.querySelector(".msg-text").after(fresh);
    li.classList.remove("awaiting");
  }

  onDeleted(ev) {
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
    if (this.settings.pinned && offsets.includes(this.settings.pinned.offset)) {
      this.settings.pinned = null;
      this.renderPin();
    }
  }

  onCleared(ev) {
    const upTo = typeof ev.up_to === "number" ? ev.up_to : Infinity;
    for (const el of [...this.list.children]) {
      const off = Number(el.dataset.offset);
      if (el.classList.contains("msg") && (el.dataset.offset === "" || el.dataset.offset === undefined ? false : off <= upTo)) {
        if (el.dataset.id) this.msgById.delete(el.dataset.id);
        el.remove();
      } else if (el.classList.contains("note") || el.classList.contains("divider")) {
        el.remove();
      }
    }
    for (const [off] of this.msgByOffset) if (off <= upTo) this.msgByOffset.delete(off);
    this.list.append(h("li", { class: "note" }, t("cleared_note")));
  }

  onRoomSettings(ev, fromHistory) {
    const before = { ...this.settings };
    this.settings.slow_mode = Number(ev.slow_mode || 0);
    this.settings.locked = !!ev.locked;
    this.renderSettings();
    this.host?.onSettings(this.settings);
    this.updateComposer();
    if (fromHistory || this.isMod) return; // hosts see it in their panel
    if (before.locked !== this.settings.locked) this.notify(t(this.settings.locked ? "notice_locked" : "notice_unlocked"), { kind: "info" });
    if (before.slow_mode !== this.settings.slow_mode) {
      this.notify(this.settings.slow_mode > 0 ? t("notice_slow_on", { s: this.settings.slow_mode }) : t("notice_slow_off"), { kind: "info" });
    }
  }

  onPresence(ev) {
    const m = ev.member;
    if (!m) return;
    if (ev.event === "join") {
      this.members.set(m.id, m);
      this.knownNames.set(m.id, m.name);
      this.renderMembers();
    } else if (ev.event === "leave") {
      this.members.delete(m.id);
      this.typers.delete(m.id);
      this.renderMembers();
      this.renderTyping();
    } else if (ev.event === "typing" && m.id !== this.me.id) {
      this.typers.set(m.id, { name: m.name, until: Date.now() + TYPING_SHOW_MS });
      this.renderTyping();
    }
  }

  onAck(ev) {
    const el = ev.client_msg_id ? this.pendingEls.get(ev.client_msg_id) : null;
    if (ev.status === "held") {
      if (el) {
        el.classList.remove("pending");
        el.classList.add("held");
        const st = el.querySelector(".msg-status");
        if (st) st.textContent = t("held");
        this.pendingEls.delete(ev.client_msg_id);
      }
      this.notify(t("err_held"), { kind: "info" });
    }
  }

  onNotice(ev) {
    if (ev.code === "timed_out" && typeof ev.until === "number") {
      const seconds = ev.until - Date.now() / 1000;
      if (seconds > 0) return this.startCooldown("err_timed_out", seconds);
      return undefined;
    }
    if (ev.code === "timeout_lifted") {
      this.endCooldown();
      return this.notify(ev.message || "", { kind: "info" });
    }
    return this.notify(ev.message || ev.text || "", { kind: "info" });
  }

  onRoleChange(userId, role) {
    if (!role) return;
    const m = this.members.get(userId);
    if (m) m.role = role;
    if (userId === this.me.id && role !== this.role) {
      this.role = role;
      this.notify(t("notice_role", { role: t(`role_${role}`) }), { kind: "info" });
      this.setupHost();
      this.updateComposer();
    }
    this.renderMembers();
  }

  onError(frame) {
    if (frame.joinFailed && frame.code === "banned") return this.end("banned");
    if (frame.client_msg_id) {
      const el = this.pendingEls.get(frame.client_msg_id);
      if (el && frame.code !== "unavailable") {
        el.remove();
        this.pendingEls.delete(frame.client_msg_id);
        if (!this.input.value && frame.text) {
          this.input.value = frame.text;
          this.onInput();
        }
      }
    }
    this.showError(frame);
    return undefined;
  }

  showError(frame) {
    const retry = Number(frame.retry_after || 0);
    const countdown = (key) => this.startCooldown(key, retry);
    switch (frame.code) {
      case "rate_limited": return retry > 0 ? countdown("err_rate_limited") : this.notify(t("err_rate_limited", { s: 1 }), { kind: "warn" });
      case "slow_mode": return retry > 0 ? countdown("err_slow_mode") : this.notify(t("err_slow_mode", { s: this.settings.slow_mode }), { kind: "warn" });
      case "muted":
      case "timed_out": return retry > 0 ? countdown("err_timed_out") : this.notify(t("err_timed_out_plain"), { kind: "warn" });
      case "banned": return this.end("banned");
      case "blocked_term": return this.notify(t("err_blocked"), { kind: "error" });
      case "room_locked": return this.notify(t("err_locked"), { kind: "warn" });
      case "flood": return retry > 0 ? countdown("err_flood") : this.notify(t("err_flood"), { kind: "warn" });
      case "forbidden": return this.notify(t("err_forbidden"), { kind: "error" });
      case "text_too_long": return this.notify(t("err_too_long"), { kind: "error" });
      case "unavailable": return this.notify(t("err_unavailable"), { kind: "warn" });
      case "unauthorized": return this.end("unauthorized");
      default: return this.notify(t("err_generic", { msg: frame.message || frame.code || "?" }), { kind: "error" });
    }
  }

  // Notices ---------------------------------------------------------------------------------

  notify(text, { kind = "info", ttl = 8000, key } = {}) {
    if (!text) return null;
    const box = kind === "error" ? this.alertBox : this.noticeBox;
    if (key) box.querySelector(`[data-key="${key}"]`)?.remove();
    const textEl = h("span", { class: "notice-text" }, text);
    const el = h("div", { class: ["notice", `notice-${kind}`], data: { code: key || kind } },
      textEl,
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
    clearInterval(this.cooldownTimer);
    const el = this.notify(t(key, { s: Math.ceil(seconds) }), { kind: "warn", ttl: 0, key: "cooldown" });
    el.dataset.code = key.replace(/^err_/, "");
    this.cooldown = { until, key };
    const tick = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(this.cooldownTimer);
        this.cooldown = null;
        el.remove();
        this.updateComposer();
        return;
      }
      el.textEl.textContent = t(key, { s: left });
    };
    this.cooldownTimer = setInterval(tick, 250);
    this.updateComposer();
  }

  endCooldown() {
    clearInterval(this.cooldownTimer);
    this.cooldown = null;
    this.noticeBox.querySelector('[data-key="cooldown"]')?.remove();
    this.updateComposer();
  }

  announce(text) {
    this.announcer.textContent = text;
  }

  // Rendering helpers -----------------------------------------------------------------------

  appendItem(el, { mine = false, fromHistory = false } = {}) {
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

  addDivider(text) {
    this.list.append(h("li", { class: "divider", role: "separator" }, h("span", null, text)));
  }

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

  setMode(mode) {
    setDisplayMode(mode);
    for (const m of MODES) this.scroller.classList.toggle(`mode-${m}`, m === mode);
    if (this.atBottom) this.scrollToBottom();
  }

  renderTyping() {
    const now = Date.now();
    for (const [id, v] of this.typers) if (v.until < now) this.typers.delete(id);
    const names = [...this.typers.values()].map((v) => v.name);
    let text = "";
    if (names.length === 1) text = t("typing_one", { a: names[0] });
    else if (names.length === 2) text = t("typing_two", { a: names[0], b: names[1] });
    else if (names.length > 2) text = t("typing_many");
    if (this.typingEl.textContent !== text) this.typingEl.textContent = text;
  }

  renderMembers() {
    clear(this.memberList);
    const sorted = [...this.members.values()].sort((a, b) =>
      (RANK[b.role] || 0) - (RANK[a.role] || 0) || String(a.name).localeCompare(String(b.name)));
    this.memberHead.textContent = t("members_n", { n: sorted.length });
    for (const m of sorted) this.memberList.append(this.memberEl(m));
  }

  memberEl(m) {
    const isMe = m.id === this.me.id;
    const li = h("li", { class: "member", data: { id: m.id } },
      h("span", { class: ["avatar", colorClass(m.id)], "aria-hidden": "true" }, String(m.name || "?").slice(0, 1).toUpperCase()),
      h("span", { class: "member-main" },
        h("span", { class: ["author", colorClass(m.id)] }, m.name),
        isMe ? h("span", { class: "you-tag" }, `(${t("you")})`) : null),
      roleBadge(m.role),
      langChip(m.lang));
    const myRank = RANK[this.role] || 0;
    if (this.isMod && !isMe && myRank > (RANK[m.role] || 0)) {
      const target = { user_id: m.id };
      const buttons = [
        h("button", { type: "button", class: "menu-item", on: { click: () => this.moderate("timeout", { ...target, seconds: 300 }) } }, t("timeout_5m")),
        h("button", { type: "button", class: "menu-item", on: { click: () => this.moderate("kick", target) } }, t("kick")),
        h("button", { type: "button", class: "menu-item danger", on: { click: () => this.moderate("ban", target) } }, t("ban")),
      ];
      if (RANK[this.role] >= RANK.owner) {
        buttons.push(m.role === "moderator"
          ? h("button", { type: "button", class: "menu-item", on: { click: () => this.moderate("remove_moderator", target) } }, t("remove_mod"))
          : h("button", { type: "button", class: "menu-item", on: { click: () => this.moderate("add_moderator", target) } }, t("make_mod")));
      }
      li.append(h("details", { class: "member-menu" },
        h("summary", { class: "icon-btn", "aria-label": t("member_actions", { name: m.name }), title: t("member_actions", { name: m.name }) }, icon("more")),
        h("div", { class: "menu", role: "group", "aria-label": t("member_actions", { name: m.name }) }, buttons)));
    }
    return li;
  }

  renderSettings() {
    const parts = [];
    if (this.settings.locked) parts.push(t("notice_locked"));
    if (this.settings.slow_mode > 0) parts.push(t("notice_slow_on", { s: this.settings.slow_mode }));
    this.settingsBar.textContent = parts.join(" ");
    this.settingsBar.hidden = parts.length === 0;
  }

  renderPin() {
    const pin = this.settings.pinned;
    clear(this.pinBar);
    this.pinBar.hidden = !pin;
    if (!pin) return;
    this.pinBar.append(
      h("span", { class: "pin-icon", "aria-hidden": "true" }, icon("pin")),
      h("span", { class: "pin-label" }, t("pinned")),
      h("span", { class: "author" }, pin.name || ""),
      h("span", { class: "pin-text" }, pin.text || ""));
    if (this.isMod) {
      this.pinBar.append(h("button", { type: "button", class: "btn btn-ghost btn-sm", on: { click: () => this.moderate("unpin", {}) } }, t("unpin")));
    }
  }

  // Host panel --------------------------------------------------------------------------------

  setupHost() {
    if (this.isMod && !this.host) {
      this.host = createHostPanel({
        room: this.room,
        token: () => this.ident.token,
        moderate: (action, params) => this.moderate(action, params, { quiet: true }),
        notify: (text, opts) => this.notify(text, opts),
        settings: () => this.settings,
        nameOf: (id) => this.nameOf(id),
      });
      this.hostSlot.append(this.host.el);
      this.tabHost.hidden = false;
      this.sidebar.classList.add("has-host");
    } else if (!this.isMod && this.host) {
      this.host.el.remove();
      this.host = null;
      this.tabHost.hidden = true;
      this.showTab("members");
    }
    this.host?.onSettings(this.settings);
    // Message toolbars depend on the role: rebuild them.
    for (const li of this.list.querySelectorAll(".msg")) {
      const bar = li.querySelector(".msg-actions");
      if (bar && li.lbEvent) bar.replaceWith(this.messageActions(li.lbEvent));
    }
    this.renderMembers();
    this.renderPin();
  }

  nameOf(id) {
    if (this.knownNames.has(id)) return this.knownNames.get(id);
    for (const li of this.msgById.values()) if (li.lbEvent?.author?.id === id) return li.lbEvent.author.name;
    return id;
  }

  showTab(which) {
    const host = which === "host";
    this.tabMembers.setAttribute("aria-selected", String(!host));
    this.tabHost.setAttribute("aria-selected", String(host));
    this.tabMembers.tabIndex = host ? -1 : 0;
    this.tabHost.tabIndex = host ? 0 : -1;
    this.membersSection.hidden = host;
    this.hostSlot.hidden = !host;
    if (host) this.host?.refresh();
  }

  tabKeys(ev) {
    if (ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") return;
    if (this.tabHost.hidden) return;
    ev.preventDefault();
    const toHost = this.tabMembers.getAttribute("aria-selected") === "true";
    this.showTab(toHost ? "host" : "members");
    (toHost ? this.tabHost : this.tabMembers).focus();
  }

  toggleSidebar() {
    const open = !this.sidebar.classList.contains("open");
    this.sidebar.classList.toggle("open", open);
    this.sidebarToggle.setAttribute("aria-expanded", String(open));
  }

  async moderate(action, params, { quiet = false } = {}) {
    try {
      const reply = await this.conn.request({ type: "moderate", room: this.room, action, params });
      if (action === "add_moderator" || action === "remove_moderator") {
        const res = reply.result || {};
        this.onRoleChange(res.user_id || params.user_id, res.role || (action === "add_moderator" ? "moderator" : "member"));
      }
      if (!quiet) this.notify(t("done"), { kind: "info", ttl: 2500, key: "done" });
      return reply.result;
    } catch (err) {
      this.showError(err || {});
      throw err;
    }
  }

  async report(offset) {
    try {
      await this.conn.request({ type: "report", room: this.room, offset });
      this.notify(t("reported"), { kind: "info" });
    } catch (err) {
      this.showError(err || {});
    }
  }

  // Composer --------------------------------------------------------------------------------

  onInput() {
    this.input.style.height = "auto";
    this.input.style.height = `${Math.min(this.input.scrollHeight, 160)}px`;
    this.updateCounter();
    const now = Date.now();
    if (this.input.value.trim() && now - this.lastTypingSent > TYPING_SEND_MS) {
      this.lastTypingSent = now;
      this.conn.typing(this.room);
    }
  }

  updateCounter() {
    const n = charCount(this.input.value);
    this.counter.textContent = t("chars", { n, max: this.maxChars });
    this.counter.classList.toggle("warn", n > this.maxChars * 0.9 && n <= this.maxChars);
    this.counter.classList.toggle("over", n > this.maxChars);
    this.input.setAttribute("aria-invalid", String(n > this.maxChars));
    this.updateComposer();
  }

  canPost() {
    if (this.ended) return false;
    if (this.settings.locked && !this.isMod) return false;
    return true;
  }

  updateComposer() {
    if (!this.input) return;
    const postable = this.canPost();
    this.input.disabled = !!this.ended;
    this.input.placeholder = this.settings.locked && !this.isMod ? t("composer_locked") : t("composer_placeholder");
    const n = charCount(this.input.value);
    const empty = this.input.value.trim() === "";
    this.sendBtn.disabled = !postable || empty || n > this.maxChars || !!this.cooldown;
    this.composer.classList.toggle("locked", this.settings.locked && !this.isMod);
  }

  submit() {
    const text = this.input.value.replace(/\s+$/u, "");
    if (!text.trim() || this.sendBtn.disabled) {
      if (this.settings.locked && !this.isMod && text.trim()) this.notify(t("err_locked"), { kind: "warn" });
      return;
    }
    const id = this.conn.send(this.room, text);
    const el = this.pendingEl(text);
    this.pendingEls.set(id, el);
    this.appendItem(el, { mine: true });
    this.list.querySelector(".empty-state")?.remove();
    this.input.value = "";
    this.onInput();
    this.input.focus();
  }

  pendingEl(text) {
    const time = fmtTime(Date.now());
    const li = h("li", { class: "msg mine pending" },
      h("div", { class: "msg-head" },
        h("time", { class: "msg-time", datetime: time.iso }, time.short),
        roleBadge(this.role),
        h("span", { class: ["author", colorClass(this.me.id)] }, this.me.name),
        h("span", { class: "msg-status" }, t("sending"))),
      h("p", { class: "msg-text", dir: "auto" }, text));
    li.lbText = text;
    return li;
  }
}
