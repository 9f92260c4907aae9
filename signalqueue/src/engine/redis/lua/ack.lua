-- Finishes claims: ARGV = id1, fence1, id2, fence2, ... (see `ack_fn.lua`).
return ack(ARGV, 1)
