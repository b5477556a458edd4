// The string-table mechanics both pages share (the room page's i18n.js, the admin console's
// admin-i18n.js): a current interface language, <html lang> kept in step, and t(key, vars).
// Each page keeps its own table; this module holds no strings.

/** {setLang, lang, t} over `strings` ({en: {...}, zh: {...}}). Unknown languages fall back to
 *  English, a key missing in the current language to its English text, then to the key itself;
 *  t fills {name} placeholders from `vars`. `onSetLang()` runs after every setLang (the room
 *  page relabels its skip link there). */
export function makeI18n(strings, { onSetLang } = {}) {
  let current = "en";

  function t(key, vars) {
    let s = strings[current][key] ?? strings.en[key] ?? key;
    if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (k in vars ? String(vars[k]) : m));
    return s;
  }

  function setLang(lang) {
    current = Object.hasOwn(strings, lang) ? lang : "en";
    document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
    if (onSetLang) onSetLang();
  }

  function lang() {
    return current;
  }

  return { setLang, lang, t };
}
