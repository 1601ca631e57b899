-- The gate of publishing (transitions.claim, then transitions.throttle): at most one attempt
-- publishes a post at a time, and it takes a token from its account's rate-limit bucket.
-- ARGV: prefix, id, now, owner, lease, resend policy as JSON ({platform: window s, or true
--   for ever}; a platform not named is never resent)
-- Returns {verdict, attempt, tries, campaign, channel, locale, at, text, maybe_sent ("1"),
--   retry_at, state, reason}
local id, now, owner, lease = ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local policy = cjson.decode(ARGV[6])
local key = post_key(id)
local row = read_row(id)
if not row then return {'skip', 0, 0, '', '', '', '', '', '', '', 'absent', ''} end
local route = redis.call('HGET', campaign_key(row.campaign) .. ':routes', row.channel) or ''
local platform, bucket, capacity, per = string.match(route, '^(.-)' .. SEP .. '(.-)' .. SEP
  .. '(.-)' .. SEP .. '(.-)$')

local function answer(verdict, retry_at)
  local text, at = '', ''
  if verdict == 'claimed' or verdict == 'resend' then
    text = redis.call('GET', P .. 'text:' .. id)
    at = ms(row.at)
  end
  return {verdict, row.attempt, row.tries, row.campaign, row.channel, row.locale, at, text,
    row.maybe_sent and '1' or '', retry_at or '', row.state, row.error or ''}
end

local function may_resend()
  local rule = policy[platform or '']
  if rule == nil or rule == false then return false end
  if rule == true or not row.first_try then return true end
  return now - row.first_try < rule
end

local function give_up(why)
  redis.call('HSET', key, 'u', '1')
  redis.call('HDEL', key, 'own')
  move(id, row, 'unknown', now, why)
  row.maybe_sent, row.error = true, why
  log_event(id, now, 'unknown', row.attempt, why)
  return answer('unknown')
end

local function take(verdict)
  row.attempt, row.tries = row.attempt + 1, row.tries + 1
  set_state(id, row, 'sending', now)
  redis.call('HSET', key, 'n', row.attempt, 'tr', row.tries, 'own', owner,
    'lease', ms(now + lease))
  if not row.first_try then redis.call('HSET', key, 't1', ms(now)) end
  redis.call('ZADD', INFLIGHT, now + lease, id)
  if bucket and bucket ~= '' then
    local wait = take_token(P .. 'bucket:' .. bucket, tonumber(capacity), tonumber(per), now)
    if wait > 0 then
      row.tries = row.tries - 1
      redis.call('HSET', key, 'tr', row.tries)
      redis.call('HDEL', key, 'own')
      move(id, row, 'scheduled', now)
      redis.call('ZADD', SCHEDULE, now + wait, id)
      log_event(id, now, 'scheduled', row.attempt, 'throttled')
      return answer('throttled', ms(now + wait))
    end
  end
  log_event(id, now, 'sending', row.attempt, verdict)
  return answer(verdict)
end

if row.state == 'sending' and row.owner == owner and (row.lease or 0) > now then
  return answer('claimed')  -- this owner's own claim, asked again: nothing changes
end
if row.state == 'queued' then
  if is_paused(row) then
    move(id, row, 'scheduled', now)
    redis.call('ZADD', SCHEDULE, now, id)
    log_event(id, now, 'scheduled', row.attempt, 'paused')
    return answer('paused')
  end
  if row.maybe_sent and not may_resend() then
    return give_up(MAYBE_OUT .. ' and resending is no longer safe; check the platform')
  end
  return take('claimed')
end
if row.state == 'sending' then
  if (row.lease or 0) > now then return answer('busy') end
  -- The lease ran out: the worker died between its claim and its outcome, so its request may
  -- have reached the platform.
  row.maybe_sent = true
  redis.call('HSET', key, 'u', '1')
  if may_resend() then return take('resend') end
  return give_up('the worker was lost while sending; check the platform before resending')
end
return answer('skip')
