-- Counts by state, after trimming dead letters: ARGV = dead_max, dead_ttl_ms.
-- Returns { pending, scheduled, in_flight, dead }.
trim_dead(now_ms(), tonumber(ARGV[1]), tonumber(ARGV[2]))
return {
  redis.call('LLEN', K_PENDING) - wake_markers(),
  redis.call('ZCARD', K_SCHEDULED),
  redis.call('ZCARD', K_LEASES),
  redis.call('ZCARD', K_DEAD),
}
