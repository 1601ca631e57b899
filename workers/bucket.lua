-- Take one token from a token bucket shared by every worker.
-- KEYS[1]: the bucket. ARGV: capacity, per_seconds, now
-- Returns 0 when a token was taken, else the seconds until one is available (as a string).
local capacity, per, now = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local rate = capacity / per
local tokens, ts = unpack(redis.call('HMGET', KEYS[1], 'tokens', 'ts'))
tokens = tonumber(tokens) or capacity
ts = tonumber(ts) or now
tokens = math.min(capacity, tokens + math.max(0, now - ts) * rate)
local wait = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  wait = (1 - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(per) * 2)
return tostring(wait)
