-- Shared by every script (prepended when the scripts are loaded): key names, the ledger row,
-- and the decisions that several scripts make. Each decision mirrors a function of
-- workers/transitions.py; tests/test_store_redis.py checks that they agree case by case.
--
-- ARGV[1] is always the key prefix. Post ledger hash fields: c campaign, m message, a audience,
-- ch channel, loc locale, at scheduled time, st state, n attempt, tr tries, t1 first try,
-- u maybe sent ("1"), own owner, fin finished attempt, lease lease end, err error, rid remote id,
-- url, sent sent time, ts last change, ek the kind of a failure (what a person must do), rt when
-- a person retried it (lateness counts from then). The due time lives in `schedule`, the deadline in
-- `inflight` (sorted sets), the text in `text:<id>`, the history in the list `h:<id>`.
local P = ARGV[1]
local SCHEDULE, INFLIGHT = P .. 'schedule', P .. 'inflight'
local SEP = '\31'  -- unit separator: between the parts of a history entry, a route, a scope

local function ms(t) return string.format('%.3f', t) end  -- timestamps, to the millisecond
local function post_key(id) return P .. 'post:' .. id end
local function campaign_key(c) return P .. 'c:' .. c end

local function log_event(id, now, state, attempt, detail)
  redis.call('RPUSH', P .. 'h:' .. id,
    table.concat({ms(now), state, tostring(attempt or 0), detail or ''}, SEP))
end

-- The row a decision reads, or nil.
local function read_row(id)
  local v = redis.call('HMGET', post_key(id), 'st', 'at', 'n', 'tr', 't1', 'u', 'own', 'fin',
    'lease', 'c', 'ch', 'a', 'loc', 'err', 'rt')
  if not v[1] then return nil end
  return {state = v[1], at = tonumber(v[2]), attempt = tonumber(v[3]) or 0,
    tries = tonumber(v[4]) or 0, first_try = tonumber(v[5]), maybe_sent = v[6] == '1',
    owner = v[7] or false, finished = tonumber(v[8]) or 0, lease = tonumber(v[9]),
    campaign = v[10], channel = v[11], audience = v[12], locale = v[13], error = v[14],
    retried_at = tonumber(v[15])}
end

-- transitions.is_paused: a pause scope is "audience SEP channel SEP locale", "" matching all.
local function scope_matches(scope, row)
  local a, ch, loc = string.match(scope, '^(.-)' .. SEP .. '(.-)' .. SEP .. '(.-)$')
  return (a == '' or a == row.audience) and (ch == '' or ch == row.channel)
    and (loc == '' or loc == row.locale)
end

local function is_paused(row)
  for _, set in ipairs({P .. 'pauses:' .. row.campaign, P .. 'pauses:*'}) do
    for _, scope in ipairs(redis.call('SMEMBERS', set)) do
      if scope_matches(scope, row) then return true end
    end
  end
  return false
end

-- Keep the campaign's count of posts per state as a post leaves one state and enters another.
local function count(row, delta)
  redis.call('HINCRBY', campaign_key(row.campaign) .. ':counts', row.state, delta)
end

local function set_state(id, row, state, now)
  count(row, -1)
  redis.call('HSET', post_key(id), 'st', state, 'ts', ms(now))
  row.state = state
  count(row, 1)
end

-- Move a post to `state`: clears the lease and its in-flight entry (callers add what stays).
local function move(id, row, state, now, err)
  local key = post_key(id)
  set_state(id, row, state, now)
  redis.call('HDEL', key, 'lease')
  if err ~= nil then
    redis.call('HSET', key, 'err', err)
    redis.call('HDEL', key, 'ek')  -- a new error; a caller that knows its kind sets it after
  end
  redis.call('ZREM', INFLIGHT, id)
  redis.call('ZREM', SCHEDULE, id)
end

-- The token bucket shared by every worker (also bucket.lua): 0, or seconds until a token.
local function take_token(key, capacity, per, now)
  local rate = capacity / per
  local tokens, ts = unpack(redis.call('HMGET', key, 'tokens', 'ts'))
  tokens = tonumber(tokens) or capacity
  ts = tonumber(ts) or now
  tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
  local wait = 0
  if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
  redis.call('HSET', key, 'tokens', tostring(tokens), 'ts', tostring(now))
  redis.call('EXPIRE', key, math.ceil(per) * 2)
  return wait
end

local MAYBE_OUT = 'an earlier attempt may have been published'
