-- Apply a plan change to one campaign, all or nothing (transitions.can_add/can_change/can_cancel).
-- ARGV: prefix, now, the change as JSON:
--   {campaign, title, late, launched, zones (JSON), channels: {name: settings JSON},
--    routes: {name: route},
--    add: [[id, message, audience, channel, locale, at, text]], change: [same], cancel: [id],
--    reason}
-- Every precondition is checked before the first write, so a conflict changes nothing.
-- Returns {} or {id, state} of the first conflict.
local now = tonumber(ARGV[2])
local change = cjson.decode(ARGV[3])
local c = change.campaign
local ckey = campaign_key(c)

local function state(id) return redis.call('HGET', post_key(id), 'st') end
for _, row in ipairs(change.add) do
  local st = state(row[1])
  if st and st ~= 'cancelled' then return {row[1], st} end
end
for _, row in ipairs(change.change) do
  local st = state(row[1])
  if st ~= 'scheduled' then return {row[1], st or 'absent'} end
end
for _, id in ipairs(change.cancel) do
  local st = state(id)
  if st ~= 'scheduled' and st ~= 'queued' then return {id, st or 'absent'} end
end

redis.call('SADD', P .. 'campaigns', c)
redis.call('HSET', ckey, 'title', change.title, 'late', change.late, 'zones', change.zones)
redis.call('HSETNX', ckey, 'launched', change.launched)  -- the first apply is the launch
redis.call('HDEL', ckey, 'cancelled')
if next(change.channels) ~= nil then
  redis.call('DEL', ckey .. ':channels', ckey .. ':routes')
  for name, value in pairs(change.channels) do redis.call('HSET', ckey .. ':channels', name, value) end
  for name, value in pairs(change.routes) do redis.call('HSET', ckey .. ':routes', name, value) end
end
local counts = ckey .. ':counts'
local function put(row)
  local id = row[1]
  redis.call('HSET', post_key(id), 'c', c, 'm', row[2], 'a', row[3], 'ch', row[4], 'loc', row[5],
    'at', ms(row[6]), 'st', 'scheduled', 'ts', ms(now))
  redis.call('SET', P .. 'text:' .. id, row[7])
  redis.call('ZADD', SCHEDULE, row[6], id)
  redis.call('SADD', ckey .. ':posts', id)
end
for _, row in ipairs(change.add) do
  -- A post cancelled earlier and back in the plan starts afresh.
  if redis.call('DEL', post_key(row[1]), P .. 'h:' .. row[1]) > 0 then
    redis.call('HINCRBY', counts, 'cancelled', -1)
  end
  put(row)
  redis.call('HINCRBY', counts, 'scheduled', 1)
end
for _, row in ipairs(change.change) do put(row) end
for _, id in ipairs(change.cancel) do
  local row = read_row(id)
  move(id, row, 'cancelled', now, change.reason)
  log_event(id, now, 'cancelled', row.attempt, change.reason)
end
return {}
