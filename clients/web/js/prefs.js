// Preferences: interface language (before a name is picked, per tab), the display mode and,
// for Chinese readers, simplified or traditional characters (both kept in localStorage).

import { loadIdentity } from "./api.js";

const UI_KEY = "livebridge.ui_lang";
const MODE_KEY = "livebridge.display";
const SCRIPT_KEY = "livebridge.script";
const COMPACT_KEY = "livebridge.compact";
export const MODES = ["both", "translation", "original"];
export const SCRIPTS = ["hans", "hant"]; // simplified (the server's default), traditional

export function uiLang() {
  const ident = loadIdentity();
  if (ident && (ident.readLang || ident.user.lang)) return ident.readLang || ident.user.lang;
  const saved = sessionStorage.getItem(UI_KEY);
  if (saved === "en" || saved === "zh") return saved;
  return (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
}

export function rememberUiLang(lang) {
  sessionStorage.setItem(UI_KEY, lang);
}

export function displayMode() {
  let mode = null;
  try { mode = localStorage.getItem(MODE_KEY); } catch { /* storage off */ }
  return MODES.includes(mode) ? mode : "both";
}

export function setDisplayMode(mode) {
  try { localStorage.setItem(MODE_KEY, mode); } catch { /* storage off */ }
}

/** Chinese characters for translations: "hans" (simplified) or "hant" (traditional). */
export function chineseScript() {
  let script = null;
  try { script = localStorage.getItem(SCRIPT_KEY); } catch { /* storage off */ }
  return SCRIPTS.includes(script) ? script : "hans";
}

export function setChineseScript(script) {
  try { localStorage.setItem(SCRIPT_KEY, script); } catch { /* storage off */ }
}

/** Compact mode: one line per message (time, name and text together), as busy rooms want. */
export function compactMode() {
  try { return localStorage.getItem(COMPACT_KEY) === "1"; } catch { return false; }
}

export function setCompactMode(on) {
  try { localStorage.setItem(COMPACT_KEY, on ? "1" : "0"); } catch { /* storage off */ }
}
