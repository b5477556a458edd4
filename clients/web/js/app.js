// Entry point: pick the page from the URL (/ or /r/{room}) and render it into #app.

import { setLang } from "./i18n.js";
import { uiLang } from "./prefs.js";
import { renderHome } from "./home.js";
import { renderRoom } from "./room.js";

function start() {
  setLang(uiLang());
  const root = document.getElementById("app");
  const match = location.pathname.match(/^\/r\/([^/]+)\/?$/);
  if (match) renderRoom(root, decodeURIComponent(match[1]));
  else renderHome(root);
}

start();
