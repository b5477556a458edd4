// "/r/{room}": the join form when there is no identity yet, then the live room
// (room-controller.js and the parts it wires together).

import { h, clear } from "./dom.js";
import { t } from "./i18n.js";
import { loadIdentity, ROOM_RE } from "./api.js";
import { identityForm } from "./identity.js";
import { topbar, languageSwitch } from "./home.js";
import { rememberUiLang } from "./prefs.js";
import { RoomController } from "./room-controller.js";

export function renderRoom(root, room) {
  clear(root);
  if (!ROOM_RE.test(room)) {
    root.append(topbar(), h("main", { id: "main", class: "center-page" },
      h("section", { class: "card narrow" }, h("p", { class: "form-error" }, t("invalid_room")),
        h("a", { href: "/", class: "btn" }, t("back_to_rooms")))));
    return;
  }
  const ident = loadIdentity();
  if (!ident) {
    renderJoin(root, room);
    return;
  }
  new RoomController(root, room, ident).start();
}

function renderJoin(root, room, draftName = "", focusLang = null) {
  clear(root);
  const form = identityForm({
    initialName: draftName,
    onDone: () => renderRoom(root, room),
    // The re-rendered form keeps focus on the language just chosen (arrow keys go on working).
    onLangChange: (lang, name) => { rememberUiLang(lang); renderJoin(root, room, name, lang); },
  });
  root.append(
    topbar([languageSwitch((lang) => { rememberUiLang(lang); renderJoin(root, room, form.nameInput.value); })]),
    h("main", { id: "main", class: "center-page", tabindex: "-1" },
      h("section", { class: "card narrow join-card", "aria-labelledby": "join-h" },
        h("p", { class: "join-room" }, "#" + room),
        h("h1", { id: "join-h", class: "card-title big" }, t("join_title")),
        h("p", { class: "muted" }, t("join_intro")),
        form)));
  document.title = `#${room} · ${t("app_name")}`;
  const langInput = focusLang && form.querySelector(`input[name=lang][value=${focusLang}]`);
  if (langInput) langInput.focus();
  else setTimeout(() => form.nameInput.focus(), 0);
}
