"""The HTTP API: JSON in and out, errors as ``{"error": {"code", "message"}}`` with a 4xx.

Routes read the request, call the chat service and answer; every refusal is a
:class:`~chatserver.errors.ChatError` with its HTTP status. Routes and their schemas are
described by :data:`OPENAPI` at ``/openapi.json``.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from chatserver import errors as E
from chatserver.auth import AuthError, User, clean_lang, clean_name
from chatserver.connguard import address_key
from chatserver.errors import ChatError
from chatserver.openapi import OPENAPI
from chatserver.protocol import parse_json_float, valid_room
from rooms.engine import EngineError

MAX_BODY = 64 * 1024
ROOM_PAGE_MAX, ROOM_PAGE_DEFAULT = 100, 50
# Reports over HTTP per client address (besides moderation's per user and per room limits).
REPORT_ADDRESS_RATE, REPORT_ADDRESS_BURST = 0.5, 20.0


@functools.lru_cache(maxsize=8)
def trusted_networks(spec: str) -> tuple:
    """``--trusted-proxies`` parsed: addresses or CIDR networks, comma-separated. Raises
    ``ValueError`` naming the entry that is neither."""
    networks = []
    for item in (part.strip() for part in spec.split(",")):
        if item:
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"--trusted-proxies: {item!r} is not an address or network") from None
    return tuple(networks)


def _ip(text: str):
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def client_address(request: Request) -> str:
    """The address a request's limits are counted against: the peer's, or, when the peer is
    one of ``--trusted-proxies``, the last X-Forwarded-For hop that no trusted proxy added
    (hops further left are what the client itself claimed). IPv6 addresses count by /64,
    the block one subscriber usually holds."""
    peer = request.client.host if request.client else ""
    networks = trusted_networks(_bridge(request).settings.trusted_proxies)
    if not networks:
        return _peer_key(peer)
    address = _ip(peer)
    if address is not None and any(address in n for n in networks):
        for hop in reversed(request.headers.get("x-forwarded-for", "").split(",")):
            hop_address = _ip(hop)
            if hop_address is None:
                break  # garbage: keep the last good address
            address = hop_address
            if not any(hop_address in n for n in networks):
                break
    if address is None:
        return peer or "unknown"
    return address_key(str(address))


@functools.lru_cache(maxsize=4096)
def _peer_key(peer: str) -> str:
    """:func:`client_address` of a peer with no trusted proxy in between: a pure function of
    the peer's address, kept for the addresses seen most recently (a join storm's clients
    connect from a few addresses; parsing one cost ~14 us per connect)."""
    address = _ip(peer)
    return address_key(str(address)) if address is not None else (peer or "unknown")


async def _address_limit(request: Request, what: str, rate: float, burst: float, message: str) -> None:
    """One token of the client address's ``what`` bucket, or 429 ``rate_limited``."""
    if rate <= 0:
        return
    wait = await _bridge(request).engine.state.take_token(f"rl:a:{what}:{client_address(request)}",
                                                          rate=rate, burst=burst)
    if wait > 0:
        raise ChatError(E.RATE_LIMITED, f"{message}: retry in {wait:.1f}s", status=429,
                        retry_after=round(wait, 3))


def _error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


def exception_handlers() -> dict:
    async def chat_error(request: Request, exc: ChatError) -> Response:
        extra = {"retry_after": exc.retry_after} if exc.retry_after is not None else {}
        return _error(exc.status, exc.code, exc.message, **extra, **exc.extra)

    async def engine_error(request: Request, exc: EngineError) -> Response:
        return _error(503, exc.code, f"the server cannot do that right now: {exc}")

    def allowed(request: Request, exc: HTTPException) -> dict[str, str]:
        """The exception's headers; for a 405, ``Allow`` lists every method some route serves
        at this path (Starlette's names only the first route's, and /api/rooms has two)."""
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            methods: set[str] = set()
            for route in getattr(request.app, "routes", ()):
                route_methods = getattr(route, "methods", None)
                if route_methods and route.matches(request.scope)[0] is not Match.NONE:
                    methods |= set(route_methods)
            if methods:
                headers["Allow"] = ", ".join(sorted(methods))
        return headers

    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = {404: E.NOT_FOUND, 405: E.METHOD_NOT_ALLOWED}.get(exc.status_code, E.HTTP_ERROR)
        response = _error(exc.status_code, code, str(exc.detail))
        response.headers.update(allowed(request, exc))
        return response

    from starlette.routing import Match  # here, so this function is the whole change for 405's Allow

    return {ChatError: chat_error, EngineError: engine_error,
            HTTPException: http_error}


def _bridge(request: Request):
    return request.app.state.bridge


async def _json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object. It is read as it streams, counting bytes, and refused with
    413 as soon as it passes MAX_BODY (chunked or not, whatever Content-Length said): a
    large body is never held in memory. It must arrive within --handshake-timeout (408)."""
    too_large = ChatError(E.TOO_LARGE, f"request body is larger than {MAX_BODY} bytes", status=413)
    try:
        declared = int(request.headers.get("content-length") or 0)
    except ValueError:
        declared = 0
    if declared > MAX_BODY:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    try:  # a body dribbled in a byte at a time must not hold the request for ever
        async with asyncio.timeout(_bridge(request).settings.handshake_timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > MAX_BODY:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise ChatError(E.TIMEOUT, "request body not received in time", status=408) from None
    body = b"".join(chunks)
    try:
        data = json.loads(body or b"{}", parse_float=parse_json_float)
    except ValueError:
        raise ChatError(E.BAD_JSON, "request body is not valid JSON", status=400) from None
    if not isinstance(data, dict):
        raise ChatError(E.BAD_JSON, "request body must be a JSON object", status=400)
    return data


def _user(request: Request, *, required: bool = True) -> User | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        if required:
            raise ChatError(E.UNAUTHORIZED, "send 'Authorization: Bearer <token>' (see POST /api/token)", status=401)
        return None
    try:
        user = _bridge(request).tokens.verify(header[7:].strip())
    except AuthError as exc:
        raise ChatError(E.UNAUTHORIZED, str(exc), status=401) from None
    _bridge(request).admin.check_banned(user)  # a global ban: 403 banned, from the node's view
    return user


def _room_name(request: Request) -> str:
    room = request.path_params["room"]
    if not valid_room(room):
        raise ChatError(E.INVALID_ROOM, "room name must be 1-64 characters of a-z, 0-9, '-' or '_'", status=422)
    return room


def _int_param(request: Request, name: str, *, minimum: int, maximum: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ChatError(E.INVALID_PARAMETER, f"{name} must be an integer", status=422) from None
    if value < minimum:
        raise ChatError(E.INVALID_PARAMETER, f"{name} must be at least {minimum}", status=422)
    return min(value, maximum) if maximum is not None else value


# Engine states in which the node still serves rooms: "partial" means some Redis Cluster
# shards are failing over; every node sees the same, so withdrawing them all helps no one.
READY_STATES = ("ok", "partial")


async def healthz(request: Request) -> Response:
    """Readiness: 200 while the node can serve rooms ("ok", or "partial" while some cluster
    shards fail over: the body's engine.shards says which), 503 "degraded" when it cannot
    reach Redis at all, or while the durable store's commits fail (the body's ``store``). Point a load balancer's readiness check here."""
    bridge = _bridge(request)
    engine = bridge.engine.health()
    body = {"status": engine.get("status", "ok"), "node": bridge.node_id, "engine": engine,
            "translation": bridge.translation_status(), "connections": len(bridge.sessions)}
    store = bridge.store_health()
    if store is not None:
        body["store"] = store
        if store.get("status") != "ok":  # sends answer unavailable while commits fail
            body["status"] = "degraded"
    return JSONResponse(body, status_code=200 if body["status"] in READY_STATES else 503)


async def livez(request: Request) -> Response:
    """Liveness: 200 whenever the process answers, whatever Redis does (restart on failure)."""
    return JSONResponse({"status": "alive", "node": _bridge(request).node_id})


async def metrics(request: Request) -> Response:
    data, content_type = _bridge(request).metrics.render()
    return Response(data, media_type=content_type)


async def openapi(request: Request) -> Response:
    return JSONResponse(OPENAPI)


async def issue_token(request: Request) -> Response:
    bridge = _bridge(request)
    if not bridge.settings.guests_allowed:
        raise ChatError(E.GUESTS_DISABLED, "guest tokens are off on this server (see --allow-guests)", status=403)
    body = await _json_body(request)
    try:
        name, lang = clean_name(body.get("name")), clean_lang(body.get("lang", "en"))
    except ValueError as exc:
        raise ChatError(E.INVALID_PARAMETER, str(exc), status=422) from None
    settings = bridge.settings
    await _address_limit(request, "token", settings.guest_token_rate, settings.guest_token_burst,
                         "too many guest tokens from your address")
    token, user, expires = bridge.tokens.issue(name=name, lang=lang, kind="guest")
    return JSONResponse({"token": token, "user": {**user.public(), "kind": user.kind},
                         "expires_at": expires}, status_code=201)


async def ws_ticket(request: Request) -> Response:
    """A one-time ticket for ``/ws?ticket=``, so that the token stays out of the URL."""
    user = _user(request)
    bridge = _bridge(request)
    wait = await bridge.tickets.allowance(user)
    if wait > 0:
        raise ChatError(E.RATE_LIMITED, f"too many tickets: retry in {wait:.1f}s", status=429,
                        retry_after=round(wait, 3))
    ticket = await bridge.tickets.issue(user)
    return JSONResponse({"ticket": ticket, "expires_in": bridge.tickets.ttl}, status_code=201)


async def list_rooms(request: Request) -> Response:
    """A page of rooms in name order: ``after`` is the previous page's ``next``."""
    after = request.query_params.get("after")
    if after is not None and not valid_room(after):
        raise ChatError(E.INVALID_PARAMETER, "after must be a room name (the previous page's next)", status=422)
    limit = _int_param(request, "limit", minimum=1, maximum=ROOM_PAGE_MAX) or ROOM_PAGE_DEFAULT
    return JSONResponse(await _bridge(request).chat.list_rooms(after=after, limit=limit))


async def create_room(request: Request) -> Response:
    user = _user(request)
    body = await _json_body(request)
    meta = await _bridge(request).chat.create_room(body.get("name"), title=body.get("title"), owner=user,
                                                   address=client_address(request))
    return JSONResponse(meta, status_code=201)


async def room_info(request: Request) -> Response:
    return JSONResponse(await _bridge(request).chat.room_info(_room_name(request)))


async def room_messages(request: Request) -> Response:
    chat = _bridge(request).chat
    room = _room_name(request)
    await chat.room(room)
    # Offsets are 64-bit (as the WebSocket frames bound them); a before past any offset
    # there can be is the newest page, and must not reach the store as a bigger integer.
    before = _int_param(request, "before", minimum=1, maximum=2**63 - 1)
    limit = _int_param(request, "limit", minimum=1, maximum=100) or 50
    return JSONResponse(await chat.history(room, before=before, limit=limit))


async def moderate(request: Request) -> Response:
    user, room = _user(request), _room_name(request)
    body = await _json_body(request)
    action, params = body.get("action"), body.get("params") or {}
    if not isinstance(action, str) or not isinstance(params, dict):
        raise ChatError(E.INVALID_PARAMETER, "body must be {\"action\": str, \"params\": object}", status=422)
    result = await _bridge(request).chat.moderate(room, user, action, params)
    return JSONResponse({"room": room, "action": action, "result": result})


async def review_queue(request: Request) -> Response:
    user, room = _user(request), _room_name(request)
    return JSONResponse({"room": room, "items": await _bridge(request).chat.review_queue(room, user)})


async def review_decide(request: Request) -> Response:
    user, room = _user(request), _room_name(request)
    decision = request.path_params["decision"]
    if decision not in ("approve", "reject"):
        raise ChatError(E.NOT_FOUND, "use /approve or /reject", status=404)
    result = await _bridge(request).chat.decide(room, user, request.path_params["item"], decision)
    return JSONResponse({"room": room, "decision": decision, "result": result})


async def audit_log(request: Request) -> Response:
    user, room = _user(request), _room_name(request)
    limit = _int_param(request, "limit", minimum=1, maximum=500) or 100
    return JSONResponse({"room": room, "entries": await _bridge(request).chat.audit_log(room, user, limit)})


async def report(request: Request) -> Response:
    user, room = _user(request), _room_name(request)
    body = await _json_body(request)
    offset = body.get("offset")
    if isinstance(offset, bool) or not isinstance(offset, int) or offset < 1:
        raise ChatError(E.INVALID_PARAMETER, "offset must be a positive integer", status=422)
    chat = _bridge(request).chat
    await chat.room(room)  # 404 room_not_found: reports only go to rooms that exist
    await _address_limit(request, "report", REPORT_ADDRESS_RATE, REPORT_ADDRESS_BURST,
                         "too many reports from your address")
    # moderation refuses banned reporters (403) and rate-limits per user and per room (429)
    result = await chat.report(room, user, offset, str(body.get("reason") or "")[:500])
    return JSONResponse({"room": room, "result": result}, status_code=201)


def routes() -> list[Route]:
    return [
        Route("/healthz", healthz),
        Route("/livez", livez),
        Route("/metrics", metrics),
        Route("/openapi.json", openapi),
        Route("/api/token", issue_token, methods=["POST"]),
        Route("/api/ws-ticket", ws_ticket, methods=["POST"]),
        Route("/api/rooms", list_rooms, methods=["GET"]),
        Route("/api/rooms", create_room, methods=["POST"]),
        Route("/api/rooms/{room}", room_info, methods=["GET"]),
        Route("/api/rooms/{room}/messages", room_messages, methods=["GET"]),
        Route("/api/rooms/{room}/moderation", moderate, methods=["POST"]),
        Route("/api/rooms/{room}/review", review_queue, methods=["GET"]),
        Route("/api/rooms/{room}/review/{item}/{decision}", review_decide, methods=["POST"]),
        Route("/api/rooms/{room}/audit", audit_log, methods=["GET"]),
        Route("/api/rooms/{room}/reports", report, methods=["POST"]),
    ]
