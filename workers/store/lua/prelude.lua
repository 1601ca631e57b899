-- Shared by every script (prepended when the scripts are loaded): key names, the ledger row,
-- the indexes kept beside it, and the decisions several scripts make. Each decision mirrors a
-- function of workers/transitions.py; tests/test_store_redis.py checks that they agree.
--
-- ARGV[1] is always the key prefix P. A post's ledger row is one field of the hash
-- P p:<first 2 characters of its id>, written as
--   campaign SEP message SEP audience SEP channel SEP locale SEP scheduled time RS json NUL text
-- where json holds what changes, absent when empty: s state, d due (a scheduled post; absent:
-- the scheduled time), n attempt, tr tries, t1 first try, u maybe sent (1), o owner, f finished
-- attempt, le lease end, e error, k the kind of a failure (what a person must do), ri remote id,
-- url, se sent time, ts last change, rt when a person retried it (lateness counts from then),
-- h history: [[time, state, attempt, detail], ...]. Times are epoch seconds to the millisecond.
--
-- A scheduled post due within HORIZON is in its campaign's sorted set P c:<slug>:due (id ->
-- due), and P due holds each campaign's earliest (never later than it). A post due later is in
-- a list per day, P c:<slug>:l:<day>, moved to the sorted set by the scheduler's pass once its
-- day comes within HORIZON (P later, P c:<slug>:later: the days). A list entry whose post moved
-- on is stale: dropped when read, never searched for. A cancelled post stays listed until its
-- time (restore finds it there). Queued and sending posts are in P inflight (id -> deadline).
local P = ARGV[1]
local SEP, RS = '\31', '\30'
local DUE, LATER, INFLIGHT, HOLDS = P .. 'due', P .. 'later', P .. 'inflight', P .. 'holds'
local DAY = 86400
local HORIZON = 7 * DAY
local RECENT = 100  -- sent posts listed per campaign for `status`
local MAYBE_OUT = 'an earlier attempt may have been published'

local function r3(t) return t and math.floor(t * 1000 + 0.5) / 1000 end  -- to the millisecond
local function bucket_key(id) return P .. 'p:' .. string.sub(id, 1, 2) end  -- 256 buckets
local function campaign_key(c) return P .. 'c:' .. c end

-- The row a decision reads, or nil. `was` and `was_kind` remember what the indexes hold.
local function read_row(id)
  local raw = redis.call('HGET', bucket_key(id), id)
  if not raw then return nil end
  local cut = string.find(raw, '\0', 1, true)
  local head = string.sub(raw, 1, cut - 1)
  local rs = string.find(head, RS, 1, true)
  local c, m, a, ch, l, at = string.match(string.sub(head, 1, rs - 1),
    '^(.-)' .. SEP .. '(.-)' .. SEP .. '(.-)' .. SEP .. '(.-)' .. SEP .. '(.-)' .. SEP .. '(.*)$')
  local v = cjson.decode(string.sub(head, rs + 1))
  at = tonumber(at)
  return {id = id, text = string.sub(raw, cut + 1), was = v.s, was_kind = v.k,
    state = v.s, campaign = c, message = m, audience = a, channel = ch, locale = l, at = at,
    due = v.d or at, attempt = v.n or 0, tries = v.tr or 0, first_try = v.t1,
    maybe_sent = v.u == 1, owner = v.o or false, finished = v.f or 0, lease = v.le,
    error = v.e, kind = v.k, remote_id = v.ri, url = v.url, sent_at = v.se, updated = v.ts,
    retried_at = v.rt, history = v.h}
end

local function log_event(row, now, state, attempt, detail)
  row.history = row.history or {}
  local entry = {r3(now), state, attempt or 0}
  if detail and detail ~= '' then entry[4] = detail end
  table.insert(row.history, entry)
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

-- A campaign is held while an apply in steps, a cancel or a restore works through it: nothing
-- of it is handed out or claimed meanwhile. A committed apply holds it until rolled forward;
-- anything else only until its hold expires (its owner died; renewed by each step).
local function held(c, now)
  local state, expires = unpack(redis.call('HMGET', campaign_key(c) .. ':hold', 'state', 'exp'))
  if not state then return false end
  return state == 'committed' or tonumber(expires) > now
end

-- Drop a campaign's hold, and the chunks an apply staged under it.
local function drop_hold(c)
  local key = campaign_key(c) .. ':hold'
  local id, chunks = unpack(redis.call('HMGET', key, 'id', 'chunks'))
  for n = 0, (tonumber(chunks) or 0) - 1 do redis.call('DEL', P .. 'stage:' .. id .. ':' .. n) end
  redis.call('DEL', key)
  redis.call('SREM', HOLDS, c)
end

local PROBLEM = {failed = true, unknown = true, missed = true}

-- Write the row and keep the campaign's indexes as it left `was` for `state`: counts per state,
-- problems (failed, unknown, missed), the last posts sent, and failed posts that need a person.
local function save(row)
  local v = {s = row.state, t1 = row.first_try, o = row.owner or nil, le = row.lease,
    e = row.error, k = row.kind, ri = row.remote_id, url = row.url, se = row.sent_at,
    ts = row.updated, rt = row.retried_at, h = row.history}
  if row.state == 'scheduled' and row.due ~= row.at then v.d = row.due end
  if row.attempt ~= 0 then v.n = row.attempt end
  if row.tries ~= 0 then v.tr = row.tries end
  if row.finished ~= 0 then v.f = row.finished end
  if row.maybe_sent then v.u = 1 end
  redis.call('HSET', bucket_key(row.id), row.id, table.concat({row.campaign, row.message,
    row.audience, row.channel, row.locale, tostring(row.at)}, SEP) .. RS .. cjson.encode(v)
    .. '\0' .. row.text)
  local c = campaign_key(row.campaign)
  local was, state = row.was, row.state
  if was ~= state then
    if was then redis.call('HINCRBY', c .. ':counts', was, -1) end
    redis.call('HINCRBY', c .. ':counts', state, 1)
    if PROBLEM[was] and not PROBLEM[state] then redis.call('ZREM', c .. ':problems', row.id) end
    if PROBLEM[state] and not PROBLEM[was] then
      redis.call('ZADD', c .. ':problems', row.at, row.id)
    end
    if state == 'sent' then
      redis.call('LPUSH', c .. ':sent', row.id)
      redis.call('LTRIM', c .. ':sent', 0, RECENT - 1)
    end
  end
  local before = was == 'failed' and row.was_kind or nil
  local after = state == 'failed' and row.kind or nil
  if before ~= after then
    if before then
      local field = before .. SEP .. row.channel
      if redis.call('HINCRBY', c .. ':needs', field, -1) <= 0 then
        redis.call('HDEL', c .. ':needs', field, field .. SEP .. 'last')
      end
    end
    if after then
      local field = after .. SEP .. row.channel
      redis.call('HINCRBY', c .. ':needs', field, 1)
      redis.call('HSET', c .. ':needs', field .. SEP .. 'last', row.error or '')
    end
  end
  row.was, row.was_kind = state, row.kind
end

-- Put a post on its campaign's sorted set of posts due soon.
local function near(c, id, due)
  redis.call('ZADD', campaign_key(c) .. ':due', due, id)
  redis.call('ZADD', DUE, 'LT', due, c)
end

-- A scheduled post, due at `due`: on the sorted set when that is within HORIZON of `now`, else
-- on the list of its day.
local function schedule(row, due, now)
  due = r3(due)
  row.due = due
  if due <= now + HORIZON then
    near(row.campaign, row.id, due)
  else
    local day = math.floor(due / DAY)
    local c = campaign_key(row.campaign)
    redis.call('RPUSH', c .. ':l:' .. day, row.id)
    redis.call('ZADD', c .. ':later', day * DAY, day)
    redis.call('ZADD', LATER, day * DAY, row.campaign .. SEP .. day)
  end
end

-- transitions._moved: `state` as of `now`; the lease and the in-flight entry go (callers add
-- what stays), and an error given replaces the old one and its kind.
local function move(row, state, now, err)
  row.state = state
  row.updated = r3(now)
  row.lease = nil
  if err ~= nil then
    row.error = err
    row.kind = nil
  end
  redis.call('ZREM', INFLIGHT, row.id)
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
