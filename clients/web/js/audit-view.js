// The audit log as people read it: who did what to whom, the details that matter (which
// term, how long, which message, why) in the page's language, filterable by action.
// Entries are docs/moderation.md's: {time, actor, actor_name, action, target, reason, details};
// an entry quoting a message has details.text and details.translations (lang -> text), shown beside it.

import { h, clear, nextId } from "./dom.js";
import { t, lang as uiLang } from "./i18n.js";
import { fmtDuration } from "./dialogs.js";
import { quoteTranslation } from "./quote-translation.js";

export const AUDIT_ACTIONS = ["timeout", "untimeout", "kick", "ban", "unban", "delete", "clear", "pin", "unpin",
  "slow_mode", "lock", "unlock", "add_moderator", "remove_moderator", "add_term", "remove_term", "set_terms",
  "set_limits", "approve", "reject", "report", "filter_hit"];

function when(seconds) {
  const d = new Date((seconds || 0) * 1000);
  return new Intl.DateTimeFormat(uiLang() === "zh" ? "zh-CN" : "en-GB",
    { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit" }).format(d);
}

/** The details of an entry as a short localised phrase (or ""). */
export function auditDetails(e) {
  const d = e.details || {};
  switch (e.action) {
    case "timeout": return typeof d.seconds === "number" ? t("audit_d_for", { d: fmtDuration(d.seconds) }) : "";
    case "slow_mode": return Number(d.slow_mode) > 0 ? t("audit_d_slow", { s: d.slow_mode }) : t("off");
    case "add_term": return t("audit_d_term", { term: d.term ?? "", how: t(`act_${d.action || "block"}`) });
    case "remove_term": return t("audit_d_term_removed", { term: d.term ?? "" });
    case "set_terms": return t("audit_d_terms", { n: d.count ?? 0 });
    case "delete": case "approve": case "reject": return d.text ? `“${d.text}”` : "";
    case "clear": return t("audit_d_cleared", { n: d.removed ?? 0 });
    case "pin": case "unpin": return d.offset ? t("audit_d_offset", { n: d.offset }) : "";
    case "filter_hit": return t("audit_d_filter", { terms: (d.terms || []).join(", "), how: t(`act_${d.result}`) ?? d.result ?? "" })
      + (d.excerpt ? ` “${d.excerpt}”` : "");
    case "set_limits": return Object.entries(d).map(([k, v]) => `${k}=${v}`).join(", ");
    default: return "";
  }
}

/** load(): Promise<{entries}>; nameOf(id): a display name. Returns {el, load()}. */
export function auditView({ load, nameOf }) {
  const filterId = nextId("auditf");
  const filter = h("select", { id: filterId, class: "select select-sm audit-filter" },
    h("option", { value: "" }, t("audit_all")), AUDIT_ACTIONS.map((a) => h("option", { value: a }, t(`audit_${a}`))));
  const list = h("ol", { class: "audit-list" });
  let entries = [];
  const readLang = () => uiLang();

  function render() {
    clear(list);
    const shown = entries.filter((e) => !filter.value || e.action === filter.value);
    if (!shown.length) list.append(h("li", { class: "muted empty" }, t("audit_empty")));
    for (const e of shown) {
      const actor = e.actor === "automod" ? t("automod") : e.actor_name || nameOf(e.actor) || e.actor || "";
      const target = e.target ? (e.details?.name || nameOf(e.target) || e.target) : "";
      const details = auditDetails(e);
      list.append(h("li", { class: "audit-entry", data: { action: e.action || "" } },
        h("time", { class: "muted small" }, when(e.time)), " ",
        h("span", { class: "audit-actor" }, actor), " ",
        h("span", { class: "audit-action" }, t(`audit_${e.action}`)),
        target ? [" ", h("span", { class: "audit-target", title: e.target }, target)] : null,
        details ? [" · ", h("span", { class: "audit-details", dir: "auto" }, details)] : null,
        quoteTranslation(e.details?.translations, readLang(), { cls: "audit-tr" }),
        e.reason ? h("span", { class: "audit-reason muted" }, " · ", t("reason", { r: e.reason })) : null));
    }
  }
  filter.addEventListener("change", render);

  async function refresh() {
    try {
      const data = await load();
      entries = data.entries || [];
      render();
    } catch { /* the panel shows what it had */ }
  }

  const head = h("div", { class: "audit-head" },
    h("label", { for: filterId, class: "mode-label" }, t("audit_filter")), filter);
  return { el: [head, list], load: refresh };
}
