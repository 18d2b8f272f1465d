// A js-libp2p peer for p2plab's interop tests: TCP, Noise, yamux, identify,
// ping. It prints one JSON object per line, the same events as
// `p2plab node`:
//   {"event":"listening","peer":ID,"addrs":[...]}
//   {"event":"connected","peer":ID}
//   {"event":"identify","peer":ID,"agent":...,"protocols":[...],"listen_addrs":[...]}
//   {"event":"ping","rtt_ms":N}
//   {"event":"error","reason":...}
// Usage: node peer.mjs [--listen MA]... [--dial MA] [--ping N]
//                      [--identify] [--serve SECONDS]
// It exits 0 when everything asked succeeded, 1 otherwise; with --serve it
// keeps listening that long (or until SIGTERM) before exiting.
import './polyfill.mjs'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'

function emit (obj) { process.stdout.write(JSON.stringify(obj) + '\n') }

const args = process.argv.slice(2)
const opts = { listen: [], dial: null, ping: 0, identify: false, serve: 0 }
for (let i = 0; i < args.length; i++) {
  const a = args[i]
  const v = args[i + 1]
  if (a === '--listen') { opts.listen.push(v); i++ } else if (a === '--dial') { opts.dial = v; i++ } else if (a === '--ping') { opts.ping = Number(v); i++ } else if (a === '--identify') { opts.identify = true } else if (a === '--serve') { opts.serve = Number(v); i++ } else {
    emit({ event: 'error', reason: `unknown argument ${a}` })
    process.exit(2)
  }
}

const node = await createLibp2p({
  addresses: { listen: opts.listen },
  transports: [tcp()],
  connectionEncrypters: [noise()],
  streamMuxers: [yamux()],
  services: {
    identify: identify(),
    ping: ping()
  }
})

let ok = true
const idWaiters = new Map()
node.addEventListener('peer:identify', (evt) => {
  const r = evt.detail
  const out = {
    event: 'identify',
    peer: r.peerId.toString(),
    agent: r.agentVersion,
    protocols: r.protocols,
    listen_addrs: r.listenAddrs.map((ma) => ma.toString())
  }
  const w = idWaiters.get(out.peer)
  if (w) w(out)
  if (!opts.dial) emit(out)
})
node.addEventListener('peer:connect', (evt) => {
  if (!opts.dial) emit({ event: 'connected', peer: evt.detail.toString() })
})

if (opts.listen.length > 0) {
  emit({
    event: 'listening',
    peer: node.peerId.toString(),
    addrs: node.getMultiaddrs().map((ma) => ma.toString())
  })
}

if (opts.dial) {
  try {
    const ma = multiaddr(opts.dial)
    const conn = await node.dial(ma, { signal: AbortSignal.timeout(10000) })
    const remote = conn.remotePeer.toString()
    emit({ event: 'connected', peer: remote })
    if (opts.identify) {
      // Wait for the automatic identify rather than racing it.
      const got = await new Promise((resolve, reject) => {
        idWaiters.set(remote, resolve)
        setTimeout(() => reject(new Error('identify timed out')), 10000)
      })
      emit(got)
    }
    for (let i = 0; i < opts.ping; i++) {
      const rtt = await node.services.ping.ping(ma, { signal: AbortSignal.timeout(10000) })
      emit({ event: 'ping', rtt_ms: rtt })
    }
  } catch (err) {
    ok = false
    emit({ event: 'error', reason: err.message })
  }
}

if (opts.serve > 0) {
  await new Promise((resolve) => {
    setTimeout(resolve, opts.serve * 1000)
    process.on('SIGTERM', resolve)
  })
}
await node.stop()
process.exit(ok ? 0 : 1)
