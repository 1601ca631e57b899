-- The gate of publishing (transitions.claim, then transitions.throttle): at most one attempt
-- publishes a post at a time, and it takes a token from its account's rate-limit bucket.
-- ARGV: prefix, id, now, owner, lease, resend policy as JSON (see claim_post in post.lua)
-- Returns claim_post's answer.
return claim_post(ARGV[2], tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5]), cjson.decode(ARGV[6]))
