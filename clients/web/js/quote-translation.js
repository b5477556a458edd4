// A quoted message's translation into the reader's language, for what hosts see (pin bar,
// review queue, audit log). The server sends a quote's `translations` as {lang: text}
// (docs/moderation.md); the caller shows the original, this shows the translation beside it.

import { h } from "./dom.js";

/** The text of `translations` in `lang`, or null when there is none. */
export function translationIn(translations, lang) {
  const text = translations && typeof translations === "object" ? translations[lang] : null;
  return typeof text === "string" && text ? text : null;
}

/** An element holding the quote's translation into `lang` (class `quote-tr` and `cls`), or null. */
export function quoteTranslation(translations, lang, { tag = "span", cls = "" } = {}) {
  const text = translationIn(translations, lang);
  return text ? h(tag, { class: ["quote-tr", cls], lang, dir: "auto" }, text) : null;
}
