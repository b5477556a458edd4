// Modal dialogs for host actions: timeout (presets or custom, optional reason), ban and kick
// (a confirmation with an optional reason) and a plain confirmation. Each resolves with what
// was chosen, or null when cancelled (Escape, Cancel, the backdrop's close).

import { h, nextId } from "./dom.js";
import { t } from "./i18n.js";

export const TIMEOUT_PRESETS = [10, 60, 600, 3600, 86400];
const MAX_TIMEOUT = 14 * 86400;
const REASON_MAX = 500;

/** "10 s", "1 min", "10 min", "1 h", "24 h"; other values in the largest whole unit. */
export function fmtDuration(seconds) {
  const s = Math.round(seconds);
  if (s >= 3600 && s % 3600 === 0) return t("dur_h", { n: s / 3600 });
  if (s >= 60 && s % 60 === 0) return t("dur_min", { n: s / 60 });
  return t("dur_s", { n: s });
}

/** A modal form dialog: build(form) adds the fields; read() gives the value on submit
 *  (or throws a string to show as an error and keep the dialog open). */
function formDialog({ title, body = [], submitLabel, danger = false, read }) {
  return new Promise((resolve) => {
    const titleId = nextId("dlg");
    const err = h("p", { class: "form-error", role: "alert" });
    const cancel = h("button", { type: "button", class: "btn btn-ghost" }, t("cancel"));
    const submit = h("button", { type: "submit", class: ["btn", danger ? "btn-danger" : "btn-primary"] }, submitLabel);
    const form = h("form", { class: "report-form" },
      h("h2", { id: titleId, class: "card-title" }, title), ...body, err,
      h("div", { class: "report-actions" }, cancel, submit));
    const dialog = h("dialog", { class: "report-dialog host-dialog", "aria-labelledby": titleId }, form);
    let result = null;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      try {
        result = read();
      } catch (problem) {
        err.textContent = String(problem);
        return;
      }
      dialog.close();
    });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => { dialog.remove(); resolve(result); });
    document.body.append(dialog);
    dialog.showModal();
    (form.querySelector("[autofocus]") || submit).focus();
  });
}

function reasonField() {
  const id = nextId("reason");
  const input = h("textarea", { id, class: "input report-reason", rows: 2, maxlength: REASON_MAX, autocomplete: "off" });
  return { input, el: [h("label", { for: id, class: "label" }, t("reason_optional")), input] };
}

/** Timeout `name`: one of the presets or a custom number of seconds, and a reason. */
export function askTimeout(name, preset = 600) {
  const group = nextId("dur");
  const customId = nextId("custom");
  const custom = h("input", { id: customId, type: "number", class: "input custom-seconds", min: 1, max: MAX_TIMEOUT, step: 1,
    "aria-label": t("custom_seconds"), value: "" });
  const radio = (value, label) => {
    const id = nextId("d");
    return h("span", { class: "seg-item" },
      h("input", { id, type: "radio", name: group, value: String(value), class: "seg-input", checked: value === preset }),
      h("label", { for: id, class: "seg-label" }, label));
  };
  const presets = h("fieldset", { class: "field seg timeout-presets" },
    h("legend", { class: "label" }, t("duration")),
    h("div", { class: "seg-group wrap" }, TIMEOUT_PRESETS.map((s) => radio(s, fmtDuration(s))), radio("custom", t("custom"))));
  custom.addEventListener("focus", () => { presets.querySelector("input[value=custom]").checked = true; });
  const reason = reasonField();
  return formDialog({
    title: t("timeout_title", { name }),
    body: [presets, h("div", { class: "field" }, h("label", { for: customId, class: "label" }, t("custom_seconds")), custom), ...reason.el],
    submitLabel: t("timeout"),
    read: () => {
      const chosen = presets.querySelector("input:checked")?.value;
      const seconds = chosen === "custom" ? Number(custom.value) : Number(chosen);
      if (!Number.isFinite(seconds) || seconds < 1 || seconds > MAX_TIMEOUT) throw t("err_seconds", { max: MAX_TIMEOUT });
      return { seconds, reason: reason.input.value.trim() };
    },
  });
}

/** "Ban {name} from this room?" with an optional reason. */
export function askBan(name) {
  const reason = reasonField();
  reason.input.setAttribute("autofocus", "");
  return formDialog({
    title: t("confirm_ban", { name }), body: [h("p", { class: "muted" }, t("ban_explain")), ...reason.el],
    submitLabel: t("ban"), danger: true, read: () => ({ reason: reason.input.value.trim() }),
  });
}

/** "Kick {name} from this room?" with an optional reason (they may join again). */
export function askKick(name) {
  const reason = reasonField();
  reason.input.setAttribute("autofocus", "");
  return formDialog({
    title: t("confirm_kick", { name }), body: [h("p", { class: "muted" }, t("kick_explain")), ...reason.el],
    submitLabel: t("kick"), danger: true, read: () => ({ reason: reason.input.value.trim() }),
  });
}

/** A yes/no question; resolves true when confirmed. */
export async function confirmDialog(title, text, okLabel, danger = true) {
  const ok = await formDialog({ title, body: text ? [h("p", { class: "muted" }, text)] : [], submitLabel: okLabel, danger, read: () => true });
  return ok === true;
}
