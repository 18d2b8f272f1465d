/*
 * p2p/gossipsub.h - GossipSub v1.1 (/meshsub/1.1.0) on a p2p_host, also
 * speaking /meshsub/1.0.0 and /floodsub/1.0.0 peers as the spec says.
 * Sans-IO: it runs inside the host (a p2p_host_service: host events and
 * the heartbeat timer come through the host).
 *
 * Wire format: libp2p pubsub RPC protobuf (rpc.proto), each RPC prefixed
 * with its unsigned-varint length, one long-lived outbound stream per peer
 * for our RPCs and the peer's inbound stream for theirs, as js-libp2p and
 * go-libp2p do.
 */
#ifndef P2P_GOSSIPSUB_H
#define P2P_GOSSIPSUB_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/peerid.h"
#include "p2p/sigcache.h"

#define P2P_GOSSIPSUB_ID_V11 "/meshsub/1.1.0"
#define P2P_GOSSIPSUB_ID_V10 "/meshsub/1.0.0"
#define P2P_FLOODSUB_ID "/floodsub/1.0.0"

typedef struct p2p_gossipsub p2p_gossipsub;

/* A message delivered to the application (valid during the callback). */
typedef struct p2p_gossip_msg {
  const char *topic;
  const uint8_t *data;
  size_t data_len;
  const p2p_peerid *from;          /* the original publisher */
  const p2p_peerid *received_from; /* the peer that forwarded it to us */
  uint64_t seqno;
  const uint8_t *id; /* the message ID */
  size_t id_len;
} p2p_gossip_msg;

typedef struct p2p_gossipsub_config {
  /* Mesh degree parameters (0: the spec's defaults 6, 4, 12, 6, 2; a
   * default D_out is lowered to fit D_out < D_lo and D_out <= D / 2). */
  unsigned d, d_lo, d_hi, d_lazy, d_out;
  uint64_t heartbeat_ns;       /* 0: 1 s */
  uint64_t heartbeat_delay_ns; /* first heartbeat after start; 0: 100 ms */
  uint64_t fanout_ttl_ns;      /* 0: 60 s */
  unsigned mcache_len;         /* history windows; 0: 5 */
  unsigned mcache_gossip;      /* windows gossiped; 0: 3 */
  uint64_t seen_ttl_ns;        /* 0: 120 s */
  uint64_t prune_backoff_ns;   /* 0: 60 s */
  unsigned prune_peers;        /* peer exchange size in PRUNE; 0: 16 */
  int no_flood_publish;        /* 0: flood publish (the v1.1 default) */
  int no_px;                   /* nonzero: neither send nor accept PX */
  size_t max_message_size;     /* largest RPC accepted or sent; 0: 1 MiB */
  /* Message ID function: writes at most cap bytes into out and returns
   * the length. NULL: from (peer ID bytes) || seqno (8 bytes, big
   * endian), the libp2p default. */
  size_t (*msg_id)(void *ctx, const p2p_gossip_msg *m, uint8_t *out,
                   size_t cap);
  /* Delivery of a new valid message on a subscribed topic (also our own
   * published ones are NOT delivered back). May be NULL. */
  void (*on_message)(void *ctx, const p2p_gossip_msg *m, uint64_t now);
  /* A peer subscribed (1) or unsubscribed (0) to a topic. May be NULL. */
  void (*on_subscription)(void *ctx, const p2p_peerid *peer, const char *topic,
                          int subscribed, uint64_t now);
  /* A signature cache shared by the hosts of a simulation (kept: must
   * outlive the router); NULL verifies every message. */
  p2p_sigcache *sigcache;
  void (*log)(void *ctx, const char *msg); /* may be NULL */
  /* The callbacks may call every function here except p2p_gossipsub_del,
   * and every host function except p2p_host_del. */
  void *ctx;
} p2p_gossipsub_config;

/* Creates the router on `h`: registers the three protocol handlers and a
 * host service; peers are taken on as they connect. Returns 0,
 * P2P_ERR_INVALID, P2P_ERR_EXISTS (protocols taken) or P2P_ERR_NOMEM. */
P2P_WUR int p2p_gossipsub_new(p2p_host *h, const p2p_gossipsub_config *cfg,
                              p2p_gossipsub **out);
/* Unregisters the service and the three protocol handlers, resets the
 * router's streams and frees (no callbacks). */
void p2p_gossipsub_del(p2p_gossipsub *g);

P2P_WUR int p2p_gossipsub_subscribe(p2p_gossipsub *g, const char *topic,
                                    uint64_t now);
P2P_WUR int p2p_gossipsub_unsubscribe(p2p_gossipsub *g, const char *topic,
                                      uint64_t now);
/* Publishes data on topic (signed, StrictSign; seqno from a counter).
 * Returns 0 (also when no peer is there to receive it), P2P_ERR_LIMIT
 * (too big), P2P_ERR_INVALID or P2P_ERR_NOMEM. The message ID is written
 * to id/id_len when id is not NULL (cap bytes). */
P2P_WUR int p2p_gossipsub_publish(p2p_gossipsub *g, const char *topic,
                                  const uint8_t *data, size_t len, uint64_t now,
                                  uint8_t *id, size_t *id_len, size_t cap);

typedef struct p2p_gossipsub_stats {
  uint64_t published, delivered, duplicates, forwarded;
  uint64_t rpc_in, rpc_out, bad_rpc, bad_sig;
  uint64_t ihave_out, iwant_out, graft_out, prune_out;
  unsigned peers, mesh_peers; /* current, over all topics */
} p2p_gossipsub_stats;
void p2p_gossipsub_get_stats(const p2p_gossipsub *g, p2p_gossipsub_stats *st);
/* The number of mesh peers of topic. */
unsigned p2p_gossipsub_mesh_size(const p2p_gossipsub *g, const char *topic);

/* For fuzzing and tests: handles `len` bytes as if they had arrived on an
 * inbound pubsub stream of `peer` (taken on as a /meshsub/1.1.0 peer
 * without a connection when unknown; answers to it are dropped). Bytes
 * of an incomplete RPC at the end are ignored. Returns 0, or the error
 * for which a real stream would be reset (P2P_ERR_PROTO: malformed,
 * P2P_ERR_LIMIT: oversized), P2P_ERR_INVALID or P2P_ERR_NOMEM. */
P2P_WUR int p2p_gossipsub_inject(p2p_gossipsub *g, const p2p_peerid *peer,
                                 const uint8_t *buf, size_t len, uint64_t now);

#endif /* P2P_GOSSIPSUB_H */
