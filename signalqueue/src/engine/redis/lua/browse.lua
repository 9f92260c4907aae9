-- Browsing (`browse.rs`): the helpers of the browse scripts below, after the prelude.
-- An entry is returned as 8 values: key, cursor member, score (the value its section is
-- ordered by: a list position, a due time, a lease deadline, a death time), payload, holder's
-- since ms, holder, deliveries, reason ('' where there is none).

-- The list element an entry key names in the pending list.
local function pending_ref(key)
  local hash = string.match(key, '^set:(.*)$')
  if hash then
    return REF_SET .. hash
  end
  return REF_ID .. key
end

-- Deliveries that ended without an ack, plus `extra`.
local function deliveries_of(id, extra)
  return int((tonumber(redis.call('HGET', K_DELIVERIES, id)) or 0) + extra)
end

-- The pending list element at `pos`, as an entry. An element without an id (a raw payload, as
-- `send` pushes it) is given one now, as its first claim would, so that its key stays the same
-- while it waits: its payload moves to the entries hash and the element becomes a reference.
local function pending_entry(e, pos)
  if string.sub(e, 1, #REF_ID) == REF_ID then
    local id = string.sub(e, #REF_ID + 1)
    local payload = redis.call('HGET', K_ENTRIES, id)
    if payload then
      return { id, id, int(pos), payload, '', '', deliveries_of(id, 0), '' }
    end
  elseif string.sub(e, 1, #REF_SET) == REF_SET then
    local hash = string.sub(e, #REF_SET + 1)
    local payload = redis.call('HGET', K_WAITING, hash)
    if payload then
      return { 'set:' .. hash, 'set:' .. hash, int(pos), payload, '', '', '0', '' }
    end
  end
  local id = int(redis.call('INCR', K_SEQ))
  redis.call('HSET', K_ENTRIES, id, e)
  redis.call('LSET', K_PENDING, pos, REF_ID .. id)
  return { id, id, int(pos), e, '', '', '0', '' }
end

-- The claim of `id` in flight under lease `member` ending at `deadline`, as an entry.
local function in_flight_entry(id, member, deadline)
  local fence = string.sub(member, #id + 2)
  local since, worker = '', ''
  local held = redis.call('HGET', K_HOLDERS, id)
  if held then
    local f, s, w = string.match(held, '^([^:]*):([^:]*):(.*)$')
    -- A holder left by an earlier claim of the entry is not this claim's.
    if f == fence then
      since, worker = s, w
    end
  end
  local payload = redis.call('HGET', K_ENTRIES, id) or ''
  return { id, member, deadline, payload, since, worker, deliveries_of(id, 1), '' }
end

-- The live lease member of `id` and its deadline, if `id` is in flight.
local function lease_of(id, now)
  local held = redis.call('HGET', K_HOLDERS, id)
  if held then
    local member = lease_member(id, string.match(held, '^([^:]*):'))
    local deadline = redis.call('ZSCORE', K_LEASES, member)
    if deadline and tonumber(deadline) > now then
      return member, deadline
    end
  end
  -- Claims made before holders were recorded: look for the lease by its id.
  local cursor = '0'
  repeat
    local part = redis.call('ZSCAN', K_LEASES, cursor, 'MATCH', id .. ':*', 'COUNT', 1000)
    cursor = part[1]
    for i = 1, #part[2], 2 do
      local member, deadline = part[2][i], part[2][i + 1]
      if string.match(member, '^(.*):') == id and tonumber(deadline) > now then
        return member, deadline
      end
    end
  until cursor == '0'
  return nil
end

-- Up to `fetch` members of the sorted set `key` after (after_score, after_member) in the set's
-- order (score, then member), with their scores; from `min` when there is no cursor.
local function zpage(key, min, after_score, after_member, fetch)
  if after_member == '' then
    return redis.call('ZRANGEBYSCORE', key, min, '+inf', 'WITHSCORES', 'LIMIT', 0, fetch)
  end
  local score = redis.call('ZSCORE', key, after_member)
  if score and tonumber(score) == after_score then
    local rank = redis.call('ZRANK', key, after_member)
    return redis.call('ZRANGE', key, rank + 1, rank + fetch, 'WITHSCORES')
  end
  -- The cursor's member left (or moved): what follows its old place.
  local out, offset = {}, 0
  while #out < 2 * fetch do
    local part = redis.call('ZRANGEBYSCORE', key, after_score, '+inf', 'WITHSCORES',
      'LIMIT', offset, 1000)
    if #part == 0 then
      break
    end
    for i = 1, #part, 2 do
      if #out < 2 * fetch and (tonumber(part[i + 1]) > after_score or part[i] > after_member) then
        out[#out + 1] = part[i]
        out[#out + 1] = part[i + 1]
      end
    end
    offset = offset + 1000
  end
  return out
end

-- Appends the 8 values of `entry` to `out`.
local function put(out, entry)
  for i = 1, 8 do
    out[#out + 1] = entry[i]
  end
end
