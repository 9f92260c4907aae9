-- Extends leases: ARGV = lease_ms, id1, fence1, id2, fence2, ...
-- Returns one 1 (extended) or 0 (lease lost) per pair.
local now = now_ms()
local deadline = now + tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV, 2 do
  local member = lease_member(ARGV[i], ARGV[i + 1])
  if live(member, now) then
    redis.call('ZADD', K_LEASES, 'XX', deadline, member)
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
