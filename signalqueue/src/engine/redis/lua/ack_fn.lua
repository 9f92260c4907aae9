-- Finishes claims: argv[from], argv[from + 1], ... = id1, fence1, id2, fence2, ...
-- Returns one 1 (done) or 0 (lease lost: refused, the entry is left to its new owner) per pair.
-- A token given twice is done once: its second answer is 0, as if sent in a later call.
-- Batched (one ZMSCORE, one ZREM, three HDELs), so acknowledging 100 costs little more than 1.
local function ack(argv, from)
  local now = now_ms()
  local members = {}
  for i = from, #argv, 2 do
    members[#members + 1] = lease_member(argv[i], argv[i + 1])
  end
  local deadlines = mscore(K_LEASES, members)
  local out, done, ids, seen = {}, {}, {}, {}
  for i = 1, #members do
    local deadline = deadlines[i]
    if deadline and tonumber(deadline) > now and not seen[members[i]] then
      seen[members[i]] = true
      done[#done + 1] = members[i]
      ids[#ids + 1] = argv[from + 2 * i - 2]
      out[i] = 1
    else
      out[i] = 0
    end
  end
  call_chunked('ZREM', K_LEASES, done)
  call_chunked('HDEL', K_ENTRIES, ids)
  call_chunked('HDEL', K_DELIVERIES, ids)
  call_chunked('HDEL', K_HOLDERS, ids)
  return out
end
