// The `lang` attribute for a piece of text, so screen readers pick the right voice and
// browsers the right glyphs: "en", "zh-CN" (simplified) or "zh-Hant" (traditional).
// Translations say their script (`script: "hant"`); for what people type, a short list of
// common characters that exist only in traditional script tells (a heuristic: a text
// written with none of them is tagged simplified, which is what most readers here use).

const TRADITIONAL_ONLY = new Set(
  "們個這說時會對來過還後麼愛謝點嗎裡國學見話開關問題東車長門電書體觀觸讓認識聽寫實現發經與萬兩條應當變號機場買賣樂歡氣於無爲為們傳說頭臺灣區處親覺邊從陽陰隊劇戲網頁區醫輕鬆張樣種總顯斷層繼續單雙歲難類寶貝聯線飛機場館務應該壓歷記憶務勞動產業際邊"
);

export function langTag(lang, text = "", script = "") {
  if (lang !== "zh") return lang === "en" ? "en" : lang || "en";
  if (script === "hant") return "zh-Hant";
  if (script === "hans") return "zh-CN";
  for (const ch of String(text)) if (TRADITIONAL_ONLY.has(ch)) return "zh-Hant";
  return "zh-CN";
}
