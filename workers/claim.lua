-- The gate of the publish task: queued -> sending under a lease, for exactly one worker.
-- ARGV: prefix, id, now, lease, idempotent ("1"/"0"), idempotency_window
-- Returns {verdict, attempts, campaign, channel, locale, at, text} where verdict is
--   "claimed"   queued -> sending: publish now
--   "resend"    sending past its lease, idempotent client inside the window: publish again
--   "unknown"   resend unsafe (sending past its lease, or queued after a try that may have been
--               published): -> unknown, a person checks
--   "busy"      another worker holds the lease
--   "paused"    campaign paused: queued -> scheduled
--   "skip"      any other state (already sent, cancelled, ...); second element is the state
local function ms(t) return string.format('%.3f', t) end  -- timestamps, to the millisecond
local P, id, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local lease, idempotent, window = tonumber(ARGV[4]), ARGV[5] == '1', tonumber(ARGV[6])
local key = P .. 'post:' .. id
local st, n, lease_until, t1, c, ch, loc, at, u = unpack(redis.call(
  'HMGET', key, 'st', 'n', 'lease', 't1', 'c', 'ch', 'loc', 'at', 'u'))
n = tonumber(n) or 0
-- Sending again is safe only with an idempotent client inside its idempotency window.
local resend_safe = idempotent and now - tonumber(t1 or now) < window

local function give_up(why)
  redis.call('HSET', key, 'st', 'unknown', 'ts', ms(now), 'u', '1', 'err', why)
  redis.call('ZREM', P .. 'inflight', id)
  return {'unknown', n, c, ch}
end

local function take()
  n = n + 1
  redis.call('HSET', key, 'st', 'sending', 'n', n, 'lease', ms(now + lease), 'ts', ms(now))
  if not t1 then redis.call('HSET', key, 't1', ms(now)) end
  redis.call('ZADD', P .. 'inflight', now + lease, id)
  return redis.call('GET', P .. 'text:' .. id)
end

if st == 'queued' then
  local paused = redis.call('HGET', P .. 'c:' .. c, 'paused') == '1'
  if paused or redis.call('GET', P .. 'paused') == '1' then
    redis.call('HSET', key, 'st', 'scheduled', 'ts', ms(now))
    redis.call('ZREM', P .. 'inflight', id)
    redis.call('ZADD', P .. 'schedule', now, id)
    return {'paused', n, c, ch}
  end
  if u == '1' and not resend_safe then
    return give_up('an earlier try may have been published and resending is no longer safe; '
      .. 'check the platform')
  end
  local text = take()
  return {'claimed', n, c, ch, loc, at, text}
elseif st == 'sending' then
  if tonumber(lease_until) > now then return {'busy', n, c, ch} end
  if resend_safe then
    local text = take()
    return {'resend', n, c, ch, loc, at, text}
  end
  return give_up('the worker was lost while sending; check the platform before resending')
end
return {'skip', n, c or '', ch or '', st or 'absent'}
