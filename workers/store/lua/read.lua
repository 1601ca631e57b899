-- Read the rows of many posts at once (what `plan` compares a file with, status, lookups).
-- ARGV: prefix, id, id, ...
-- Returns each row, or nil for a post that does not exist, in the order of the ids.
local out = {}
for i = 2, #ARGV do
  out[i - 1] = redis.call('HGET', bucket_key(ARGV[i]), ARGV[i]) or false
end
return out
