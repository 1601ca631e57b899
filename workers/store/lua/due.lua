-- Hand out due posts (transitions.hand_out): queue them, hold paused ones, give up late ones.
-- ARGV: prefix, now, batch, requeue_after, hold
-- Returns a flat list: id, campaign, channel, new state, reason, ... for each post that moved.
local now, batch = tonumber(ARGV[2]), tonumber(ARGV[3])
local requeue_after, hold = tonumber(ARGV[4]), tonumber(ARGV[5])
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', SCHEDULE, '-inf', now, 'LIMIT', 0, batch)) do
  local row = read_row(id)
  if not row or row.state ~= 'scheduled' then
    redis.call('ZREM', SCHEDULE, id)  -- a stale entry (the post moved on): the ledger is the truth
  elseif is_paused(row) then
    redis.call('ZADD', SCHEDULE, now + hold, id)  -- lateness still applies once resumed
  else
    local late = tonumber(redis.call('HGET', campaign_key(row.campaign), 'late'))
    if now - math.max(row.at, row.retried_at or 0) > late then
      local final, why = 'missed', 'later than max_lateness (' .. string.format('%g', late)
        .. ' s) when it became due'
      if row.maybe_sent then
        final = 'unknown'
        why = MAYBE_OUT .. '; retries ran past max_lateness (' .. string.format('%g', late)
          .. ' s)'
      end
      move(id, row, final, now, why)
      log_event(id, now, final, row.attempt, why)
      table.insert(out, id); table.insert(out, row.campaign); table.insert(out, row.channel)
      table.insert(out, final); table.insert(out, why)
    else
      move(id, row, 'queued', now)
      redis.call('ZADD', INFLIGHT, now + requeue_after, id)
      log_event(id, now, 'queued', row.attempt)
      table.insert(out, id); table.insert(out, row.campaign); table.insert(out, row.channel)
      table.insert(out, 'queued'); table.insert(out, '')
    end
  end
end
return out
