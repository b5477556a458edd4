"""Lua scripts of the Redis engine, as strings.

Every script touches the keys of one room (one hash tag), so each runs on one shard of a
Redis Cluster. Time inside scripts is Redis's own (TIME), so every node agrees on expiry.
"""

from __future__ import annotations

# Shared helpers. A room is a hash `meta` {epoch, offset, trimmed} plus a stream whose entry
# ids are `<offset>-0`. If `meta` is missing the room's history is gone (never existed,
# expired, or Redis lost its data): a new epoch starts and any stale stream goes with it.
_ROOM_HELPERS = r"""
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function ensure_room(meta, stream, new_epoch, ttl_ms)
  local epoch = redis.call('HGET', meta, 'epoch')
  if not epoch then
    redis.call('DEL', stream)
    redis.call('HSET', meta, 'epoch', new_epoch, 'offset', 0, 'trimmed', 0)
    if ttl_ms > 0 then redis.call('PEXPIRE', meta, ttl_ms) end
    epoch = new_epoch
  end
  return epoch
end

local function id_offset(id)
  return tonumber(string.match(id, '^(%d+)'))
end

local function field(entry, name)
  local fields = entry[2]
  for i = 1, #fields, 2 do
    if fields[i] == name then return fields[i + 1] end
  end
  return nil
end

-- Drop events older than the history TTL from the head of the stream (by their `ts`,
-- like the in-memory engine), recording the highest offset dropped as `trimmed`.
local function expire_old(meta, stream, ttl_ms)
  if ttl_ms <= 0 then return end
  local horizon = now_ms() - ttl_ms
  local trimmed = nil
  while true do
    local head = redis.call('XRANGE', stream, '-', '+', 'COUNT', 64)
    if #head == 0 then break end
    local stop = false
    for _, entry in ipairs(head) do
      local ts = tonumber(field(entry, 'ts'))
      if ts == nil or ts >= horizon then stop = true break end
      redis.call('XDEL', stream, entry[1])
      trimmed = id_offset(entry[1])
    end
    if stop then break end
  end
  if trimmed then redis.call('HSET', meta, 'trimmed', trimmed) end
end
"""

# KEYS: meta, stream, channel[, idempotency key]
# ARGV: body (event JSON without offset/epoch), new epoch ('' : return {2} if the room is
#       unopened, so the caller can OPEN it from its origin first), history size, history ttl ms
#       (0: none), idempotency ttl ms, publish command (PUBLISH or SPUBLISH), ts ms ('' none)
# Returns {duplicate (0/1), stored event JSON}.
PUBLISH = _ROOM_HELPERS + r"""
local meta, stream, channel, idem = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
if idem then
  local seen = redis.call('GET', idem)
  if seen then return {1, seen} end
end
local ttl_ms = tonumber(ARGV[4])
-- no new epoch given: the caller asks its origin first where an unopened room goes on from
if ARGV[2] == '' and redis.call('EXISTS', meta) == 0 then return {2, ''} end
local epoch = ensure_room(meta, stream, ARGV[2], ttl_ms)
local offset = redis.call('HINCRBY', meta, 'offset', 1)
local body = ARGV[1]
local head = '{"offset":' .. offset .. ',"epoch":"' .. epoch .. '"'
local payload
if body == '{}' then payload = head .. '}' else payload = head .. ',' .. string.sub(body, 2) end
if ARGV[7] ~= '' then
  redis.call('XADD', stream, offset .. '-0', 'e', payload, 'ts', ARGV[7])
else
  redis.call('XADD', stream, offset .. '-0', 'e', payload)
end
local size = tonumber(ARGV[3])
local len = redis.call('XLEN', stream)
if len > size then
  local old = redis.call('XRANGE', stream, '-', '+', 'COUNT', len - size)
  local last = id_offset(old[#old][1])
  redis.call('XTRIM', stream, 'MINID', (last + 1) .. '-0')
  redis.call('HSET', meta, 'trimmed', last)
end
if ttl_ms > 0 then
  redis.call('PEXPIRE', meta, ttl_ms)
  -- the stream outlives its meta, so a live meta always has its whole stream
  redis.call('PEXPIRE', stream, ttl_ms + 60000)
end
redis.call(ARGV[6], channel, 'P' .. payload)
if idem then redis.call('SET', idem, payload, 'PX', tonumber(ARGV[5])) end
return {0, payload}
"""

# A history read as a function (HISTORY and JOIN): new epoch ('' : mode used 'unopened' if the
# room has no meta), history ttl ms, mode ('since' | 'before' | 'tail'), arg (since/before
# offset), limit, client epoch ('' none). Returns {epoch, offset, trimmed, mode used,
# payload...}; mode used is 'gone' when the client's epoch is not the room's (the payloads are
# then the newest `limit`).
_HISTORY_READ = r"""
local function read_history(meta, stream, new_epoch, ttl_ms, mode, arg, limit, client_epoch)
  if new_epoch == '' and redis.call('EXISTS', meta) == 0 then return {'', 0, 0, 'unopened'} end
  local epoch = ensure_room(meta, stream, new_epoch, ttl_ms)
  expire_old(meta, stream, ttl_ms)
  local m = redis.call('HMGET', meta, 'offset', 'trimmed')
  local offset, trimmed = tonumber(m[1]), tonumber(m[2])
  local out = {epoch, offset, trimmed, mode}
  if limit <= 0 then return out end
  local entries = {}
  if mode == 'since' and client_epoch ~= '' and client_epoch ~= epoch then
    mode = 'tail'
    out[4] = 'gone'
  end
  if mode == 'since' then
    if arg < offset then
      entries = redis.call('XRANGE', stream, (arg + 1) .. '-0', '+', 'COUNT', limit)
    end
    for _, entry in ipairs(entries) do table.insert(out, field(entry, 'e')) end
    return out
  end
  if mode == 'before' then
    if arg > 1 then entries = redis.call('XREVRANGE', stream, tostring(arg - 1), '-', 'COUNT', limit) end
  else
    entries = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', limit)
  end
  for i = #entries, 1, -1 do table.insert(out, field(entries[i], 'e')) end
  return out
end
"""

# KEYS: meta, stream; ARGV: as read_history's after the keys.
HISTORY = _ROOM_HELPERS + _HISTORY_READ + r"""
return read_history(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4]),
                    tonumber(ARGV[5]), ARGV[6])
"""

# KEYS: meta, stream; ARGV: epoch, offset, history ttl ms. An unopened room (no meta) goes on
# from the given position (its history before it reads as trimmed); returns 1 if it did.
OPEN = r"""
local meta, stream = KEYS[1], KEYS[2]
if redis.call('EXISTS', meta) == 1 then return 0 end
redis.call('DEL', stream)
redis.call('HSET', meta, 'epoch', ARGV[1], 'offset', ARGV[2], 'trimmed', ARGV[2])
if tonumber(ARGV[3]) > 0 then redis.call('PEXPIRE', meta, tonumber(ARGV[3])) end
return 1
"""

# State entries are hash fields holding '<expires at ms, 0 = never>|<JSON value>'.
_STATE_HELPERS = r"""
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function live(raw, now)
  if not raw then return false end
  local exp = tonumber(string.match(raw, '^(%d+)|'))
  return exp == 0 or exp > now
end
"""

# KEYS: hash; ARGV: field, value JSON, ttl ms ('' = none), only if absent ('1'/'0')
STATE_SET = _STATE_HELPERS + r"""
local key, f = KEYS[1], ARGV[1]
local now = now_ms()
if ARGV[4] == '1' and live(redis.call('HGET', key, f), now) then return 0 end
local pttl = redis.call('PTTL', key)
local exp = 0
if ARGV[3] ~= '' then exp = math.max(1, now + tonumber(ARGV[3])) end
redis.call('HSET', key, f, exp .. '|' .. ARGV[2])
if exp == 0 then
  redis.call('PERSIST', key)
elseif pttl == -2 then
  redis.call('PEXPIREAT', key, math.max(exp, now + 1))
elseif pttl >= 0 then
  redis.call('PEXPIREAT', key, math.max(exp, now + pttl))
end
return 1
"""

# KEYS: hash; ARGV: field. Returns the value JSON or nil.
STATE_GET = _STATE_HELPERS + r"""
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return nil end
if not live(raw, now_ms()) then redis.call('HDEL', KEYS[1], ARGV[1]) return nil end
return string.sub(raw, string.find(raw, '|', 1, true) + 1)
"""

# KEYS: hashes of one scope (one slot); ARGV: one field per hash. Returns the value JSON or
# false for each, in order: a join's reads of its room in one round trip.
STATE_GET_MANY = _STATE_HELPERS + r"""
local now, out = now_ms(), {}
for i, key in ipairs(KEYS) do
  local raw = redis.call('HGET', key, ARGV[i])
  if raw and live(raw, now) then
    out[i] = string.sub(raw, string.find(raw, '|', 1, true) + 1)
  else
    out[i] = false
  end
end
return out
"""

# KEYS: hash; ARGV: field. Returns 1 if a live entry was deleted.
STATE_DELETE = _STATE_HELPERS + r"""
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
redis.call('HDEL', KEYS[1], ARGV[1])
if live(raw, now_ms()) then return 1 end
return 0
"""

# KEYS: hash. Returns {field, value JSON, ...} of live entries; drops expired ones.
STATE_ITEMS = _STATE_HELPERS + r"""
local all = redis.call('HGETALL', KEYS[1])
local now = now_ms()
local out, dead = {}, {}
for i = 1, #all, 2 do
  local raw = all[i + 1]
  if live(raw, now) then
    table.insert(out, all[i])
    table.insert(out, string.sub(raw, string.find(raw, '|', 1, true) + 1))
  else
    table.insert(dead, all[i])
  end
end
if #dead > 0 then redis.call('HDEL', KEYS[1], unpack(dead)) end
return out
"""

# KEYS: bucket; ARGV: rate, burst, cost. Returns the seconds to wait ('0' when taken,
# '-1' when never).
TAKE_TOKEN = r"""
local rate, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(b[1]) or burst
local stamp = tonumber(b[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
elseif rate > 0 then
  wait = (cost - tokens) / rate
else
  wait = -1
end
redis.call('HSET', KEYS[1], 'tokens', string.format('%.17g', tokens), 'stamp', string.format('%.6f', now))
if rate > 0 then
  -- once full again, the bucket is the same as no bucket
  redis.call('PEXPIRE', KEYS[1], math.ceil(math.max(0, burst - tokens) / rate * 1000) + 1000)
end
return string.format('%.17g', wait)
"""

# Presence: the room's members hash (conn id -> member JSON) and its users hash (user id ->
# connections in the room), changed together so "first/last connection of a user" holds
# across nodes.
# KEYS: presence, users; ARGV: conn id, member JSON, user id. Returns {1 when this is the
# user's first connection in the room else 0, the room's users now}.
PRESENCE_ADD = r"""
local existed = redis.call('HEXISTS', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
local first = 0
if existed == 0 and redis.call('HINCRBY', KEYS[2], ARGV[3], 1) == 1 then first = 1 end
return {first, redis.call('HLEN', KEYS[2])}
"""

# A join's engine work in one script (Engine.enter): the room's state reads, its history and
# the member recorded, unless a read the caller guessed absent has a value.
# KEYS: n state hashes, meta, stream, presence, users
# ARGV: n, the 1-based indices of the reads that must be absent for the record (',1,2,' ;
#       ',' none), those that must be present, the n fields, read_history's 6 arguments,
#       conn id, member JSON, user id.
# Returns {{value JSON or false per read}, history as read_history's, {first, users} or false
# (not recorded: a read was not as the caller guessed, or the room was unopened)}.
JOIN = _ROOM_HELPERS + _HISTORY_READ + r"""
local n = tonumber(ARGV[1])
local unless, need = ARGV[2], ARGV[3]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local values, record = {}, true
for i = 1, n do
  local raw = redis.call('HGET', KEYS[i], ARGV[3 + i])
  local exp = raw and tonumber(string.match(raw, '^(%d+)|'))
  local mark = ',' .. i .. ','
  if raw and (exp == 0 or exp > now) then
    values[i] = string.sub(raw, string.find(raw, '|', 1, true) + 1)
    if string.find(unless, mark, 1, true) then record = false end
  else
    values[i] = false
    if string.find(need, mark, 1, true) then record = false end
  end
end
local a = 3 + n
local history = read_history(KEYS[n + 1], KEYS[n + 2], ARGV[a + 1], tonumber(ARGV[a + 2]), ARGV[a + 3],
                             tonumber(ARGV[a + 4]), tonumber(ARGV[a + 5]), ARGV[a + 6])
if not record or history[4] == 'unopened' then return {values, history, false} end
local presence, users = KEYS[n + 3], KEYS[n + 4]
local existed = redis.call('HEXISTS', presence, ARGV[a + 7])
redis.call('HSET', presence, ARGV[a + 7], ARGV[a + 8])
local first = 0
if existed == 0 and redis.call('HINCRBY', users, ARGV[a + 9], 1) == 1 then first = 1 end
return {values, history, {first, redis.call('HLEN', users)}}
"""

# KEYS: presence, users; ARGV: conn id. Returns {removed member JSON or false, 1 when it was
# its user's last connection in the room}.
PRESENCE_REMOVE = r"""
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return {false, 0} end
redis.call('HDEL', KEYS[1], ARGV[1])
local user = cjson.decode(raw)['user_id']
if redis.call('HINCRBY', KEYS[2], user, -1) <= 0 then
  redis.call('HDEL', KEYS[2], user)
  return {raw, 1}
end
return {raw, 0}
"""
