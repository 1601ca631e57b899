"""How each platform counts a post, mirrored from its own code (docs/counting.md).

- twitter_text, twitter_text_urls: X's twitter-text 3.1.0 (parseTweet, extractUrls), with
  twemoji (twemoji-parser 11.0.2's emoji) and tlds (twitter-text's top-level domains), both
  generated from the npm packages;
- mastodon: Mastodon's StatusLengthValidator (links 23, @user@domain as @user);
- graphemes: grapheme clusters as a given Unicode version cuts them (Bluesky 16, Mastodon 15.0);
- telegram: TDLib's cleanup of a message before it counts code points.
campaign/rules.py turns these counts into each platform's verdict.
"""
