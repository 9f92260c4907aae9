-- Moves dead letters back to the tail of the pending list as fresh entries (deliveries start
-- again): ARGV = 'all', or 'keys' followed by the dead letters' ids. Returns how many.
local ids
if ARGV[1] == 'all' then
  ids = redis.call('ZRANGE', K_DEAD, 0, -1)
else
  ids = {}
  for i = 2, #ARGV do
    ids[#ids + 1] = ARGV[i]
  end
end
local n = 0
for i = 1, #ids do
  local id = ids[i]
  local payload = redis.call('HGET', K_DEAD_PAYLOADS, id)
  if payload and redis.call('ZREM', K_DEAD, id) == 1 then
    redis.call('RPUSH', K_PENDING, payload)
    n = n + 1
  end
  redis.call('HDEL', K_DEAD_PAYLOADS, id)
  redis.call('HDEL', K_DEAD_REASONS, id)
end
return n
