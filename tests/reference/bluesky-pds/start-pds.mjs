// The real Bluesky PDS (@atproto/pds) and an in-memory did:plc directory in one Node 22 process,
// both listening on loopback only. Started by tests/reference/bluesky_pds.py, which passes the
// configuration through the environment: PLC_PORT, and the PDS_* variables that @atproto/pds's
// readEnv() reads. Prints "PDS READY <port>" once both serve requests.
import { createRequire } from 'node:module'
import { PDS, envToCfg, envToSecrets, readEnv } from '@atproto/pds'

const require = createRequire(import.meta.url)
const plc = require('@did-plc/server') // a CommonJS bundle

const LOOPBACK = '127.0.0.1'

// Both servers call app.listen(port), which binds every interface: pin them to loopback.
function onLoopback(app) {
  const listen = app.listen.bind(app)
  app.listen = (port, ...rest) => listen(port, LOOPBACK, ...rest)
}

// The directory keeps its DIDs in memory, so every start begins empty (and so must the PDS).
const directory = plc.PlcServer.create({
  db: plc.Database.mock(),
  port: Number(process.env.PLC_PORT),
})
onLoopback(directory.app)
await directory.start()

const env = readEnv()
const pds = await PDS.create(envToCfg(env), envToSecrets(env))
onLoopback(pds.app)
await pds.start()
console.log(`PDS READY ${env.port}`)

let stopping = false
async function stop() {
  if (stopping) return
  stopping = true
  await pds.destroy().catch((error) => console.error('pds.destroy:', error))
  await directory.destroy().catch((error) => console.error('plc.destroy:', error))
  process.exit(0)
}
process.once('SIGTERM', stop)
process.once('SIGINT', stop)

// Stop too when the test run that started us dies without stopping us (killed, timed out):
// we are then adopted by another process, and nothing else would ever stop us.
const parent = process.ppid
setInterval(() => {
  if (process.ppid !== parent) stop()
}, 1000).unref()
