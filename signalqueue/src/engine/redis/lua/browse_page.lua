-- One page of a section: ARGV = section, after score, after member ('' from the start),
-- fetch (the page's limit plus one), sweep. Returns the entries as `browse.lua` says.
local section, after_score, after = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local fetch = tonumber(ARGV[4])
local now = now_ms()
sweep_due(now, tonumber(ARGV[5]))
local out = {}
if section == 'pending' then
  -- Positional: from just after the cursor's entry, found again where it now is. Gone (claimed,
  -- and so was everything before it), the entries after it are at the head now.
  local start = 0
  if after ~= '' then
    local pos = redis.call('LPOS', K_PENDING, pending_ref(after))
    if pos then
      start = pos + 1
    end
  end
  -- One more: a wake marker may be among them.
  local items = redis.call('LRANGE', K_PENDING, start, start + fetch)
  local n = 0
  for i = 1, #items do
    if items[i] ~= WAKE and n < fetch then
      put(out, pending_entry(items[i], start + i - 1))
      n = n + 1
    end
  end
elseif section == 'scheduled' then
  local ids = zpage(K_SCHEDULED, '-inf', after_score, after, fetch)
  for i = 1, #ids, 2 do
    local id = ids[i]
    local payload = redis.call('HGET', K_ENTRIES, id)
    if payload then
      put(out, { id, id, ids[i + 1], payload, '', '', deliveries_of(id, 0), '' })
    end
  end
elseif section == 'in_flight' then
  local leases = zpage(K_LEASES, '(' .. int(now), after_score, after, fetch)
  for i = 1, #leases, 2 do
    local member = leases[i]
    -- The guard sorts last (+inf), so skipping it leaves no gap in the page.
    if member ~= GUARD then
      put(out, in_flight_entry(string.match(member, '^(.*):'), member, leases[i + 1]))
    end
  end
elseif section == 'dead' then
  local ids = zpage(K_DEAD, '-inf', after_score, after, fetch)
  for i = 1, #ids, 2 do
    local id = ids[i]
    local payload = redis.call('HGET', K_DEAD_PAYLOADS, id)
    -- A record whose parts expired separately is skipped, never returned half.
    if payload then
      local reason = redis.call('HGET', K_DEAD_REASONS, id) or ''
      put(out, { id, id, ids[i + 1], payload, '', '', '', reason })
    end
  end
end
return out
