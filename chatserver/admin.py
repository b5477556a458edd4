"""Operators' view of the cluster and their cluster-wide actions: :class:`AdminService`.

One per node, built by :class:`chatserver.app.LiveBridge`. It promises:

- **Admin only, decided at each use.** :meth:`AdminService.require` accepts a token with the
  ``admin`` claim or a user id in ``--admin-ids`` (moderation's own rule), nothing stored.
- **Every node is visible.** Each node publishes a heartbeat record (:mod:`chatserver.node_registry`)
  with its figures; any node answers for the whole cluster from the records
  (:mod:`chatserver.admin_figures`) and keeps the cluster's recent series for the charts.
- **Actions reach every node.** Disconnect, global ban and closing a room travel over the
  engine's pub/sub (:mod:`chatserver.admin_bus`); each node acts on its own connections and
  says how many it touched. What must outlast the broadcast is written to the engine's state
  first: a global ban (checked at every connect and on every HTTP call made with a user's
  token from a per-node view, so neither costs a round trip; at connect the engine is asked
  instead while that view may have missed a broadcast) and a closed room
  (checked at every join from a per-node set refreshed on each heartbeat, likewise).
  The ban view is updated at once by the broadcast and re-read on a heartbeat only when the
  bans' generation (one key, changed by every ban and unban) moved.
- **Every action is audited** in the global audit log (the one moderation writes global term
  changes to), bounded to :data:`AUDIT_MAXLEN` entries.
- **Bounded.** At most :data:`MAX_GLOBAL_BANS` global bans and :data:`MAX_CLOSED_ROOMS` closed
  rooms; a ban lasts at most :data:`MAX_BAN_SECONDS` (it expires with its TTL).
"""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from chatserver import __version__, frames
from chatserver import errors as E
from chatserver import protocol as p
from chatserver.admin_bus import AdminBus
from chatserver.admin_figures import Series, activity, cluster_point, merge_rooms
from chatserver.auth import User
from chatserver.errors import ChatError
from chatserver.moderation_gate import actor_of
from chatserver.node_registry import NS_NODES, RECORD_MAX_ROOMS, NodeRegistry
from chatserver.room_stats import RoomStats
from moderation.model import AUDIT_LOG, GLOBAL, MAX_REASON, NS_REVIEW
from rooms.directory import PAGE_MAX
from rooms.engine import EngineError

log = logging.getLogger(__name__)

NS_GLOBAL_BANS = "admin_bans"
NS_CLOSED = "admin_closed"
NS_BANS_META = "admin_bans_meta"  # one key, "generation": changed by every ban and unban
MAX_GLOBAL_BANS = 10_000
MAX_CLOSED_ROOMS = 10_000
MAX_BAN_SECONDS = 10 * 365 * 86400
AUDIT_MAXLEN = 1000
USER_MATCHES_MAX = 50  # connections one node lists for a user search
ROOMS_LIMIT_MAX = 100
ROOM_CLOSED = "room_closed"
BANNED = "banned"

NOT_ADMIN = ("admin only: use a token with the admin claim (`livebridge token --admin`) "
             "or a user id listed in --admin-ids")


def _reason(value: Any) -> str:
    return value[:MAX_REASON] if isinstance(value, str) else ""


def ban_message(ban: dict[str, Any]) -> str:
    return "you are banned from this server" + (f": {ban['reason']}" if ban.get("reason") else "")


class AdminService:
    """The admin view and actions of one node (see the module docstring)."""

    def __init__(self, bridge: Any) -> None:
        self.bridge = bridge
        self.engine = bridge.engine
        self.state = bridge.engine.state
        self.node_id = bridge.node_id
        self.started_at = time.time()
        self.stats = RoomStats()
        self.series = Series()
        self.registry = NodeRegistry(self.state, self.node_id, self._record, on_read=self._on_nodes)
        self.bus = AdminBus(self.engine.broker, self.node_id, self._on_op)
        self.engine_rtt: float | None = None
        self.store_rtt: float | None = None
        self._closed: set[str] = set()
        self._bans: dict[str, dict[str, Any]] = {}  # user id -> ban: this node's view (see check_banned)
        self._bans_generation: Any = None
        self._bans_loaded = False
        self._bans_link = -1  # the engine's pub/sub losses when the view was last checked
        self._last_published = 0.0

    # Lifetime ------------------------------------------------------------------------------

    async def start(self) -> None:
        await self.bus.ensure_subscribed()
        await self.registry.beat()
        self.registry.start()

    async def close(self) -> None:
        await self.registry.close()
        await self.bus.close()

    # Who may ------------------------------------------------------------------------------

    def is_admin(self, user: User) -> bool:
        return self.bridge.moderation.moderation.is_admin(actor_of(user))

    def require(self, user: User) -> None:
        if not self.is_admin(user):
            raise ChatError("forbidden", NOT_ADMIN, status=403)

    async def check_connect(self, user: User) -> None:
        """Refuse a globally banned user at connect (admins are never held by bans).

        Answered from this node's view of the bans (no round trip) while that view is current:
        loaded, and no pub/sub connection of the engine lost since it was last checked against
        the engine (a ban broadcast meanwhile may have been missed). Otherwise from the engine.
        A ban issued on another node is in this view before that node's ban call returns: the
        call waits for every live node's answer to the broadcast (:meth:`ban`)."""
        if self._bans_current():
            self.check_banned(user)
            return
        if self.is_admin(user):
            return
        try:
            ban = await self.state.get(GLOBAL, NS_GLOBAL_BANS, user.id)
        except EngineError as exc:  # the connection cannot join anything meanwhile anyway
            log.warning("global ban of %s not checked: %s", user.id, exc)
            return
        if ban is not None:
            raise ChatError(BANNED, ban_message(ban), status=403)

    def _link_losses(self) -> int:
        return int(getattr(self.engine, "reconnects", 0) or 0)

    def _bans_current(self) -> bool:
        return self._bans_loaded and self.bus.subscribed and self._bans_link == self._link_losses()

    def check_banned(self, user: User) -> None:
        """Refuse a globally banned user's HTTP call (403 ``banned``), from this node's view of
        the bans: no round trip. Admins are never held by bans."""
        ban = self._bans.get(user.id)
        if ban is None:
            return
        expires = ban.get("expires_at")
        if isinstance(expires, (int, float)) and expires <= time.time():
            return  # its TTL removes it from the engine; the next re-read from the view
        if not self.is_admin(user):
            raise ChatError(BANNED, ban_message(ban), status=403)

    async def check_join(self, room: str, user: User) -> None:
        """Refuse joining a closed room (no round trip: the node's set of closed rooms)."""
        if room in self._closed and not self.is_admin(user):
            raise ChatError(ROOM_CLOSED, f"room {room!r} is closed", status=403)

    # The heartbeat record ------------------------------------------------------------------

    async def _timed(self, call) -> float | None:
        started = time.perf_counter()
        try:
            await call()
        except EngineError:
            return None
        return time.perf_counter() - started

    async def _record(self) -> dict[str, Any]:
        bridge = self.bridge
        published = bridge.metrics.registry.get_sample_value("livebridge_messages_published_total") or 0.0
        self.stats.tick(published=published - self._last_published)
        self._last_published = published
        await self.bus.ensure_subscribed()
        self.engine_rtt = await self._timed(lambda: self.state.get(GLOBAL, NS_NODES, self.node_id))
        store = getattr(bridge, "store", None)
        store_health: dict[str, Any] = {"status": "none"}
        if store is not None and hasattr(store, "health"):
            async def probe():
                nonlocal store_health
                result = store.health()
                store_health = (await result) if hasattr(result, "__await__") else result
            self.store_rtt = await self._timed(probe)
        await self._refresh_closed()
        await self._refresh_bans()
        health = self.engine.health()
        translator = bridge.translator
        status = bridge.translation_status()
        now = time.time()
        return {
            "id": self.node_id, "version": __version__, "started_at": round(self.started_at, 3),
            "uptime_s": round(now - self.started_at, 1), "ts": round(now, 3),
            "connections": len(bridge.sessions), "rooms": len(bridge.hub.rooms()),
            "engine": {"status": health.get("status", "ok"), "engine": health.get("engine"),
                       "rtt_ms": None if self.engine_rtt is None else round(self.engine_rtt * 1000, 2)},
            "store": {"status": store_health.get("status", "ok") if isinstance(store_health, dict) else "ok",
                      "rtt_ms": None if self.store_rtt is None or store is None else round(self.store_rtt * 1000, 2)},
            "translation": {"mode": status.get("mode"), "backend": status.get("backend"),
                            "enabled": bool(status.get("enabled")), "available": bool(status.get("available")),
                            "message": status.get("message"),
                            "queue_depth": int(getattr(translator, "backlog", 0) or 0),
                            "workers_alive": getattr(translator, "workers_alive", None)},
            "figures": self.stats.node_figures(),
            "top_rooms": self.stats.top(RECORD_MAX_ROOMS),
        }

    def _on_nodes(self, nodes: list[dict[str, Any]]) -> None:
        self.series.add(cluster_point(nodes, time.time()))

    async def _refresh_closed(self) -> None:
        try:
            self._closed = set(await self.state.items(GLOBAL, NS_CLOSED))
        except EngineError:
            pass  # keep the last known set

    async def _refresh_bans(self) -> None:
        """Re-read the bans when their generation moved (or is unknown: none stored yet)."""
        link = self._link_losses()  # before the read: a loss during it leaves the view stale
        try:
            generation = await self.state.get(GLOBAL, NS_BANS_META, "generation")
            if self._bans_loaded and generation is not None and generation == self._bans_generation:
                self._bans_link = link
                return
            entries = await self.state.items(GLOBAL, NS_GLOBAL_BANS)
        except EngineError:
            return  # keep the last known view
        self._bans = {uid: e for uid, e in entries.items() if isinstance(e, dict)}
        self._bans_generation, self._bans_loaded, self._bans_link = generation, True, link

    async def _bans_changed(self) -> None:
        await self.state.set(GLOBAL, NS_BANS_META, "generation", secrets.token_hex(8))

    # Views ---------------------------------------------------------------------------------

    async def nodes(self) -> list[dict[str, Any]]:
        now = time.time()
        return [{**r, "age_s": round(max(0.0, now - float(r.get("ts") or now)), 1)}
                for r in await self.registry.nodes()]

    async def rooms(self, *, query: str = "", page: int = 1, limit: int = 50) -> dict[str, Any]:
        """Rooms with members or recent activity whose name contains ``query`` (and, when
        searching, up to a page of idle rooms whose name starts with it), most active first.

        Idle rooms come from one page of the room directory, never a scan of every room."""
        merged = merge_rooms(await self.registry.nodes())
        counts = await self.engine.presence.counts()
        names = set(merged) | set(counts)
        needle = query.casefold().strip()
        if needle:
            names = {n for n in names if needle in n.casefold()}
            names |= await self._rooms_named(needle)
        empty = {"messages_per_s": 0.0, "deliveries_per_s": 0.0, "translation_failures_per_s": 0.0,
                 "translation_p50_s": None, "translation_p99_s": None, "nodes": []}
        rows = [{"name": n, "members": counts.get(n, 0), **merged.get(n, empty)} for n in names]
        rows.sort(key=lambda r: (-activity(r), -r["members"], r["name"]))
        start = (page - 1) * limit
        page_rows = rows[start:start + limit]
        for row in page_rows:
            row["held"] = await self._held(row["name"])
            row["closed"] = row["name"] in self._closed
            row["settings"] = await self.bridge.moderation.room_settings(row["name"])
        return {"rooms": page_rows, "total": len(rows), "page": page, "limit": limit,
                "has_more": start + limit < len(rows)}

    async def _rooms_named(self, prefix: str) -> set[str]:
        """Up to a directory page of rooms whose name starts with ``prefix``."""
        # Room names are ASCII below 0x7f, so every name starting with the prefix sorts after
        # this cursor and every name before the prefix sorts at or below it.
        cursor = prefix[:-1] + chr(max(ord(prefix[-1]) - 1, 0)) + "\x7f"
        rooms, _ = await self.engine.directory.page(after=cursor, limit=PAGE_MAX)
        return {m["name"] for m in rooms if str(m.get("name", "")).startswith(prefix)}

    async def _held(self, room: str) -> int:
        items = await self.state.items(room, NS_REVIEW)
        return sum(1 for item in items.values() if isinstance(item, dict) and item.get("kind") == "held")

    async def _live_nodes(self) -> set[str]:
        return {str(r.get("id")) for r in await self.registry.nodes()} | {self.node_id}

    async def users(self, query: str) -> dict[str, Any]:
        """Connections whose user id is ``query`` or whose name contains it, on every node."""
        expect = await self._live_nodes()
        replies = await self.bus.request("find_user", expect, query=query)
        connections = [c for node in sorted(replies) for c in replies[node].get("connections", [])]
        users: dict[str, dict[str, Any]] = {}
        for c in connections:
            user = users.setdefault(c["user_id"], {"id": c["user_id"], "name": c["name"], "kind": c["kind"],
                                                   "connections": [], "rooms": []})
            user["connections"].append({k: c[k] for k in ("conn_id", "node", "rooms")})
            user["rooms"] = sorted(set(user["rooms"]) | {r["room"] for r in c["rooms"]})
        return {"query": query, "users": list(users.values()),
                "nodes_answered": sorted(replies), "nodes_missing": sorted(expect - set(replies))}

    async def bans(self) -> list[dict[str, Any]]:
        entries = await self.state.items(GLOBAL, NS_GLOBAL_BANS)
        return sorted(({"user_id": uid, **e} for uid, e in entries.items()), key=lambda b: -b.get("time", 0))

    async def audit(self, limit: int) -> list[dict[str, Any]]:
        return await self.state.log_read(GLOBAL, AUDIT_LOG, limit=limit)

    def metrics_rooms(self, n: int) -> list[dict[str, Any]]:
        """This node's own top rooms (for /metrics: bounded label cardinality)."""
        return self.stats.top(n)

    # Actions -------------------------------------------------------------------------------

    async def _audit(self, user: User, action: str, *, target: str | None = None, reason: str = "",
                     details: dict[str, Any] | None = None) -> None:
        await self.state.log_append(GLOBAL, AUDIT_LOG, {
            "time": time.time(), "node": self.node_id, "room": "", "actor": user.id, "actor_name": user.name,
            "actor_role": "admin", "action": action, "target": target, "reason": reason or None,
            "details": details or {}}, maxlen=AUDIT_MAXLEN)

    async def _everywhere(self, op: str, **fields: Any) -> dict[str, Any]:
        expect = await self._live_nodes()
        replies = await self.bus.request(op, expect, **fields)
        return {"nodes": {node: body for node, body in sorted(replies.items())},
                "nodes_missing": sorted(expect - set(replies))}

    async def disconnect(self, user: User, target: str, reason: Any = "") -> dict[str, Any]:
        reason = _reason(reason)
        await self._audit(user, "admin_disconnect", target=target, reason=reason)
        result = await self._everywhere("disconnect", user_id=target, reason=reason)
        closed = sum(int(body.get("closed", 0)) for body in result["nodes"].values())
        return {"user_id": target, "closed": closed, **result}

    async def ban(self, user: User, target: str, reason: Any = "", expires_in: float | None = None) -> dict[str, Any]:
        reason = _reason(reason)
        bans = await self.state.items(GLOBAL, NS_GLOBAL_BANS)
        if target not in bans and len(bans) >= MAX_GLOBAL_BANS:
            raise ChatError(E.INVALID_PARAMETER, f"at most {MAX_GLOBAL_BANS} global bans; lift some first",
                            status=422)
        now = time.time()
        entry = {"reason": reason, "by": user.id, "by_name": user.name, "time": now,
                 "expires_at": None if expires_in is None else now + expires_in}
        await self.state.set(GLOBAL, NS_GLOBAL_BANS, target, entry, ttl=expires_in)
        await self._bans_changed()
        self._bans[target] = entry
        await self._audit(user, "admin_ban", target=target, reason=reason, details={"expires_in": expires_in})
        result = await self._everywhere("disconnect", user_id=target, reason=reason, banned=True, ban=entry)
        closed = sum(int(body.get("closed", 0)) for body in result["nodes"].values())
        return {"user_id": target, **entry, "closed": closed, **result}

    async def unban(self, user: User, target: str) -> dict[str, Any]:
        lifted = await self.state.delete(GLOBAL, NS_GLOBAL_BANS, target)
        await self._bans_changed()
        self._bans.pop(target, None)
        await self._audit(user, "admin_unban", target=target)
        await self.bus.publish("unban", user_id=target)
        return {"user_id": target, "lifted": lifted}

    async def close_room(self, user: User, room: str, reason: Any = "") -> dict[str, Any]:
        reason = _reason(reason)
        await self.bridge.chat.room(room)  # 404 room_not_found
        closed = await self.state.items(GLOBAL, NS_CLOSED)
        if room not in closed and len(closed) >= MAX_CLOSED_ROOMS:
            raise ChatError(E.INVALID_PARAMETER, f"at most {MAX_CLOSED_ROOMS} closed rooms", status=422)
        await self.state.set(GLOBAL, NS_CLOSED, room, {"by": user.id, "reason": reason, "time": time.time()})
        self._closed.add(room)
        await self.bridge.moderation.act(room, user, "lock", {})
        await self._audit(user, "admin_close_room", target=room, reason=reason)
        result = await self._everywhere("close_room", room=room, reason=reason)
        left = sum(int(body.get("left", 0)) for body in result["nodes"].values())
        return {"room": room, "closed": True, "left": left, **result}

    async def reopen_room(self, user: User, room: str) -> dict[str, Any]:
        await self.bridge.chat.room(room)
        await self.state.delete(GLOBAL, NS_CLOSED, room)
        self._closed.discard(room)
        await self.bridge.moderation.act(room, user, "unlock", {})
        await self._audit(user, "admin_reopen_room", target=room)
        await self._everywhere("reopen_room", room=room)
        return {"room": room, "closed": False}

    async def lock_room(self, user: User, room: str, locked: bool) -> dict[str, Any]:
        await self.bridge.chat.room(room)
        result = await self.bridge.moderation.act(room, user, "lock" if locked else "unlock", {})
        await self._audit(user, "admin_lock_room" if locked else "admin_unlock_room", target=room)
        return {"room": room, "locked": locked, "result": result}

    async def terms(self, user: User, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Global blocked terms: moderation's own global scope (it audits each change)."""
        return await self.bridge.moderation.act("", user, action, {**params, "scope": "global"})

    # What each node does when told ---------------------------------------------------------

    async def _on_op(self, op: str, event: dict[str, Any]) -> dict[str, Any] | None:
        if op == "disconnect":
            if event.get("banned") and isinstance(event.get("ban"), dict):
                self._bans[str(event.get("user_id"))] = event["ban"]
            return {"closed": self._disconnect_local(str(event.get("user_id")), str(event.get("reason") or ""),
                                                     banned=bool(event.get("banned")))}
        if op == "close_room":
            room = str(event.get("room"))
            self._closed.add(room)
            return {"left": await self._close_room_local(room, str(event.get("reason") or ""))}
        if op == "unban":
            self._bans.pop(str(event.get("user_id")), None)
            return None
        if op == "reopen_room":
            self._closed.discard(str(event.get("room")))
            return {}
        if op == "find_user":
            return {"connections": self._find_local(str(event.get("query") or ""))}
        return None

    def _disconnect_local(self, user_id: str, reason: str, *, banned: bool) -> int:
        closed = 0
        message = ("you are banned from this server" if banned else "you were disconnected by an admin") + \
            (f": {reason}" if reason else "")
        for session in list(self.bridge.sessions):
            if session.user.id != user_id or session.closing:
                continue
            session.send(frames.error(BANNED if banned else "disconnected", message))
            session.outbound.flush()
            session.outbound.sink.abort(p.CLOSE_FORBIDDEN, message[:120])
            closed += 1
        if closed:
            log.info("admin: closed %d connection(s) of %s", closed, user_id)
        return closed

    async def _close_room_local(self, room: str, reason: str) -> int:
        left = 0
        message = f"the room {room} was closed" + (f": {reason}" if reason else "")
        for session in list(self.bridge.sessions):
            if room in session.rooms and not self.is_admin(session.user):
                session.send(frames.left(room, "closed", message))
                await session.leave(room)
                left += 1
        return left

    def _find_local(self, query: str) -> list[dict[str, Any]]:
        needle = query.casefold().strip()
        found: list[dict[str, Any]] = []
        if not needle:
            return found
        for session in self.bridge.sessions:
            user = session.user
            if user.id != query and needle not in user.name.casefold():
                continue
            found.append({"user_id": user.id, "name": user.name, "kind": user.kind, "node": self.node_id,
                          "conn_id": session.conn_id,
                          "rooms": [{"room": r, "role": m.role} for r, m in session.rooms.items()]})
            if len(found) >= USER_MATCHES_MAX:
                break
        return found
