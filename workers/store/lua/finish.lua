-- Record the outcome of one attempt (transitions.finish).
-- ARGV: prefix, id, attempt, now, outcome, then the outcome's arguments (see finish_post in
-- post.lua). Returns {verdict, state, error}: verdict "recorded", "repeated" or "stale".
return finish_post(ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6], ARGV[7],
  ARGV[8])
