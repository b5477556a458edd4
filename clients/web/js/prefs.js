// Per-tab preferences: interface language (before a name is picked) and the display mode.

import { loadIdentity } from "./api.js";

const UI_KEY = "livebridge.ui_lang";
const MODE_KEY = "livebridge.display";
export const MODES = ["both", "translation", "original"];

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
