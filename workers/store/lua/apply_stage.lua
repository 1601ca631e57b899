-- Check and stage chunk n of an apply in steps. The campaign is held since apply_begin, so a
-- post found here in the state the change expects stays in it until the change is rolled
-- forward (docs/store.md says why).
-- ARGV: prefix, campaign, apply id, now, expires, n, the chunk as JSON (see rows.lua)
-- Returns {"ok"}, {"lost"} (the hold expired or another took it) or {"conflict", id, state};
-- on a conflict the staging is dropped and the campaign released.
local c, id, now, n = ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[6])
local key = campaign_key(c) .. ':hold'
local state, owner, expires, staged = unpack(redis.call('HMGET', key, 'state', 'id', 'exp',
  'staged'))
if state ~= 'staging' or owner ~= id or tonumber(expires) <= now then return {'lost'} end
if tonumber(staged) > n then return {'ok'} end  -- asked again after a timeout
local conflict = conflict_in(cjson.decode(ARGV[7]))
if conflict then
  drop_hold(c)
  return {'conflict', conflict[1], conflict[2]}
end
redis.call('SET', P .. 'stage:' .. id .. ':' .. n, ARGV[7])
redis.call('HSET', key, 'staged', n + 1, 'exp', ARGV[5])
return {'ok'}
