-- Claims up to ARGV[1] entries for ARGV[2] ms for the consumer ARGV[4], sweeping at most
-- ARGV[3] expired leases and due entries first (see `claim_fn.lua`).
return claim(tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4])
