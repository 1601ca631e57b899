-- Apply a plan diff to one campaign, all or nothing.
-- ARGV: prefix, now, diff as JSON:
--   {campaign, meta: {field: value}, channels: {name: json}, add: [[id, channel, locale, at, text]],
--    change: [[id, channel, locale, at, text]], cancel: [[id, channel]], message}
-- Every precondition is checked before the first write, so a conflict changes nothing.
-- Returns {"ok"} or {"conflict", id, state}.
local function ms(t) return string.format('%.3f', t) end  -- timestamps, to the millisecond
local P, now = ARGV[1], tonumber(ARGV[2])
local diff = cjson.decode(ARGV[3])
local c = diff.campaign
local ckey = P .. 'c:' .. c

local function state(id) return redis.call('HGET', P .. 'post:' .. id, 'st') end

if redis.call('HEXISTS', ckey, 'cancelled') == 1 then return {'conflict', c, 'cancelled'} end
for _, row in ipairs(diff.add) do
  local st = state(row[1])
  if st and st ~= 'cancelled' then return {'conflict', row[1], st} end
end
for _, row in ipairs(diff.change) do
  local st = state(row[1])
  if st ~= 'scheduled' then return {'conflict', row[1], st or 'absent'} end
end
for _, row in ipairs(diff.cancel) do
  local id = row[1]
  local st = state(id)
  if st ~= 'scheduled' and st ~= 'queued' then return {'conflict', id, st or 'absent'} end
end

redis.call('SADD', P .. 'campaigns', c)
for field, value in pairs(diff.meta) do redis.call('HSET', ckey, field, value) end
if next(diff.channels) ~= nil then
  redis.call('DEL', ckey .. ':channels')
  for name, value in pairs(diff.channels) do redis.call('HSET', ckey .. ':channels', name, value) end
end
local function put(row)
  local id = row[1]
  redis.call('HSET', P .. 'post:' .. id, 'c', c, 'ch', row[2], 'loc', row[3], 'at', ms(row[4]),
    'st', 'scheduled', 'ts', ms(now))
  redis.call('SET', P .. 'text:' .. id, row[5])
  redis.call('ZADD', P .. 'schedule', row[4], id)
  redis.call('SADD', ckey .. ':posts', id)
end
for _, row in ipairs(diff.add) do
  -- A post cancelled earlier and back in the plan starts afresh.
  redis.call('DEL', P .. 'post:' .. row[1])
  put(row)
end
for _, row in ipairs(diff.change) do put(row) end
for _, row in ipairs(diff.cancel) do
  local id = row[1]
  redis.call('HSET', P .. 'post:' .. id, 'st', 'cancelled', 'ts', ms(now), 'err', diff.message)
  redis.call('ZREM', P .. 'schedule', id)
  redis.call('ZREM', P .. 'inflight', id)
end
return {'ok'}
