-- The two steps of a worker (transitions.claim, transitions.throttle, transitions.finish), as
-- functions: claim.lua, finish.lua and finish_claim.lua call them.

-- Claim `id`: {verdict, attempt, tries, campaign, channel, locale, at, text, maybe_sent ("1"),
-- retry_at, state, reason, channel version}. `policy` is the resend policy ({platform: window
-- s, or true for ever}; a platform not named is never resent).
local function claim_post(id, now, owner, lease, policy)
  local row = read_row(id)
  if not row then return {'skip', 0, 0, '', '', '', '', '', '', '', 'absent', '', ''} end
  local route = redis.call('HGET', campaign_key(row.campaign) .. ':routes', row.channel) or ''
  local platform, bucket, capacity, per, version = string.match(route,
    '^(.-)' .. SEP .. '(.-)' .. SEP .. '(.-)' .. SEP .. '(.-)' .. SEP .. '(.-)$')

  local function answer(verdict, retry_at)
    local text, at = '', ''
    if verdict == 'claimed' or verdict == 'resend' then text, at = row.text, row.at end
    return {verdict, row.attempt, row.tries, row.campaign, row.channel, row.locale,
      tostring(at), text, row.maybe_sent and '1' or '', retry_at and tostring(retry_at) or '',
      row.state, row.error or '', version or ''}
  end

  local function may_resend()
    local rule = policy[platform or '']
    if rule == nil or rule == false then return false end
    if rule == true or not row.first_try then return true end
    return now - row.first_try < rule
  end

  local function give_up(why)
    row.maybe_sent, row.owner = true, false
    move(row, 'unknown', now, why)
    log_event(row, now, 'unknown', row.attempt, why)
    save(row)
    return answer('unknown')
  end

  local function take(verdict)
    row.attempt, row.tries = row.attempt + 1, row.tries + 1
    row.first_try = row.first_try or r3(now)
    row.owner = owner
    move(row, 'sending', now)
    row.lease = r3(now + lease)
    if bucket and bucket ~= '' then
      local wait = take_token(P .. 'bucket:' .. bucket, tonumber(capacity), tonumber(per), now)
      if wait > 0 then
        row.tries, row.owner = row.tries - 1, false
        move(row, 'scheduled', now)
        schedule(row, now + wait, now)
        log_event(row, now, 'scheduled', row.attempt, 'throttled')
        save(row)
        return answer('throttled', row.due)
      end
    end
    redis.call('ZADD', INFLIGHT, now + lease, id)
    log_event(row, now, 'sending', row.attempt, verdict)
    save(row)
    return answer(verdict)
  end

  if row.state == 'sending' and row.owner == owner and (row.lease or 0) > now then
    return answer('claimed')  -- this owner's own claim, asked again: nothing changes
  end
  if row.state == 'queued' then
    local hold = held(row.campaign, now)
    if hold or is_paused(row) then
      move(row, 'scheduled', now)
      schedule(row, now, now)
      log_event(row, now, 'scheduled', row.attempt, hold and 'held' or 'paused')
      save(row)
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
    row.maybe_sent, row.owner = true, false
    if may_resend() then return take('resend') end
    return give_up('the worker was lost while sending; check the platform before resending')
  end
  return answer('skip')
end

-- Record the outcome of attempt `attempt` of `id`: {verdict, state, error}, verdict "recorded",
-- "repeated" or "stale". Outcomes and their arguments:
--   sent     remote id, url
--   failed   error, kind      (-> unknown when an earlier attempt may have been published)
--   unknown  error
--   retry    error, due, maybe sent ("1")
--   defer    reason, due     (the attempt does not count)
local function finish_post(id, attempt, now, outcome, x1, x2, x3)
  local row = read_row(id)
  if not row then return {'stale', '', ''} end
  if outcome == 'sent' then
    if row.state == 'sent' then
      return {row.finished == attempt and 'repeated' or 'stale', row.state, ''}
    end
    move(row, 'sent', now, '')
    row.error, row.sent_at, row.remote_id, row.url = nil, r3(now), x1, x2 ~= '' and x2 or nil
    row.finished, row.owner, row.maybe_sent = attempt, false, false
    log_event(row, now, 'sent', attempt, x2)
    save(row)
    return {'recorded', 'sent', ''}
  end
  if row.finished == attempt and row.state ~= 'sending' then
    return {'repeated', row.state, row.error or ''}
  end
  if row.state ~= 'sending' or row.attempt ~= attempt then return {'stale', row.state, ''} end

  row.finished, row.owner = attempt, false
  local state, err
  if outcome == 'failed' then
    state, err = 'failed', x1
    if row.maybe_sent then
      state = 'unknown'
      err = x1 .. '; ' .. MAYBE_OUT .. ': check the platform before retrying'
    end
    move(row, state, now, err)
    if state == 'failed' and x2 ~= '' then row.kind = x2 end
  elseif outcome == 'unknown' then
    state, err = 'unknown', x1
    move(row, state, now, err)
    row.maybe_sent = true
  elseif outcome == 'retry' then
    state, err = 'scheduled', x1
    move(row, state, now, err)
    if x3 == '1' then row.maybe_sent = true end
    schedule(row, tonumber(x2), now)
  elseif outcome == 'defer' then
    state, err = 'scheduled', row.error
    move(row, state, now)
    row.tries = row.tries - 1
    schedule(row, tonumber(x2), now)
  else
    return redis.error_reply('unknown outcome ' .. outcome)
  end
  log_event(row, now, state, attempt, err)
  save(row)
  return {'recorded', state, err or ''}
end
