// "Report this message": a modal <dialog> asking for an optional reason (500 characters at
// most, as the server allows). Resolves with the reason, or null when cancelled.

import { h, nextId } from "./dom.js";
import { t } from "./i18n.js";

export function askReportReason(ev) {
  return new Promise((resolve) => {
    const ids = { title: nextId("rep"), reason: nextId("reason") };
    const reason = h("textarea", { id: ids.reason, class: "input report-reason", rows: 3, maxlength: 500, autocomplete: "off" });
    const cancel = h("button", { type: "button", class: "btn btn-ghost" }, t("cancel"));
    const form = h("form", { class: "report-form" },
      h("h2", { id: ids.title, class: "card-title" }, t("report_title")),
      h("blockquote", { class: "report-quote", dir: "auto" },
        h("span", { class: "author" }, ev.author?.name ?? ""), ": ", h("span", { class: "report-quoted" }, ev.text ?? "")),
      h("label", { for: ids.reason, class: "label" }, t("report_reason")),
      reason,
      h("div", { class: "report-actions" }, cancel, h("button", { type: "submit", class: "btn btn-danger" }, t("report_send"))));
    const dialog = h("dialog", { class: "report-dialog", "aria-labelledby": ids.title }, form);
    let result = null;
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      result = reason.value.trim().slice(0, 500);
      dialog.close();
    });
    cancel.addEventListener("click", () => dialog.close());
    dialog.addEventListener("close", () => {
      dialog.remove();
      resolve(result);
    });
    document.body.append(dialog);
    dialog.showModal();
    reason.focus();
  });
}
