-- Hand due posts to the queue: scheduled -> queued, or -> missed when later than max_lateness.
-- ARGV: prefix, now, batch, requeue_after, hold
-- Returns a flat list: id, new state, channel, ... (state "queued", "missed" or "unknown").
local function ms(t) return string.format('%.3f', t) end  -- timestamps, to the millisecond
local P, now, batch = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local requeue_after, hold = tonumber(ARGV[4]), tonumber(ARGV[5])
local schedule, inflight = P .. 'schedule', P .. 'inflight'
local all_paused = redis.call('GET', P .. 'paused') == '1'
local out = {}
local ids = redis.call('ZRANGEBYSCORE', schedule, '-inf', now, 'LIMIT', 0, batch)
for _, id in ipairs(ids) do
  local key = P .. 'post:' .. id
  local st, c, ch, at, u = unpack(redis.call('HMGET', key, 'st', 'c', 'ch', 'at', 'u'))
  if st ~= 'scheduled' then
    -- A stale schedule entry (the post moved on); the ledger is the truth.
    redis.call('ZREM', schedule, id)
  else
    local paused, late = unpack(redis.call('HMGET', P .. 'c:' .. c, 'paused', 'late'))
    if all_paused or paused == '1' then
      -- Paused: look again next tick; the lateness check still applies after resume.
      redis.call('ZADD', schedule, now + hold, id)
    elseif now - tonumber(at) > tonumber(late) then
      -- Too late to go out. A post whose earlier try may have reached the platform is unknown.
      local final = 'missed'
      local why = 'later than max_lateness (' .. late .. ' s) when it became due'
      if u == '1' then
        final = 'unknown'
        why = 'an earlier try may have been published; retries ran past max_lateness'
      end
      redis.call('HSET', key, 'st', final, 'ts', ms(now), 'err', why)
      redis.call('ZREM', schedule, id)
      table.insert(out, id); table.insert(out, final); table.insert(out, ch)
    else
      redis.call('HSET', key, 'st', 'queued', 'ts', ms(now))
      redis.call('ZREM', schedule, id)
      redis.call('ZADD', inflight, now + requeue_after, id)
      table.insert(out, id); table.insert(out, 'queued'); table.insert(out, ch)
    end
  end
end
return out
