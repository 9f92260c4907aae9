-- Reads up to ARGV[1] dead letters, oldest first, after trimming: ARGV = limit, dead_max,
-- dead_ttl_ms. Returns { id, payload, reason, died_at_ms, ... }.
trim_dead(now_ms(), tonumber(ARGV[2]), tonumber(ARGV[3]))
local limit = tonumber(ARGV[1])
local out = {}
if limit <= 0 then
  return out
end
local dead = redis.call('ZRANGE', K_DEAD, 0, limit - 1, 'WITHSCORES')
for i = 1, #dead, 2 do
  local id = dead[i]
  local payload = redis.call('HGET', K_DEAD_PAYLOADS, id)
  -- A record whose parts expired separately is skipped, never returned half.
  if payload then
    out[#out + 1] = id
    out[#out + 1] = payload
    out[#out + 1] = redis.call('HGET', K_DEAD_REASONS, id) or ''
    out[#out + 1] = dead[i + 1]
  end
end
return out
