-- Replaces a claim with new entries and dead letters, atomically:
-- ARGV = id, fence, dead_max, dead_ttl_ms, n, then n pairs (delay_ms, payload) of entries, then
-- pairs (payload, reason) of dead letters.
-- The entries are stored under new ids, as retries are: due now to the tail of the pending
-- list, later into the schedule (delays are relative: the server's clock decides); never
-- collapsed by redis-set, and with no deliveries counted. Each dead letter takes a new id too.
-- Returns 1, or 0 (nothing changed) when the lease was lost.
local now = now_ms()
local id = ARGV[1]
local member = lease_member(id, ARGV[2])
if not live(member, now) then
  return 0
end
forget_claim(id, member)

local n = tonumber(ARGV[5])
local first_entry = 6
local first_dead = first_entry + 2 * n
local dead = (#ARGV - first_dead + 1) / 2
local need = n + dead
local next_id = redis.call('INCRBY', K_SEQ, need) - need + 1

local entries, ready, scheduled = {}, {}, {}
for i = first_entry, first_dead - 1, 2 do
  local new_id = int(next_id)
  next_id = next_id + 1
  entries[#entries + 1] = new_id
  entries[#entries + 1] = ARGV[i + 1]
  local delay = tonumber(ARGV[i])
  if delay <= 0 then
    ready[#ready + 1] = REF_ID .. new_id
  else
    scheduled[#scheduled + 1] = int(now + delay)
    scheduled[#scheduled + 1] = new_id
  end
end
call_chunked('HSET', K_ENTRIES, entries)
call_chunked('RPUSH', K_PENDING, ready)
call_chunked('ZADD', K_SCHEDULED, scheduled)

if dead > 0 then
  for i = first_dead, #ARGV, 2 do
    local dead_id = int(next_id)
    next_id = next_id + 1
    redis.call('ZADD', K_DEAD, now, dead_id)
    redis.call('HSET', K_DEAD_PAYLOADS, dead_id, ARGV[i])
    redis.call('HSET', K_DEAD_REASONS, dead_id, ARGV[i + 1])
  end
  local ttl = tonumber(ARGV[4])
  trim_dead(now, tonumber(ARGV[3]), ttl)
  if ttl > 0 then
    redis.call('PEXPIRE', K_DEAD, ttl)
    redis.call('PEXPIRE', K_DEAD_PAYLOADS, ttl)
    redis.call('PEXPIRE', K_DEAD_REASONS, ttl)
  end
end
return 1
