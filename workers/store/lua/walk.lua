-- Scripts that go through every scheduled (and still listed cancelled) post of a campaign, a
-- window per call so that no call holds Redis long. They hold the campaign meanwhile: nothing
-- of it is handed out or moved between lists, so a cursor stays valid from call to call.

-- Take (or renew) the campaign's hold for `id` doing `kind` until `expires`; false when
-- another owner holds it.
local function take_hold(c, id, kind, now, expires)
  local key = campaign_key(c) .. ':hold'
  local state, owner = unpack(redis.call('HMGET', key, 'state', 'id'))
  if state and owner ~= id then
    if held(c, now) then return false end
    drop_hold(c)  -- its owner is gone
  end
  redis.call('HSET', key, 'id', id, 'state', kind, 'exp', expires)
  redis.call('SADD', HOLDS, c)
  return true
end

local function release_hold(c, id)
  if redis.call('HGET', campaign_key(c) .. ':hold', 'id') == id then drop_hold(c) end
end

-- One window of about `limit` posts from `cursor`, in time order: the sorted set of posts due
-- soon by due time ("near:<score>", "(" before the score: after it), then the day lists by day
-- ("later:<day>:<offset>"). Calls visit(id, phase); returns the next cursor, "" when done.
local function walk_window(c, cursor, limit, visit)
  local key = campaign_key(c)
  local phase, a, b = string.match(cursor, '^(%a+):([^:]*):?(.*)$')
  if phase == 'near' then
    local items = redis.call('ZRANGEBYSCORE', key .. ':due', a, '+inf', 'WITHSCORES', 'LIMIT', 0,
      limit)
    if #items / 2 < limit then
      for i = 1, #items, 2 do visit(items[i], phase) end
      return 'later::0'
    end
    local last = items[#items]
    if items[2] == last then
      -- A window of one instant: every post of it at once.
      for _, id in ipairs(redis.call('ZRANGEBYSCORE', key .. ':due', last, last)) do
        visit(id, phase)
      end
      return 'near:(' .. last
    end
    for i = 1, #items, 2 do
      if items[i + 1] ~= last then visit(items[i], phase) end
    end
    return 'near:' .. last  -- the last instant's posts come whole in the next window
  end
  local from = a == '' and '-inf' or tonumber(a) * DAY
  local day = redis.call('ZRANGEBYSCORE', key .. ':later', from, '+inf', 'LIMIT', 0, 1)[1]
  if not day then return '' end
  local offset = day == a and tonumber(b) or 0
  local ids = redis.call('LRANGE', key .. ':l:' .. day, offset, offset + limit - 1)
  for _, id in ipairs(ids) do visit(id, phase) end
  if #ids == limit then return 'later:' .. day .. ':' .. (offset + limit) end
  return 'later:' .. (tonumber(day) + 1) .. ':0'
end
