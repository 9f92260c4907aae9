-- Puts a claim back with a new payload: ARGV = id, fence, payload, delay_ms.
-- Due now: to the tail of the pending list (waking blocked claimers); later: to the schedule.
-- The delay is relative, so the due time is on the server's clock like every other time here.
-- Returns 1, or 0 when the lease was lost.
local now = now_ms()
local id = ARGV[1]
local member = lease_member(id, ARGV[2])
if not live(member, now) then
  return 0
end
redis.call('ZREM', K_LEASES, member)
redis.call('HDEL', K_HOLDERS, id)
redis.call('HSET', K_ENTRIES, id, ARGV[3])
-- This delivery ended without an ack: the next claim reports one more.
redis.call('HINCRBY', K_DELIVERIES, id, 1)
local delay = tonumber(ARGV[4])
if delay <= 0 then
  redis.call('RPUSH', K_PENDING, REF_ID .. id)
else
  redis.call('ZADD', K_SCHEDULED, now + delay, id)
end
return 1
