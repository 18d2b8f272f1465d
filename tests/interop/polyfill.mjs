// Node 20 lacks two things js-libp2p 3.x uses (see shared/INTEROP-NOTES.md):
// Promise.withResolvers and a global WebSocket. Import this module first.
import { WebSocket } from 'ws'

if (typeof Promise.withResolvers !== 'function') {
  Promise.withResolvers = function withResolvers () {
    let resolve, reject
    const promise = new Promise((res, rej) => { resolve = res; reject = rej })
    return { promise, resolve, reject }
  }
}
if (typeof globalThis.WebSocket === 'undefined') {
  globalThis.WebSocket = WebSocket
}
