-- Cancel a campaign: every post not yet in flight -> cancelled; posts being sent finish.
-- ARGV: prefix, campaign, now, message
-- Returns a flat list: id, channel, ... of the posts cancelled.
local function ms(t) return string.format('%.3f', t) end  -- timestamps, to the millisecond
local P, c, now, message = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
redis.call('HSET', P .. 'c:' .. c, 'cancelled', message, 'cancelled_at', ms(now))
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', P .. 'c:' .. c .. ':posts')) do
  local key = P .. 'post:' .. id
  local st, ch = unpack(redis.call('HMGET', key, 'st', 'ch'))
  if st == 'scheduled' or st == 'queued' then
    redis.call('HSET', key, 'st', 'cancelled', 'ts', ms(now), 'err', message)
    redis.call('ZREM', P .. 'schedule', id)
    redis.call('ZREM', P .. 'inflight', id)
    table.insert(out, id); table.insert(out, ch)
  end
end
return out
