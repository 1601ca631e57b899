-- Hand out due posts (transitions.hand_out): queue them, hold paused ones, give up late ones.
-- First moves a bounded number of posts of the days coming within HORIZON from their day's
-- list to their campaign's sorted set. Campaigns being held (an apply in steps, a cancel, a
-- restore) are skipped whole.
-- ARGV: prefix, now, batch, requeue_after, hold
-- Returns {moved, helped}: moved is a flat list id, campaign, channel, new state, reason, ...
-- for each post that moved; helped lists campaigns whose committed apply lost its applier (the
-- caller rolls it forward).
local now, batch = tonumber(ARGV[2]), tonumber(ARGV[3])
local requeue_after, hold = tonumber(ARGV[4]), tonumber(ARGV[5])
local PROMOTE = 2000  -- list entries looked at per pass
local out, holding, late_of = {}, {}, {}

local function held_back(c)
  if holding[c] == nil then holding[c] = held(c, now) end
  return holding[c]
end

-- 1. The days coming within HORIZON: their posts onto their campaign's sorted set.
local looked, skipped = 0, 0
while looked < PROMOTE do
  local member = redis.call('ZRANGEBYSCORE', LATER, '-inf', now + HORIZON, 'LIMIT', skipped, 1)[1]
  if not member then break end
  local c, day = string.match(member, '^(.*)' .. SEP .. '(%d+)$')
  if held_back(c) then
    skipped = skipped + 1
  else
    local list = campaign_key(c) .. ':l:' .. day
    local ids = redis.call('LPOP', list, PROMOTE - looked) or {}
    for _, id in ipairs(ids) do
      local row = read_row(id)
      if row and row.state == 'scheduled' and math.floor(row.due / DAY) == tonumber(day) then
        near(c, id, row.due)
      elseif row and row.state == 'cancelled' and row.at > now
          and math.floor(row.at / DAY) == tonumber(day) then
        near(c, id, row.at)  -- still listed, for restore
      end
    end
    looked = looked + #ids
    if redis.call('EXISTS', list) == 0 then
      redis.call('ZREM', LATER, member)
      redis.call('ZREM', campaign_key(c) .. ':later', day)
    end
  end
end

-- 2. The posts due now.
local function hand_out(id, c)
  local row = read_row(id)
  -- A stale entry (the post moved on, or is due later): the row is the truth.
  if not row or row.state ~= 'scheduled' or row.campaign ~= c or row.due > now then return end
  if is_paused(row) then
    schedule(row, now + hold, now)  -- lateness still applies once resumed
    save(row)
    return
  end
  if late_of[c] == nil then late_of[c] = tonumber(redis.call('HGET', campaign_key(c), 'late')) end
  local late = late_of[c]
  local final, why
  if now - math.max(row.at, row.retried_at or 0) > late then
    final, why = 'missed', 'later than max_lateness (' .. string.format('%g', late)
      .. ' s) when it became due'
    if row.maybe_sent then
      final = 'unknown'
      why = MAYBE_OUT .. '; retries ran past max_lateness (' .. string.format('%g', late) .. ' s)'
    end
    move(row, final, now, why)
  else
    final = 'queued'
    move(row, final, now)
    redis.call('ZADD', INFLIGHT, now + requeue_after, id)
  end
  log_event(row, now, final, row.attempt, why)
  save(row)
  table.insert(out, id); table.insert(out, c); table.insert(out, row.channel)
  table.insert(out, final); table.insert(out, why or '')
end

local taken
taken, skipped = 0, 0
while taken < batch do
  local campaigns = redis.call('ZRANGEBYSCORE', DUE, '-inf', now, 'LIMIT', skipped, 20)
  if #campaigns == 0 then break end
  for _, c in ipairs(campaigns) do
    if held_back(c) then
      skipped = skipped + 1
    else
      local key = campaign_key(c) .. ':due'
      local ids = redis.call('ZRANGEBYSCORE', key, '-inf', now, 'LIMIT', 0, batch - taken)
      for _, id in ipairs(ids) do
        redis.call('ZREM', key, id)
        hand_out(id, c)
      end
      taken = taken + #ids
      local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
      if first[2] then redis.call('ZADD', DUE, first[2], c) else redis.call('ZREM', DUE, c) end
      if taken >= batch then break end
    end
  end
end

-- 3. Holds whose owner is gone: committed applies are rolled forward by the caller; anything
-- else past its time is garbage.
local helped = {}
for _, c in ipairs(redis.call('SMEMBERS', HOLDS)) do
  local state, expires = unpack(redis.call('HMGET', campaign_key(c) .. ':hold', 'state', 'exp'))
  if not state then
    redis.call('SREM', HOLDS, c)
  elseif tonumber(expires) <= now then
    if state == 'committed' then table.insert(helped, c) else drop_hold(c) end
  end
end
return {out, helped}
