-- Claims up to `max` entries for `lease` ms for `consumer`. First returns expired leases to the
-- head of the pending list and due retries and delayed sends to its tail (at most `sweep` of
-- each: `sweep_due`), so any claimer recovers the claims of a dead worker.
-- Returns { hint, id, fence, deliveries, payload, ... }: hint is 0 when something was claimed,
-- else the ms until the next lease expiry or due retry (-1 when there is none), so a blocking
-- claimer knows how long it may sleep.
local function claim(max, lease, sweep, consumer)
  local now = now_ms()

  -- A wake marker has done its work once a claim runs.
  if redis.call('LINDEX', K_PENDING, 0) == WAKE then
    redis.call('LPOP', K_PENDING)
  end

  sweep_due(now, sweep)

  local popped = redis.call('LPOP', K_PENDING, max)
  if popped then
    -- A marker behind entries given back to the head (a release) is dropped here.
    local kept = {}
    for i = 1, #popped do
      if popped[i] ~= WAKE then
        kept[#kept + 1] = popped[i]
      end
    end
    popped = kept
    if #popped == 0 then
      popped = nil
    end
  end
  if not popped then
    local hint = -1
    local first_lease = redis.call('ZRANGE', K_LEASES, 0, 0, 'WITHSCORES')
    -- The guard (last, at +inf) is first only when no lease is left.
    if first_lease[2] and first_lease[1] ~= GUARD then
      hint = tonumber(first_lease[2]) - now
    end
    local first_due = redis.call('ZRANGE', K_SCHEDULED, 0, 0, 'WITHSCORES')
    if first_due[2] then
      local d = tonumber(first_due[2]) - now
      if hint < 0 or d < hint then
        hint = d
      end
    end
    -- Something due now or overdue (beyond this call's sweep) is due in "1 ms", never "none".
    if hint ~= -1 and hint < 1 then
      hint = 1
    end
    return { hint }
  end

  -- Sort what was popped: references to stored entries, references to redis-set waiting
  -- entries, and raw payloads. The lookups are batched (one HMGET per kind), so a claim of 100
  -- costs about as many Redis calls as a claim of 1.
  local id_refs, id_pos, set_refs, set_pos = {}, {}, {}, {}
  for i = 1, #popped do
    local e = popped[i]
    if string.sub(e, 1, #REF_ID) == REF_ID then
      id_refs[#id_refs + 1] = string.sub(e, #REF_ID + 1)
      id_pos[#id_pos + 1] = i
    elseif string.sub(e, 1, #REF_SET) == REF_SET then
      set_refs[#set_refs + 1] = string.sub(e, #REF_SET + 1)
      set_pos[#set_pos + 1] = i
    end
  end

  local ids, payloads, deliveries = {}, {}, {}
  if #id_refs > 0 then
    local stored = hmget(K_ENTRIES, id_refs)
    local counts = hmget(K_DELIVERIES, id_refs)
    for j = 1, #id_refs do
      -- A reference naming nothing stored was pushed by hand: it stays a raw payload.
      if stored[j] then
        local i = id_pos[j]
        ids[i] = id_refs[j]
        payloads[i] = stored[j]
        -- Earlier deliveries that ended without an ack, plus this one.
        deliveries[i] = (tonumber(counts[j]) or 0) + 1
      end
    end
  end
  if #set_refs > 0 then
    local waiting = hmget(K_WAITING, set_refs)
    local found = {}
    for j = 1, #set_refs do
      if waiting[j] then
        payloads[set_pos[j]] = waiting[j]
        found[#found + 1] = set_refs[j]
      end
    end
    -- Claimed: the same content may be enqueued again from now on.
    call_chunked('HDEL', K_WAITING, found)
  end

  -- Every claim takes a fresh fence; entries without an id yet also take one.
  local fresh = 0
  for i = 1, #popped do
    if not ids[i] then
      fresh = fresh + 1
    end
  end
  local need = #popped + fresh
  local next_seq = redis.call('INCRBY', K_SEQ, need) - need + 1

  -- Numbers handed to redis.call are formatted with `%.17g`, which costs more than the rest of
  -- a claim's per-entry work: the deadline is formatted once, as an integer.
  local deadline = int(now + lease)
  -- Who holds each claim and since when, for browsing: one string for the batch but the fence.
  local since = ':' .. int(now) .. ':' .. consumer
  local out = { 0 }
  local new_entries, leases, holders = {}, {}, {}
  for i = 1, #popped do
    local id, payload, n = ids[i], payloads[i] or popped[i], deliveries[i]
    if not id then
      id = int(next_seq)
      next_seq = next_seq + 1
      n = 1
      new_entries[#new_entries + 1] = id
      new_entries[#new_entries + 1] = payload
    end
    local fence = int(next_seq)
    next_seq = next_seq + 1
    leases[#leases + 1] = deadline
    leases[#leases + 1] = lease_member(id, fence)
    holders[#holders + 1] = id
    holders[#holders + 1] = fence .. since
    out[#out + 1] = id
    out[#out + 1] = fence
    out[#out + 1] = n
    out[#out + 1] = payload
  end
  -- Deliveries are not written here: most entries are acknowledged after their first, and only
  -- a delivery that ends without an ack (expired lease, retry) is counted, on that rarer path.
  -- Re-written at every claim, since a key that emptied is gone and its guard with it.
  new_entries[#new_entries + 1] = GUARD
  new_entries[#new_entries + 1] = ''
  leases[#leases + 1] = '+inf'
  leases[#leases + 1] = GUARD
  holders[#holders + 1] = GUARD
  holders[#holders + 1] = ''
  call_chunked('HSET', K_ENTRIES, new_entries)
  call_chunked('ZADD', K_LEASES, leases)
  call_chunked('HSET', K_HOLDERS, holders)
  return out
end
