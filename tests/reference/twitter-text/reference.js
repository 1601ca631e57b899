// The official twitter-text as a batch oracle for the differential tests (tests/reference/).
// Reads one JSON request on stdin and writes one JSON answer on stdout, so that a corpus of
// thousands of texts costs one Node process:
//   {"op": "parse", "texts": [...]}  -> [[weightedLength, valid], ...]   (parseTweet, v3 config)
//   {"op": "urls", "texts": [...]}   -> [[url, ...], ...]                 (extractUrls)
//   {"op": "twemoji"}                -> {"version", "source"}             (twemoji-parser's regex)
//   {"op": "tlds"}                   -> {"generic", "country"}            (its TLD regexes' sources)
'use strict'
const twitter = require('twitter-text')
const twemojiRegex = require('twemoji-parser/dist/lib/regex').default

const ops = {
  parse: ({ texts }) =>
    texts.map((text) => {
      const parsed = twitter.parseTweet(text)
      return [parsed.weightedLength, parsed.valid]
    }),
  urls: ({ texts }) => texts.map((text) => twitter.extractUrls(text)),
  tlds: () => ({
    generic: require('twitter-text/dist/regexp/validGTLD').source,
    country: require('twitter-text/dist/regexp/validCCTLD').source,
  }),
  twemoji: () => ({
    version: require('twemoji-parser/package.json').version,
    source: twemojiRegex.source,
  }),
}

const chunks = []
process.stdin.on('data', (chunk) => chunks.push(chunk))
process.stdin.on('end', () => {
  const request = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  const op = ops[request.op]
  if (!op) {
    process.stderr.write(`unknown op ${JSON.stringify(request.op)}\n`)
    process.exit(2)
  }
  process.stdout.write(JSON.stringify(op(request)))
})
