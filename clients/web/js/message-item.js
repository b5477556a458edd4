// One message as a list item: time, role badge, author, text, the translation line and the
// per-message actions (pin/delete for hosts, report for everyone but the author).

import { h, colorClass, icon } from "./dom.js";
import { t, lang as uiLang } from "./i18n.js";
import { roleBadge } from "./roles.js";

export function fmtTime(ts) {
  const d = new Date(typeof ts === "number" ? ts : Date.now());
  const locale = uiLang() === "zh" ? "zh-CN" : "en-GB";
  return {
    short: new Intl.DateTimeFormat(locale, { hour: "2-digit", minute: "2-digit" }).format(d),
    full: d.toLocaleString(locale),
    iso: d.toISOString(),
  };
}

/**
 * ctx: {me(): user, role(): string, isMod(): bool, readLang, translationOn(): bool,
 *       onPin(ev), onDelete(ev), onReport(ev)}
 */
export function messageEl(ev, ctx) {
  const author = ev.author || { id: "?", name: "?", lang: "en" };
  const mine = author.id === ctx.me().id;
  const time = fmtTime(ev.ts);
  const li = h("li", { class: ["msg", mine ? "mine" : ""], data: { id: ev.id || "", offset: ev.offset ?? "", lang: ev.lang || "" } });
  li.append(
    h("div", { class: "msg-head" },
      h("time", { class: "msg-time", datetime: time.iso, title: time.full }, time.short),
      roleBadge(author.role),
      h("span", { class: ["author", colorClass(author.id)] }, author.name),
      mine ? h("span", { class: "you-tag" }, `(${t("you")})`) : null),
    h("p", { class: "msg-text", lang: ev.lang === "zh" ? "zh-CN" : "en", dir: "auto" }, ev.text ?? ""));
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

export function setStatus(li, text) {
  const st = li.querySelector(".msg-status");
  if (st) st.textContent = text;
}

/** The translation line: state "pending", "unavailable" (text: the reason) or "done". */
export function translationEl(state, text = "", lang = "en") {
  const el = h("p", { class: "msg-tr", data: { state }, lang: lang === "zh" ? "zh-CN" : "en", dir: "auto" });
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
  if (ctx.isMod()) {
    bar.append(
      h("button", { type: "button", class: "icon-btn", "aria-label": t("pin"), title: t("pin"),
        on: { click: () => ctx.onPin(ev) } }, icon("pin")),
      h("button", { type: "button", class: "icon-btn danger", "aria-label": t("delete"), title: t("delete"),
        on: { click: () => ctx.onDelete(ev) } }, icon("trash")));
  }
  if (ev.author?.id !== ctx.me().id) {
    bar.append(h("button", { type: "button", class: "icon-btn report-btn", "aria-label": t("report"), title: t("report"),
      on: { click: () => ctx.onReport(ev) } }, icon("flag")));
  }
  return bar;
}
