-- Apply a plan change that fits in one chunk to one campaign, all or nothing, in one step.
-- ARGV: prefix, now, the change as JSON: {campaign, settings (see write_settings), add, change,
--   cancel (see rows.lua), reason}
-- Every check comes before the first write, so a conflict changes nothing.
-- Returns {} or {id, state} of the first conflict ({"", "held"}: an apply in steps, a cancel or
-- a restore of the same campaign is in progress).
local now = tonumber(ARGV[2])
local change = cjson.decode(ARGV[3])
local c = change.campaign
if held(c, now) then return {'', 'held'} end
local conflict = conflict_in(change)
if conflict then return conflict end
write_settings(c, change.settings)
write_rows(c, now, change, change.reason)
return {}
