/*
 * sim/hostnet/hostnet.h - a core libp2p host (p2p/host.h) on a backend host:
 * the glue between the host's sans-IO connections and the backend ABI's
 * TCP, clock and timers. The same glue runs a real node on the posix
 * backend (p2plab node) and simulated nodes on netsim.
 *
 * Transports: plain TCP (/ip4/A/tcp/P) and WebSocket over TCP
 * (/ip4/A/tcp/P/ws, RFC 6455 through p2p/websocket.h). A WebSocket
 * connection is handed to the host only once its HTTP upgrade completed
 * (on the server side: and the client's first data arrived, so that
 * nothing rides with the 101 answer), so the host's own handshake timeout
 * starts then; the upgrade itself has SIM_HOSTNET_WS_HANDSHAKE_TIMEOUT_NS.
 * Closing a WebSocket connection sends a close frame, then FIN; a peer that
 * does not finish the close within SIM_HOSTNET_WS_LINGER_NS is reset. A
 * WebSocket failure (malformed frames, a refused upgrade) closes the host
 * connection with the error and logs the reason.
 */
#ifndef SIM_HOSTNET_H
#define SIM_HOSTNET_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/host.h"
#include "plugins/backend.h"

typedef struct sim_hostnet sim_hostnet;

/* Listeners of each kind (TCP, WebSocket) a hostnet may have. */
#define SIM_HOSTNET_MAX_LISTEN 8
/* Time allowed for a WebSocket upgrade once TCP is connected. */
#define SIM_HOSTNET_WS_HANDSHAKE_TIMEOUT_NS 10000000000ull
/* Time a closing WebSocket connection waits for the peer's FIN. */
#define SIM_HOSTNET_WS_LINGER_NS 10000000000ull

typedef struct sim_hostnet_config {
  const p2plab_backend_api *api;
  p2plab_backend *b;
  p2plab_host_id hid;
  const p2p_privkey *key;       /* copied by the host */
  const p2p_rand *rnd;          /* kept: must outlive the hostnet */
  const char *agent_version;    /* NULL for the host's default */
  const uint16_t *listen_ports; /* TCP ports to listen on (0: any) */
  size_t n_listen;
  const uint16_t *ws_ports; /* WebSocket ports to listen on (0: any) */
  size_t n_ws;
  /* A browser: dials only WebSocket addresses (a plain TCP dial is
   * P2P_ERR_INVALID) and cannot listen (listen or ws ports are refused). */
  int browser;
  /* Host events; `dialled` tells whether we dialled the connection (with
   * sim_hostnet_dial or the host's p2p_host_dial); it is 0 for the
   * connections the host makes itself (relayed circuits). The callback may
   * call sim_hostnet_* (but not _del) and p2p_host_* functions. */
  void (*on_event)(void *ctx, const p2p_host_event *ev, int dialled);
  void (*log)(void *ctx, const char *msg); /* may be NULL */
  void *ctx;
  uint64_t unix_offset_ns; /* p2p_host_config.unix_offset_ns */
} sim_hostnet_config;

/* Binds the listeners, then creates the host advertising their addresses
 * (/ip4/<address>/tcp/<port> for TCP, then /ip4/<address>/tcp/<port>/ws for
 * WebSocket) and dialing through the hostnet (p2p_host_config.dial).
 * Returns 0, P2P_ERR_ADDRINUSE, P2P_ERR_INVALID (a bad configuration, e.g.
 * listen ports for a browser), or another negative code; err gets a
 * message. */
P2P_WUR int sim_hostnet_new(const sim_hostnet_config *cfg, sim_hostnet **out,
                            char *err, size_t errlen);

/* Closes every connection and listener and frees everything (no events). */
void sim_hostnet_del(sim_hostnet *hn);

p2p_host *sim_hostnet_host(sim_hostnet *hn);

/* The i-th listen address without /p2p/ (owned by the hostnet), or NULL:
 * the TCP ones first, then the WebSocket ones, in configuration order. */
const p2p_multiaddr *sim_hostnet_listen_addr(const sim_hostnet *hn, size_t i);

/* Dials /ip4/A/tcp/P[/p2p/ID] or /ip4/A/tcp/P/ws[/p2p/ID] (a WebSocket
 * client with Host "A:P" and path "/"). Events follow (CONNECTED, IDENTIFY
 * ..., CONN_CLOSED); a failed TCP connect or WebSocket upgrade ends in
 * CONN_CLOSED with conn NULL and the error. Returns 0 or P2P_ERR_INVALID
 * (not such an address, or plain TCP for a browser), P2P_ERR_NOMEM, or the
 * backend's error. The host's config.dial does the same. */
P2P_WUR int sim_hostnet_dial(sim_hostnet *hn, const p2p_multiaddr *ma);

#endif /* SIM_HOSTNET_H */
