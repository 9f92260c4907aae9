-- Counts by state, after trimming dead letters and sweeping as a claim does (see `sweep_due`),
-- so that the counts agree with browsing: ARGV = dead_max, dead_ttl_ms, sweep.
-- Returns { pending, scheduled, in_flight, dead }.
local now = now_ms()
trim_dead(now, tonumber(ARGV[1]), tonumber(ARGV[2]))
sweep_due(now, tonumber(ARGV[3]))
-- What one sweep left overdue is claimable now all the same: pending.
local ended = redis.call('ZCOUNT', K_LEASES, '-inf', now)
local due = redis.call('ZCOUNT', K_SCHEDULED, '-inf', now)
return {
  redis.call('LLEN', K_PENDING) - wake_markers() + ended + due,
  redis.call('ZCARD', K_SCHEDULED) - due,
  redis.call('ZCARD', K_LEASES) - ended - (redis.call('ZSCORE', K_LEASES, GUARD) and 1 or 0),
  redis.call('ZCARD', K_DEAD),
}
