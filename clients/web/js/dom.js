// Building DOM safely: text is always a Text node, attributes are set one by one, and
// there is no way to pass markup: nothing in this client parses HTML from strings.

const FORBIDDEN_ATTR = /^(on|style$|srcdoc$)/i;

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  if (props) {
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") el.className = Array.isArray(value) ? value.filter(Boolean).join(" ") : value;
      else if (key === "text") el.textContent = String(value);
      else if (key === "on") for (const [ev, fn] of Object.entries(value)) el.addEventListener(ev, fn);
      else if (key === "data") for (const [k, v] of Object.entries(value)) el.dataset[k] = String(v);
      else if (key === "value") el.value = value;
      else if (key === "checked") el.checked = !!value;
      else if (key === "disabled") el.disabled = !!value;
      else if (key === "hidden") el.hidden = !!value;
      else if (FORBIDDEN_ATTR.test(key)) throw new Error(`refusing attribute ${key}`);
      else el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

export function setText(el, text) {
  el.textContent = text;
  return el;
}

let uid = 0;
export function nextId(prefix = "lb") {
  uid += 1;
  return `${prefix}-${uid}`;
}

// Stable colour class for a user's name (no inline styles under the CSP).
export function colorClass(key) {
  let hsh = 0;
  for (const ch of String(key)) hsh = (hsh * 31 + ch.codePointAt(0)) >>> 0;
  return `c${hsh % 10}`;
}

export function charCount(text) {
  let n = 0;
  for (const _ of text) n += 1; // code points, like the server counts
  return n;
}

// Small stroke icons built with createElementNS from constant path data (never user data).
const ICONS = {
  pin: ["M9 4h6l-1 5 3 3v2H7v-2l3-3z", "M12 14v6"],
  trash: ["M4 7h16", "M9 7V4h6v3", "M6 7l1 13h10l1-13", "M10 11v6", "M14 11v6"],
  flag: ["M5 21V4", "M5 4h11l-2 4 2 4H5"],
  more: ["M5 12h.01", "M12 12h.01", "M19 12h.01"],
  reply: ["M9 14L4 9l5-5", "M4 9h10a6 6 0 0 1 6 6v4"],
};
const SVG_NS = "http://www.w3.org/2000/svg";

export function icon(name) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("width", "16");
  svg.setAttribute("height", "16");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("focusable", "false");
  svg.setAttribute("class", "icon");
  for (const d of ICONS[name] || []) {
    const path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", d);
    svg.appendChild(path);
  }
  return svg;
}
