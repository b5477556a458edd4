// The HTTP API (docs/protocol.md "HTTP API") and the guest identity kept in sessionStorage.

const KEY = "livebridge.identity";

export class ApiError extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    Object.assign(this, extra);
  }
}

export async function api(method, path, { body, token } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin", cache: "no-store",
    });
  } catch (err) {
    throw new ApiError(0, "network", String(err && err.message ? err.message : err));
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (!response.ok) {
    const e = (data && data.error) || {};
    const { code, message, ...extra } = e;
    throw new ApiError(response.status, code || "http_error", message || `HTTP ${response.status}`, extra);
  }
  return data;
}

// Identity: {token, user: {id, name, lang, kind}, expires_at}
export function loadIdentity() {
  try {
    const raw = sessionStorage.getItem(KEY);
    if (!raw) return null;
    const ident = JSON.parse(raw);
    if (!ident || typeof ident.token !== "string" || !ident.user) return null;
    if (typeof ident.expires_at === "number") {
      const expiresMs = ident.expires_at > 1e12 ? ident.expires_at : ident.expires_at * 1000;
      if (expiresMs < Date.now() + 60_000) return null;
    }
    return ident;
  } catch {
    return null;
  }
}

export function saveIdentity(ident) {
  sessionStorage.setItem(KEY, JSON.stringify(ident));
}

export function forgetIdentity() {
  sessionStorage.removeItem(KEY);
}

export async function newGuest(name, lang) {
  const data = await api("POST", "/api/token", { body: { name, lang } });
  const ident = { token: data.token, user: data.user, expires_at: data.expires_at };
  saveIdentity(ident);
  return ident;
}

export const ROOM_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;

// One page of rooms in name order; pass the previous page's `next` as `after`.
export function listRooms(after = null) {
  return api("GET", after ? `/api/rooms?after=${encodeURIComponent(after)}` : "/api/rooms");
}

export function createRoom(token, name, title) {
  return api("POST", "/api/rooms", { token, body: title ? { name, title } : { name } });
}

export function reviewQueue(token, room) {
  return api("GET", `/api/rooms/${encodeURIComponent(room)}/review`, { token });
}

export function reviewDecide(token, room, item, decision) {
  return api("POST", `/api/rooms/${encodeURIComponent(room)}/review/${encodeURIComponent(item)}/${decision}`,
    { token, body: {} });
}

export function auditLog(token, room, limit = 100) {
  return api("GET", `/api/rooms/${encodeURIComponent(room)}/audit?limit=${limit}`, { token });
}

export function moderateHttp(token, room, action, params) {
  return api("POST", `/api/rooms/${encodeURIComponent(room)}/moderation`, { token, body: { action, params } });
}
