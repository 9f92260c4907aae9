-- Claims up to ARGV[1] entries for ARGV[2] ms. First returns expired leases to the head of the
-- pending list and due retries to its tail (at most ARGV[3] of each), so any claimer recovers
-- the claims of a dead worker.
-- Returns { hint, id, fence, deliveries, payload, ... }: hint is 0 when something was claimed,
-- else the ms until the next lease expiry or due retry (-1 when there is none), so a blocking
-- claimer knows how long it may sleep.
local max = tonumber(ARGV[1])
local lease = tonumber(ARGV[2])
local sweep = tonumber(ARGV[3])
local now = now_ms()

local expired = redis.call('ZRANGEBYSCORE', K_LEASES, '-inf', now, 'LIMIT', 0, sweep)
if #expired > 0 then
  call_chunked('ZREM', K_LEASES, expired)
  -- Pushed latest-deadline first, so the oldest claim ends up at the head.
  local refs = {}
  for i = #expired, 1, -1 do
    refs[#refs + 1] = REF_ID .. string.match(expired[i], '^(.*):')
  end
  call_chunked('LPUSH', K_PENDING, refs)
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

local popped = redis.call('LPOP', K_PENDING, max)
if not popped then
  local hint = -1
  local first_lease = redis.call('ZRANGE', K_LEASES, 0, 0, 'WITHSCORES')
  if first_lease[2] then
    hint = tonumber(first_lease[2]) - now
  end
  local first_due = redis.call('ZRANGE', K_SCHEDULED, 0, 0, 'WITHSCORES')
  if first_due[2] then
    local d = tonumber(first_due[2]) - now
    if hint < 0 or d < hint then
      hint = d
    end
  end
  if hint == 0 then
    hint = 1
  end
  return { hint }
end

-- Every claim takes a fresh fence; entries never claimed before also take an id.
local fresh = 0
for i = 1, #popped do
  local e = popped[i]
  if string.sub(e, 1, #REF_ID) ~= REF_ID then
    fresh = fresh + 1
  end
end
local next_seq = redis.call('INCRBY', K_SEQ, #popped + fresh) - (#popped + fresh) + 1

local out = { 0 }
local new_entries = {}
local new_deliveries = {}
local leases = {}
for i = 1, #popped do
  local e = popped[i]
  local id, payload, deliveries
  if string.sub(e, 1, #REF_ID) == REF_ID then
    local ref = string.sub(e, #REF_ID + 1)
    payload = redis.call('HGET', K_ENTRIES, ref)
    if payload then
      id = ref
      deliveries = redis.call('HINCRBY', K_DELIVERIES, id, 1)
    else
      -- Names nothing stored: a hand-pushed value, kept as raw bytes. Its id comes from the
      -- counter here (it was not counted as fresh above).
      id = int(redis.call('INCR', K_SEQ))
      payload = e
    end
  else
    if string.sub(e, 1, #REF_SET) == REF_SET then
      local hash = string.sub(e, #REF_SET + 1)
      payload = redis.call('HGET', K_WAITING, hash)
      if payload then
        -- Claimed: the same content may be enqueued again from now on.
        redis.call('HDEL', K_WAITING, hash)
      end
    end
    payload = payload or e
    id = int(next_seq)
    next_seq = next_seq + 1
  end
  if not deliveries then
    deliveries = 1
    new_entries[#new_entries + 1] = id
    new_entries[#new_entries + 1] = payload
    new_deliveries[#new_deliveries + 1] = id
    new_deliveries[#new_deliveries + 1] = 1
  end
  local fence = int(next_seq)
  next_seq = next_seq + 1
  leases[#leases + 1] = now + lease
  leases[#leases + 1] = lease_member(id, fence)
  out[#out + 1] = id
  out[#out + 1] = fence
  out[#out + 1] = deliveries
  out[#out + 1] = payload
end
call_chunked('HSET', K_ENTRIES, new_entries)
call_chunked('HSET', K_DELIVERIES, new_deliveries)
call_chunked('ZADD', K_LEASES, leases)
return out
