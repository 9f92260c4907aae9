-- redis-set enqueue: ARGV = hash1, payload1, hash2, payload2, ...
-- A payload whose content hash is already waiting collapses into it. Returns how many were new.
local refs = {}
for i = 1, #ARGV, 2 do
  if redis.call('HSETNX', K_WAITING, ARGV[i], ARGV[i + 1]) == 1 then
    refs[#refs + 1] = REF_SET .. ARGV[i]
  end
end
call_chunked('RPUSH', K_PENDING, refs)
return #refs
