// Node's Intl.Segmenter as a batch oracle: the grapheme count of each text, as the Bluesky PDS
// counts them (@atproto/common-web's graphemeLen). Reads a JSON array of texts on stdin,
// writes {"unicode", "icu", "counts"} on stdout: one Node process for a whole corpus.
'use strict'
const segmenter = new Intl.Segmenter()
const chunks = []
process.stdin.on('data', (chunk) => chunks.push(chunk))
process.stdin.on('end', () => {
  const texts = JSON.parse(Buffer.concat(chunks).toString('utf8'))
  const counts = texts.map((text) => {
    let count = 0
    for (const _ of segmenter.segment(text)) count++
    return count
  })
  const { unicode, icu } = process.versions
  process.stdout.write(JSON.stringify({ unicode, icu, counts }))
})
