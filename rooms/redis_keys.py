"""Names of every Redis key the engine uses (docs/deploy.md lists them with sizes and TTLs).

All keys of one room share the hash tag ``{room}`` so the room lives on one shard of a Redis
Cluster; the global scope "" uses the tag ``{~global}`` (not a valid room name).
"""

from __future__ import annotations

PREFIX = "lb"
GLOBAL_TAG = "~global"


def tag(room: str) -> str:
    return f"{PREFIX}:{{{room or GLOBAL_TAG}}}"


def meta(room: str) -> str:
    return tag(room) + ":meta"


def stream(room: str) -> str:
    return tag(room) + ":stream"


def channel(room: str) -> str:
    return tag(room) + ":ch"


def idempotency(room: str, key: str) -> str:
    return tag(room) + ":idem:" + key


def presence(room: str) -> str:
    return tag(room) + ":presence"


def presence_users(room: str) -> str:
    return tag(room) + ":users"


def state(scope: str, ns: str) -> str:
    return tag(scope) + ":state:" + ns


def log(scope: str, name: str) -> str:
    return tag(scope) + ":log:" + name


def bucket(key: str) -> str:
    """A token bucket's key. A bucket named ``{R}:rest`` lives under room ``R``'s hash tag
    (``lb:{R}:tb:rest``), on the room's shard; any other name gets a hash tag of its own."""
    room = bucket_room(key)
    if room is not None:
        return tag(room) + ":tb" + key[len(room) + 2:]
    return f"{PREFIX}:tb:{{{key}}}"


def bucket_room(key: str) -> str | None:
    """The room whose hash tag bucket ``key`` carries (``{R}...``), or None."""
    if key.startswith("{"):
        end = key.find("}", 1)
        if end > 1:
            return key[1:end]
    return None


PRESENCE_ROOMS = f"{PREFIX}:presence:rooms"
NODES = f"{PREFIX}:nodes"


def node_alive(node_id: str) -> str:
    return f"{PREFIX}:node:{{{node_id}}}:alive"


def node_members(node_id: str) -> str:
    return f"{PREFIX}:node:{{{node_id}}}:members"


def node_reap(node_id: str) -> str:
    return f"{PREFIX}:node:{{{node_id}}}:reap"
