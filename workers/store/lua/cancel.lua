-- Cancel the posts of a campaign's scope not yet claimed (transitions.can_cancel).
-- ARGV: prefix, campaign, now, reason, scope ("audience SEP channel SEP locale"), whole ("1")
-- Returns a flat list: id, channel, ... of the posts cancelled.
local c, now, reason, scope = ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
if ARGV[6] == '1' then redis.call('HSET', campaign_key(c), 'cancelled', reason) end
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', campaign_key(c) .. ':posts')) do
  local row = read_row(id)
  if row and (row.state == 'scheduled' or row.state == 'queued') and scope_matches(scope, row) then
    move(id, row, 'cancelled', now, reason)
    log_event(id, now, 'cancelled', row.attempt, reason)
    table.insert(out, id); table.insert(out, row.channel)
  end
end
return out
