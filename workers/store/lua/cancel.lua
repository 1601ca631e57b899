-- Cancel the posts of a campaign's scope not yet claimed (transitions.can_cancel), holding the
-- campaign and going through its posts a window per call: the first call cancels its queued
-- posts (none is queued after that while it is held), then every call a window of its
-- scheduled ones; the last releases the campaign.
-- ARGV: prefix, campaign, now, reason, scope ("audience SEP channel SEP locale"), whole ("1"),
--   hold id, hold expires, cursor ("" the first call), window
-- Returns {"held"} while another apply, cancel or restore holds the campaign, else {next
-- cursor ("" when done), id, channel, ...} of the posts cancelled.
local c, now, reason, scope = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local id, cursor, window = ARGV[7], ARGV[9], tonumber(ARGV[10])
if not take_hold(c, id, 'cancel', now, ARGV[8]) then return {'held'} end
local out = {''}

local function cancel(row)
  move(row, 'cancelled', now, reason)
  log_event(row, now, 'cancelled', row.attempt, reason)
  save(row)
  table.insert(out, row.id); table.insert(out, row.channel)
end

if cursor == '' then
  if ARGV[6] == '1' then redis.call('HSET', campaign_key(c), 'cancelled', reason) end
  for _, post in ipairs(redis.call('ZRANGE', INFLIGHT, 0, -1)) do
    local row = read_row(post)
    if row and row.campaign == c and row.state == 'queued' and scope_matches(scope, row) then
      cancel(row)
    end
  end
  cursor = 'near:-inf'
end
out[1] = walk_window(c, cursor, window, function(post)
  local row = read_row(post)
  if row and row.state == 'scheduled' and scope_matches(scope, row) then cancel(row) end
end)
if out[1] == '' then release_hold(c, id) end
return out
