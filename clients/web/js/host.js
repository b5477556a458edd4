// The host panel (owners and moderators): slow mode, lock and clear chat, the review queue,
// bans and timeouts (host-lists.js), blocked terms and the audit log (audit-view.js). Actions
// go over the WebSocket `moderate` frame; the review queue and the audit log are read (and
// decided) through the HTTP routes of docs/moderation.md.

import { h, clear, nextId } from "./dom.js";
import { t, lang as uiLang } from "./i18n.js";
import { reviewQueue, reviewDecide, auditLog } from "./api.js";
import { roleBadge } from "./roles.js";
import { auditView } from "./audit-view.js";
import { hostLists } from "./host-lists.js";
import { quoteTranslation } from "./quote-translation.js";

const SLOW_CHOICES = [0, 3, 5, 10, 30, 60, 120];

function when(seconds) {
  const d = new Date((seconds || 0) * 1000);
  return new Intl.DateTimeFormat(uiLang() === "zh" ? "zh-CN" : "en-GB",
    { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(d);
}

/** A review item's, pin's or audit entry's translation into the viewer's language, if it has one. */
export function createHostPanel({ room, token, moderate, notify, settings, nameOf = (id) => id, mod, onQueueCount }) {
  const ids = { slow: nextId("slow"), lock: nextId("lock"), term: nextId("term"), act: nextId("act") };

  // Room controls -----------------------------------------------------------------------------
  const slow = h("select", { id: ids.slow, class: "select" },
    SLOW_CHOICES.map((s) => h("option", { value: String(s) }, s === 0 ? t("off") : t("seconds", { s }))));
  const lock = h("input", { id: ids.lock, type: "checkbox", class: "switch" });
  slow.addEventListener("change", async () => {
    const seconds = Number(slow.value);
    try {
      await mod.slow(seconds);
    } catch {
      apply(settings());
    }
    scheduleAudit();
  });
  lock.addEventListener("change", async () => {
    try {
      await mod.lock(lock.checked);
    } catch {
      apply(settings());
    }
    scheduleAudit();
  });
  function apply(s) {
    const v = String(Math.round(Number(s.slow_mode || 0)));
    if (![...slow.options].some((o) => o.value === v)) slow.append(h("option", { value: v }, t("seconds", { s: v })));
    slow.value = v;
    lock.checked = !!s.locked;
  }

  // Blocked terms ---------------------------------------------------------------------------
  const termList = h("ul", { class: "term-list" });
  const termInput = h("input", { id: ids.term, class: "input", maxlength: 100, required: true, autocomplete: "off" });
  const termAction = h("select", { id: ids.act, class: "select" },
    h("option", { value: "block" }, t("act_block")), h("option", { value: "mask" }, t("act_mask")),
    h("option", { value: "hold" }, t("act_hold")));
  const termForm = h("form", { class: "term-form", "aria-label": t("blocked_terms") },
    h("div", { class: "field grow" }, h("label", { for: ids.term, class: "label" }, t("term")), termInput),
    h("div", { class: "field" }, h("label", { for: ids.act, class: "label" }, t("term_action")), termAction),
    h("button", { type: "submit", class: "btn" }, t("add")));
  termForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const term = termInput.value.trim();
    if (!term) return;
    try {
      await moderate("add_term", { term, action: termAction.value });
      termInput.value = "";
      await loadTerms();
      scheduleAudit();
    } catch { /* shown as a notice */ }
  });
  async function loadTerms() {
    try {
      const res = await moderate("list_terms", {});
      renderTerms(res.terms || []);
    } catch { /* shown */ }
  }
  function renderTerms(terms) {
    clear(termList);
    if (!terms.length) termList.append(h("li", { class: "muted empty" }, t("no_terms")));
    for (const term of terms) {
      termList.append(h("li", { class: "term" },
        h("span", { class: "term-text" }, term.term),
        h("span", { class: ["term-action", `act-${term.action}`] }, t(`act_${term.action}`)),
        h("button", { type: "button", class: "icon-btn", "aria-label": t("remove_term", { term: term.term }), title: t("remove"),
          on: { click: async () => { try { await moderate("remove_term", { term: term.term }); await loadTerms(); scheduleAudit(); } catch { /* shown */ } } } }, "×")));
    }
  }

  // Review queue ----------------------------------------------------------------------------
  const queue = new Map();
  const queueList = h("ul", { class: "review-list", "aria-live": "polite" });
  const queueCount = h("span", { class: "count-pill", hidden: true });
  function renderQueue() {
    clear(queueList);
    const items = [...queue.values()].sort((a, b) => (a.time || 0) - (b.time || 0));
    queueCount.hidden = items.length === 0;
    queueCount.textContent = String(items.length);
    onQueueCount?.(items.length);
    if (!items.length) queueList.append(h("li", { class: "muted empty" }, t("review_empty")));
    for (const item of items) {
      const report = item.kind === "report";
      queueList.append(h("li", { class: "review-item", data: { id: item.id, kind: item.kind } },
        h("div", { class: "review-head" },
          h("span", { class: ["kind", report ? "kind-report" : "kind-held"] }, t(report ? "kind_report" : "kind_held")),
          h("span", { class: "author" }, item.name || item.user_id || ""),
          h("time", { class: "muted small" }, when(item.time))),
        h("p", { class: "review-text", dir: "auto" }, item.text || ""),
        quoteTranslation(item.translations, uiLang(), { tag: "p", cls: "review-tr" }),
        report && item.reason ? h("p", { class: "muted small" }, t("reason", { r: item.reason })) : null,
        h("div", { class: "review-actions" },
          h("button", { type: "button", class: "btn btn-sm btn-ok", on: { click: () => decide(item, "approve") } }, t(report ? "approve_report" : "approve")),
          h("button", { type: "button", class: "btn btn-sm btn-danger", on: { click: () => decide(item, "reject") } }, t(report ? "reject_report" : "reject")))));
    }
  }
  async function decide(item, decision) {
    try {
      await reviewDecide(token(), room, item.id, decision);
      queue.delete(item.id);
      renderQueue();
      scheduleAudit();
    } catch (e) {
      notify(t("err_generic", { msg: e.message }), { kind: "error" });
      if (e.code === "not_found") { queue.delete(item.id); renderQueue(); }
    }
  }
  async function loadQueue() {
    try {
      const data = await reviewQueue(token(), room);
      queue.clear();
      for (const item of data.items || []) queue.set(item.id, item);
      renderQueue();
    } catch (e) {
      if (e.status === 501) notify(t("mod_unavailable"), { kind: "warn" });
    }
  }

  // Audit log, bans and timeouts -------------------------------------------------------------
  const audit = auditView({ load: () => auditLog(token(), room, 100), nameOf });
  const loadAudit = () => audit.load();
  const lists = hostLists({ moderate, mod, nameOf });
  const clearBtn = h("button", { type: "button", class: "btn btn-sm btn-danger clear-btn",
    on: { click: async () => { try { await mod.clear(); scheduleAudit(); } catch { /* shown */ } } } }, t("clear_chat"));
  let auditTimer = null;
  function scheduleAudit() {
    clearTimeout(auditTimer);
    auditTimer = setTimeout(loadAudit, 400);
  }

  // Hosts in the room (from the member list; badges follow role changes) ---------------------
  const hostList = h("ul", { class: "host-team" });
  function setHosts(hosts) {
    clear(hostList);
    if (!hosts.length) hostList.append(h("li", { class: "muted empty" }, t("no_hosts")));
    for (const m of hosts) {
      hostList.append(h("li", { class: "host-member", data: { id: m.id, role: m.role } },
        h("span", { class: "author" }, m.name || m.id), roleBadge(m.role)));
    }
  }

  const section = (title, ...body) => {
    const id = nextId("hs");
    return h("section", { class: "host-block", "aria-labelledby": id }, h("h3", { id, class: "host-h" }, title), ...body);
  };
  const queueTitle = h("span", null, t("review_queue"), " ", queueCount);
  const el = h("div", { class: "host-panel" },
    h("h2", { class: "side-title" }, t("host_panel")),
    section(t("room_controls"),
      h("div", { class: "field row" }, h("label", { for: ids.slow, class: "label" }, t("slow_mode")), slow),
      h("div", { class: "field row switch-row" }, lock, h("label", { for: ids.lock }, t("lock_room"))),
      h("div", { class: "field row" }, h("span", { class: "muted small" }, t("clear_hint")), clearBtn)),
    section(queueTitle, queueList),
    section(h("span", null, t("timeouts_title"), " ",
      h("button", { type: "button", class: "btn btn-ghost btn-sm", on: { click: () => lists.load() } }, t("refresh"))), lists.timeouts),
    section(t("bans_title"), lists.bans),
    section(t("hosts_here"), hostList),
    section(t("blocked_terms"), termForm, termList),
    section(h("span", null, t("audit_log"), " ",
      h("button", { type: "button", class: "btn btn-ghost btn-sm", on: { click: () => loadAudit() } }, t("refresh"))), audit.el));

  apply(settings());
  renderQueue();
  let loaded = false;
  function refresh() {
    loaded = true;
    loadTerms();
    loadQueue();
    loadAudit();
    lists.load();
  }
  setTimeout(() => { if (!loaded) refresh(); }, 0);

  return {
    el,
    refresh,
    onSettings: apply,
    setHosts,
    /** Something changed bans, timeouts or the log (an action anywhere on the page). */
    changed() { lists.load(); scheduleAudit(); },
    onReview(frame) {
      if ((frame.action === "added" || frame.action === "updated") && frame.item) queue.set(frame.item.id, frame.item);
      else if (frame.action === "resolved") queue.delete(frame.id);
      renderQueue();
      scheduleAudit();
    },
  };
}
