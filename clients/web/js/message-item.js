// One message as a list item: time, role badge, author, text, the translation line and the
// per-message actions (pin/delete for hosts, report for everyone but the author).

import { h, colorClass, icon } from "./dom.js";
import { t, lang as uiLang } from "./i18n.js";
import { roleBadge } from "./roles.js";
import { langTag } from "./lang-tag.js";
import { TIMEOUT_PRESETS, fmtDuration } from "./dialogs.js";

export function fmtTime(ts) {
  const d = new Date(typeof ts === "number" ? ts : Date.now());
  const locale = uiLang() === "zh" ? "zh-CN" : "en-GB";
  return {
    short: new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit" }).format(d),
    full: d.toLocaleString(locale),
    iso: d.toISOString(),
  };
}

/** Whether `ev` mentions the user `me` (its parsed `mentions`, or "@name" in the text for
 *  names with spaces, which `mentions` cuts at the first space). */
export function mentionsMe(ev, me) {
  if (!me || !me.name || ev.author?.id === me.id) return false;
  const name = me.name.toLocaleLowerCase();
  if ((ev.mentions || []).some((m) => String(m).toLocaleLowerCase() === name)) return true;
  const text = String(ev.text || "").toLocaleLowerCase();
  const at = text.indexOf("@" + name);
  if (at < 0) return false;
  const next = text.slice(at + 1 + name.length).match(/^./u)?.[0];
  return !next || !/[\p{L}\p{N}_]/u.test(next);
}

/**
 * ctx: {me(): user, role(): string, isMod(): bool, canTarget(author): bool, readLang,
 *       translationOn(): bool, onPin(ev), onDelete(ev), onReport(ev), onReply(ev),
 *       onTimeout(author, seconds|null), onBan(author), onUser(author), onQuote(reply)}
 */
export function messageEl(ev, ctx) {
  const author = ev.author || { id: "?", name: "?", lang: "en" };
  const mine = author.id === ctx.me().id;
  const time = fmtTime(ev.ts);
  const li = h("li", { class: ["msg", mine ? "mine" : "", mentionsMe(ev, ctx.me()) ? "mention-me" : ""],
    data: { id: ev.id || "", offset: ev.offset ?? "", lang: ev.lang || "", author: author.id } });
  if (ev.reply) li.append(replyQuote(ev.reply, ctx));
  li.append(
    h("div", { class: "msg-head" },
      h("time", { class: "msg-time", datetime: time.iso, title: time.full }, time.short),
      roleBadge(author.role),
      h("button", { type: "button", class: ["author", "author-btn", colorClass(author.id)], "aria-haspopup": "dialog",
        title: t("user_card_open", { name: author.name }), on: { click: () => ctx.onUser?.(author) } }, author.name),
      mine ? h("span", { class: "you-tag" }, `(${t("you")})`) : null),
    h("p", { class: "msg-text", lang: langTag(ev.lang, ev.text), dir: "auto" }, ev.text ?? ""));
  // A translation follows unless the message says none will (another language, nothing to
  // translate); the list gives up waiting after a bound, so "translating…" always ends.
  if (ev.lang && ev.lang !== ctx.readLang && !ev.no_translation && ctx.translationOn()) {
    li.append(translationEl("pending"));
    li.classList.add("awaiting");
  }
  if (typeof ev.offset === "number") li.append(messageActions(ev, ctx));
  li.lbEvent = ev;
  return li;
}

/** Our own message before the server has it: "sending…", later "held for review". */
export function pendingEl(text, me, role) {
  const time = fmtTime(Date.now());
  const li = h("li", { class: "msg mine pending" },
    h("div", { class: "msg-head" },
      h("time", { class: "msg-time", datetime: time.iso }, time.short),
      roleBadge(role),
      h("span", { class: ["author", colorClass(me.id)] }, me.name),
      h("span", { class: "msg-status" }, t("sending"))),
    h("p", { class: "msg-text", dir: "auto" }, text));
  li.lbText = text;
  return li;
}

/** "↪ Ann: the quoted text" above a reply; pressing it jumps to the original. */
export function replyQuote(reply, ctx) {
  return h("button", { type: "button", class: "msg-reply", data: { offset: reply.offset ?? "" },
    "aria-label": t("reply_to_label", { name: reply.author?.name ?? "", text: reply.text ?? "" }),
    on: { click: () => ctx.onQuote?.(reply) } },
    h("span", { class: "reply-arrow", "aria-hidden": "true" }, "↪"),
    h("span", { class: "reply-author" }, reply.author?.name ?? ""),
    h("span", { class: "reply-text", dir: "auto" }, reply.text ?? ""),
    h("span", { class: "reply-tr", hidden: true }));
}

export function setStatus(li, text) {
  const st = li.querySelector(".msg-status");
  if (st) st.textContent = text;
}

/** The translation line: state "pending", "unavailable" (text: the reason) or "done". */
export function translationEl(state, text = "", lang = "en", script = "") {
  const el = h("p", { class: "msg-tr", data: { state }, lang: state === "done" ? langTag(lang, text, script) : uiLang() === "zh" ? "zh-CN" : "en", dir: "auto" });
  if (state === "pending") {
    el.append(h("span", { class: "tr-pending" }, t("translating")));
  } else if (state === "unavailable") {
    el.append(h("span", { class: "tr-unavailable", title: text || "" }, t("translation_unavailable")));
  } else {
    el.append(h("span", { class: "tr-label", "aria-label": t("translated") }, lang === "zh" ? "译" : "TR"), h("span", { class: "tr-text" }, text),
      h("button", { type: "button", class: "tr-toggle", "aria-pressed": "false",
        on: { click: (e) => toggleOriginal(e.currentTarget) } }, t("show_original")));
  }
  return el;
}

/** Per message: show the original beside (or, in "translation only", instead of hiding it
 *  behind) the translation, and back. */
function toggleOriginal(button) {
  const li = button.closest(".msg");
  const on = li.classList.toggle("show-orig");
  button.setAttribute("aria-pressed", on ? "true" : "false");
  button.textContent = on ? t("hide_original") : t("show_original");
}

export function messageActions(ev, ctx) {
  const bar = h("div", { class: "msg-actions", role: "group", "aria-label": t("message_actions", { name: ev.author?.name ?? "" }) });
  const btn = (name, label, run, cls = "") => h("button", { type: "button", class: ["icon-btn", cls], "aria-label": label, title: label,
    on: { click: () => run(ev) } }, icon(name));
  bar.append(btn("reply", t("reply"), ctx.onReply, "reply-btn"));
  if (ctx.isMod()) bar.append(btn("pin", t("pin"), ctx.onPin), btn("trash", t("delete"), ctx.onDelete, "danger"));
  if (ev.author?.id !== ctx.me().id) bar.append(btn("flag", t("report"), ctx.onReport, "report-btn"));
  if (ctx.isMod() && ctx.canTarget(ev.author)) bar.append(moreMenu(ev, ctx));
  return bar;
}

/** The "..." menu of a message for hosts: timeout presets, timeout with a reason, ban. It
 *  closes after an action, on Escape and when focus or a click goes elsewhere. */
function moreMenu(ev, ctx) {
  const author = ev.author;
  const label = t("more_actions", { name: author?.name ?? "" });
  const details = h("details", { class: "msg-menu" });
  const act = (text, run, cls = "") => h("button", { type: "button", class: ["menu-item", cls],
    on: { click: () => { details.open = false; run(); } } }, text);
  details.append(
    h("summary", { class: "icon-btn", "aria-label": label, title: label }, icon("more")),
    h("div", { class: "menu", role: "group", "aria-label": label },
      h("div", { class: "menu-label" }, t("timeout")),
      h("div", { class: "menu-chips" }, TIMEOUT_PRESETS.map((s) =>
        act(fmtDuration(s), () => ctx.onTimeout(author, s), "chip"))),
      act(t("timeout_custom"), () => ctx.onTimeout(author, null)),
      act(t("user_card"), () => ctx.onUser(author)),
      act(t("ban_ellipsis"), () => ctx.onBan(author), "danger")));
  details.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && details.open) { details.open = false; details.querySelector("summary").focus(); }
  });
  details.addEventListener("focusout", (e) => { if (!details.contains(e.relatedTarget)) details.open = false; });
  return details;
}
