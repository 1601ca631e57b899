-- Begin an apply in steps (a change larger than one chunk): hold the campaign for this apply
-- until `expires` (renewed by each step), so that nothing of it is handed out or claimed and no
-- cancel or restore moves its posts while the change is checked and staged.
-- ARGV: prefix, campaign, apply id, now, expires, number of chunks
-- Returns {"ok"}, {"busy"} (another apply, cancel or restore holds it), or {"committed"} (an
-- apply whose applier died after its commit: roll it forward first).
local c, id, now = ARGV[2], ARGV[3], tonumber(ARGV[4])
local key = campaign_key(c) .. ':hold'
local state, owner = unpack(redis.call('HMGET', key, 'state', 'id'))
if state == 'committed' then return {'committed'} end
if state and owner ~= id then
  if held(c, now) then return {'busy'} end
  drop_hold(c)  -- its owner is gone: a staging is garbage
end
redis.call('DEL', key)
redis.call('HSET', key, 'id', id, 'state', 'staging', 'exp', ARGV[5], 'chunks', ARGV[6],
  'staged', 0, 'applied', 0)
redis.call('SADD', HOLDS, c)
return {'ok'}
