// The host panel's lists of what can be taken back: bans (with "Unban"; a ban record's
// `address`, when the server keeps one, is shown too) and the timeouts in force (with the
// time left and "Lift"). Both are read with the `bans` and `timeouts` host actions.

import { h, clear } from "./dom.js";
import { t } from "./i18n.js";
import { fmtDuration } from "./dialogs.js";

/** moderate(action, params): Promise<result>; mod: ModActions; nameOf(id). Returns {bans, timeouts, load()}. */
export function hostLists({ moderate, mod, nameOf }) {
  const bans = h("ul", { class: "ban-list host-list" });
  const timeouts = h("ul", { class: "timeout-list host-list" });
  let tick = null;

  function renderBans(items) {
    clear(bans);
    const ids = Object.keys(items);
    if (!ids.length) bans.append(h("li", { class: "muted empty" }, t("no_bans")));
    for (const id of ids) {
      const b = items[id] || {};
      const name = b.name || nameOf(id) || id;
      bans.append(h("li", { class: "host-list-item", data: { id } },
        h("span", { class: "author" }, name),
        b.address ? h("span", { class: "muted small ban-address" }, b.address) : null,
        b.reason ? h("span", { class: "muted small" }, t("reason", { r: b.reason })) : null,
        h("button", { type: "button", class: "btn btn-sm unban-btn",
          on: { click: async () => { try { await mod.unban({ id, name }); } catch { /* shown */ } } } }, t("unban"))));
    }
  }

  function renderTimeouts(items) {
    clear(timeouts);
    clearInterval(tick);
    const now = Date.now() / 1000;
    const ids = Object.keys(items).filter((id) => Number(items[id]?.until || 0) > now);
    if (!ids.length) timeouts.append(h("li", { class: "muted empty" }, t("no_timeouts")));
    const lefts = [];
    for (const id of ids) {
      const m = items[id];
      const name = m.name || nameOf(id) || id;
      const left = h("span", { class: "muted small time-left" });
      lefts.push([left, Number(m.until)]);
      timeouts.append(h("li", { class: "host-list-item", data: { id } },
        h("span", { class: "author" }, name), left,
        m.reason ? h("span", { class: "muted small" }, t("reason", { r: m.reason })) : null,
        h("button", { type: "button", class: "btn btn-sm lift-btn",
          on: { click: async () => { try { await mod.untimeout({ id, name }); } catch { /* shown */ } } } }, t("lift"))));
    }
    const update = () => {
      for (const [el, until] of lefts) el.textContent = t("time_left", { d: fmtDuration(Math.max(1, Math.ceil(until - Date.now() / 1000))) });
    };
    update();
    if (lefts.length) tick = setInterval(update, 1000);
  }

  async function load() {
    try {
      const [b, m] = await Promise.all([moderate("bans", {}), moderate("timeouts", {})]);
      renderBans(b.bans || {});
      renderTimeouts(m.timeouts || {});
    } catch { /* shown as a notice */ }
  }

  return { bans, timeouts, load };
}
