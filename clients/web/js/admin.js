// The admin console at /admin: nodes, rooms, users, actions and live charts, polling the
// admin API (/api/admin/...) every few seconds with an admin token kept in sessionStorage.
// Every value from the server is shown with textContent (dom.js builds no markup).

import { api, ApiError } from "./api.js";
import { clear, h } from "./dom.js";
import { drawChart } from "./admin-chart.js";
import { lang, setLang, t } from "./admin-i18n.js";

const TOKEN_KEY = "livebridge.admin.token";
const LANG_KEY = "livebridge.admin.lang";
const POLL_MS = 3000;
const ROOMS_LIMIT = 20;

const state = { token: sessionStorage.getItem(TOKEN_KEY), error: "", roomsQuery: "", roomsPage: 1,
                userQuery: "", notice: "", timer: null };
const root = document.getElementById("admin");
const parts = {};

function call(method, path, body) {
  return api(method, path, { body, token: state.token });
}

function signOut(message = "") {
  state.token = null;
  state.error = message;
  sessionStorage.removeItem(TOKEN_KEY);
  if (state.timer) clearInterval(state.timer);
  state.timer = null;
  render();
}

function failed(err) {
  if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
    signOut(t("refused", { msg: err.message }));
    return true;
  }
  say(err instanceof ApiError && err.status === 0 ? t("network", { msg: err.message }) : String(err.message || err));
  return false;
}

function say(text) {
  state.notice = text;
  if (parts.notice) parts.notice.textContent = text;
}

function table(headers, rows, cls) {
  return h("table", { class: ["grid", cls] },
    h("thead", null, h("tr", null, headers.map((x) => h("th", { scope: "col", text: x })))),
    h("tbody", null, rows.map((cells) => h("tr", null, cells.map((c) => h("td", null, c ?? "-"))))));
}

function fmt(value, digits = 2) {
  return typeof value === "number" && Number.isFinite(value) ? String(Number(value.toFixed(digits))) : "-";
}

function duration(seconds) {
  const s = Math.floor(seconds || 0);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
}

function button(label, onClick, cls) {
  return h("button", { type: "button", class: cls, text: label, on: { click: onClick } });
}

function act(promise, describe) {
  promise.then((result) => { say(describe ? describe(result) : t("done")); refresh(); }).catch(failed);
}

// Header and sign-in -----------------------------------------------------------------------

function header() {
  const picker = h("select", { "aria-label": t("ui_language"), on: { change: (e) => {
    localStorage.setItem(LANG_KEY, e.target.value);
    setLang(e.target.value);
    render();
  } } }, h("option", { value: "en", text: "English" }), h("option", { value: "zh", text: "中文" }));
  picker.value = lang();
  return h("header", { class: "admin-header" }, h("h1", { text: t("title") }),
    h("div", { class: "header-tools" }, picker, state.token ? button(t("sign_out"), () => signOut()) : null));
}

function tokenForm() {
  const input = h("input", { type: "password", name: "token", autocomplete: "off", required: true });
  const form = h("form", { class: "token-form", on: { submit: (e) => {
    e.preventDefault();
    const token = input.value.trim();
    if (!token) return;
    state.token = token;
    sessionStorage.setItem(TOKEN_KEY, token);
    state.error = "";
    render();
  } } },
  h("p", { text: t("token_intro") }),
  h("label", null, h("span", { text: t("token_label") }), input),
  h("button", { type: "submit", text: t("open") }),
  state.error ? h("p", { class: "error", role: "alert", text: state.error }) : null);
  return form;
}

// The console ------------------------------------------------------------------------------

function section(key, title, ...controls) {
  parts[key] = h("div", { class: "section-body" });
  return h("section", { class: ["panel", `panel-${key}`], "aria-label": title },
    h("h2", { text: title }), ...controls, parts[key]);
}

function roomsControls() {
  const search = h("input", { type: "search", name: "room-search", placeholder: t("search_rooms"),
                              value: state.roomsQuery, "aria-label": t("search_rooms") });
  return h("form", { class: "inline", on: { submit: (e) => {
    e.preventDefault();
    state.roomsQuery = search.value.trim();
    state.roomsPage = 1;
    refresh();
  } } }, search, h("button", { type: "submit", text: t("find") }));
}

function usersControls() {
  const search = h("input", { type: "search", name: "user-search", placeholder: t("find_user"),
                              value: state.userQuery, "aria-label": t("find_user") });
  return h("form", { class: "inline", on: { submit: (e) => {
    e.preventDefault();
    state.userQuery = search.value.trim();
    refreshUsers();
  } } }, search, h("button", { type: "submit", text: t("find") }));
}

function actionForms() {
  const who = h("input", { name: "action-user", required: true, "aria-label": t("user_id"), placeholder: t("user_id") });
  const reason = h("input", { name: "action-reason", "aria-label": t("reason"), placeholder: t("reason") });
  const minutes = h("input", { name: "action-expires", type: "number", min: "1", "aria-label": t("expires_min"),
                               placeholder: t("expires_min") });
  return h("div", { class: "inline" }, who, reason, minutes,
    button(t("disconnect_user"), () => who.value.trim() && disconnect(who.value.trim(), reason.value)),
    button(t("ban_user"), () => who.value.trim() && ban(who.value.trim(), reason.value,
                                                        minutes.value ? Number(minutes.value) * 60 : null), "danger"));
}

function termForm() {
  const term = h("input", { name: "term", required: true, "aria-label": t("term"), placeholder: t("term") });
  return h("form", { class: "inline", on: { submit: (e) => {
    e.preventDefault();
    if (term.value.trim()) act(call("POST", "/api/admin/terms", { term: term.value.trim() }));
    term.value = "";
  } } }, term, h("button", { type: "submit", text: t("add_term") }));
}

function chartsPanel() {
  const charts = h("div", { class: "charts" });
  for (const [key, title] of [["messages", t("chart_messages")], ["deliveries", t("chart_deliveries")],
                              ["connections", t("chart_connections")], ["latency", t("chart_latency")]]) {
    parts[`chart_${key}`] = h("canvas", { class: "chart", "data-chart": key, role: "img", "aria-label": title });
    charts.appendChild(h("figure", null, h("figcaption", { text: title }), parts[`chart_${key}`]));
  }
  return h("section", { class: ["panel", "panel-charts"], "aria-label": t("charts") }, h("h2", { text: t("charts") }), charts);
}

function renderConsole() {
  parts.notice = h("p", { class: "notice", role: "status", "aria-live": "polite", text: state.notice });
  parts.updated = h("p", { class: "updated" });
  return h("main", { class: "console" }, parts.notice, parts.updated, chartsPanel(),
    section("nodes", t("nodes")), section("rooms", t("rooms_title"), roomsControls()),
    section("users", t("users"), usersControls()), section("bans", t("bans"), actionForms()),
    section("terms", t("terms"), termForm()), section("audit", t("audit")));
}

function render() {
  clear(root);
  for (const key of Object.keys(parts)) delete parts[key];
  root.appendChild(header());
  if (!state.token) {
    root.appendChild(tokenForm());
    return;
  }
  root.appendChild(renderConsole());
  refresh();
  if (!state.timer) state.timer = setInterval(refresh, POLL_MS);
}

// Filling the sections ---------------------------------------------------------------------

function fillNodes(nodes) {
  clear(parts.nodes).appendChild(table(
    [t("node"), t("uptime"), t("connections"), t("rooms"), t("engine"), t("rtt"), t("store"), t("translation"),
     t("backend"), t("queue"), t("workers"), t("version")],
    nodes.map((n) => [n.id, duration(n.uptime_s), String(n.connections), String(n.rooms),
      (n.engine || {}).status, fmt((n.engine || {}).rtt_ms), (n.store || {}).status,
      (n.translation || {}).mode, (n.translation || {}).backend, String((n.translation || {}).queue_depth ?? "-"),
      (n.translation || {}).workers_alive == null ? "-" : String(n.translation.workers_alive), n.version]),
    "nodes-table"));
}

function roomState(r) {
  if (r.closed) return t("closed");
  return r.settings && r.settings.locked ? t("locked") : t("open_state");
}

function fillRooms(answer) {
  const rows = answer.rooms.map((r) => {
    const path = `/api/admin/rooms/${encodeURIComponent(r.name)}`;
    const locked = r.settings && r.settings.locked;
    return [h("a", { href: `/r/${encodeURIComponent(r.name)}`, text: r.name, title: t("host_tools") }),
      String(r.members), fmt(r.messages_per_s), fmt(r.deliveries_per_s), fmt(r.translation_p99_s),
      fmt(r.translation_failures_per_s), String(r.held), roomState(r),
      h("span", { class: "row-actions" },
        button(locked ? t("unlock") : t("lock"), () => act(call("POST", `${path}/${locked ? "unlock" : "lock"}`))),
        r.closed ? button(t("reopen"), () => act(call("POST", `${path}/reopen`)))
          : button(t("close"), () => act(call("POST", `${path}/close`, {})), "danger"))];
  });
  const pages = h("div", { class: "pager" },
    button(t("prev"), () => { state.roomsPage = Math.max(1, state.roomsPage - 1); refresh(); }),
    h("span", { text: t("page", { n: answer.page, total: answer.total }) }),
    answer.has_more ? button(t("next"), () => { state.roomsPage += 1; refresh(); }) : null);
  clear(parts.rooms).append(table([t("room"), t("members"), t("msgs"), t("deliveries"), t("p99"), t("failures"),
                                   t("held"), t("state"), t("actions")], rows, "rooms-table"), pages);
}

function disconnect(user, reason = "") {
  act(call("POST", "/api/admin/disconnect", { user_id: user, reason }),
    (r) => t("disconnected", { user: r.user_id, n: r.closed }));
}

function ban(user, reason = "", expiresIn = null) {
  act(call("POST", "/api/admin/bans", { user_id: user, reason, expires_in: expiresIn }),
    (r) => t("banned", { user: r.user_id, n: r.closed }));
}

async function refreshUsers() {
  if (!parts.users) return;
  if (!state.userQuery) { clear(parts.users); return; }
  try {
    const answer = await call("GET", `/api/admin/users?query=${encodeURIComponent(state.userQuery)}`);
    const rows = answer.users.flatMap((u) => u.connections.map((c) => [u.id, u.name, c.node, c.conn_id,
      c.rooms.map((r) => r.room).join(", ") || "-",
      h("span", { class: "row-actions" }, button(t("disconnect"), () => disconnect(u.id)),
        button(t("ban"), () => ban(u.id), "danger"))]));
    clear(parts.users).appendChild(rows.length ? table([t("user"), t("name"), t("on_node"), t("conn"), t("rooms"),
                                                        t("actions")], rows, "users-table")
      : h("p", { class: "empty", text: t("no_users") }));
  } catch (err) {
    failed(err);
  }
}

function fillBans(bans) {
  clear(parts.bans).appendChild(table([t("user_id"), t("reason"), t("by"), t("expires"), ""],
    bans.map((b) => [b.user_id, b.reason || "-", b.by_name || b.by,
      b.expires_at ? new Date(b.expires_at * 1000).toLocaleString() : t("never"),
      button(t("unban"), () => act(call("DELETE", `/api/admin/bans/${encodeURIComponent(b.user_id)}`)))]),
    "bans-table"));
}

function fillTerms(terms) {
  clear(parts.terms).appendChild(table([t("term"), t("action"), ""], terms.map((x) => [x.term, x.action,
    button(t("remove"), () => act(call("POST", "/api/admin/terms/remove", { term: x.term })))]), "terms-table"));
}

function fillAudit(entries) {
  clear(parts.audit).appendChild(table([t("time"), t("actor"), t("action"), t("target"), t("reason")],
    entries.slice(0, 20).map((e) => [new Date((e.time || 0) * 1000).toLocaleTimeString(), e.actor_name || e.actor,
      e.action, e.target || (e.details && e.details.term) || "-", e.reason || "-"]), "audit-table"));
}

function fillCharts(points) {
  const pick = (key) => points.map((p) => p[key]);
  drawChart(parts.chart_messages, [{ label: t("chart_messages"), color: "#8b6cff", values: pick("messages_per_s") }]);
  drawChart(parts.chart_deliveries, [{ label: t("chart_deliveries"), color: "#3ecf8e", values: pick("deliveries_per_s") }]);
  drawChart(parts.chart_connections, [{ label: t("chart_connections"), color: "#f5b041", values: pick("connections") }]);
  drawChart(parts.chart_latency, [{ label: "p50", color: "#5dade2", values: pick("translation_p50_s") },
                                  { label: "p99", color: "#ff6b6b", values: pick("translation_p99_s") }]);
}

async function refresh() {
  if (!state.token || !parts.nodes) return;
  const query = new URLSearchParams({ query: state.roomsQuery, page: String(state.roomsPage), limit: String(ROOMS_LIMIT) });
  try {
    const [nodes, rooms, series, bans, terms, audit] = await Promise.all([
      call("GET", "/api/admin/nodes"), call("GET", `/api/admin/rooms?${query}`), call("GET", "/api/admin/series"),
      call("GET", "/api/admin/bans"), call("GET", "/api/admin/terms"), call("GET", "/api/admin/audit?limit=20")]);
    if (!parts.nodes) return; // signed out meanwhile
    fillNodes(nodes.nodes);
    fillRooms(rooms);
    fillCharts(series.points);
    fillBans(bans.bans);
    fillTerms(terms.terms);
    fillAudit(audit.entries);
    parts.updated.textContent = t("updated", { time: new Date().toLocaleTimeString() });
    await refreshUsers();
    root.dataset.loaded = "true";
  } catch (err) {
    failed(err);
  }
}

setLang(localStorage.getItem(LANG_KEY) || ((navigator.language || "").startsWith("zh") ? "zh" : "en"));
render();
