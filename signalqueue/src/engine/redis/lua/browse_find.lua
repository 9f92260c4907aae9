-- The entry with key ARGV[1], in whichever section: ARGV = key, sweep. Returns the section's
-- name and the entry as `browse.lua` says, or nothing.
local key = ARGV[1]
if key == GUARD then
  return {}
end
local now = now_ms()
sweep_due(now, tonumber(ARGV[2]))
local out = {}
local hash = string.match(key, '^set:(.*)$')
if hash then
  local payload = redis.call('HGET', K_WAITING, hash)
  local pos = payload and redis.call('LPOS', K_PENDING, REF_SET .. hash)
  if pos then
    out[1] = 'pending'
    put(out, { key, key, int(pos), payload, '', '', '0', '' })
  end
  return out
end
local due = redis.call('ZSCORE', K_SCHEDULED, key)
local payload = redis.call('HGET', K_ENTRIES, key)
if due and payload then
  out[1] = 'scheduled'
  put(out, { key, key, due, payload, '', '', deliveries_of(key, 0), '' })
  return out
end
if payload then
  local member, deadline = lease_of(key, now)
  if member then
    out[1] = 'in_flight'
    put(out, in_flight_entry(key, member, deadline))
    return out
  end
  local pos = redis.call('LPOS', K_PENDING, REF_ID .. key)
  if pos then
    out[1] = 'pending'
    put(out, { key, key, int(pos), payload, '', '', deliveries_of(key, 0), '' })
    return out
  end
end
local died = redis.call('ZSCORE', K_DEAD, key)
local dead_payload = died and redis.call('HGET', K_DEAD_PAYLOADS, key)
if dead_payload then
  out[1] = 'dead'
  local reason = redis.call('HGET', K_DEAD_REASONS, key) or ''
  put(out, { key, key, died, dead_payload, '', '', '', reason })
end
return out
