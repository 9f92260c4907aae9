-- Shared by every script of signalqueue's Redis engines (prepended at build time).
-- KEYS are always the eleven keys of one queue, in the order of `keys.rs`; they share one hash tag.
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
local K_HOLDERS = KEYS[11]    -- HASH id -> "fence:since ms:consumer" of the claim in flight

-- References in the pending list start with a NUL byte, which no envelope (binary `SQ...` or
-- JSON `{...`) starts with. A hand-pushed value that merely looks like a reference but names
-- nothing stored is taken as a raw payload, so nothing pushed by hand is ever lost.
local REF_ID = '\0sq:id:'
local REF_SET = '\0sq:set:'
-- Pushed to the empty pending list by a delayed send due before everything scheduled, so a
-- claim blocked on the list wakes and sleeps again until that entry is due. Claims drop it.
local WAKE = '\0sq:wake'
-- Kept in the lease set and in the entries and holders hashes (every claim writes it): a
-- member longer than Redis's `zset-max-listpack-value` and `hash-max-listpack-value` (64 bytes
-- by default), so Redis keeps these keys as a skiplist and hash tables, never as listpacks.
-- They hold what is in flight, 64 entries at the default concurrency, under the listpack
-- thresholds (128 entries), and a listpack is searched from its start by every ZADD, ZREM,
-- HSET and HDEL: a fifth of Redis's time in a drain (`docs/benchmarks.md`). No id or lease
-- member looks like it (they start with a digit); every reader of these keys skips it.
local GUARD = '\0sq:guard:' .. string.rep('-', 64)

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

-- Forgets the live claim `member` of entry `id` and the entry with it (its lease, holder, stored
-- payload and delivery count): what a claim that ends in other entries or in the dead letters
-- leaves behind.
local function forget_claim(id, member)
  redis.call('ZREM', K_LEASES, member)
  redis.call('HDEL', K_HOLDERS, id)
  redis.call('HDEL', K_ENTRIES, id)
  redis.call('HDEL', K_DELIVERIES, id)
end

-- Returns expired leases to the head of the pending list and due retries and delayed sends to
-- its tail, at most `sweep` of each: what every claim does first, so that any claimer recovers
-- the claims of a dead worker, and what browsing does first, so that its sections are the ones
-- a claim would see.
local function sweep_due(now, sweep)
  local expired = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'LIMIT', 0, sweep)
  if #expired > 0 then
    call_chunked('ZREM', K_LEASES, expired)
    -- Pushed latest-deadline first, so the oldest claim ends up at the head. Each of these
    -- deliveries ended without an ack: counted here, so the next claim reports one more.
    local refs, ids = {}, {}
    for i = #expired, 1, -1 do
      local id = string.match(expired[i], '^(.*):')
      redis.call('HINCRBY', K_DELIVERIES, id, 1)
      refs[#refs + 1] = REF_ID .. id
      ids[#ids + 1] = id
    end
    call_chunked('LPUSH', K_PENDING, refs)
    call_chunked('HDEL', K_HOLDERS, ids)
  end

  local due = redis.call('ZRANGEBYSCORE', K_SCHEDULED, '-inf', now, 'LIMIT', 0, sweep)
  if #due > 0 then
    call_chunked('ZREM', K_SCHEDULED, due)
    local refs = {}
    for i = 1, #due do
      refs[i] = REF_ID .. due[i]
    end
    call_chunked('RPUSH', K_PENDING, refs)
  end
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


-- Enqueues the entries of `argv` from index `from`, atomically: delay_ms, hash, payload, ...
-- (triples, in the batch's order). A delay of 0 is a plain send: the raw payload to the tail of
-- the pending list, or for redis-set (a hash given) into the waiting hash, collapsing. A
-- positive delay stores the payload under a new id, scheduled like a retry at now + delay on
-- the server's clock; it is not collapsed with others (its content is only compared once it is
-- claimed). Returns how many entries were added. Shared by `enqueue_delayed.lua` and
-- `enqueue_tick.lua`, so a tick's entry is stored exactly as a send's.
local function enqueue_triples(argv, from)
  local now = now_ms()
  local first = redis.call('ZRANGE', K_SCHEDULED, 0, 0, 'WITHSCORES')
  local earliest = first[2] and tonumber(first[2])
  local was_empty = redis.call('LLEN', K_PENDING) == 0

  local delayed = 0
  for i = from, #argv, 3 do
    if tonumber(argv[i]) > 0 then
      delayed = delayed + 1
    end
  end
  local next_id = redis.call('INCRBY', K_SEQ, delayed) - delayed + 1

  local raw, refs, entries, scheduled = {}, {}, {}, {}
  local added = 0
  for i = from, #argv, 3 do
    local delay, hash, payload = tonumber(argv[i]), argv[i + 1], argv[i + 2]
    if delay > 0 then
      -- Zero-padded, so ids of one due time sort as numbers: the scheduled set orders equal
      -- scores by member, and a batch shares its due time.
      local id = string.format('%016d', next_id)
      next_id = next_id + 1
      local due = now + delay
      entries[#entries + 1] = id
      entries[#entries + 1] = payload
      scheduled[#scheduled + 1] = int(due)
      scheduled[#scheduled + 1] = id
      if not earliest or due < earliest then
        earliest = due
        -- A claim blocked on the empty pending list computed its sleep before this entry
        -- existed: a marker in the list wakes it, to look again and sleep until this one.
        if was_empty then
          redis.call('RPUSH', K_PENDING, WAKE)
          was_empty = false
        end
      end
      added = added + 1
    elseif hash ~= '' then
      if redis.call('HSETNX', K_WAITING, hash, payload) == 1 then
        refs[#refs + 1] = REF_SET .. hash
        added = added + 1
      end
    else
      raw[#raw + 1] = payload
      added = added + 1
    end
  end
  call_chunked('HSET', K_ENTRIES, entries)
  call_chunked('ZADD', K_SCHEDULED, scheduled)
  call_chunked('RPUSH', K_PENDING, raw)
  call_chunked('RPUSH', K_PENDING, refs)
  return added
end
