// The "pick a name and a language" form, shared by the home page and the room page.

import { h, nextId } from "./dom.js";
import { t, setLang, lang as uiLang } from "./i18n.js";
import { newGuest } from "./api.js";

const NAME_MAX = 32;

/**
 * identityForm({onDone(ident), onLangChange(lang), compact})
 * Picking a language switches the interface strings at once (onLangChange re-renders).
 */
export function identityForm({ onDone, onLangChange, initialName = "" }) {
  const nameId = nextId("name");
  const errId = nextId("err");
  const name = h("input", {
    id: nameId, name: "name", type: "text", required: true, maxlength: NAME_MAX,
    autocomplete: "nickname", value: initialName, "aria-describedby": errId, class: "input",
  });
  const current = uiLang();
  const radio = (value, label) => {
    const id = nextId("lang");
    const input = h("input", {
      id, type: "radio", name: "lang", value, checked: current === value, class: "seg-input",
      on: { change: () => { setLang(value); onLangChange?.(value, name.value); } },
    });
    return h("span", { class: "seg-item" }, input, h("label", { for: id, class: "seg-label", lang: value === "zh" ? "zh-CN" : "en" }, label));
  };
  const err = h("p", { id: errId, class: "form-error", role: "alert" });
  const submit = h("button", { type: "submit", class: "btn btn-primary" }, t("continue"));
  const form = h("form", { class: "identity-form" },
    h("div", { class: "field" },
      h("label", { for: nameId, class: "label" }, t("display_name")),
      name),
    h("fieldset", { class: "field seg" },
      h("legend", { class: "label" }, t("your_language")),
      h("div", { class: "seg-group" }, radio("en", t("lang_en")), radio("zh", t("lang_zh")))),
    err,
    h("div", { class: "form-actions" }, submit));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const value = name.value.trim();
    const chosen = form.querySelector("input[name=lang]:checked")?.value || "en";
    if (!value) {
      err.textContent = t("name_required");
      name.focus();
      return;
    }
    submit.disabled = true;
    err.textContent = "";
    try {
      const ident = await newGuest(value, chosen);
      setLang(chosen);
      onDone(ident);
    } catch (e) {
      err.textContent = t("token_error", { msg: e.message });
      submit.disabled = false;
    }
  });
  form.nameInput = name;
  return form;
}
