// The WebSocket side of docs/protocol.md: connect, join, resume from the last offset with
// jittered backoff, drop events already seen, and retry unacknowledged sends with the same
// client_msg_id. The UI gets deduplicated events through the `on` callbacks.

import { api } from "./api.js";

const SUBPROTOCOL = "livebridge.v1.json";
// Close codes after which we try again (docs/protocol.md "Close codes"), plus the ones a
// browser reports for network trouble (1005/1006) and the heartbeat-timeout codes.
const RETRY_CLOSE = new Set([1001, 1005, 1006, 1011, 1012, 1013, 1014, 4408, 4409]);
const NON_PERSISTENT = new Set(["joined", "ack", "history", "members", "moderated", "reported", "error", "welcome",
  "pong", "lang", "left", "presence", "translation_unavailable", "review", "notice"]);
const BACKOFF_START = 200;
const BACKOFF_MAX = 10_000;
const REQUEST_TIMEOUT = 15_000;

export function newId(prefix = "c") {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  return prefix + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Connection {
  /**
   * on: {state(state, info), welcome(frame), joined(room, frame, info), event(room, frame, info),
   *      error(frame), left(room, frame), unauthorized(): Promise<string|null>, closed(code, reason)}
   */
  constructor({ token, on }) {
    this.token = token;
    this.on = on;
    this.ws = null;
    this.state = "idle";
    this.rooms = new Map(); // room -> {epoch, offset, seen:Set, wanted, live}
    this.pending = new Map(); // client_msg_id -> {room, text}
    this.requests = new Map(); // ref -> {resolve, reject, timer}
    this.backoff = BACKOFF_START;
    this.retryTimer = null;
    this.heartbeat = null;
    this.welcome = null;
    this.refSeq = 0;
    this.lastRx = 0;
    this.stopped = false;
    this.authRetried = false;
  }

  setState(state, info = {}) {
    this.state = state;
    this.on.state?.(state, info);
  }

  connect() {
    this.stopped = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (this.ws || this.opening) return;
    if (this.state !== "reconnecting") this.setState("connecting");
    // The token stays out of the URL (URLs end up in logs): a one-time ticket goes in it.
    this.opening = true;
    api("POST", "/api/ws-ticket", { token: this.token }).then(({ ticket }) => {
      this.opening = false;
      if (!this.stopped && !this.ws) this.open(ticket);
    }, (err) => {
      this.opening = false;
      this.lastError = err;
      if (!this.stopped && !this.ws) this.onClose(null, { code: err.status === 401 ? 4401 : 1006, reason: err.message });
    });
  }

  open(ticket) {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const url = `${proto}//${location.host}/ws?ticket=${encodeURIComponent(ticket)}`;
    let ws;
    try {
      ws = new WebSocket(url, [SUBPROTOCOL]);
    } catch (err) {
      this.scheduleRetry();
      return;
    }
    this.ws = ws;
    this.lastError = null;
    ws.addEventListener("message", (ev) => this.onMessage(ev));
    ws.addEventListener("close", (ev) => this.onClose(ws, ev));
    ws.addEventListener("error", () => {}); // close follows
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.stopHeartbeat();
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      try { ws.close(1000, "bye"); } catch { /* already closed */ }
    }
    this.setState("offline", { reason: "stopped" });
  }

  // Rooms ----------------------------------------------------------------------------------

  join(room) {
    let r = this.rooms.get(room);
    if (!r) {
      r = { epoch: null, offset: 0, seen: new Set(), wanted: true, live: false };
      this.rooms.set(room, r);
    }
    r.wanted = true;
    if (this.welcome && this.ws && this.ws.readyState === WebSocket.OPEN) this.sendJoin(room);
    else this.connect();
  }

  sendJoin(room) {
    const r = this.rooms.get(room);
    const frame = { type: "join", room };
    if (r.epoch !== null && r.offset > 0) {
      frame.since = r.offset;
      frame.epoch = r.epoch;
    }
    frame.ref = "join:" + room;
    this.raw(frame);
  }

  // Sending --------------------------------------------------------------------------------

  /** extra: optional send fields, e.g. {reply_to: offset}; kept for the re-sends. */
  send(room, text, extra = {}) {
    const id = newId("m");
    this.pending.set(id, { room, text, extra });
    const r = this.rooms.get(room);
    if (r && r.live) this.raw({ type: "send", room, text, ...extra, client_msg_id: id, ref: "send:" + id });
    return id;
  }

  typing(room) {
    const r = this.rooms.get(room);
    if (r && r.live) this.raw({ type: "typing", room });
  }

  /** The language (and, for Chinese, the script: "hans" / "hant") translations come in. */
  setLang(lang, script) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) this.raw({ type: "set_lang", lang, ...(script ? { script } : {}) });
  }

  /** Send a frame that gets a reply with the same ref; resolves with the reply. */
  request(frame) {
    return new Promise((resolve, reject) => {
      if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
        reject({ type: "error", code: "unavailable", message: "not connected" });
        return;
      }
      this.refSeq += 1;
      const ref = "q" + this.refSeq;
      const timer = setTimeout(() => {
        this.requests.delete(ref);
        reject({ type: "error", code: "timeout", message: "no reply from the server" });
      }, REQUEST_TIMEOUT);
      this.requests.set(ref, { resolve, reject, timer });
      this.raw({ ...frame, ref });
    });
  }

  raw(frame) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  // Receiving ------------------------------------------------------------------------------

  onMessage(ev) {
    if (typeof ev.data !== "string") return;
    let frame;
    try {
      frame = JSON.parse(ev.data);
    } catch {
      return;
    }
    if (!frame || typeof frame !== "object") return;
    this.lastRx = Date.now();
    const ref = frame.ref;
    if (ref !== undefined && this.requests.has(ref)) {
      const req = this.requests.get(ref);
      this.requests.delete(ref);
      clearTimeout(req.timer);
      if (frame.type === "error") req.reject(frame);
      else req.resolve(frame);
      return;
    }
    switch (frame.type) {
      case "welcome": return this.onWelcome(frame);
      case "joined": return this.onJoined(frame);
      case "ack": return this.onAck(frame);
      case "error": return this.onError(frame);
      case "left": return this.onLeft(frame);
      case "pong": return undefined;
      default: return this.dispatch(frame, false);
    }
  }

  onWelcome(frame) {
    this.welcome = frame;
    this.authRetried = false;
    this.on.welcome?.(frame);
    this.startHeartbeat(frame.limits?.heartbeat_interval || 20);
    let any = false;
    for (const [room, r] of this.rooms) {
      if (r.wanted) {
        this.sendJoin(room);
        any = true;
      }
    }
    if (!any) this.setState("live");
  }

  onJoined(frame) {
    const room = frame.room;
    const r = this.rooms.get(room);
    if (!r) return;
    const info = { resumed: r.epoch !== null, epochChanged: false, gap: false };
    if (r.epoch !== null && frame.epoch !== r.epoch) {
      info.epochChanged = true;
      r.seen = new Set();
      r.offset = 0;
    } else if (info.resumed && frame.recovered === false) {
      info.gap = true;
    }
    r.epoch = frame.epoch;
    r.live = true;
    this.on.joined?.(room, frame, info);
    for (const event of frame.history || []) this.dispatch({ room, ...event }, true);
    if (typeof frame.offset === "number" && frame.offset > r.offset) r.offset = frame.offset;
    this.backoff = BACKOFF_START;
    this.setState("live");
    // Sends that were never acknowledged go again with the same client_msg_id: the server
    // acks a retry as "duplicate" and never publishes it twice.
    for (const [id, p] of this.pending) {
      if (p.room === room) this.raw({ type: "send", room, text: p.text, ...(p.extra || {}), client_msg_id: id, ref: "send:" + id });
    }
  }

  dispatch(frame, fromHistory) {
    const room = frame.room;
    const r = room ? this.rooms.get(room) : null;
    if (r && typeof frame.offset === "number" && !NON_PERSISTENT.has(frame.type)) {
      if (typeof frame.epoch === "string" && r.epoch !== null && frame.epoch !== r.epoch) return;
      if (r.seen.has(frame.offset)) return; // already have it: no duplicates
      r.seen.add(frame.offset);
      if (frame.offset > r.offset) r.offset = frame.offset;
    }
    if (frame.type === "message" && frame.client_msg_id && this.welcome &&
        frame.author && frame.author.id === this.welcome.user.id) {
      this.pending.delete(frame.client_msg_id);
    }
    this.on.event?.(room, frame, { fromHistory });
  }

  onAck(frame) {
    const id = frame.client_msg_id;
    if (id) this.pending.delete(id);
    this.on.event?.(frame.room, frame, { fromHistory: false });
  }

  onError(frame) {
    this.lastError = frame;
    const ref = typeof frame.ref === "string" ? frame.ref : "";
    if (ref.startsWith("send:")) {
      const id = ref.slice(5);
      const p = this.pending.get(id);
      if (p && frame.code !== "unavailable") this.pending.delete(id);
      frame = { ...frame, client_msg_id: id, text: p ? p.text : undefined };
    } else if (ref.startsWith("join:")) {
      const room = ref.slice(5);
      const r = this.rooms.get(room);
      if (r && ["banned", "forbidden", "room_not_found", "invalid_room", "too_many_rooms"].includes(frame.code)) {
        r.wanted = false;
        r.live = false;
      }
      frame = { ...frame, room, joinFailed: true };
    }
    this.on.error?.(frame);
  }

  onLeft(frame) {
    const r = this.rooms.get(frame.room);
    if (r) {
      r.live = false;
      r.wanted = false; // kicked or banned: do not rejoin by ourselves
    }
    this.on.left?.(frame.room, frame);
  }

  // Connection lifecycle -------------------------------------------------------------------

  startHeartbeat(intervalSeconds) {
    this.stopHeartbeat();
    const every = Math.max(5, intervalSeconds) * 1000;
    this.lastRx = Date.now();
    this.heartbeat = setInterval(() => {
      if (!this.ws) return;
      if (Date.now() - this.lastRx > every * 2 + 10_000) {
        // Half-open connection: nothing heard for too long. Drop it and resume.
        try { this.ws.close(4000, "heartbeat"); } catch { /* ignore */ }
        this.onClose(this.ws, { code: 1006, reason: "heartbeat timeout" });
        return;
      }
      this.raw({ type: "ping" });
    }, every);
  }

  stopHeartbeat() {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  async onClose(ws, ev) {
    if (ws !== this.ws) return;
    this.ws = null;
    this.welcome = null;
    this.stopHeartbeat();
    for (const r of this.rooms.values()) r.live = false;
    for (const [ref, req] of this.requests) {
      clearTimeout(req.timer);
      req.reject({ type: "error", code: "disconnected", message: "the connection closed" });
      this.requests.delete(ref);
    }
    if (this.stopped) return;
    const code = ev.code;
    const wanted = [...this.rooms.values()].some((r) => r.wanted);
    if (code === 4401 && !this.authRetried && this.on.unauthorized) {
      this.authRetried = true;
      const token = await this.on.unauthorized();
      if (token) {
        this.token = token;
        this.scheduleRetry(true);
        return;
      }
    }
    if (RETRY_CLOSE.has(code) && wanted) {
      this.scheduleRetry();
      return;
    }
    const message = (this.lastError && this.lastError.message) || ev.reason || `close code ${code}`;
    this.setState("offline", { code, message, error: this.lastError });
    this.on.closed?.(code, message);
  }

  scheduleRetry(immediate = false) {
    clearTimeout(this.retryTimer);
    const b = this.backoff;
    const delay = immediate ? 0 : b / 2 + Math.random() * (b / 2);
    this.backoff = Math.min(b * 2, BACKOFF_MAX);
    this.setState("reconnecting", { delay, at: Date.now() + delay });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }

  /** Reconnect now (the user pressed a button). */
  retryNow() {
    if (this.ws) return;
    this.backoff = BACKOFF_START;
    this.connect();
  }

  isLive(room) {
    const r = this.rooms.get(room);
    return !!(r && r.live && this.ws && this.ws.readyState === WebSocket.OPEN);
  }
}
