-- Posts whose hand-off may be lost (transitions.reclaim): queued but never claimed, or sending
-- past the lease. Only the caller that moves the deadline hands them out again.
-- ARGV: prefix, now, requeue_after, batch
-- Returns a flat list: id, campaign, channel, state, ...
local now, requeue_after, batch = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', INFLIGHT, '-inf', now, 'LIMIT', 0, batch)) do
  local row = read_row(id)
  if row and (row.state == 'queued' or row.state == 'sending') then
    redis.call('ZADD', INFLIGHT, now + requeue_after, id)
    table.insert(out, id); table.insert(out, row.campaign); table.insert(out, row.channel)
    table.insert(out, row.state)
  else
    redis.call('ZREM', INFLIGHT, id)
  end
end
return out
