-- Record the outcome of one publish attempt. Conditional on the attempt still owning the post,
-- except "sent": the platform's word that the post exists wins over any other record.
-- ARGV: prefix, id, attempt, now, outcome, then per outcome:
--   sent     remote_id, url
--   failed   error                 sending -> failed
--   unknown  error                 sending -> unknown (a person checks the platform)
--   retry    error, due, maybe_sent ("1" if the request may have been applied)
--   defer    due                   sending -> scheduled, the attempt does not count
-- Returns 1 when recorded, 0 when the attempt no longer owns the post.
local function ms(t) return string.format('%.3f', t) end  -- timestamps, to the millisecond
local P, id, attempt, now, outcome = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local key = P .. 'post:' .. id
local st, n = unpack(redis.call('HMGET', key, 'st', 'n'))
n = tonumber(n) or 0

if outcome == 'sent' then
  if st ~= 'sending' and st ~= 'unknown' and st ~= 'queued' then return 0 end
  redis.call('HSET', key, 'st', 'sent', 'ts', ms(now), 'sent', ms(now), 'rid', ARGV[6], 'url', ARGV[7])
  redis.call('HDEL', key, 'err', 'lease', 'u')
  redis.call('ZREM', P .. 'inflight', id)
  redis.call('ZREM', P .. 'schedule', id)
  return 1
end
if st ~= 'sending' or n ~= attempt then return 0 end
redis.call('ZREM', P .. 'inflight', id)
redis.call('HDEL', key, 'lease')
if outcome == 'failed' or outcome == 'unknown' then
  redis.call('HSET', key, 'st', outcome, 'ts', ms(now), 'err', ARGV[6])
elseif outcome == 'retry' then
  redis.call('HSET', key, 'st', 'scheduled', 'ts', ms(now), 'err', ARGV[6])
  if ARGV[8] == '1' then redis.call('HSET', key, 'u', '1') end
  redis.call('ZADD', P .. 'schedule', tonumber(ARGV[7]), id)
elseif outcome == 'defer' then
  redis.call('HSET', key, 'st', 'scheduled', 'ts', ms(now), 'n', n - 1)
  redis.call('ZADD', P .. 'schedule', tonumber(ARGV[6]), id)
else
  return redis.error_reply('unknown outcome ' .. outcome)
end
return 1
