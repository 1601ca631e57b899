-- Take one token from a token bucket shared by every worker.
-- KEYS[1]: the bucket. ARGV: prefix, capacity, per_seconds, now
-- Returns "0" when a token was taken, else the seconds until one is available.
return tostring(take_token(KEYS[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])))
