-- When the scheduler has something to do next: the earliest due time of a scheduled post of a
-- campaign not held, a deadline, or the time the next day's list must move to its sorted set;
-- now when a hold lost its owner (the next pass rolls its apply forward or drops it).
-- ARGV: prefix, now
-- Returns the time as a string, or "" when nothing is scheduled.
local now = tonumber(ARGV[2])
for _, c in ipairs(redis.call('SMEMBERS', HOLDS)) do
  local state, expires = unpack(redis.call('HMGET', campaign_key(c) .. ':hold', 'state', 'exp'))
  if not state or tonumber(expires) <= now then return tostring(now) end
end
local best
local function better(t) if t and (not best or t < best) then best = t end end

-- The earliest post due of a campaign's sorted set that is still scheduled then (among its
-- first entries; a longer run of stale ones only wakes the scheduler once, which drops them).
local function earliest(c)
  if held(c, now)
      or (tonumber(redis.call('HGET', campaign_key(c) .. ':counts', 'scheduled')) or 0) == 0 then
    return nil
  end
  local items = redis.call('ZRANGE', campaign_key(c) .. ':due', 0, 31, 'WITHSCORES')
  for i = 1, #items, 2 do
    local row = read_row(items[i])
    if row and row.state == 'scheduled' and row.due == tonumber(items[i + 1]) then
      return row.due
    end
  end
  if #items == 64 then return tonumber(items[64]) end
  return nil
end

-- Campaigns come in the order of a time never later than their earliest post.
local offset = 0
while true do
  local found = redis.call('ZRANGE', DUE, offset, offset + 19, 'WITHSCORES')
  if #found == 0 then break end
  for i = 1, #found, 2 do
    if best and tonumber(found[i + 1]) >= best then found = {}; break end
    better(earliest(found[i]))
  end
  if #found == 0 then break end
  offset = offset + 20
end
offset = 0
while true do
  local found = redis.call('ZRANGE', LATER, offset, offset + 19, 'WITHSCORES')
  if #found == 0 then break end
  local moved = false
  for i = 1, #found, 2 do
    local c = string.match(found[i], '^(.*)' .. SEP)
    if not held(c, now) then
      better(math.max(now, tonumber(found[i + 1]) - HORIZON))
      moved = true
      break
    end
  end
  if moved then break end
  offset = offset + 20
end
local inflight = redis.call('ZRANGE', INFLIGHT, 0, 0, 'WITHSCORES')
better(tonumber(inflight[2]))
return best and tostring(best) or ''
