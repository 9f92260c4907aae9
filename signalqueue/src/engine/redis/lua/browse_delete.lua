-- Removes the entries of one section by key, each only if it is still there: ARGV = section
-- (`pending`, `scheduled` or `dead`), sweep, keys... A claim runs no script meanwhile, so an
-- entry claimed before this is in flight now and skipped. Returns how many were removed.
local section = ARGV[1]
sweep_due(now_ms(), tonumber(ARGV[2]))
local n = 0
for i = 3, #ARGV do
  local key = ARGV[i]
  if section == 'pending' then
    if redis.call('LREM', K_PENDING, 1, pending_ref(key)) == 1 then
      local hash = string.match(key, '^set:(.*)$')
      if hash then
        redis.call('HDEL', K_WAITING, hash)
      else
        redis.call('HDEL', K_ENTRIES, key)
        redis.call('HDEL', K_DELIVERIES, key)
      end
      n = n + 1
    end
  elseif section == 'scheduled' then
    if redis.call('ZREM', K_SCHEDULED, key) == 1 then
      redis.call('HDEL', K_ENTRIES, key)
      redis.call('HDEL', K_DELIVERIES, key)
      n = n + 1
    end
  elseif section == 'dead' then
    if redis.call('ZREM', K_DEAD, key) == 1 then
      redis.call('HDEL', K_DEAD_PAYLOADS, key)
      redis.call('HDEL', K_DEAD_REASONS, key)
      n = n + 1
    end
  end
end
return n
