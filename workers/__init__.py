"""Delivery: the Redis store, the scheduler and the Celery workers that publish posts.

settings.py     Settings (CAMPAIGN_* variables, .env)
store.py        schedule + ledger in Redis; every transition a Lua script (*.lua)
ledger.py       post states and the records the store hands back
diff.py         plan vs store, applied all or nothing
scheduler.py    hands due posts to the queue
app.py          create_app(settings) -> Celery; celery.py is `celery -A workers`
tasks.py        the thin publish task
publish.py      claim, rate-limit, publish, record
ratelimit.py    token buckets per channel account
middleware.py   before_publish / after_publish hooks
status.py       what `campaign status` shows
logging.py      one line per state change, JSON optional, secrets masked
platforms/      one client per platform
"""
