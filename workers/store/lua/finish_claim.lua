-- A worker's two steps between two posts in one: record the outcome of one post's attempt, then
-- claim the next post (finish.lua, then claim.lua). One round trip instead of two.
-- ARGV: prefix, id, attempt, now, outcome, x1, x2, x3 (finish_post's), next id, owner, lease,
--   resend policy as JSON
-- Returns the finish's answer followed by the claim's.
local now = tonumber(ARGV[4])
local done = finish_post(ARGV[2], tonumber(ARGV[3]), now, ARGV[5], ARGV[6], ARGV[7], ARGV[8])
local claimed = claim_post(ARGV[9], now, ARGV[10], tonumber(ARGV[11]), cjson.decode(ARGV[12]))
for _, value in ipairs(claimed) do table.insert(done, value) end
return done
