// Roles as the interface shows them: their order, who counts as a host, and the small badges
// (role, language) used by messages, the member list and the host panel.

import { h } from "./dom.js";
import { t } from "./i18n.js";

export const RANK = { guest: 0, member: 1, moderator: 2, owner: 3, admin: 4 };
export const MOD_ROLES = new Set(["moderator", "owner", "admin"]);

export function isHost(role) {
  return MOD_ROLES.has(role);
}

export function roleBadge(role) {
  if (!role || !MOD_ROLES.has(role)) return null;
  return h("span", { class: ["badge", `badge-${role}`], title: t(`role_${role}`) }, t(`role_${role}`));
}

export function langChip(lang) {
  return h("span", { class: "lang-chip", title: lang === "zh" ? t("lang_zh") : t("lang_en") }, lang === "zh" ? "中文" : "EN");
}
