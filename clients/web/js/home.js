// "/": live rooms with member counts, create a room (the creator becomes its host), join by name.

import { h, clear, nextId, colorClass } from "./dom.js";
import { t, setLang, lang as uiLang } from "./i18n.js";
import { loadIdentity, forgetIdentity, listRooms, createRoom, ROOM_RE, saveIdentity } from "./api.js";
import { identityForm } from "./identity.js";
import { rememberUiLang } from "./prefs.js";

const REFRESH_MS = 5000;
let refreshTimer = null;

export function topbar(extra = []) {
  return h("header", { class: "topbar" },
    h("a", { href: "/", class: "brand" },
      h("img", { src: "/static/icon.svg", alt: "", class: "brand-icon", width: 28, height: 28 }),
      h("span", { class: "brand-name" }, t("app_name"))),
    h("div", { class: "topbar-extra" }, extra));
}

export function renderHome(root) {
  clearInterval(refreshTimer);
  clear(root);
  const ident = loadIdentity();

  const roomsList = h("ul", { class: "room-list", "aria-live": "polite", "aria-busy": "true" });
  const roomsStatus = h("p", { class: "muted rooms-status" });
  const refreshBtn = h("button", { type: "button", class: "btn btn-ghost btn-sm", on: { click: () => load() } }, t("refresh"));

  // The list comes a page at a time; "more" appends the next. The periodic refresh only
  // renews the first page, and not once the visitor has paged on.
  let next = null;
  let paged = false;
  const moreBtn = h("button", { type: "button", class: "btn btn-ghost btn-sm rooms-more", on: { click: () => load({ after: next }) } }, t("more_rooms"));
  moreBtn.hidden = true;

  async function load({ after = null, auto = false } = {}) {
    if (auto && paged) return;
    roomsList.setAttribute("aria-busy", "true");
    try {
      const data = await listRooms(after);
      renderRooms(data.rooms || [], after !== null);
      paged = after !== null;
      next = data.next || null;
      moreBtn.hidden = !next;
      roomsStatus.textContent = "";
    } catch (e) {
      roomsStatus.textContent = t("rooms_error");
    } finally {
      roomsList.setAttribute("aria-busy", "false");
    }
  }

  function renderRooms(rooms, append) {
    if (!append) clear(roomsList);
    if (!rooms.length && !append) {
      roomsList.appendChild(h("li", { class: "room-empty muted" }, t("no_rooms")));
      return;
    }
    for (const room of rooms) {
      const live = room.members > 0;
      roomsList.appendChild(h("li", { class: "room-item", data: { room: room.name } },
        h("a", { href: `/r/${encodeURIComponent(room.name)}`, class: "room-link" },
          h("span", { class: ["room-avatar", colorClass(room.name)], "aria-hidden": "true" },
            (room.title || room.name).slice(0, 1).toUpperCase()),
          h("span", { class: "room-text" },
            h("span", { class: "room-title" }, room.title || room.name),
            h("span", { class: "room-sub" }, "#" + room.name,
              room.owner && room.owner.name ? [" · ", room.owner.name] : null)),
          h("span", { class: ["room-count", live ? "is-live" : ""] },
            h("span", { class: "live-dot", "aria-hidden": "true" }),
            h("span", { class: "room-count-text" }, t("members_count", { n: room.members || 0 }))))));
    }
  }

  // Create a room ---------------------------------------------------------------------------
  const cName = nextId("cname");
  const cTitle = nextId("ctitle");
  const cErr = nextId("cerr");
  const createName = h("input", { id: cName, name: "room", class: "input", required: true, maxlength: 64, pattern: "[a-z0-9][a-z0-9_\\-]{0,63}",
    autocapitalize: "off", spellcheck: "false", "aria-describedby": cErr + " " + cName + "-hint" });
  const createTitle = h("input", { id: cTitle, name: "title", class: "input", maxlength: 100 });
  const createError = h("p", { id: cErr, class: "form-error", role: "alert" });
  const createBtn = h("button", { type: "submit", class: "btn btn-primary" }, t("create"));
  const createForm = h("form", { class: "stack create-form", "aria-label": t("create_room") },
    h("div", { class: "field" }, h("label", { for: cName, class: "label" }, t("room_name")), createName,
      h("span", { id: cName + "-hint", class: "hint" }, t("room_name_hint"))),
    h("div", { class: "field" }, h("label", { for: cTitle, class: "label" }, t("room_title")), createTitle),
    createError,
    h("div", { class: "form-actions" }, createBtn));
  createName.addEventListener("input", () => {
    const lowered = createName.value.toLowerCase();
    if (lowered !== createName.value) createName.value = lowered;
  });
  createForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const name = createName.value.trim().toLowerCase();
    if (!ROOM_RE.test(name)) {
      createError.textContent = t("invalid_room");
      createName.focus();
      return;
    }
    const me = loadIdentity();
    if (!me) {
      createError.textContent = t("name_required");
      profileCard.querySelector("input")?.focus();
      return;
    }
    createBtn.disabled = true;
    createBtn.textContent = t("creating");
    try {
      await createRoom(me.token, name, createTitle.value.trim());
      location.assign(`/r/${encodeURIComponent(name)}`);
    } catch (e) {
      createError.textContent = e.code === "room_exists" ? t("room_exists") : t("err_generic", { msg: e.message });
      createBtn.disabled = false;
      createBtn.textContent = t("create");
    }
  });

  // Join by name ----------------------------------------------------------------------------
  const jName = nextId("jname");
  const jErr = nextId("jerr");
  const joinName = h("input", { id: jName, name: "room", class: "input", required: true, maxlength: 64, autocapitalize: "off",
    spellcheck: "false", "aria-describedby": jErr });
  const joinError = h("p", { id: jErr, class: "form-error", role: "alert" });
  const joinForm = h("form", { class: "inline-form join-form", "aria-label": t("join_by_name") },
    h("label", { for: jName, class: "label" }, t("room_name")),
    h("div", { class: "input-row" }, joinName, h("button", { type: "submit", class: "btn" }, t("join"))),
    joinError);
  joinForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const name = joinName.value.trim().toLowerCase();
    if (!ROOM_RE.test(name)) {
      joinError.textContent = t("invalid_room");
      joinName.focus();
      return;
    }
    location.assign(`/r/${encodeURIComponent(name)}`);
  });

  // Profile ---------------------------------------------------------------------------------
  const profileCard = h("section", { class: "card profile-card", "aria-labelledby": "profile-h" });
  function renderProfile(me, draftName = "") {
    clear(profileCard);
    if (me) {
      profileCard.append(
        h("h2", { id: "profile-h", class: "card-title" }, t("you_are", { name: "" }).trim()),
        h("p", { class: "profile-line" },
          h("span", { class: ["author", colorClass(me.user.id)] }, me.user.name),
          h("span", { class: "lang-chip" }, (me.readLang || me.user.lang) === "zh" ? "中文" : "EN"),
          h("button", { type: "button", class: "btn btn-ghost btn-sm", on: { click: () => { forgetIdentity(); renderProfile(null, me.user.name); } } }, t("change"))));
    } else {
      profileCard.append(
        h("h2", { id: "profile-h", class: "card-title" }, t("join_title")),
        h("p", { class: "muted" }, t("join_intro")),
        identityForm({
          initialName: draftName,
          onDone: () => renderHome(root),
          onLangChange: (lang, name) => { rememberUiLang(lang); renderHome(root); const f = root.querySelector(".profile-card input[name=name]"); if (f) f.value = name; root.querySelector(`.profile-card input[name=lang][value=${lang}]`)?.focus(); },
        }));
    }
  }
  renderProfile(ident);

  const langSelect = languageSwitch((lang) => {
    rememberUiLang(lang);
    const me = loadIdentity();
    if (me) { me.readLang = lang; saveIdentity(me); }
    renderHome(root);
  });

  root.append(
    topbar([langSelect]),
    h("main", { id: "main", class: "home", tabindex: "-1" },
      h("section", { class: "hero" },
        h("h1", { class: "hero-title" }, t("app_name")),
        h("p", { class: "hero-sub" }, t("tagline"))),
      h("div", { class: "home-grid" },
        h("section", { class: "card rooms-card", "aria-labelledby": "rooms-h" },
          h("div", { class: "card-head" }, h("h2", { id: "rooms-h", class: "card-title" }, t("live_rooms")), refreshBtn),
          roomsStatus, roomsList, moreBtn),
        h("div", { class: "home-side" },
          profileCard,
          h("section", { class: "card", "aria-labelledby": "create-h" },
            h("h2", { id: "create-h", class: "card-title" }, t("create_room")), createForm),
          h("section", { class: "card", "aria-labelledby": "join-h" },
            h("h2", { id: "join-h", class: "card-title" }, t("join_by_name")), joinForm)))));
  document.title = t("app_name");
  load();
  refreshTimer = setInterval(() => load({ auto: true }), REFRESH_MS);
}

export function languageSwitch(onChange) {
  const id = nextId("uilang");
  const select = h("select", { id, class: "select select-sm", on: { change: () => { setLang(select.value); onChange(select.value); } } },
    h("option", { value: "en", lang: "en" }, "English"),
    h("option", { value: "zh", lang: "zh-CN" }, "中文"));
  select.value = uiLang();
  return h("div", { class: "lang-switch" }, h("label", { for: id, class: "sr-only" }, t("ui_language")), select);
}
