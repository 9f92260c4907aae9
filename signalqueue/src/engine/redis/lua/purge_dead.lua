-- Removes every dead letter. Returns how many.
local n = redis.call('ZCARD', K_DEAD)
redis.call('DEL', K_DEAD, K_DEAD_PAYLOADS, K_DEAD_REASONS)
return n
