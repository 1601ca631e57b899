-- Writing a plan change (transitions.can_add, can_change, can_cancel): the checks, the
-- campaign's settings, and the posts. apply.lua does all in one step; a change larger than one
-- chunk is staged, committed and rolled forward (apply_*.lua).
-- A chunk: {add = [[id, message, audience, channel, locale, at, text]], change = [same],
-- cancel = [id]}.

-- The first post of `chunk` not in the state the change expects: {id, state}, or nil.
local function conflict_in(chunk)
  local function state(id)
    local raw = redis.call('HGET', bucket_key(id), id)
    if not raw then return nil end
    local head = string.sub(raw, 1, string.find(raw, '\0', 1, true) - 1)
    return cjson.decode(string.sub(head, string.find(head, RS, 1, true) + 1)).s
  end
  for _, r in ipairs(chunk.add) do
    local st = state(r[1])
    if st and st ~= 'cancelled' then return {r[1], st} end
  end
  for _, r in ipairs(chunk.change) do
    local st = state(r[1])
    if st ~= 'scheduled' then return {r[1], st or 'absent'} end
  end
  for _, id in ipairs(chunk.cancel) do
    local st = state(id)
    if st ~= 'scheduled' and st ~= 'queued' then return {id, st or 'absent'} end
  end
  return nil
end

-- The campaign's own settings: {title, late, launched, zones (JSON), channels: {name: settings
-- JSON}, routes: {name: route}}.
local function write_settings(c, s)
  local key = campaign_key(c)
  redis.call('SADD', P .. 'campaigns', c)
  redis.call('HSET', key, 'title', s.title, 'late', s.late, 'zones', s.zones)
  redis.call('HSETNX', key, 'launched', s.launched)  -- the first apply is the launch
  redis.call('HDEL', key, 'cancelled')
  if next(s.channels) ~= nil then
    redis.call('DEL', key .. ':channels', key .. ':routes')
    for name, value in pairs(s.channels) do redis.call('HSET', key .. ':channels', name, value) end
    for name, value in pairs(s.routes) do redis.call('HSET', key .. ':routes', name, value) end
  end
end

local function write_rows(c, now, chunk, reason)
  for _, r in ipairs(chunk.add) do
    -- Absent, or cancelled earlier and back in the plan: it starts afresh.
    local old = read_row(r[1])
    local row = {id = r[1], text = r[7], was = old and old.state, was_kind = old and old.kind,
      state = 'scheduled', campaign = c, message = r[2], audience = r[3], channel = r[4],
      locale = r[5], at = r3(r[6]), attempt = 0, tries = 0, finished = 0, maybe_sent = false,
      owner = false}
    schedule(row, row.at, now)
    save(row)
  end
  for _, r in ipairs(chunk.change) do
    -- Scheduled and untouched: a new text (the id holds the time, channel and locale).
    local row = read_row(r[1])
    row.text, row.message, row.updated = r[7], r[2], r3(now)
    save(row)
  end
  for _, id in ipairs(chunk.cancel) do
    local row = read_row(id)
    move(row, 'cancelled', now, reason)
    log_event(row, now, 'cancelled', row.attempt, reason)
    save(row)
  end
end
