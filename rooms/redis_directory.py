"""The room directory of the Redis engine: metadata, a name index for paging, and expiry.

Keys (all under the global tag ``{~global}``, so one slot of a Redis Cluster):

- ``lb:{~global}:state:rooms``: the metadata hash the state store has always used (field =
  room name, value ``<expires ms, 0 = never>|<JSON>``), so rooms made before the directory
  existed are found, and reads keep the state store's per-node copy for outages.
- ``lb:{~global}:rooms:names``: a sorted set of every room name, all with score 0, read a
  page at a time with ZRANGEBYLEX ... LIMIT (O(log n + page)), never scanned whole.
- ``lb:{~global}:rooms:expiry``: a sorted set of the rooms that expire, scored by when. Each
  write and each page removes up to PURGE_BATCH rooms whose time has come from all three, so
  the keys hold the live rooms plus at most what expired since the last write or page.
"""

from __future__ import annotations

import json
from typing import Any

from rooms import redis_keys as K
from rooms.directory import PAGE_MAX, PURGE_BATCH, RoomDirectory
from rooms.redis_link import RedisLink

NS = "rooms"
META = K.state("", NS)
NAMES = K.tag("") + ":rooms:names"
EXPIRY = K.tag("") + ":rooms:expiry"
KEYS = [META, NAMES, EXPIRY]

_HELPERS = r"""
local meta, names, expiry = KEYS[1], KEYS[2], KEYS[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function expires(raw)
  if not raw then return nil end
  return tonumber(string.match(raw, '^(%d+)|'))
end
local function live(raw)
  local exp = expires(raw)
  return exp ~= nil and (exp == 0 or exp > now)
end
local function value(raw)
  return string.sub(raw, string.find(raw, '|', 1, true) + 1)
end
local function forget(name)
  redis.call('HDEL', meta, name)
  redis.call('ZREM', names, name)
  redis.call('ZREM', expiry, name)
end
local function purge()
  for _, name in ipairs(redis.call('ZRANGEBYSCORE', expiry, '-inf', now, 'LIMIT', 0, PURGE_BATCH)) do
    if live(redis.call('HGET', meta, name)) then
      local exp = expires(redis.call('HGET', meta, name))
      if exp == 0 then redis.call('ZREM', expiry, name) else redis.call('ZADD', expiry, exp, name) end
    else
      forget(name)
    end
  end
end
local function put(name, json, ttl_ms)
  local exp = 0
  if ttl_ms > 0 then exp = now + ttl_ms end
  redis.call('HSET', meta, name, exp .. '|' .. json)
  redis.call('PERSIST', meta)
  redis.call('ZADD', names, 0, name)
  if exp > 0 then redis.call('ZADD', expiry, exp, name) else redis.call('ZREM', expiry, name) end
end
""".replace("PURGE_BATCH", str(PURGE_BATCH))

# ARGV: name, meta JSON, ttl ms (0: never). Returns 1 when created.
ADD = _HELPERS + r"""
purge()
if live(redis.call('HGET', meta, ARGV[1])) then return 0 end
put(ARGV[1], ARGV[2], tonumber(ARGV[3]))
return 1
"""

# ARGV: name, meta JSON (if it must be made), ttl ms. Returns the room's meta JSON.
TOUCH = _HELPERS + r"""
purge()
local raw = redis.call('HGET', meta, ARGV[1])
if live(raw) then
  if expires(raw) == 0 then return value(raw) end
  put(ARGV[1], value(raw), tonumber(ARGV[3]))
  return value(raw)
end
put(ARGV[1], ARGV[2], tonumber(ARGV[3]))
return ARGV[2]
"""

# ARGV: after ('' = from the start), limit. Returns {more (0/1), meta JSON...}.
PAGE = _HELPERS + r"""
purge()
local limit = tonumber(ARGV[2])
local start = '-'
if ARGV[1] ~= '' then start = '(' .. ARGV[1] end
local out, scanned = {}, 0
while #out < limit and scanned < limit + PURGE_BATCH do
  local batch = redis.call('ZRANGEBYLEX', names, start, '+', 'LIMIT', 0, limit - #out)
  if #batch == 0 then break end
  for _, name in ipairs(batch) do
    scanned = scanned + 1
    local raw = redis.call('HGET', meta, name)
    if live(raw) then table.insert(out, value(raw)) else forget(name) end
    start = '(' .. name
  end
end
local more = 0
if #redis.call('ZRANGEBYLEX', names, start, '+', 'LIMIT', 0, 1) > 0 then more = 1 end
table.insert(out, 1, more)
return out
""".replace("PURGE_BATCH", str(PURGE_BATCH))

SCRIPTS = {"rooms_add": ADD, "rooms_touch": TOUCH, "rooms_page": PAGE}


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class RedisRoomDirectory(RoomDirectory):
    def __init__(self, link: RedisLink, state) -> None:
        self.link = link
        self.state = state  # the RedisStateStore: reads go through its global-scope copy

    def _ms(self, ttl: float | None) -> str:
        return "0" if not ttl else str(max(1, int(ttl * 1000)))

    async def add(self, name, meta, *, ttl=None):
        with self.link.guard():
            done = bool(await self.link.script("rooms_add", KEYS, [name, _dumps(meta), self._ms(ttl)]))
        if done:
            self.state._remember(NS, name, meta)  # noqa: SLF001 - the copy served during an outage
        return done

    async def touch(self, name, meta, ttl):
        with self.link.guard():
            raw = await self.link.script("rooms_touch", KEYS, [name, _dumps(meta), self._ms(ttl)])
        stored = json.loads(raw)
        self.state._remember(NS, name, stored)  # noqa: SLF001
        return stored

    async def get(self, name):
        return await self.state.get("", NS, name)

    async def page(self, *, after, limit):
        limit = max(1, min(int(limit), PAGE_MAX))
        with self.link.guard():
            out = await self.link.script("rooms_page", KEYS, [after or "", str(limit)])
        return [json.loads(raw) for raw in out[1:]], bool(int(out[0]))
