"""The durable store's schema: ordered migrations, the same SQL for SQLite and PostgreSQL.

:data:`MIGRATIONS` is the schema's history: migration N (1-based) takes a database from
version N-1 to N. Never edit a migration that has shipped; append a new one. Each runs in one
transaction with the row recording it in ``schema_version``, so a migration is applied
entirely or not at all, and :meth:`rooms.store.Store.start` applies those missing at start
(on PostgreSQL under an advisory lock, so nodes starting together apply each once).

The SQL is written once for both databases: the few words that differ are placeholders filled
by :func:`render` (``{id}``: an increasing integer primary key). SQLite's type affinity reads
``BIGINT`` as INTEGER and ``DOUBLE PRECISION`` as REAL. JSON is kept as text: the store gives
back exactly what was stored, and neither database needs to look inside it.

The archive's column for the room's offset is ``seq`` (``offset`` is an SQL keyword). The
audit log's ``n`` counts a room's entries, so its bound is one range delete.
"""

from __future__ import annotations

SCHEMA_VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS schema_version (
    version BIGINT PRIMARY KEY,
    applied_at DOUBLE PRECISION NOT NULL
)
"""

MIGRATIONS: list[list[str]] = [
    # 1: rooms, roles, restrictions, terms, review items, audit log, archive.
    [
        """CREATE TABLE rooms (
            name TEXT PRIMARY KEY,
            title TEXT NOT NULL,
            owner TEXT,
            created_at BIGINT NOT NULL,
            settings TEXT NOT NULL,
            limits TEXT NOT NULL
        )""",
        """CREATE TABLE roles (
            room TEXT NOT NULL,
            user_id TEXT NOT NULL,
            role TEXT NOT NULL,
            granted_by TEXT,
            granted_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (room, user_id)
        )""",
        """CREATE TABLE restrictions (
            room TEXT NOT NULL,
            user_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            until DOUBLE PRECISION,
            created_at DOUBLE PRECISION NOT NULL,
            by_user TEXT,
            reason TEXT,
            PRIMARY KEY (room, user_id, kind)
        )""",
        "CREATE INDEX restrictions_until ON restrictions (until)",
        """CREATE TABLE terms (
            scope TEXT NOT NULL,
            term_key TEXT NOT NULL,
            term TEXT NOT NULL,
            PRIMARY KEY (scope, term_key)
        )""",
        """CREATE TABLE held (
            room TEXT NOT NULL,
            id TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            user_id TEXT,
            item TEXT NOT NULL,
            outcome TEXT,
            decided_by TEXT,
            decided_at DOUBLE PRECISION,
            PRIMARY KEY (room, id)
        )""",
        "CREATE INDEX held_room_time ON held (room, created_at)",
        "CREATE INDEX held_decided ON held (decided_at)",
        """CREATE TABLE reports (
            room TEXT NOT NULL,
            id TEXT NOT NULL,
            created_at DOUBLE PRECISION NOT NULL,
            seq BIGINT NOT NULL,
            reporter TEXT NOT NULL,
            user_id TEXT,
            item TEXT NOT NULL,
            outcome TEXT,
            decided_by TEXT,
            decided_at DOUBLE PRECISION,
            PRIMARY KEY (room, id),
            UNIQUE (room, seq, reporter)
        )""",
        "CREATE INDEX reports_room_time ON reports (room, created_at)",
        "CREATE INDEX reports_decided ON reports (decided_at)",
        """CREATE TABLE audit (
            id {id},
            room TEXT NOT NULL,
            n BIGINT NOT NULL,
            at DOUBLE PRECISION NOT NULL,
            action TEXT NOT NULL,
            entry TEXT NOT NULL
        )""",
        "CREATE INDEX audit_room_id ON audit (room, id)",
        "CREATE INDEX audit_room_n ON audit (room, n)",
        "CREATE INDEX audit_at ON audit (at)",
        """CREATE TABLE archive (
            room TEXT NOT NULL,
            seq BIGINT NOT NULL,
            epoch TEXT NOT NULL,
            kind TEXT,
            author TEXT,
            ref_seq BIGINT,
            event TEXT NOT NULL,
            PRIMARY KEY (room, seq)
        )""",
        """CREATE TABLE archive_rooms (
            room TEXT PRIMARY KEY,
            last_seq BIGINT NOT NULL,
            epoch TEXT NOT NULL
        )""",
        """CREATE TABLE archive_retracted (
            room TEXT NOT NULL,
            seq BIGINT NOT NULL,
            PRIMARY KEY (room, seq)
        )""",
    ],
    # 2: find a user's messages (deletion on request) and a message's translations (export).
    [
        "CREATE INDEX archive_author ON archive (author)",
        "CREATE INDEX archive_ref ON archive (room, ref_seq)",
    ],
    # 3: a restriction keeps the whole record it was made from (fields added later, such as
    # a ban's client address, come back with it).
    [
        "ALTER TABLE restrictions ADD COLUMN data TEXT",
    ],
]

LATEST = len(MIGRATIONS)

DIALECTS = {
    "sqlite": {"id": "INTEGER PRIMARY KEY AUTOINCREMENT"},
    "postgres": {"id": "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"},
}


def render(statement: str, dialect: str) -> str:
    return statement.format(**DIALECTS[dialect])
