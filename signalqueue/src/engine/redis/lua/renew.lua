-- Extends leases: ARGV = lease_ms, id1, fence1, id2, fence2, ...
-- Returns one 1 (extended) or 0 (lease lost) per pair.
local now = now_ms()
-- Formatted once: numbers handed to redis.call are printed with `%.17g` each time.
local deadline = int(now + tonumber(ARGV[1]))
local members = {}
for i = 2, #ARGV, 2 do
  members[#members + 1] = lease_member(ARGV[i], ARGV[i + 1])
end
local deadlines = mscore(K_LEASES, members)
local out, renewed = {}, {}
for i = 1, #members do
  local old = deadlines[i]
  if old and tonumber(old) > now then
    renewed[#renewed + 1] = deadline
    renewed[#renewed + 1] = members[i]
    out[i] = 1
  else
    out[i] = 0
  end
end
if #renewed > 0 then
  -- XX: only existing members, so nothing expired in between comes back to life.
  for i = 1, #renewed, 1000 do
    redis.call('ZADD', K_LEASES, 'XX', unpack(renewed, i, math.min(i + 999, #renewed)))
  end
end
return out
