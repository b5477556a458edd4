"""``livebridge admin nodes | rooms | user NAME | disconnect USER | ban USER``: the admin API
from a terminal.

Talks HTTP to one node (``--url``) with an admin token (``--token`` or ``LIVEBRIDGE_ADMIN_TOKEN``;
never printed). Plain output is a table for people; ``--json`` prints the API's answer as is.
Every failure is one line on stderr naming the problem: a URL that is not http(s), a node that
cannot be reached, a refused token (401/403, with the server's message), any other error
answer. Exit codes: 0 done, 1 the server refused, 2 the command or the connection is wrong.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

TIMEOUT = 10.0


class CliError(Exception):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


def _call(url: str, token: str, method: str, path: str, body: dict | None = None) -> Any:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(f"--url must be http(s)://host:port, got {url!r}", 2)
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url.rstrip("/") + path, data=data, method=method, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
            return json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            error = json.loads(exc.read()).get("error", {})
        except ValueError:
            error = {}
        message = error.get("message") or exc.reason
        if exc.code in (401, 403):
            raise CliError(f"the node refused the token ({exc.code} {error.get('code', '')}): {message}", 1) from None
        raise CliError(f"{method} {path}: {exc.code} {error.get('code', '')}: {message}", 1) from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise CliError(f"cannot reach {url}: {reason}", 2) from None


def _table(rows: list[list[Any]], header: list[str]) -> str:
    cells = [header] + [["-" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def _plain_nodes(answer: dict) -> str:
    rows = []
    for n in answer["nodes"]:
        tr = n.get("translation") or {}
        rows.append([n["id"], f"{n.get('uptime_s', 0):.0f}s", n.get("connections"), n.get("rooms"),
                     (n.get("engine") or {}).get("status"), (n.get("store") or {}).get("status"),
                     tr.get("mode"), tr.get("backend"), tr.get("queue_depth"), tr.get("workers_alive"),
                     n.get("version")])
    return _table(rows, ["node", "uptime", "conns", "rooms", "engine", "store", "translation", "backend",
                         "queue", "workers", "version"])


def _plain_rooms(answer: dict) -> str:
    rows = [[r["name"], r["members"], r["messages_per_s"], r["deliveries_per_s"], r.get("translation_p99_s"),
             r["translation_failures_per_s"], r["held"], "closed" if r.get("closed") else ""]
            for r in answer["rooms"]]
    more = f"\n(page {answer['page']}; more with --page {answer['page'] + 1})" if answer.get("has_more") else ""
    return _table(rows, ["room", "members", "msg/s", "deliveries/s", "tr p99 s", "tr fail/s", "held", ""]) + more


def _plain_user(answer: dict) -> str:
    if not answer["users"]:
        return f"no connected user matches {answer['query']!r}"
    rows = [[u["id"], u["name"], c["node"], c["conn_id"], ",".join(r["room"] for r in c["rooms"]) or "-"]
            for u in answer["users"] for c in u["connections"]]
    missing = f"\n(no answer from: {', '.join(answer['nodes_missing'])})" if answer.get("nodes_missing") else ""
    return _table(rows, ["user", "name", "node", "connection", "rooms"]) + missing


def _plain_action(answer: dict) -> str:
    nodes = ", ".join(f"{node}: {body.get('closed', 0)}" for node, body in answer.get("nodes", {}).items())
    line = f"{answer['user_id']}: {answer.get('closed', 0)} connection(s) closed ({nodes or 'no node answered'})"
    if "expires_at" in answer:
        line = f"banned {line}" + ("" if answer["expires_at"] is None else f"; until {answer['expires_at']:.0f}")
    return line


def _run(args: argparse.Namespace) -> int:
    token = args.token or os.environ.get("LIVEBRIDGE_ADMIN_TOKEN")
    if not token:
        print("livebridge admin: give --token or set LIVEBRIDGE_ADMIN_TOKEN (`livebridge token --admin`)",
              file=sys.stderr)
        return 2
    what = args.admin_command
    try:
        if what == "nodes":
            answer, plain = _call(args.url, token, "GET", "/api/admin/nodes"), _plain_nodes
        elif what == "rooms":
            query = urllib.parse.urlencode({"query": args.query or "", "page": args.page, "limit": args.limit})
            answer, plain = _call(args.url, token, "GET", f"/api/admin/rooms?{query}"), _plain_rooms
        elif what == "user":
            query = urllib.parse.urlencode({"query": args.name})
            answer, plain = _call(args.url, token, "GET", f"/api/admin/users?{query}"), _plain_user
        elif what == "disconnect":
            answer = _call(args.url, token, "POST", "/api/admin/disconnect",
                           {"user_id": args.user, "reason": args.reason})
            plain = _plain_action
        else:
            answer = _call(args.url, token, "POST", "/api/admin/bans",
                           {"user_id": args.user, "reason": args.reason, "expires_in": args.expires})
            plain = _plain_action
    except CliError as exc:
        print(f"livebridge admin {what}: {exc}", file=sys.stderr)
        return exc.code
    print(json.dumps(answer, ensure_ascii=False, indent=2) if args.json else plain(answer))
    return 0


def register(commands) -> None:
    admin = commands.add_parser("admin", help="see and steer a cluster's nodes (admin token)")
    sub = admin.add_subparsers(dest="admin_command", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default="http://127.0.0.1:8000", help="any node's URL")
    common.add_argument("--token", help="an admin token (default: $LIVEBRIDGE_ADMIN_TOKEN)")
    common.add_argument("--json", action="store_true", help="print the API's JSON answer")
    sub.add_parser("nodes", parents=[common], help="every live node")
    rooms = sub.add_parser("rooms", parents=[common], help="rooms by activity")
    rooms.add_argument("--query", help="part of a room's name or title")
    rooms.add_argument("--page", type=int, default=1)
    rooms.add_argument("--limit", type=int, default=20)
    user = sub.add_parser("user", parents=[common], help="a user's connections and rooms on every node")
    user.add_argument("name", help="a user id or part of a display name")
    disconnect = sub.add_parser("disconnect", parents=[common], help="close a user's connections everywhere")
    disconnect.add_argument("user", help="the user id")
    disconnect.add_argument("--reason", default="")
    ban = sub.add_parser("ban", parents=[common], help="ban a user from the whole server")
    ban.add_argument("user", help="the user id")
    ban.add_argument("--reason", default="")
    ban.add_argument("--expires", type=float, default=None, help="seconds (default: until lifted)")
    admin.set_defaults(run=_run)
