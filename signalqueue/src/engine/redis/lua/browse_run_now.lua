-- Makes scheduled entries claimable now: ARGV = keys... Each goes to the tail of the pending
-- list, as a due one does (which wakes a claimer blocked on the list). Returns how many moved.
local n = 0
for i = 1, #ARGV do
  if redis.call('ZREM', K_SCHEDULED, ARGV[i]) == 1 then
    redis.call('RPUSH', K_PENDING, REF_ID .. ARGV[i])
    n = n + 1
  end
end
return n
