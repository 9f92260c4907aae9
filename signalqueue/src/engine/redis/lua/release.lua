-- Gives claims back unfinished: ARGV = id1, fence1, ... Live ones go to the head of the
-- pending list, their delivery uncounted; stale ones are ignored. Returns how many went back.
local now = now_ms()
local n = 0
for i = #ARGV - 1, 1, -2 do
  local id = ARGV[i]
  local member = lease_member(id, ARGV[i + 1])
  if live(member, now) then
    -- Not counted in K_DELIVERIES: the next claim reports the same delivery number again.
    redis.call('ZREM', K_LEASES, member)
    redis.call('HDEL', K_HOLDERS, id)
    redis.call('LPUSH', K_PENDING, REF_ID .. id)
    n = n + 1
  end
end
return n
