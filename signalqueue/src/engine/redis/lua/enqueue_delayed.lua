-- Enqueues a batch holding delayed sends, atomically: ARGV = delay_ms, hash, payload, ...
-- (triples, in the batch's order). A delay of 0 is a plain send: the raw payload to the tail of
-- the pending list, or for redis-set (a hash given) into the waiting hash, collapsing. A
-- positive delay stores the payload under a new id, scheduled like a retry at now + delay on
-- the server's clock; it is not collapsed with others (its content is only compared once it is
-- claimed). Returns how many entries were added.
local now = now_ms()
local first = redis.call('ZRANGE', K_SCHEDULED, 0, 0, 'WITHSCORES')
local earliest = first[2] and tonumber(first[2])
local was_empty = redis.call('LLEN', K_PENDING) == 0

local delayed = 0
for i = 1, #ARGV, 3 do
  if tonumber(ARGV[i]) > 0 then
    delayed = delayed + 1
  end
end
local next_id = redis.call('INCRBY', K_SEQ, delayed) - delayed + 1

local raw, refs, entries, scheduled = {}, {}, {}, {}
local added = 0
for i = 1, #ARGV, 3 do
  local delay, hash, payload = tonumber(ARGV[i]), ARGV[i + 1], ARGV[i + 2]
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
