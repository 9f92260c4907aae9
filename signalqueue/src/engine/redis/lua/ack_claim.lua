-- Acknowledges, then claims, in one call: ARGV = max, lease ms, sweep, consumer, id1, fence1,
-- ... The claim runs after the acknowledgements, so the leases it takes may be the slots the
-- acknowledged claims held. Returns { acks, claim }: the replies of `ack.lua` and `claim.lua`.
local acked = ack(ARGV, 5)
local claimed = claim(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
return { acked, claimed }
