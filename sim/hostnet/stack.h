/*
 * sim/hostnet/stack.h - a whole libp2p node of the guides on a backend host:
 * the core host on hostnet (TCP and WebSocket), GossipSub, the circuit relay
 * v2 hop server (relays) or client (reservations on the bootstrap relays,
 * the stop handler, /p2p-circuit dialing), bootstrap and pubsub peer
 * discovery with the guides' dial-on-discovery. The simulator's runner and
 * the real `p2plab relay` / `p2plab node` use the same assembly.
 */
#ifndef SIM_STACK_H
#define SIM_STACK_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/discovery.h"
#include "p2p/gossipsub.h"
#include "p2p/relay.h"
#include "sim/hostnet/hostnet.h"

typedef struct sim_stack sim_stack;

typedef struct sim_stack_config {
  const p2plab_backend_api *api;
  p2plab_backend *b;
  p2plab_host_id hid;
  const p2p_privkey *key;    /* copied by the host */
  const p2p_rand *rnd;       /* kept: must outlive the stack */
  const char *agent_version; /* NULL: the host's default */
  const uint16_t *tcp_ports; /* TCP listen ports */
  size_t n_tcp;
  const uint16_t *ws_ports; /* WebSocket listen ports */
  size_t n_ws;
  int browser;             /* dials ws (and circuits) only, cannot listen */
  uint64_t unix_offset_ns; /* the Unix time at backend time 0 */
  /* Relay: run the hop server with these limits (callbacks are the
   * stack's: on_trace reports its events). */
  int relay_server;
  p2p_relay_server_config relay;
  /* Listen on /p2p-circuit: keep a reservation on every bootstrap peer. */
  int circuit_listen;
  /* GossipSub: on when `pubsub` is set or topics or discovery are given;
   * settings (callbacks are the stack's) and the topics the application
   * subscribes to (copied). */
  int pubsub;
  p2p_gossipsub_config gossip;
  const char *const *topics;
  size_t n_topics;
  /* Discovery. */
  const p2p_multiaddr *bootstrap; /* copied; each ends in /p2p/ID */
  size_t n_bootstrap;
  const char *discovery_topic; /* NULL: no pubsub peer discovery */
  uint64_t discovery_interval_ns;
  unsigned max_conns; /* stop dialling discovered peers at this many */

  /* Application callbacks (any may be NULL); ctx is passed to each. */
  void (*on_message)(void *ctx, sim_stack *st, const p2p_gossip_msg *m,
                     uint64_t now);
  void (*on_subscription)(void *ctx, sim_stack *st, const p2p_peerid *peer,
                          const char *topic, int subscribed, uint64_t now);
  void (*on_discovery)(void *ctx, sim_stack *st, const p2p_peerid *peer,
                       const p2p_multiaddr *addrs, size_t n, uint64_t now);
  void (*on_event)(void *ctx, sim_stack *st, const p2p_host_event *ev,
                   int dialled);
  /* Milestones for the event log: name ("relay.reserved", "relay.circuit",
   * "discovery.peer", ...) and key=value fields. */
  void (*on_trace)(void *ctx, sim_stack *st, const char *name,
                   const char *fields, uint64_t now);
  void (*log)(void *ctx, const char *msg);
  void *ctx;
} sim_stack_config;

/* Builds the node and starts it: listeners bound, bootstrap dials and
 * reservations under way. Returns 0 or a negative code (message in err). */
P2P_WUR int sim_stack_new(const sim_stack_config *cfg, sim_stack **out,
                          char *err, size_t errlen);
void sim_stack_del(sim_stack *st);

p2p_host *sim_stack_host(sim_stack *st);
sim_hostnet *sim_stack_hostnet(sim_stack *st);
p2p_gossipsub *sim_stack_gossipsub(sim_stack *st);       /* or NULL */
p2p_relay_server *sim_stack_relay_server(sim_stack *st); /* or NULL */
p2p_relay_client *sim_stack_relay_client(sim_stack *st); /* or NULL */
p2p_discovery *sim_stack_discovery(sim_stack *st);       /* or NULL */

#endif /* SIM_STACK_H */
