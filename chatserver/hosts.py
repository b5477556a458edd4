"""Which Host a request may name (``--public-hosts``), and the page's CSP ``connect-src``.

Without ``--public-hosts`` every Host is served (a development node on localhost). With it,
a request whose ``Host`` header is not one of the listed names is refused before anything
else reads it, WebSocket upgrades included: DNS rebinding (a page on evil.example whose name
now resolves to 127.0.0.1) reaches the node with ``Host: evil.example`` and gets a 400 ``host_not_allowed``.

Pure functions; :class:`chatserver.app.App` applies them to every request.
"""

from __future__ import annotations

import functools
import re

# What a Host header may hold to be echoed into a CSP (a name or address, a port): anything
# else (";", spaces, quotes) would let a request rewrite its own policy.
_HOST = re.compile(r"^(?:[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::[0-9]{1,5})?$")

BASE_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            "connect-src {connect}; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; "
            "form-action 'self'")


@functools.lru_cache(maxsize=8)
def parse_public_hosts(spec: str) -> frozenset[str]:
    """``--public-hosts``: comma-separated ``name`` or ``name:port``, lowercased. Raises
    ``ValueError`` naming an entry that is not a host."""
    hosts = set()
    for item in (part.strip().lower() for part in spec.split(",")):
        if not item:
            continue
        if "://" in item or "/" in item or not _HOST.match(item):
            raise ValueError(f"--public-hosts: {item!r} is not a host name (name or name:port, no scheme)")
        hosts.add(item)
    return frozenset(hosts)


def _without_default_port(host: str) -> str:
    return host[:-3] if host.endswith(":80") else host[:-4] if host.endswith(":443") else host


def host_allowed(host: str | None, allowed: frozenset[str]) -> bool:
    """Whether a request's ``Host`` may be served: any when ``allowed`` is empty; else the
    name with or without its port must be listed (``chat.example`` admits
    ``chat.example:443``; ``chat.example:8443`` admits only that port)."""
    if not allowed:
        return True
    if not host:
        return False
    host = host.strip().lower().rstrip(".")
    return host in allowed or _without_default_port(host) in allowed


def page_csp(host: str | None, origins: list[str]) -> str:
    """The page's policy: it may connect to its own origin (``'self'``, and its ``ws:`` and
    ``wss:`` forms) and the allowed origins, and nowhere else."""
    sources = ["'self'"]
    if host and _HOST.match(host.strip().lower()):
        host = host.strip().lower()
        sources += [f"ws://{host}", f"wss://{host}"]
    for origin in origins:
        origin = origin.strip().rstrip("/").lower()
        scheme, sep, rest = origin.partition("://")
        if not sep or scheme not in ("http", "https") or not _HOST.match(rest):
            continue  # '*' and anything malformed add nothing
        sources += [origin, ("wss://" if scheme == "https" else "ws://") + rest]
    return BASE_CSP.format(connect=" ".join(dict.fromkeys(sources)))
