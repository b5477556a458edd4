"""Typed frames: one ``TypedDict`` per server frame of docs/protocol.md ("Server frames"), per
room event of docs/moderation.md, and per event this client makes up itself.

Frames stay plain dicts (what the codec decodes), so ``event["text"]`` works as before and
fields a newer server adds are kept; these types only tell a type checker and a reader which
keys there are. ``NotRequired`` keys are the table's "optional fields", left out when they do
not apply. ``tests/client/test_types.py`` checks every class against the protocol table.
"""


from typing import Any, Literal, NotRequired, TypedDict, Union

__all__ = [
    "User", "Member", "Limits", "TranslationStatus", "Welcome", "Joined", "Left", "Message",
    "Translation", "TranslationUnavailable", "Presence", "Role", "Notice", "Ack", "History", "Members",
    "Error", "Pong", "Lang", "Moderated", "Reported", "Deleted", "Cleared", "Pinned", "Unpinned",
    "RoomSettings", "Review", "Disconnected", "Reconnected", "Resumed", "ResumeFailed", "Held",
    "Event", "SERVER_FRAMES", "CLIENT_EVENTS", "MODERATION_EVENTS",
]


class User(TypedDict):
    """Who a token names: ``kind`` is ``guest`` or ``member``."""
    id: str
    name: str
    lang: str
    kind: str


class Member(TypedDict):
    """A member of a room as ``members``, ``presence`` and ``message.author`` give it."""
    id: str
    name: NotRequired[str]
    lang: NotRequired[str]
    role: str


class Limits(TypedDict, total=False):
    """``welcome.limits``: the values in force on this server."""
    max_text_chars: int
    max_frame_bytes: int
    max_rooms: int
    heartbeat_interval: float
    max_history_limit: int
    message_rate: float
    message_burst: int
    connection_message_rate: float
    connection_message_burst: int
    frame_rate: float
    frame_burst: int


class TranslationStatus(TypedDict, total=False):
    """``welcome.translation``: when ``enabled`` is false, ``reason`` says why."""
    enabled: bool
    mode: str
    backend: str
    pairs: list[Any]
    reason: str | None
    message: str | None


# -- Server frames, in the order of docs/protocol.md ------------------------------------------

class Welcome(TypedDict):
    type: Literal["welcome"]
    protocol: str
    codec: str
    user: User
    conn_id: str
    node: str
    limits: Limits
    translation: TranslationStatus


class Joined(TypedDict):
    """Reply to :meth:`~livebridge_client.LiveBridgeClient.join`."""
    type: Literal["joined"]
    room: str
    title: str
    role: str
    offset: int
    epoch: str
    recovered: bool
    history: list[dict[str, Any]]
    members: list[Member]
    member_count: int
    settings: dict[str, Any]


class Left(TypedDict):
    """You are out of ``room``: ``reason`` is ``left``, ``kicked`` or ``banned``."""
    type: Literal["left"]
    room: str
    reason: Literal["left", "kicked", "banned"]
    message: NotRequired[str]
    note: NotRequired[str]  # the moderator's reason, in their words


class ReplyQuote(TypedDict):
    """The short quote a reply carries: the answered message's offset, id, author and text."""
    offset: int
    id: str
    author: dict[str, str]
    text: str


class Message(TypedDict):
    """A chat message. ``own`` is added by this client: true when this user sent it."""
    type: Literal["message"]
    id: str
    room: str
    offset: int
    epoch: str
    author: Member
    text: str
    lang: str
    ts: int
    client_msg_id: NotRequired[str]
    no_translation: NotRequired[str]  # why no translation of it will follow
    reply: NotRequired["ReplyQuote"]  # the message this one answers (send's reply_to)
    mentions: NotRequired[list[str]]  # the names written as @name in text
    own: NotRequired[bool]


class Translation(TypedDict):
    """A message's translation into ``lang``. ``own``: a translation of this user's message."""
    type: Literal["translation"]
    room: str
    offset: int
    epoch: str
    message_id: str
    message_offset: int
    lang: str
    source_lang: str
    text: str
    ts: int
    script: NotRequired[str]
    own: NotRequired[bool]


class TranslationUnavailable(TypedDict):
    type: Literal["translation_unavailable"]
    room: str
    message_id: str
    message_offset: int
    lang: str
    reason: str
    retryable: NotRequired[bool]


class Presence(TypedDict):
    """``event`` ``diff``: who arrived (``joins``) and left (``leaves``) and ``member_count``;
    ``typing``: ``member`` is typing; ``role``: ``member`` (``id`` and ``role``) has a new role.
    (Servers before presence diffs sent ``join`` and ``leave`` with ``member``.)"""
    type: Literal["presence"]
    room: str
    event: Literal["diff", "typing", "role", "join", "leave"]
    member: NotRequired[Member]
    conn: NotRequired[str]
    joins: NotRequired[list[Member]]
    leaves: NotRequired[list[Member]]
    member_count: NotRequired[int]


class Role(TypedDict):
    """Your own role in ``room`` changed."""
    type: Literal["role"]
    room: str
    role: str


class Notice(TypedDict):
    """``code``: ``timed_out`` (with ``until``), ``timeout_lifted``, ``held_approved`` /
    ``held_rejected`` (with ``id``, your held message's ``hold_id``)."""
    type: Literal["notice"]
    room: str
    code: str
    message: str
    until: NotRequired[float]
    id: NotRequired[str]


class Ack(TypedDict):
    """Reply to :meth:`~livebridge_client.LiveBridgeClient.send`: ``published`` and
    ``duplicate`` carry ``id``, ``offset``, ``epoch``; ``held`` carries ``hold_id``."""
    type: Literal["ack"]
    room: str
    status: Literal["published", "duplicate", "held"]
    client_msg_id: NotRequired[str]
    id: NotRequired[str]
    offset: NotRequired[int]
    epoch: NotRequired[str]
    hold_id: NotRequired[str]


class History(TypedDict):
    """Reply to :meth:`~livebridge_client.LiveBridgeClient.history`."""
    type: Literal["history"]
    room: str
    events: list[dict[str, Any]]
    offset: int
    epoch: str
    has_more: bool
    limit: int


class Members(TypedDict):
    """Reply to :meth:`~livebridge_client.LiveBridgeClient.members`: a page of the member
    list, of ``total``; ``next`` (while more follow) is the ``after`` of the next page."""
    type: Literal["members"]
    room: str
    members: list[Member]
    total: int
    next: NotRequired[str]


class Error(TypedDict):
    type: Literal["error"]
    code: str
    message: str
    ref: NotRequired[str | int]
    room: NotRequired[str]
    retry_after: NotRequired[float]


class Pong(TypedDict):
    type: Literal["pong"]
    ts: int


class Lang(TypedDict):
    """Reply to :meth:`~livebridge_client.LiveBridgeClient.set_lang`."""
    type: Literal["lang"]
    lang: str
    script: str


class Moderated(TypedDict):
    """Reply to :meth:`~livebridge_client.LiveBridgeClient.moderate`."""
    type: Literal["moderated"]
    room: str
    action: str
    result: dict[str, Any]


class Reported(TypedDict):
    """Reply to :meth:`~livebridge_client.LiveBridgeClient.report`."""
    type: Literal["reported"]
    room: str
    result: dict[str, Any]


# -- Moderation's room events (docs/moderation.md, "Events emitted") ---------------------------

class Deleted(TypedDict):
    """A message was deleted: drop every offset in ``retracted`` (it and its translations)."""
    type: Literal["deleted"]
    room: str
    message_offset: int
    message_id: str
    retracted: list[int]
    by: str
    offset: int
    epoch: str


class Cleared(TypedDict):
    """Everything with an offset up to ``up_to`` is gone."""
    type: Literal["cleared"]
    room: str
    up_to: int
    by: str
    offset: int
    epoch: str


class Pinned(TypedDict):
    type: Literal["pinned"]
    room: str
    pin: dict[str, Any]
    by: str
    offset: int
    epoch: str


class Unpinned(TypedDict):
    type: Literal["unpinned"]
    room: str
    message_offset: int
    by: str
    offset: int
    epoch: str


class RoomSettings(TypedDict):
    type: Literal["room_settings"]
    room: str
    slow_mode: float
    locked: bool
    by: str
    offset: int
    epoch: str


class Review(TypedDict):
    """Moderators only: ``action`` ``added`` or ``updated`` (with the whole ``item``: a held
    message's ``translations`` arrived) or ``resolved``."""
    type: Literal["review"]
    room: str
    action: Literal["added", "updated", "resolved"]
    item: NotRequired[dict[str, Any]]
    id: NotRequired[str]
    kind: NotRequired[str]
    resolution: NotRequired[str]
    by: NotRequired[str]
    user_id: NotRequired[str | None]


# -- Events this client makes up (never sent by a server) --------------------------------------

class Disconnected(TypedDict):
    """The connection dropped (``code``: the close code, 1006 for a network error); the client
    is reconnecting."""
    type: Literal["disconnected"]
    code: int | None
    reason: str


class Reconnected(TypedDict):
    """A new connection is up (its ``welcome``); ``resumed`` / ``resume_failed`` follow per room.
    ``user`` may differ from before when a refreshed guest token named a new guest."""
    type: Literal["reconnected"]
    user: User
    conn_id: str
    welcome: Welcome


class Resumed(TypedDict):
    """``room`` was rejoined after a reconnect; the events missed came before this one. When
    ``recovered`` is false the server could not give everything missed (history trimmed or
    reset): start the room's view again."""
    type: Literal["resumed"]
    room: str
    recovered: bool
    offset: int
    epoch: str


class ResumeFailed(TypedDict):
    """``room`` could not be rejoined after a reconnect (``code``: the server's error code, e.g.
    ``banned``); the client forgot it: join it again if you want it."""
    type: Literal["resume_failed"]
    room: str
    code: str | None
    error: str


class Held(TypedDict):
    """A message you sent was held for a moderator's review: it is not published (yet). A
    ``notice`` ``held_approved`` or ``held_rejected`` with ``id`` = ``hold_id`` follows."""
    type: Literal["held"]
    room: str
    hold_id: str
    client_msg_id: NotRequired[str]
    text: str


Event = Union[Message, Translation, TranslationUnavailable, Presence, Role, Notice, Left, Error,
              Pong, Deleted, Cleared, Pinned, Unpinned, RoomSettings, Review, Disconnected,
              Reconnected, Resumed, ResumeFailed, Held, dict[str, Any]]
"""What iteration, handlers and :meth:`~livebridge_client.LiveBridgeClient.wait_for` give: any
frame that is not the reply to a request. Unknown types (a newer server) arrive as dicts."""

SERVER_FRAMES: dict[str, type] = {
    "welcome": Welcome, "joined": Joined, "left": Left, "message": Message,
    "translation": Translation, "translation_unavailable": TranslationUnavailable,
    "presence": Presence, "role": Role, "notice": Notice, "ack": Ack, "history": History,
    "members": Members, "error": Error, "pong": Pong, "lang": Lang, "moderated": Moderated, "reported": Reported,
}
MODERATION_EVENTS: dict[str, type] = {
    "deleted": Deleted, "cleared": Cleared, "pinned": Pinned, "unpinned": Unpinned,
    "room_settings": RoomSettings, "review": Review,
}
CLIENT_EVENTS: dict[str, type] = {
    "disconnected": Disconnected, "reconnected": Reconnected, "resumed": Resumed,
    "resume_failed": ResumeFailed, "held": Held,
}
# Fields this client adds to server frames (documented above, not in the protocol table).
CLIENT_FIELDS = {"own"}
