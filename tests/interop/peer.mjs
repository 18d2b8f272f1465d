// A js-libp2p peer for p2plab's interop tests: TCP and WebSocket, Noise,
// yamux, identify, ping, and on request a circuit relay v2 server or client,
// GossipSub and pubsub peer discovery. It prints one JSON object per line,
// the same events as `p2plab node`:
//   {"event":"listening","peer":ID,"addrs":[...]}
//   {"event":"reserved","relay":ID,"addrs":[...]}        (--reserve)
//   {"event":"connected","peer":ID}
//   {"event":"identify","peer":ID,"agent":...,"protocols":[...],"listen_addrs":[...]}
//   {"event":"ping","rtt_ms":N}
//   {"event":"subscribed","peer":ID,"topic":T}           (--gossip, --discovery)
//   {"event":"published","topic":T,"data":S}             (--publish)
//   {"event":"message","from":ID,"topic":T,"data":S}     (--gossip; data
//      that is not UTF-8 text is printed as "data_hex":HEX instead)
//   {"event":"done","messages":N,"from":{ID:count,...}}  (--expect-messages)
//   {"event":"discovered","peer":ID,"addrs":[...]}       (--discovery)
//   {"event":"error","reason":...}
//
// Usage: node peer.mjs [options]
//   --listen MA            listen on MA (repeatable)
//   --ws-listen PORT       listen on /ip4/127.0.0.1/tcp/PORT/ws (0: any port);
//   --ws-port PORT         the same (p2plab node's spelling)
//   --dial MA              dial MA (a /p2p-circuit address too), then
//   --dial-circuit MA      the same, for a relayed address
//   --identify             wait for the dialled peer's identify and print it
//   --ping N               ping the dialled peer N times over the dialled
//                          connection (also when it is a limited, relayed one)
//   --relay-server         run a circuit relay v2 hop server
//   --relay-no-limit       relayed connections get no data/duration limit
//   --relay-data-limit B   limit per relayed connection in bytes (js: 128 KiB)
//   --relay-duration-limit MS   limit per relayed connection (js: 2 minutes)
//   --relay-max-reservations N
//   --reserve MA           reserve a slot on the relay MA (listen on
//                          MA/p2p-circuit) and print "reserved"
//   --bootstrap MA         dial MA at start (repeatable)
//   --gossip TOPIC         run GossipSub subscribed to TOPIC (repeatable)
//   --publish N            publish N messages "<prefix>-<i>" (i = 0..N-1) on
//                          the first --gossip topic, once --publish-wait-peers
//                          peers (default: the number of --bootstrap
//                          addresses, at least 1) are subscribed to it
//   --publish-interval MS  between two messages (default 20)
//   --publish-prefix S     (default: this peer's ID)
//   --publish-wait-peers K
//   --expect-messages N    succeed once N distinct messages (by data) were
//                          seen on the gossip topics, own ones included; then
//                          print "done", keep serving --linger MS (default
//                          1000) and exit 0
//   --discovery TOPIC      pubsub peer discovery on TOPIC (GossipSub carries
//                          it); dial each discovered peer, through its
//                          /p2p-circuit address when it has no direct one
//   --discovery-interval MS  between two broadcasts (default 1000)
//   --serve SECONDS        keep running that long (or until SIGTERM)
//   --timeout SECONDS      deadline: a listener exits 0 then, a peer with
//                          something unfinished (dial, pings, identify,
//                          messages) exits 1 (default 60 with those)
// It exits 0 when everything asked succeeded, 1 otherwise, 2 on bad usage.
import './polyfill.mjs'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { webSockets } from '@libp2p/websockets'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { gossipsub } from '@libp2p/gossipsub'
import { pubsubPeerDiscovery } from '@libp2p/pubsub-peer-discovery'
import { multiaddr } from '@multiformats/multiaddr'

function emit (obj) { process.stdout.write(JSON.stringify(obj) + '\n') }
function usage (reason) {
  emit({ event: 'error', reason })
  process.exit(2)
}

const args = process.argv.slice(2)
const opts = {
  listen: [],
  dial: null,
  ping: 0,
  identify: false,
  serve: 0,
  timeout: 0,
  relayServer: false,
  relayNoLimit: false,
  relayDataLimit: null,
  relayDurationLimit: null,
  relayMaxReservations: null,
  reserve: null,
  bootstrap: [],
  gossip: [],
  publish: 0,
  publishInterval: 20,
  publishPrefix: null,
  publishWaitPeers: null,
  expectMessages: 0,
  linger: 1000,
  discovery: null,
  discoveryInterval: 1000
}
const numeric = {
  '--ping': 'ping',
  '--serve': 'serve',
  '--timeout': 'timeout',
  '--relay-duration-limit': 'relayDurationLimit',
  '--relay-max-reservations': 'relayMaxReservations',
  '--publish': 'publish',
  '--publish-interval': 'publishInterval',
  '--publish-wait-peers': 'publishWaitPeers',
  '--expect-messages': 'expectMessages',
  '--linger': 'linger',
  '--discovery-interval': 'discoveryInterval'
}
for (let i = 0; i < args.length; i++) {
  const a = args[i]
  const v = args[i + 1]
  const needsValue = a in numeric ||
    ['--listen', '--ws-listen', '--ws-port', '--dial', '--dial-circuit', '--relay-data-limit',
      '--reserve', '--bootstrap', '--gossip', '--publish-prefix', '--discovery'].includes(a)
  if (needsValue && (v === undefined || v === '')) usage(`${a} needs a value`)
  if (a in numeric) {
    const n = Number(v)
    if (!Number.isInteger(n) || n < 0) usage(`${a}: not a number: ${v}`)
    opts[numeric[a]] = n
  } else if (a === '--listen') {
    opts.listen.push(v)
  } else if (a === '--ws-listen' || a === '--ws-port') {
    opts.listen.push(`/ip4/127.0.0.1/tcp/${Number(v)}/ws`)
  } else if (a === '--dial' || a === '--dial-circuit') {
    opts.dial = v
  } else if (a === '--identify') {
    opts.identify = true
  } else if (a === '--relay-server') {
    opts.relayServer = true
  } else if (a === '--relay-no-limit') {
    opts.relayNoLimit = true
  } else if (a === '--relay-data-limit') {
    opts.relayDataLimit = BigInt(v)
  } else if (a === '--reserve') {
    opts.reserve = v
  } else if (a === '--bootstrap') {
    opts.bootstrap.push(v)
  } else if (a === '--gossip') {
    opts.gossip.push(v)
  } else if (a === '--publish-prefix') {
    opts.publishPrefix = v
  } else if (a === '--discovery') {
    opts.discovery = v
  } else {
    usage(`unknown argument ${a}`)
  }
  if (needsValue) i++
}
if (opts.publish > 0 && opts.gossip.length === 0) usage('--publish needs --gossip')
if (opts.expectMessages > 0 && opts.gossip.length === 0) usage('--expect-messages needs --gossip')

const wantsCircuit = opts.reserve != null || opts.discovery != null ||
  (opts.dial != null && opts.dial.includes('/p2p-circuit'))
const transports = [tcp(), webSockets()]
if (wantsCircuit) transports.push(circuitRelayTransport())

const services = { identify: identify(), ping: ping() }
if (opts.relayServer) {
  const reservations = { applyDefaultLimit: !opts.relayNoLimit }
  if (opts.relayDataLimit != null) reservations.defaultDataLimit = opts.relayDataLimit
  if (opts.relayDurationLimit != null) reservations.defaultDurationLimit = opts.relayDurationLimit
  if (opts.relayMaxReservations != null) reservations.maxReservations = opts.relayMaxReservations
  services.relay = circuitRelayServer({ reservations })
}
if (opts.gossip.length > 0 || opts.discovery != null) {
  // pubsub-peer-discovery finds GossipSub as the service named "pubsub".
  services.pubsub = gossipsub({
    // Every peer here is 127.0.0.1: without this the IP-colocation score
    // penalty starts at 10 peers on one address.
    scoreParams: { IPColocationFactorWeight: 0 }
  })
}
if (opts.discovery != null) {
  // As a service (not under peerDiscovery) so that its own 'peer' events,
  // one per received broadcast, can be listened to: the node-level
  // peer:discovery fires only the first time a peer enters the peer store.
  services.discovery = pubsubPeerDiscovery({
    topics: [opts.discovery],
    interval: opts.discoveryInterval
  })
}

const listen = [...opts.listen]
if (opts.reserve != null) listen.push(`${opts.reserve}/p2p-circuit`)

let node
try {
  node = await createLibp2p({
    addresses: { listen },
    transports,
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services
  })
} catch (err) {
  emit({ event: 'error', reason: `start: ${err.message}` })
  process.exit(1)
}

const me = node.peerId.toString()
let ok = true
const dialMode = opts.dial != null
const idWaiters = new Map()
const connected = new Set()
function emitConnected (peer) {
  if (connected.has(peer)) return
  connected.add(peer)
  emit({ event: 'connected', peer })
}

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
  if (!dialMode) emit(out)
})
node.addEventListener('peer:connect', (evt) => {
  if (!dialMode) emitConnected(evt.detail.toString())
})

// Work that must finish for the exit status to be 0; the deadline fails it.
const pending = []
let linger = false
let deadlineHit = false
const timeoutMs = (opts.timeout > 0 ? opts.timeout : 60) * 1000
let deadlineTimer = null
const deadline = new Promise((resolve) => {
  deadlineTimer = setTimeout(() => { deadlineHit = true; resolve() }, timeoutMs)
})

if (opts.listen.length > 0) {
  emit({
    event: 'listening',
    peer: me,
    addrs: node.getMultiaddrs().filter((ma) => !ma.toString().includes('/p2p-circuit'))
      .map((ma) => ma.toString())
  })
}

if (opts.reserve != null) {
  // listen() on MA/p2p-circuit returned once the reservation was made.
  const relay = opts.reserve.split('/p2p/').pop().split('/')[0]
  const addrs = node.getMultiaddrs().map((ma) => ma.toString())
    .filter((s) => s.includes('/p2p-circuit'))
  if (addrs.length === 0) {
    ok = false
    emit({ event: 'error', reason: `no reservation on ${opts.reserve}` })
  } else {
    emit({ event: 'reserved', relay, addrs })
  }
}

// Ping over one given connection (the ping service would open a new one
// when the existing connection is limited, i.e. relayed).
async function pingOver (conn) {
  const signal = AbortSignal.timeout(10000)
  const stream = await conn.newStream('/ipfs/ping/1.0.0', {
    runOnLimitedConnection: true,
    signal
  })
  const data = crypto.getRandomValues(new Uint8Array(32))
  const start = performance.now()
  const got = []
  let n = 0
  stream.send(data)
  for await (const chunk of stream) {
    const bytes = chunk.subarray()
    got.push(bytes)
    n += bytes.byteLength
    if (n >= 32) break
    if (signal.aborted) throw new Error('ping timed out')
  }
  const rtt = performance.now() - start
  await stream.close().catch(() => {})
  const echo = Buffer.concat(got)
  if (echo.byteLength !== 32 || !echo.equals(Buffer.from(data))) {
    throw new Error('ping: wrong echo')
  }
  return Math.round(rtt * 1000) / 1000
}

for (const b of opts.bootstrap) {
  pending.push((async () => {
    try {
      const conn = await node.dial(multiaddr(b), { signal: AbortSignal.timeout(10000) })
      emitConnected(conn.remotePeer.toString())
    } catch (err) {
      ok = false
      emit({ event: 'error', reason: `bootstrap ${b}: ${err.message}` })
    }
  })())
}

if (opts.dial != null) {
  pending.push((async () => {
    try {
      const ma = multiaddr(opts.dial)
      const conn = await node.dial(ma, { signal: AbortSignal.timeout(10000) })
      const remote = conn.remotePeer.toString()
      emitConnected(remote)
      if (opts.identify) {
        // Wait for the automatic identify rather than racing it.
        const got = await new Promise((resolve, reject) => {
          idWaiters.set(remote, resolve)
          setTimeout(() => reject(new Error('identify timed out')), 10000)
        })
        emit(got)
      }
      for (let i = 0; i < opts.ping; i++) {
        emit({ event: 'ping', rtt_ms: await pingOver(conn) })
      }
    } catch (err) {
      ok = false
      emit({ event: 'error', reason: err.message })
    }
  })())
}

const pubsub = node.services.pubsub
if (pubsub != null) {
  pubsub.addEventListener('subscription-change', (evt) => {
    const peer = evt.detail.peerId.toString()
    for (const s of evt.detail.subscriptions) {
      if (s.subscribe) emit({ event: 'subscribed', peer, topic: s.topic })
    }
  })
}

if (opts.gossip.length > 0) {
  const seen = new Set()
  const from = {}
  let finish = null
  const finished = new Promise((resolve) => { finish = resolve })
  const count = (peer, data) => {
    if (seen.has(data)) return
    seen.add(data)
    from[peer] = (from[peer] ?? 0) + 1
    if (opts.expectMessages > 0 && seen.size === opts.expectMessages) {
      emit({ event: 'done', messages: seen.size, from })
      finish()
    }
  }
  for (const t of opts.gossip) pubsub.subscribe(t)
  pubsub.addEventListener('message', (evt) => {
    const m = evt.detail
    if (!opts.gossip.includes(m.topic)) return
    const peer = m.from != null ? m.from.toString() : null
    let data
    try {
      data = new TextDecoder('utf-8', { fatal: true }).decode(m.data)
    } catch {
      // Not text (a pubsub peer discovery record, say): print it in hex.
      const hex = Buffer.from(m.data).toString('hex')
      emit({ event: 'message', from: peer, topic: m.topic, data_hex: hex })
      count(peer, `hex:${hex}`)
      return
    }
    emit({ event: 'message', from: peer, topic: m.topic, data })
    count(peer, data)
  })
  if (opts.publish > 0) {
    const topic = opts.gossip[0]
    const prefix = opts.publishPrefix ?? me
    const want = opts.publishWaitPeers ?? Math.max(1, opts.bootstrap.length)
    pending.push((async () => {
      try {
        while (pubsub.getSubscribers(topic).length < want) {
          if (deadlineHit) throw new Error(`publish: fewer than ${want} subscribers`)
          await new Promise((resolve) => setTimeout(resolve, 50))
        }
        // One heartbeat more: a subscription can arrive before our own
        // outbound stream to that peer is open, and a message published
        // then is lost for it (flood publishing skips it, and a peer that
        // is already in the mesh gets no IHAVE gossip for it).
        await new Promise((resolve) => setTimeout(resolve, 1500))
        for (let i = 0; i < opts.publish; i++) {
          const data = `${prefix}-${i}`
          await pubsub.publish(topic, new TextEncoder().encode(data))
          emit({ event: 'published', topic, data })
          count(me, data)
          if (opts.publishInterval > 0) {
            await new Promise((resolve) => setTimeout(resolve, opts.publishInterval))
          }
        }
      } catch (err) {
        ok = false
        emit({ event: 'error', reason: `publish: ${err.message}` })
      }
    })())
  }
  if (opts.expectMessages > 0) {
    pending.push(Promise.race([finished, deadline]).then(() => {
      if (seen.size < opts.expectMessages) {
        ok = false
        emit({ event: 'error', reason: `saw ${seen.size} of ${opts.expectMessages} messages`, from })
      }
    }))
    linger = true
  }
}

if (opts.discovery != null) {
  const dialled = new Set()
  node.services.discovery.addEventListener('peer', (evt) => {
    const peer = evt.detail.id.toString()
    const addrs = evt.detail.multiaddrs
    emit({ event: 'discovered', peer, addrs: addrs.map((ma) => ma.toString()) })
    if (dialled.has(peer) || connected.has(peer)) return
    // The guides' listener: dial what was discovered, directly when the
    // peer gave a direct address, else through its relay.
    // Addresses without the final /p2p/ID get it (a circuit address needs it).
    const full = addrs.map((ma) => ma.toString().endsWith(`/p2p/${peer}`)
      ? ma
      : ma.encapsulate(`/p2p/${peer}`))
    const direct = full.filter((ma) => !ma.toString().includes('/p2p-circuit'))
    const relayed = full.filter((ma) => ma.toString().includes('/p2p-circuit'))
    const target = direct.length > 0 ? direct : relayed
    if (target.length === 0) return // wait for a broadcast with addresses
    dialled.add(peer)
    node.dial(target, { signal: AbortSignal.timeout(10000) })
      .then((conn) => emitConnected(conn.remotePeer.toString()))
      .catch((err) => {
        dialled.delete(peer)
        emit({ event: 'error', reason: `dial discovered ${peer}: ${err.message}` })
      })
  })
}

const stopped = new Promise((resolve) => {
  process.on('SIGTERM', resolve)
  process.on('SIGINT', resolve)
})

if (pending.length > 0) {
  const how = await Promise.race([
    Promise.all(pending).then(() => 'done'),
    deadline.then(() => 'timeout'),
    stopped.then(() => 'stopped')
  ])
  if (how !== 'done') {
    ok = false
    emit({ event: 'error', reason: how })
  }
  if (ok && linger && opts.linger > 0) {
    // Keep forwarding and answering gossip for the others a little longer.
    await Promise.race([new Promise((resolve) => setTimeout(resolve, opts.linger)), stopped])
  }
}

// A dialler and a peer expecting messages are done now; the others serve:
// --serve SECONDS, or until SIGTERM (or --timeout) for a listener given
// --timeout, a relay, a reserved, gossiping or discovering peer.
const finite = opts.dial != null || opts.expectMessages > 0
if (ok && !finite) {
  if (opts.serve > 0) {
    await Promise.race([new Promise((resolve) => setTimeout(resolve, opts.serve * 1000)), stopped])
  } else if (opts.timeout > 0) {
    await Promise.race([deadline, stopped])
  } else if (opts.relayServer || opts.reserve != null || opts.gossip.length > 0 ||
      opts.discovery != null) {
    await stopped
  }
}
clearTimeout(deadlineTimer)
await node.stop()
process.exit(ok ? 0 : 1)
