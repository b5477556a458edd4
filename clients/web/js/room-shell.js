// The room page's frame: the header (title, people count, connection pill, display mode,
// simplified / traditional for Chinese readers, language), the banners, the chat column and the sidebar with its Members / Host tools tabs.
// It only lays out parts built elsewhere and switches tabs.

import { h, nextId } from "./dom.js";
import { t } from "./i18n.js";
import { topbar, languageSwitch } from "./home.js";
import { displayMode, MODES, chineseScript, SCRIPTS, compactMode } from "./prefs.js";

/** parts: {messages, typing, notices, composer, members} elements;
 * on: {retry, mode(m), lang(l), script(s) (only for Chinese readers, else null)} */
export function buildShell(root, room, parts, on) {
  const s = {};
  const modeId = nextId("mode");
  s.statusText = h("span", { class: "conn-text" }, t("state_connecting"));
  s.retryBtn = h("button", { type: "button", class: "btn btn-sm", hidden: true, on: { click: on.retry } }, t("rejoin"));
  s.status = h("div", { class: "conn", data: { state: "connecting" }, role: "status", "aria-live": "polite" },
    h("span", { class: "conn-dot", "aria-hidden": "true" }), s.statusText);
  s.titleEl = h("h1", { class: "room-h1" }, room);
  const modeSelect = h("select", { id: modeId, class: "select select-sm", on: { change: () => on.mode(modeSelect.value) } },
    MODES.map((m) => h("option", { value: m }, t(`display_${m}`))));
  modeSelect.value = displayMode();
  let scriptSwitch = null;
  if (on.script) {
    const scriptId = nextId("script");
    const scriptSelect = h("select", { id: scriptId, class: "select select-sm", on: { change: () => on.script(scriptSelect.value) } },
      SCRIPTS.map((sc) => h("option", { value: sc }, t(`script_${sc}`))));
    scriptSelect.value = chineseScript();
    scriptSwitch = h("div", { class: "mode-switch script-switch" },
      h("label", { for: scriptId, class: "mode-label" }, t("script")), scriptSelect);
  }
  const compactId = nextId("compact");
  const compact = h("input", { id: compactId, type: "checkbox", class: "switch", checked: compactMode(),
    on: { change: () => on.compact?.(compact.checked) } });
  const compactSwitch = h("div", { class: "mode-switch compact-switch" }, compact, h("label", { for: compactId, class: "mode-label always" }, t("compact")));
  const sidebarToggle = h("button", { type: "button", class: "btn btn-ghost btn-sm sidebar-toggle", "aria-expanded": "false",
    "aria-controls": "sidebar" }, t("members"));
  const header = topbar([
    h("div", { class: "room-head" },
      h("a", { href: "/", class: "back-link" }, h("span", { "aria-hidden": "true" }, "← "), t("back_to_rooms")),
      h("div", { class: "room-name" }, s.titleEl, h("span", { class: "room-slug" }, "#" + room), parts.peopleCount)),
    s.status, s.retryBtn,
    h("div", { class: "mode-switch" }, h("label", { for: modeId, class: "mode-label" }, t("show")), modeSelect),
    scriptSwitch,
    compactSwitch,
    languageSwitch(on.lang),
    sidebarToggle,
  ]);
  header.classList.add("room-topbar");

  s.translationBanner = h("div", { class: "banner banner-info", hidden: true, role: "note" });
  s.pinBar = h("div", { class: "pinbar", hidden: true, "aria-label": t("pinned") });
  s.settingsBar = h("div", { class: "banner banner-warn", hidden: true });
  s.endBox = h("div", { class: "ended", hidden: true, role: "alert" });

  // Sidebar: members and (for hosts) the host panel, as two tabs.
  const membersSection = h("section", { class: "side-section", id: "members-panel", role: "tabpanel", "aria-labelledby": "tab-members" },
    parts.members);
  const tabMembers = h("button", { type: "button", role: "tab", id: "tab-members", "aria-controls": "members-panel", "aria-selected": "true",
    class: "tab" }, t("members"));
  s.tabBadge = h("span", { class: "count-pill tab-badge", hidden: true });
  s.tabHost = h("button", { type: "button", role: "tab", id: "tab-host", "aria-controls": "host-panel", "aria-selected": "false",
    class: "tab", tabindex: "-1", hidden: true }, t("host_tools"), " ", s.tabBadge);
  s.hostSlot = h("section", { class: "side-section host-section", id: "host-panel", role: "tabpanel", "aria-labelledby": "tab-host", hidden: true });
  s.sidebar = h("aside", { class: "sidebar", id: "sidebar", "aria-label": t("members") },
    h("div", { class: "tabs", role: "tablist", "aria-label": t("members") }, tabMembers, s.tabHost), membersSection, s.hostSlot);

  s.showTab = (which) => {
    const host = which === "host";
    tabMembers.setAttribute("aria-selected", String(!host));
    s.tabHost.setAttribute("aria-selected", String(host));
    tabMembers.tabIndex = host ? -1 : 0;
    s.tabHost.tabIndex = host ? 0 : -1;
    membersSection.hidden = host;
    s.hostSlot.hidden = !host;
    if (host) on.hostShown?.();
  };
  const tabKeys = (ev) => {
    if ((ev.key !== "ArrowLeft" && ev.key !== "ArrowRight") || s.tabHost.hidden) return;
    ev.preventDefault();
    const toHost = tabMembers.getAttribute("aria-selected") === "true";
    s.showTab(toHost ? "host" : "members");
    (toHost ? s.tabHost : tabMembers).focus();
  };
  tabMembers.addEventListener("click", () => s.showTab("members"));
  s.tabHost.addEventListener("click", () => s.showTab("host"));
  tabMembers.addEventListener("keydown", tabKeys);
  s.tabHost.addEventListener("keydown", tabKeys);
  sidebarToggle.addEventListener("click", () => {
    const open = !s.sidebar.classList.contains("open");
    s.sidebar.classList.toggle("open", open);
    sidebarToggle.setAttribute("aria-expanded", String(open));
  });

  const chat = h("section", { class: "chat", "aria-label": t("messages") },
    h("div", { class: "banners" }, s.translationBanner, s.settingsBar, s.pinBar),
    parts.messages, parts.typing, parts.alerts, parts.notices, s.endBox, parts.composer);
  root.append(h("div", { class: "room-page" }, header,
    h("main", { id: "main", class: "room-main", tabindex: "-1" }, chat, s.sidebar), parts.announcer));
  document.title = `#${room} · ${t("app_name")}`;
  return s;
}
