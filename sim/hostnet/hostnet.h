/*
 * sim/hostnet/hostnet.h - a core libp2p host (p2p/host.h) on a backend host:
 * the glue between the host's sans-IO connections and the backend ABI's
 * TCP, clock and timers. The same glue runs a real node on the posix
 * backend (p2plab node) and simulated nodes on netsim.
 */
#ifndef SIM_HOSTNET_H
#define SIM_HOSTNET_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/host.h"
#include "plugins/backend.h"

typedef struct sim_hostnet sim_hostnet;

typedef struct sim_hostnet_config {
  const p2plab_backend_api *api;
  p2plab_backend *b;
  p2plab_host_id hid;
  const p2p_privkey *key;       /* copied by the host */
  const p2p_rand *rnd;          /* kept: must outlive the hostnet */
  const char *agent_version;    /* NULL for the host's default */
  const uint16_t *listen_ports; /* TCP ports to listen on (0: any) */
  size_t n_listen;
  /* Host events; `dialled` tells whether the connection was made with
   * sim_hostnet_dial. The callback may call sim_hostnet_* (but not _del)
   * and p2p_host_* functions. */
  void (*on_event)(void *ctx, const p2p_host_event *ev, int dialled);
  void (*log)(void *ctx, const char *msg); /* may be NULL */
  void *ctx;
} sim_hostnet_config;

/* Binds the listeners, then creates the host advertising their addresses
 * (/ip4/<address>/tcp/<port>). Returns 0, P2P_ERR_ADDRINUSE, or another
 * negative code; err gets a message. */
P2P_WUR int sim_hostnet_new(const sim_hostnet_config *cfg, sim_hostnet **out,
                            char *err, size_t errlen);

/* Closes every connection and listener and frees everything (no events). */
void sim_hostnet_del(sim_hostnet *hn);

p2p_host *sim_hostnet_host(sim_hostnet *hn);

/* The i-th listen address without /p2p/ (owned by the hostnet), or NULL. */
const p2p_multiaddr *sim_hostnet_listen_addr(const sim_hostnet *hn, size_t i);

/* Dials /ip4/A/tcp/P[/p2p/ID]. Events follow (CONNECTED, IDENTIFY ...,
 * CONN_CLOSED); a failed TCP connect ends in CONN_CLOSED with the error.
 * Returns 0 or P2P_ERR_INVALID (not an ip4/tcp address), P2P_ERR_NOMEM, or
 * the backend's error. */
P2P_WUR int sim_hostnet_dial(sim_hostnet *hn, const p2p_multiaddr *ma);

#endif /* SIM_HOSTNET_H */
