"""Delivery: the store, the scheduler and the publishers, in one process or on Celery workers.

settings.py     Settings (CAMPAIGN_* variables, .env found upwards), built once
store/          the Store interface (__init__), its records, and two backends:
                sqlite.py (embedded, the default) and redis.py with lua/*.lua
transitions.py  the state machine of a post, as pure functions both backends follow
diff.py         plan vs store, applied all or nothing
scheduler.py    hands due posts to a queue (Celery's, or run.py's in-process one)
run.py          `campaign run`: the scheduler and a pool of publishers in one process
app.py          create_app(settings) -> Celery; celery.py is `celery -A workers`
tasks.py        the thin publish task
publish.py      claim, publish, record; reconcile an unknown post with its platform
secrets.py      a channel's secrets from the environment, checked before any request
ratelimit.py    the rate-limit bucket of each channel account
channels.py     `campaign channels check`: can each channel post?
middleware.py   before_publish / after_publish hooks
status.py       what `campaign status` shows
logging.py      one line per state change, JSON optional, every record redacted
platforms/      the client seam (base, auth, http) and one client per platform
"""
