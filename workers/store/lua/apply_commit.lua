-- Commit an apply in steps: once this returns "ok" the change happens whole, whoever rolls it
-- forward (the applier, or a scheduler's pass once the applier's hold ran out).
-- ARGV: prefix, campaign, apply id, now, expires, the settings as JSON (see write_settings),
--   the reason of its cancels
-- Returns {"ok"} or {"lost"} (the hold expired, another took it, or a chunk is missing).
local c, id, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = campaign_key(c) .. ':hold'
local state, owner, expires, staged, chunks = unpack(redis.call('HMGET', key, 'state', 'id',
  'exp', 'staged', 'chunks'))
if state == 'committed' and owner == id then return {'ok'} end  -- asked again
if state ~= 'staging' or owner ~= id or tonumber(expires) <= now or staged ~= chunks then
  return {'lost'}
end
write_settings(c, cjson.decode(ARGV[6]))
redis.call('HSET', key, 'state', 'committed', 'exp', ARGV[5], 'reason', ARGV[7])
return {'ok'}
