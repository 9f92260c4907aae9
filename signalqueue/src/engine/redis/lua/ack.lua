-- Finishes claims: ARGV = id1, fence1, id2, fence2, ...
-- Returns one 1 (done) or 0 (lease lost: refused, the entry is left to its new owner) per pair.
local now = now_ms()
local out = {}
for i = 1, #ARGV, 2 do
  local id = ARGV[i]
  local member = lease_member(id, ARGV[i + 1])
  if live(member, now) then
    redis.call('ZREM', K_LEASES, member)
    redis.call('HDEL', K_ENTRIES, id)
    redis.call('HDEL', K_DELIVERIES, id)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
