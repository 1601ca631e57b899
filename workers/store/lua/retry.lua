-- Schedule posts again that a person chose to retry (transitions.can_retry, transitions.retried).
-- ARGV: prefix, now, confirmed not out ("1"), id, id, ...
-- Returns a flat list: id, campaign, channel, ... of the posts scheduled again.
local now, confirmed = tonumber(ARGV[2]), ARGV[3] == '1'
local out = {}
for i = 4, #ARGV do
  local id = ARGV[i]
  local row = read_row(id)
  if row and (row.state == 'failed' or row.state == 'missed'
      or (row.state == 'unknown' and confirmed)) then
    move(row, 'scheduled', now, '')
    row.error, row.tries, row.retried_at, row.first_try = nil, 0, r3(now), nil
    row.maybe_sent, row.owner = false, false
    schedule(row, now, now)
    log_event(row, now, 'scheduled', row.attempt, 'retried by a person')
    save(row)
    table.insert(out, id); table.insert(out, row.campaign); table.insert(out, row.channel)
  end
end
return out
