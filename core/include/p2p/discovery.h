/*
 * p2p/discovery.h - bootstrap and pubsub peer discovery on a p2p_host, and
 * the guides' `peer:discovery` -> dial behaviour.
 *
 * Bootstrap: a list of multiaddrs (with /p2p/) dialled at start and again
 * after the connection is lost, with exponential backoff.
 *
 * Pubsub peer discovery (js-libp2p @libp2p/pubsub-peer-discovery): every
 * `interval` the host publishes a Peer protobuf {publicKey, addrs} on each
 * topic through GossipSub; Peer messages received on those topics are
 * reported as discoveries (the publisher's peer ID is derived from the
 * public key; our own are ignored). When dial_discovered is set, a
 * discovered peer that we are not connected to is dialled as the guides'
 * listener does: its addresses in order, direct ones first (the embedder's
 * dialer refuses what this host cannot dial, e.g. TCP from a browser), then
 * /p2p-circuit ones; a failed dial moves on to the next address.
 */
#ifndef P2P_DISCOVERY_H
#define P2P_DISCOVERY_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/error.h"
#include "p2p/gossipsub.h"
#include "p2p/host.h"
#include "p2p/multiaddr.h"
#include "p2p/peerid.h"

/* js-libp2p's default discovery topic. */
#define P2P_DISCOVERY_DEFAULT_TOPIC "_peer-discovery._p2p._pubsub"

typedef struct p2p_discovery p2p_discovery;

typedef struct p2p_discovery_config {
  /* Bootstrap peers (copied), each ending in /p2p/ID. */
  const p2p_multiaddr *bootstrap;
  size_t n_bootstrap;
  uint64_t bootstrap_backoff_ns;     /* first redial delay; 0: 1 s */
  uint64_t bootstrap_max_backoff_ns; /* 0: 60 s */
  /* Pubsub peer discovery: the router (NULL: off) and topics (copied). */
  p2p_gossipsub *pubsub;
  const char *const *topics;
  size_t n_topics;
  uint64_t interval_ns;       /* between our announcements; 0: 10 s */
  uint64_t first_announce_ns; /* delay of the first one; 0: 1 s */
  int listen_only;            /* nonzero: never announce */
  int dial_discovered;        /* dial discovered peers (the guides do) */
  unsigned max_dials;         /* concurrent discovery dials; 0: 8 */
  /* Discovered peers are dialled only while fewer connections are open
   * (bootstrap connections included); 0: no limit. */
  unsigned max_conns;
  /* A peer was discovered (every announcement, also of connected peers);
   * addrs are valid during the call. May be NULL. */
  void (*on_discovery)(void *ctx, const p2p_peerid *peer,
                       const p2p_multiaddr *addrs, size_t n, uint64_t now);
  void (*log)(void *ctx, const char *msg); /* may be NULL */
  void *ctx;
} p2p_discovery_config;

/* Creates the discovery service on h (subscribing to the topics through
 * cfg->pubsub) and dials the bootstrap peers. Returns 0, P2P_ERR_INVALID
 * or P2P_ERR_NOMEM. */
P2P_WUR int p2p_discovery_new(p2p_host *h, const p2p_discovery_config *cfg,
                              uint64_t now, p2p_discovery **out);
/* Unregisters and frees (no callbacks). */
void p2p_discovery_del(p2p_discovery *d);

/* The embedder's GossipSub on_message hands every message here first:
 * returns 1 when it was a discovery message (handled, valid or not), 0
 * when it belongs to the application. */
int p2p_discovery_on_message(p2p_discovery *d, const p2p_gossip_msg *m,
                             uint64_t now);

typedef struct p2p_discovery_stats {
  uint64_t announced, discovered, bad_messages;
  uint64_t dials, dial_failures, bootstrap_dials;
} p2p_discovery_stats;
void p2p_discovery_get_stats(const p2p_discovery *d, p2p_discovery_stats *st);

/* Encodes a Peer message {public key, addrs} into out (cap bytes). Returns
 * the length, P2P_ERR_LIMIT or P2P_ERR_INVALID. For tests and fuzzing. */
P2P_WUR ssize_t p2p_discovery_encode_peer(const p2p_pubkey *key,
                                          const p2p_multiaddr *addrs, size_t n,
                                          uint8_t *out, size_t cap);
/* Decodes a Peer message: the peer ID (from its public key) and the
 * addresses that parse (copied into *addrs, freed by the caller with
 * p2p_multiaddr_free each and free()). Returns 0 or P2P_ERR_PROTO. */
P2P_WUR int p2p_discovery_decode_peer(const uint8_t *buf, size_t len,
                                      p2p_peerid *peer, p2p_multiaddr **addrs,
                                      size_t *n);

#endif /* P2P_DISCOVERY_H */
