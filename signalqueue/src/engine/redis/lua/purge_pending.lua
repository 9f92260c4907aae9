-- Removes every waiting entry (pending list and scheduled retries) with what it stored.
-- In-flight claims stay. Returns how many entries were removed.
local n = redis.call('LLEN', K_PENDING) - wake_markers() + redis.call('ZCARD', K_SCHEDULED)
local len = redis.call('LLEN', K_PENDING)
for start = 0, len - 1, 1000 do
  local items = redis.call('LRANGE', K_PENDING, start, start + 999)
  local ids = {}
  for i = 1, #items do
    if string.sub(items[i], 1, #REF_ID) == REF_ID then
      ids[#ids + 1] = string.sub(items[i], #REF_ID + 1)
    end
  end
  call_chunked('HDEL', K_ENTRIES, ids)
  call_chunked('HDEL', K_DELIVERIES, ids)
end
local scheduled = redis.call('ZRANGE', K_SCHEDULED, 0, -1)
call_chunked('HDEL', K_ENTRIES, scheduled)
call_chunked('HDEL', K_DELIVERIES, scheduled)
redis.call('DEL', K_PENDING, K_WAITING, K_SCHEDULED)
return n
