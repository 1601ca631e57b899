-- Compare-and-swap of a shared credential: write only if its version is still the expected one.
-- KEYS[1]: the credential hash. ARGV: prefix, expected version ("" when absent), value
-- Returns the new version, or 0 when another process swapped it first.
local version = redis.call('HGET', KEYS[1], 'v')
if (version or '') ~= ARGV[2] then return 0 end
local next_version = (tonumber(version) or 0) + 1
redis.call('HSET', KEYS[1], 'v', next_version, 'value', ARGV[3])
return next_version
