-- Enqueues the entry of one tick of a periodic signal, unless that tick was enqueued before.
-- Besides the queue's eleven keys: KEYS[12] the tick's key (`tick:SCHEDULE:MS`), KEYS[13] the hash
-- schedule -> latest tick (ms), both under the queue's hash tag. ARGV = schedule, tick_ms,
-- ttl_ms, then one triple as `enqueue_triples` takes it. Returns 1 when this call enqueued the
-- tick, 0 when it was enqueued before (or is too old to tell).
local K_TICK, K_LAST_TICKS = KEYS[12], KEYS[13]
local schedule, tick, ttl = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local last = redis.call('HGET', K_LAST_TICKS, schedule)
last = last and tonumber(last)
-- Older than the latest tick by more than a tick's key lives: its key may have expired, so it
-- is refused rather than risk enqueueing it twice.
if last and tick < last - ttl then
  return 0
end
if not redis.call('SET', K_TICK, '1', 'NX', 'PX', ARGV[3]) then
  return 0
end
if not last or tick > last then
  redis.call('HSET', K_LAST_TICKS, schedule, ARGV[2])
end
enqueue_triples(ARGV, 4)
return 1
