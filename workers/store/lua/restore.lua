-- Bring back cancelled posts of a campaign's scope whose time is still ahead
-- (transitions.can_restore, transitions.restored), holding the campaign and going through its
-- posts a window per call. A cancelled post was never handed out, so it is still listed at its
-- own time; the last call releases the campaign.
-- ARGV: prefix, campaign, now, scope ("audience SEP channel SEP locale"), whole ("1"), hold id,
--   hold expires, cursor ("" the first call), window
-- Returns {"held"} while another apply, cancel or restore holds the campaign, else {next
-- cursor ("" when done), id, channel, ...} of the posts scheduled again.
local c, now, scope = ARGV[2], tonumber(ARGV[3]), ARGV[4]
local id, cursor, window = ARGV[6], ARGV[8], tonumber(ARGV[9])
if not take_hold(c, id, 'restore', now, ARGV[7]) then return {'held'} end
local out = {''}
if cursor == '' then
  if ARGV[5] == '1' then redis.call('HDEL', campaign_key(c), 'cancelled') end
  cursor = 'near:(' .. tostring(now)
end
out[1] = walk_window(c, cursor, window, function(post, phase)
  local row = read_row(post)
  if row and row.state == 'cancelled' and row.at > now and scope_matches(scope, row) then
    move(row, 'scheduled', now, '')
    row.error, row.due = nil, row.at
    if phase == 'near' then near(c, post, row.at) end  -- a day list keeps its entry
    log_event(row, now, 'scheduled', row.attempt, 'restored by a person')
    save(row)
    table.insert(out, post); table.insert(out, row.channel)
  end
end)
if out[1] == '' then release_hold(c, id) end
return out
