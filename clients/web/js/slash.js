// Slash commands for hosts in the composer (pure: text in, a command or an error out).
// Nothing that starts with "/" is ever posted as chat: an unknown command is a local error.
// "//text" posts "/text" for anyone who means a slash.

export const COMMANDS = [
  { name: "timeout", args: "name [seconds] [reason]", host: true },
  { name: "untimeout", args: "name", host: true },
  { name: "ban", args: "name [reason]", host: true },
  { name: "unban", args: "name", host: true },
  { name: "slow", args: "seconds", host: true },
  { name: "slowoff", args: "", host: true },
  { name: "lock", args: "", host: true },
  { name: "unlock", args: "", host: true },
  { name: "clear", args: "", host: true },
  { name: "mod", args: "name", host: true, owner: true },
  { name: "unmod", args: "name", host: true, owner: true },
  { name: "help", args: "", host: false },
];
const BY_NAME = new Map(COMMANDS.map((c) => [c.name, c]));
const TAKES_NAME = new Set(["timeout", "untimeout", "ban", "unban", "mod", "unmod"]);

/** The commands someone with these powers may use. */
export function available({ isMod, isOwner }) {
  return COMMANDS.filter((c) => (!c.host || isMod) && (!c.owner || isOwner));
}

/**
 * Parse composer text. Returns null when it is a normal message (including "//…", which is
 * returned as {post: "/…"}), else {command, name?, seconds?, reason?} or {error, ...vars}.
 * `names`: the display names this page knows, longest first, so names with spaces match.
 */
export function parse(text, names = [], powers = { isMod: false, isOwner: false }) {
  if (!text.startsWith("/")) return null;
  if (text.startsWith("//")) return { post: text.slice(1) };
  const match = text.slice(1).match(/^(\S*)\s*([\s\S]*)$/);
  const name = (match[1] || "").toLowerCase();
  const rest = match[2].trim();
  const cmd = BY_NAME.get(name);
  if (!cmd) return { error: "slash_unknown", cmd: name };
  if (!available(powers).includes(cmd)) return { error: "slash_forbidden", cmd: name };
  const out = { command: name };
  let tail = rest;
  if (TAKES_NAME.has(name)) {
    const who = takeName(rest, names);
    if (!who.name) return { error: "slash_need_name", cmd: name };
    out.name = who.name;
    tail = who.rest;
  }
  if (name === "timeout") {
    const secs = tail.match(/^(\d+(?:\.\d+)?)([smhd]?)(?:\s+|$)([\s\S]*)$/i);
    if (secs) {
      const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86400 }[secs[2].toLowerCase()];
      out.seconds = Number(secs[1]) * unit;
      tail = secs[3].trim();
    } else {
      out.seconds = 600; // Twitch's default
    }
    if (!(out.seconds >= 1 && out.seconds <= 14 * 86400)) return { error: "slash_bad_seconds", cmd: name };
  }
  if (name === "slow") {
    const n = Number(tail);
    if (!tail || !Number.isFinite(n) || n < 0 || n > 3600) return { error: "slash_bad_seconds", cmd: name };
    out.seconds = n;
    tail = "";
  }
  if (name === "timeout" || name === "ban") out.reason = tail;
  return out;
}

/** The name at the start of `text` ("@" optional): the longest known name it starts with,
 *  else its first word. */
function takeName(text, names) {
  const body = text.replace(/^@/, "");
  const lower = body.toLowerCase();
  for (const n of names) {
    const l = n.toLowerCase();
    if (lower.startsWith(l) && (lower.length === l.length || /\s/.test(lower[l.length]))) {
      return { name: body.slice(0, n.length), rest: body.slice(n.length).trim() };
    }
  }
  const word = body.match(/^(\S+)\s*([\s\S]*)$/);
  return word ? { name: word[1], rest: word[2].trim() } : { name: "", rest: "" };
}
