-- Bring back cancelled posts of a campaign's scope whose time is still ahead
-- (transitions.can_restore, transitions.restored).
-- ARGV: prefix, campaign, now, scope ("audience SEP channel SEP locale"), whole ("1")
-- Returns a flat list: id, channel, ... of the posts scheduled again.
local c, now, scope = ARGV[2], tonumber(ARGV[3]), ARGV[4]
if ARGV[5] == '1' then redis.call('HDEL', campaign_key(c), 'cancelled') end
local out = {}
for _, id in ipairs(redis.call('SMEMBERS', campaign_key(c) .. ':posts')) do
  local row = read_row(id)
  if row and row.state == 'cancelled' and row.at > now and scope_matches(scope, row) then
    move(id, row, 'scheduled', now)
    redis.call('HDEL', post_key(id), 'err', 'ek')
    redis.call('ZADD', SCHEDULE, row.at, id)
    log_event(id, now, 'scheduled', row.attempt, 'restored by a person')
    table.insert(out, id); table.insert(out, row.channel)
  end
end
return out
