-- Roll a committed apply forward by one chunk; the last one releases the campaign and wakes the
-- schedulers. Each call writes the next chunk not yet written, so any number of callers (the
-- applier, schedulers whose pass found its applier gone) complete it once.
-- ARGV: prefix, campaign, now, expires (the roller's renewed hold)
-- Returns {"more"} or {"done"} (complete now, or nothing committed to roll forward).
local c, now = ARGV[2], tonumber(ARGV[3])
local key = campaign_key(c) .. ':hold'
local state, id, applied, chunks, reason = unpack(redis.call('HMGET', key, 'state', 'id',
  'applied', 'chunks', 'reason'))
if state ~= 'committed' then return {'done'} end
applied, chunks = tonumber(applied), tonumber(chunks)
if applied < chunks then
  local stage = P .. 'stage:' .. id .. ':' .. applied
  write_rows(c, now, cjson.decode(redis.call('GET', stage)), reason)
  redis.call('DEL', stage)
  applied = applied + 1
end
if applied < chunks then
  redis.call('HSET', key, 'applied', applied, 'exp', ARGV[4])
  return {'more'}
end
redis.call('DEL', key)
redis.call('SREM', HOLDS, c)
redis.call('LPUSH', P .. 'wake', '1')
redis.call('LTRIM', P .. 'wake', 0, 0)
return {'done'}
