-- Reads up to ARGV[1] waiting entries without removing them: the pending list head first,
-- then the scheduled retries and delayed sends by due time. Returns { key, payload, ... }.
-- Entries never claimed have no id yet; their key is `pending[POSITION]`.
local limit = tonumber(ARGV[1])
local out = {}
if limit <= 0 then
  return out
end
local items = redis.call('LRANGE', K_PENDING, 0, limit - 1)
for i = 1, #items do
  local e = items[i]
  -- A wake marker is no entry (see `prelude.lua`).
  if e ~= WAKE then
    local key = 'pending[' .. (i - 1) .. ']'
    local payload
    if string.sub(e, 1, #REF_ID) == REF_ID then
      local id = string.sub(e, #REF_ID + 1)
      payload = redis.call('HGET', K_ENTRIES, id)
      if payload then
        key = id
      end
    elseif string.sub(e, 1, #REF_SET) == REF_SET then
      payload = redis.call('HGET', K_WAITING, string.sub(e, #REF_SET + 1))
    end
    out[#out + 1] = key
    out[#out + 1] = payload or e
  end
end
local rest = limit - #items
if rest > 0 then
  local ids = redis.call('ZRANGE', K_SCHEDULED, 0, rest - 1)
  for i = 1, #ids do
    local payload = redis.call('HGET', K_ENTRIES, ids[i])
    if payload then
      out[#out + 1] = ids[i]
      out[#out + 1] = payload
    end
  end
end
return out
