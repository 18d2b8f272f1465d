/*
 * p2p/host.h - the libp2p host: connection upgrade, protocol routing,
 * identify and ping, a peer store and a connection gater hook. Sans-IO.
 *
 * The embedder owns the transports (netsim TCP, real sockets, later
 * WebSocket and relayed streams). For each raw byte-stream connection it
 * creates a p2p_conn, feeds received bytes with p2p_host_conn_recv, and
 * writes what the host hands it through config.conn_write. The host runs the
 * layers the libp2p specs define, as js-libp2p and go-libp2p do:
 *   multistream-select "/noise" -> Noise XX (remote peer ID checked against
 *   the dialled /p2p/) -> yamux (chosen through the Noise stream-muxer
 *   extension when both sides list it, else multistream-select inside
 *   Noise) -> per stream multistream-select -> protocol handlers.
 * On every new connection both sides run identify (/ipfs/id/1.0.0) and
 * answer identify and ping (/ipfs/ping/1.0.0) requests; identify push
 * (/ipfs/id/push/1.0.0) updates the peer store.
 *
 * Anything a peer gets wrong (bad framing, failed decryption, bad
 * signature, malformed protobuf, protocol violations) closes that
 * connection with a logged reason (config.log and a CONN_CLOSED event with
 * the reason); the host and its other connections carry on.
 *
 * Time: every entry point that depends on time takes `now` (ns). The host's
 * timers (handshake and ping timeouts) are read with p2p_host_expiry and run
 * with p2p_host_on_expiry.
 */
#ifndef P2P_HOST_H
#define P2P_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/crypto.h"
#include "p2p/error.h"
#include "p2p/identify.h"
#include "p2p/multiaddr.h"
#include "p2p/peerid.h"
#include "p2p/rand.h"

typedef struct p2p_host p2p_host;
typedef struct p2p_conn p2p_conn;
typedef struct p2p_stream p2p_stream;

typedef enum p2p_host_event_type {
  P2P_HOST_EV_CONNECTED = 1, /* secured and multiplexed: streams may open */
  P2P_HOST_EV_IDENTIFY,      /* identify (or a push) from the peer arrived */
  P2P_HOST_EV_PING,          /* a ping we started completed: rtt_ns */
  P2P_HOST_EV_PING_FAILED,   /* a ping we started failed or timed out */
  P2P_HOST_EV_CONN_CLOSED    /* the connection is over: err, reason */
} p2p_host_event_type;

typedef struct p2p_host_event {
  p2p_host_event_type type;
  p2p_conn *conn;
  const p2p_peerid *peer;           /* NULL before the handshake */
  const p2p_identify_msg *identify; /* IDENTIFY */
  uint64_t rtt_ns;                  /* PING */
  int err;                          /* CONN_CLOSED, PING_FAILED: 0 or <0 */
  const char *reason;               /* CONN_CLOSED, PING_FAILED: static */
} p2p_host_event;

typedef struct p2p_host_config {
  const p2p_privkey *key;    /* copied */
  const p2p_rand *rnd;       /* kept: must outlive the host */
  const char *agent_version; /* copied; NULL: "p2plab/<version>" */
  /* Addresses advertised in identify (copied). */
  const p2p_multiaddr *listen_addrs;
  size_t n_listen_addrs;
  uint64_t handshake_timeout_ns; /* 0: 10 s */
  uint64_t ping_timeout_ns;      /* 0: 10 s */

  /* Embedder callbacks. `ctx` is passed to each. None may call
   * p2p_host_del; all other host functions are allowed. */
  void *ctx;
  /* Bytes for the transport of `c` (copied by the embedder or written at
   * once). Returns 0, or a negative error that closes the connection. */
  int (*conn_write)(void *ctx, p2p_conn *c, const uint8_t *buf, size_t len);
  /* The host is done with `c`'s transport: close it (err 0: orderly). The
   * embedder must not call p2p_host_conn_* for c afterwards except
   * p2p_host_conn_free. */
  void (*conn_close)(void *ctx, p2p_conn *c, int err);
  void (*on_event)(void *ctx, const p2p_host_event *ev);
  /* Connection gater: called once the remote peer is authenticated;
   * return 0 to allow, nonzero to refuse (the connection is closed). NULL
   * allows everything. */
  int (*gate)(void *ctx, const p2p_peerid *peer, const p2p_multiaddr *remote);
  /* Log sink for reasons of closed connections and refused input. */
  void (*log)(void *ctx, const char *msg);
} p2p_host_config;

/* Creates a host. Returns 0, P2P_ERR_INVALID or P2P_ERR_NOMEM. */
P2P_WUR int p2p_host_new(const p2p_host_config *cfg, p2p_host **out);
/* Frees the host and every connection (no callbacks are called). */
void p2p_host_del(p2p_host *h);

const p2p_peerid *p2p_host_peer_id(const p2p_host *h);

/* Extracts what an embedder needs to dial a TCP multiaddr
 * (/ip4/A/tcp/P[/p2p/ID]): the IPv4 address (host byte order), the port,
 * and the peer ID when present (*has_peer). Returns 0 or P2P_ERR_INVALID
 * (not an ip4/tcp address). */
P2P_WUR int p2p_host_tcp_target(const p2p_multiaddr *ma, uint32_t *ip,
                                uint16_t *port, p2p_peerid *peer,
                                int *has_peer);

/* A new raw connection from the embedder's transport. outbound: we dialled
 * (Noise initiator); `expected` (nullable) is the peer ID from the dialled
 * /p2p/; `remote` (nullable, copied) the remote address, used as the
 * observed address in identify. `user` is for the embedder
 * (p2p_host_conn_user). The host starts talking at once (conn_write may be
 * called from inside). Returns 0 or P2P_ERR_NOMEM / P2P_ERR_INVALID. */
P2P_WUR int p2p_host_conn_new(p2p_host *h, int outbound,
                              const p2p_peerid *expected,
                              const p2p_multiaddr *remote, void *user,
                              uint64_t now, p2p_conn **out);
/* Bytes received on the connection's transport. Bytes fed from a callback
 * while the same connection's input is being processed are queued and
 * processed by the outer call. */
void p2p_host_conn_recv(p2p_host *h, p2p_conn *c, const uint8_t *buf,
                        size_t len, uint64_t now);
/* The transport reached EOF or failed (err 0 or negative). The host reports
 * CONN_CLOSED and calls conn_close. */
void p2p_host_conn_eof(p2p_host *h, p2p_conn *c, int err, uint64_t now);
/* Releases a connection after conn_close (or at any time: it is closed
 * without callbacks). */
void p2p_host_conn_free(p2p_host *h, p2p_conn *c);
void *p2p_host_conn_user(const p2p_conn *c);
/* The authenticated remote peer, or NULL before the handshake finished. */
const p2p_peerid *p2p_host_conn_peer(const p2p_conn *c);

/* Starts a ping on a connected connection: a PING or PING_FAILED event
 * follows. One ping at a time per connection (they share one ping
 * stream); the timeout runs from this call. Returns 0, P2P_ERR_STATE (not
 * connected, or a ping is still in progress) or P2P_ERR_NOMEM. */
P2P_WUR int p2p_host_ping(p2p_host *h, p2p_conn *c, uint64_t now);

/* What the peer store knows of a peer from identify, or NULL. Valid until
 * the next call into the host. */
const p2p_identify_msg *p2p_host_peer_info(const p2p_host *h,
                                           const p2p_peerid *peer);

/* Application protocols. A handler receives the stream's events; `user`
 * is the handler's. Streams carry plain bytes after negotiation; received
 * bytes are credited back to the peer's yamux window as soon as on_data
 * returns. A p2p_stream stays valid until on_close has returned (it is
 * released when the host's outermost call returns). */
typedef struct p2p_stream_handler {
  /* The stream is negotiated (inbound: the protocol was accepted;
   * outbound: the peer agreed to `proto`). */
  void (*on_open)(void *user, p2p_stream *s, const char *proto, uint64_t now);
  void (*on_data)(void *user, p2p_stream *s, const uint8_t *buf, size_t len,
                  uint64_t now);
  void (*on_fin)(void *user, p2p_stream *s, uint64_t now);
  /* The stream is gone (closed both ways, reset, negotiation failed with
   * err P2P_ERR_NOTFOUND, or its connection closed). */
  void (*on_close)(void *user, p2p_stream *s, int err, uint64_t now);
} p2p_stream_handler;

/* Registers a handler for inbound streams of protocol ID `proto` (copied).
 * Returns 0, P2P_ERR_EXISTS, P2P_ERR_NOMEM. identify, identify push and
 * ping are built in. */
P2P_WUR int p2p_host_handle(p2p_host *h, const char *proto,
                            const p2p_stream_handler *handler, void *user);
/* Opens a stream on a connected connection proposing protos[0..n-1]
 * (copied), in that order. handler->on_open follows once the peer agrees,
 * or on_close with P2P_ERR_NOTFOUND when it takes none. Returns 0 and sets
 * *out, P2P_ERR_STATE (not connected), P2P_ERR_INVALID, P2P_ERR_LIMIT or
 * P2P_ERR_NOMEM. */
P2P_WUR int p2p_host_stream_open(p2p_host *h, p2p_conn *c,
                                 const char *const *protos, size_t n,
                                 const p2p_stream_handler *handler, void *user,
                                 uint64_t now, p2p_stream **out);
/* Queues bytes on an open stream (after on_open). Returns the bytes
 * accepted (possibly fewer than len), P2P_ERR_STATE (not open yet, closed
 * or reset), P2P_ERR_LIMIT (the stream's queue is full). */
P2P_WUR ssize_t p2p_host_stream_write(p2p_stream *s, const uint8_t *buf,
                                      size_t len, uint64_t now);
/* Half-closes the stream (FIN after the queued bytes); on_close follows
 * once the peer closed too. Returns 0 or P2P_ERR_STATE. */
P2P_WUR int p2p_host_stream_close(p2p_stream *s, uint64_t now);
/* Resets the stream; on_close follows with P2P_ERR_RESET. */
void p2p_host_stream_reset(p2p_stream *s, uint64_t now);

/* The host's next deadline (SIM_TIME_NEVER-like UINT64_MAX when none) and
 * the work due at `now`. */
uint64_t p2p_host_expiry(const p2p_host *h);
void p2p_host_on_expiry(p2p_host *h, uint64_t now);

#endif /* P2P_HOST_H */
