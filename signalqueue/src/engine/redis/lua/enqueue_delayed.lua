-- Enqueues a batch holding delayed sends, atomically: ARGV = delay_ms, hash, payload, ...
-- (triples, in the batch's order); see `enqueue_triples` in the prelude. Returns how many
-- entries were added.
return enqueue_triples(ARGV, 1)
