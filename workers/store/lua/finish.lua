-- Record the outcome of one attempt (transitions.finish).
-- ARGV: prefix, id, attempt, now, outcome, then per outcome:
--   sent     remote id, url
--   failed   error, kind      (-> unknown when an earlier attempt may have been published)
--   unknown  error
--   retry    error, due, maybe sent ("1")
--   defer    reason, due     (the attempt does not count)
-- Returns {verdict, state, error}: verdict "recorded", "repeated" or "stale".
local id, attempt, now, outcome = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local key = post_key(id)
local row = read_row(id)
if not row then return {'stale', '', ''} end

if outcome == 'sent' then
  if row.state == 'sent' then
    return {row.finished == attempt and 'repeated' or 'stale', row.state, ''}
  end
  move(id, row, 'sent', now)
  redis.call('HSET', key, 'sent', ms(now), 'rid', ARGV[6], 'url', ARGV[7], 'fin', attempt)
  redis.call('HDEL', key, 'err', 'ek', 'u', 'own')
  log_event(id, now, 'sent', attempt, ARGV[7])
  return {'recorded', 'sent', ''}
end
if row.finished == attempt and row.state ~= 'sending' then
  return {'repeated', row.state, row.error or ''}
end
if row.state ~= 'sending' or row.attempt ~= attempt then return {'stale', row.state, ''} end

redis.call('HSET', key, 'fin', attempt)
redis.call('HDEL', key, 'own')
local state, err
if outcome == 'failed' then
  state, err = 'failed', ARGV[6]
  if row.maybe_sent then
    state = 'unknown'
    err = ARGV[6] .. '; ' .. MAYBE_OUT .. ': check the platform before retrying'
  end
  move(id, row, state, now, err)
  if state == 'failed' and ARGV[7] ~= '' then redis.call('HSET', key, 'ek', ARGV[7]) end
elseif outcome == 'unknown' then
  state, err = 'unknown', ARGV[6]
  move(id, row, state, now, err)
  redis.call('HSET', key, 'u', '1')
elseif outcome == 'retry' then
  state, err = 'scheduled', ARGV[6]
  move(id, row, state, now, err)
  if ARGV[8] == '1' then redis.call('HSET', key, 'u', '1') end
  redis.call('ZADD', SCHEDULE, tonumber(ARGV[7]), id)
elseif outcome == 'defer' then
  state, err = 'scheduled', row.error
  move(id, row, state, now)
  redis.call('HSET', key, 'tr', row.tries - 1)
  redis.call('ZADD', SCHEDULE, tonumber(ARGV[7]), id)
else
  return redis.error_reply('unknown outcome ' .. outcome)
end
log_event(id, now, state, attempt, err)
return {'recorded', state, err or ''}
