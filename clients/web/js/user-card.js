// The user card, opened from an author's name: who they are (role, language), what they
// said lately in this room, and the host actions our role allows on them (timeout presets
// and lift, ban and unban, appoint or remove a moderator). Everyone can mention them.

import { h, nextId, colorClass } from "./dom.js";
import { t } from "./i18n.js";
import { roleBadge, langChip } from "./roles.js";
import { langTag } from "./lang-tag.js";
import { TIMEOUT_PRESETS, fmtDuration } from "./dialogs.js";
import { fmtTime } from "./message-item.js";

/**
 * user: {id, name, lang, role}; ctx: {mod: ModActions, isMod(): bool, recentBy(id): [{ev, tr, trLang}],
 * memberOf(id): member|null, state(id): Promise<{timedOutUntil, banned}> (hosts only), mention(name)}
 */
export async function openUserCard(user, ctx) {
  const listed = ctx.memberOf(user.id);
  const who = { ...user, ...(listed || {}) };
  const titleId = nextId("card");
  const status = h("p", { class: "card-status muted small", "aria-live": "polite" });
  const recent = h("ol", { class: "card-recent" });
  for (const { ev, tr, trLang } of ctx.recentBy(user.id)) {
    const time = fmtTime(ev.ts);
    recent.append(h("li", null, h("time", { class: "msg-time", datetime: time.iso }, time.short), " ",
      h("span", { lang: langTag(ev.lang, ev.text), dir: "auto" }, ev.text ?? ""),
      tr ? h("span", { class: "card-tr", lang: trLang || undefined, dir: "auto" }, tr) : null));
  }
  if (!recent.children.length) recent.append(h("li", { class: "muted" }, t("card_no_recent")));

  const dialog = h("dialog", { class: "report-dialog user-card", "aria-labelledby": titleId });
  const close = () => dialog.close();
  const act = (label, run, cls = "") => h("button", { type: "button", class: ["btn", "btn-sm", cls],
    on: { click: async () => { close(); try { await run(); } catch { /* shown as a notice */ } } } }, label);
  const actions = h("div", { class: "card-actions" });
  const mod = ctx.mod;
  if (ctx.isMod() && mod.canTarget(who)) {
    actions.append(
      h("div", { class: "card-row", role: "group", "aria-label": t("timeout") },
        h("span", { class: "label" }, t("timeout")),
        TIMEOUT_PRESETS.map((s) => act(fmtDuration(s), () => mod.timeout(who, s), "chip")),
        act(t("custom"), () => mod.timeout(who, null), "chip")),
      h("div", { class: "card-row" },
        act(t("untimeout"), () => mod.untimeout(who), "untimeout-btn"),
        act(t("ban_ellipsis"), () => mod.ban(who), "btn-danger ban-btn"),
        act(t("unban"), () => mod.unban(who), "unban-btn")));
    if (mod.isOwner()) {
      actions.append(h("div", { class: "card-row" }, who.role === "moderator"
        ? act(t("remove_mod"), () => mod.removeModerator(who), "unmod-btn")
        : act(t("make_mod"), () => mod.addModerator(who), "mod-btn")));
    }
  }
  actions.append(h("div", { class: "card-row" },
    act(t("mention"), () => ctx.mention(who.name || ""), "btn-ghost mention-btn"),
    h("button", { type: "button", class: "btn btn-sm btn-ghost", on: { click: close } }, t("close"))));

  dialog.append(
    h("div", { class: "ucard-head" },
      h("span", { class: ["avatar", "avatar-lg", colorClass(who.id)], "aria-hidden": "true" }, String(who.name || "?").slice(0, 1).toUpperCase()),
      h("div", null,
        h("h2", { id: titleId, class: ["card-title", colorClass(who.id)] }, who.name || who.id),
        h("p", { class: "card-meta" }, roleBadge(who.role) || h("span", { class: "muted small" }, t(`role_${who.role || "member"}`)),
          " ", who.lang ? langChip(who.lang) : null, " ",
          h("span", { class: "muted small" }, listed ? t("card_here") : t("card_not_here"))))),
    status,
    h("h3", { class: "host-h" }, t("card_recent")), recent, actions);
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
  dialog.querySelector(".card-actions button")?.focus();
  if (ctx.isMod()) {
    try {
      const s = await ctx.state(who.id);
      const parts = [];
      if (s.timedOutUntil) parts.push(t("card_timed_out", { time: fmtTime(s.timedOutUntil * 1000).short }));
      if (s.banned) parts.push(t("card_banned"));
      status.textContent = parts.join(" · ");
      dialog.querySelector(".untimeout-btn")?.toggleAttribute("hidden", !s.timedOutUntil);
      dialog.querySelector(".unban-btn")?.toggleAttribute("hidden", !s.banned);
    } catch { /* the card works without it */ }
  }
  return dialog;
}
