-- Posts whose hand-off may have been lost: queued but never claimed, or sending past its lease.
-- The publish task is sent again; its conditional claim decides what happens.
-- ARGV: prefix, now, requeue_after, batch
-- Returns a flat list: id, state, channel, ...
local P, now = ARGV[1], tonumber(ARGV[2])
local requeue_after, batch = tonumber(ARGV[3]), tonumber(ARGV[4])
local inflight = P .. 'inflight'
local out = {}
local ids = redis.call('ZRANGEBYSCORE', inflight, '-inf', now, 'LIMIT', 0, batch)
for _, id in ipairs(ids) do
  local st, ch = unpack(redis.call('HMGET', P .. 'post:' .. id, 'st', 'ch'))
  if st == 'queued' or st == 'sending' then
    -- Only the caller that moves the deadline re-sends, so two schedulers send once.
    redis.call('ZADD', inflight, now + requeue_after, id)
    table.insert(out, id); table.insert(out, st); table.insert(out, ch)
  else
    redis.call('ZREM', inflight, id)
  end
end
return out
