-- Shared by every script of signalqueue's Redis engines (prepended at build time).
-- KEYS are always the ten keys of one queue, in the order of `keys.rs`; they share one hash tag.
local K_PENDING = KEYS[1]     -- LIST: raw payloads, or references to stored entries
local K_WAITING = KEYS[2]     -- HASH content hash -> payload (redis-set: waiting, deduplicated)
local K_SCHEDULED = KEYS[3]   -- ZSET id -> due ms (retries)
local K_LEASES = KEYS[4]      -- ZSET "id:fence" -> lease deadline ms (in flight)
local K_ENTRIES = KEYS[5]     -- HASH id -> payload
local K_DELIVERIES = KEYS[6]  -- HASH id -> deliveries that ended without an ack (absent: none)
local K_SEQ = KEYS[7]         -- STRING counter for ids and fences
local K_DEAD = KEYS[8]        -- ZSET id -> died at ms
local K_DEAD_PAYLOADS = KEYS[9]
local K_DEAD_REASONS = KEYS[10]

-- References in the pending list start with a NUL byte, which no envelope (binary `SQ...` or
-- JSON `{...`) starts with. A hand-pushed value that merely looks like a reference but names
-- nothing stored is taken as a raw payload, so nothing pushed by hand is ever lost.
local REF_ID = '\0sq:id:'
local REF_SET = '\0sq:set:'
-- Pushed to the empty pending list by a delayed send due before everything scheduled, so a
-- claim blocked on the list wakes and sleeps again until that entry is due. Claims drop it.
local WAKE = '\0sq:wake'

-- How many wake markers the pending list holds (at most one: one is pushed only to an empty
-- list), for counts; looked for near the head, where it is pushed.
local function wake_markers()
  if redis.call('LPOS', K_PENDING, WAKE, 'MAXLEN', 1000) then
    return 1
  end
  return 0
end

-- Server time, so leases and due times do not depend on the clocks of clients.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Integers as decimal strings: Lua 5.1's tostring turns large numbers into `1e+14`.
local function int(n)
  return string.format('%d', n)
end

-- Calls `cmd key ...` with the values of `list`, in chunks that stay under Lua's stack limit.
local function call_chunked(cmd, key, list)
  local chunk = 1000
  for i = 1, #list, chunk do
    redis.call(cmd, key, unpack(list, i, math.min(i + chunk - 1, #list)))
  end
end

-- ZMSCORE of `members` in `key`, in chunks; missing members come back as false.
local function mscore(key, members)
  local scores = {}
  local chunk = 1000
  for i = 1, #members, chunk do
    local part = redis.call('ZMSCORE', key, unpack(members, i, math.min(i + chunk - 1, #members)))
    for j = 1, #part do
      scores[i + j - 1] = part[j]
    end
  end
  return scores
end

-- HMGET of `fields` in `key`, in chunks; missing fields come back as false.
local function hmget(key, fields)
  local values = {}
  local chunk = 1000
  for i = 1, #fields, chunk do
    local part = redis.call('HMGET', key, unpack(fields, i, math.min(i + chunk - 1, #fields)))
    for j = 1, #part do
      values[i + j - 1] = part[j]
    end
  end
  return values
end

-- The lease member of a claim.
local function lease_member(id, fence)
  return id .. ':' .. fence
end

-- True when `id`/`fence` is a live claim (lease present, deadline not passed).
local function live(member, now)
  local deadline = redis.call('ZSCORE', K_LEASES, member)
  return deadline and tonumber(deadline) > now
end

-- Drops dead letters past their retention: older than `ttl` ms, or beyond the newest `max`.
local function trim_dead(now, max, ttl)
  local old = redis.call('ZRANGEBYSCORE', K_DEAD, '-inf', '(' .. int(now - ttl), 'LIMIT', 0, 1000)
  while #old > 0 do
    call_chunked('ZREM', K_DEAD, old)
    call_chunked('HDEL', K_DEAD_PAYLOADS, old)
    call_chunked('HDEL', K_DEAD_REASONS, old)
    old = redis.call('ZRANGEBYSCORE', K_DEAD, '-inf', '(' .. int(now - ttl), 'LIMIT', 0, 1000)
  end
  local excess = redis.call('ZCARD', K_DEAD) - max
  while excess > 0 do
    local n = math.min(excess, 1000)
    local popped = redis.call('ZRANGE', K_DEAD, 0, n - 1)
    call_chunked('ZREM', K_DEAD, popped)
    call_chunked('HDEL', K_DEAD_PAYLOADS, popped)
    call_chunked('HDEL', K_DEAD_REASONS, popped)
    excess = excess - n
  end
end

