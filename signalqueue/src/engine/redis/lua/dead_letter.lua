-- Moves a claim to the dead letters: ARGV = id, fence, payload, reason, dead_max, dead_ttl_ms.
-- Trims the dead letters to their retention, and lets the dead keys expire `dead_ttl` after
-- the newest one, so they vanish on their own when nothing dies any more.
-- Returns 1, or 0 when the lease was lost.
local now = now_ms()
local id = ARGV[1]
local member = lease_member(id, ARGV[2])
if not live(member, now) then
  return 0
end
forget_claim(id, member)
redis.call('ZADD', K_DEAD, now, id)
redis.call('HSET', K_DEAD_PAYLOADS, id, ARGV[3])
redis.call('HSET', K_DEAD_REASONS, id, ARGV[4])
local ttl = tonumber(ARGV[6])
trim_dead(now, tonumber(ARGV[5]), ttl)
if ttl > 0 then
  redis.call('PEXPIRE', K_DEAD, ttl)
  redis.call('PEXPIRE', K_DEAD_PAYLOADS, ttl)
  redis.call('PEXPIRE', K_DEAD_REASONS, ttl)
end
return 1
