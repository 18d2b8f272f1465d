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
  uint64_t now;                     /* the host's current time */
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
  /* Dials a transport address (TCP or WebSocket, with /p2p/ when known)
   * for p2p_host_dial: the embedder starts the transport connection and
   * hands it over with p2p_host_conn_new (outbound) once it is up; a
   * failure ends in a CONN_CLOSED event with conn NULL. Returns 0 or a
   * negative error (P2P_ERR_INVALID: a transport it cannot dial, e.g. a
   * browser asked to dial plain TCP). NULL: the host cannot dial. */
  int (*dial)(void *ctx, const p2p_multiaddr *ma);
  /* The Unix time (ns) at host time 0: the wall clock is now + this, for
   * the few wire fields in Unix time (relay reservation expiry). 0 when
   * `now` is Unix time already. */
  uint64_t unix_offset_ns;
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
   * outbound: the peer agreed to `proto`). `proto` is valid during the
   * call only. */
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
/* Unregisters the handler of `proto` (new streams of it are refused).
 * Streams already open keep calling the handler: a module that goes away
 * resets its streams first. Returns 0, P2P_ERR_NOTFOUND or
 * P2P_ERR_INVALID. */
int p2p_host_unhandle(p2p_host *h, const char *proto);
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

/* ------------------------------------------------------------------ */
/* Extension points for the modules built on the host (circuit relay v2,
 * GossipSub, discovery). */

/* The Unix time in ns at host time `now` (config.unix_offset_ns). */
uint64_t p2p_host_unix_ns(const p2p_host *h, uint64_t now);

/* The host's randomness and identity, for modules (valid for the host's
 * lifetime). */
const p2p_rand *p2p_host_rand(const p2p_host *h);
const p2p_privkey *p2p_host_key(const p2p_host *h);

/* A service gets every host event (after the embedder's on_event) and
 * folds its deadlines into p2p_host_expiry: on_expiry runs from
 * p2p_host_on_expiry once expiry(ctx) <= now. Every callback may be NULL.
 * Callbacks may call every host function except p2p_host_del and
 * p2p_host_remove_service of another service. */
typedef struct p2p_host_service {
  void (*on_event)(void *ctx, const p2p_host_event *ev);
  uint64_t (*expiry)(void *ctx); /* UINT64_MAX: none */
  void (*on_expiry)(void *ctx, uint64_t now);
} p2p_host_service;

/* Registers a service (the struct is copied; ctx identifies it). Returns
 * 0, P2P_ERR_EXISTS (ctx registered already) or P2P_ERR_NOMEM. */
P2P_WUR int p2p_host_add_service(p2p_host *h, const p2p_host_service *svc,
                                 void *ctx);
/* Unregisters the service registered with ctx (no-op when unknown). */
void p2p_host_remove_service(p2p_host *h, void *ctx);

/* Dials `ma`: /p2p-circuit addresses (…/p2p/RELAY/p2p-circuit/p2p/PEER) go
 * to the circuit dialer (p2p_host_set_circuit_dialer), every other address
 * to config.dial. The outcome comes as events (CONNECTED or CONN_CLOSED).
 * Returns 0, P2P_ERR_INVALID (no dialer for this address) or the dialer's
 * error. */
P2P_WUR int p2p_host_dial(p2p_host *h, const p2p_multiaddr *ma, uint64_t now);
/* The embedder (or a circuit dialer) reports that a dial started with
 * p2p_host_dial failed before a connection existed: a CONN_CLOSED event
 * with conn NULL, peer from ma's /p2p/ (when present), err and reason goes
 * to the embedder's on_event and to every service. */
void p2p_host_report_dial_failure(p2p_host *h, const p2p_multiaddr *ma, int err,
                                  const char *reason, uint64_t now);
/* Registers the dialer of /p2p-circuit addresses (one; NULL removes it). */
void p2p_host_set_circuit_dialer(p2p_host *h,
                                 int (*dial)(void *ctx, const p2p_multiaddr *ma,
                                             uint64_t now),
                                 void *ctx);

/* Transports other than the embedder's (a relayed connection runs over a
 * stream of another connection) give the connection its own write and
 * close; the host then never calls config.conn_write/conn_close for it. */
typedef struct p2p_conn_ops {
  int (*write)(void *ctx, p2p_conn *c, const uint8_t *buf, size_t len);
  void (*close)(void *ctx, p2p_conn *c, int err);
} p2p_conn_ops;

/* p2p_host_conn_new for a connection with its own transport ops (copied;
 * ops_ctx is passed to them). Such a connection is "limited" (a relayed
 * circuit). The creator frees it with p2p_host_conn_free after
 * ops->close. */
P2P_WUR int p2p_host_conn_new_ops(p2p_host *h, int outbound,
                                  const p2p_peerid *expected,
                                  const p2p_multiaddr *remote,
                                  const p2p_conn_ops *ops, void *ops_ctx,
                                  void *user, uint64_t now, p2p_conn **out);
/* Nonzero for a connection made with p2p_host_conn_new_ops. */
int p2p_host_conn_limited(const p2p_conn *c);
/* Nonzero when we dialled the connection. */
int p2p_host_conn_outbound(const p2p_conn *c);
/* Nonzero once the connection is secured and multiplexed (CONNECTED was
 * reported) and not closed. */
int p2p_host_conn_is_open(const p2p_conn *c);
/* The remote transport address given at creation, or NULL. */
const p2p_multiaddr *p2p_host_conn_remote(const p2p_conn *c);
/* Closes the connection (streams reset; CONN_CLOSED with err 0 and
 * `reason`; then the transport's close). */
void p2p_host_conn_close(p2p_host *h, p2p_conn *c, const char *reason,
                         uint64_t now);
/* An open connection to `peer`: a direct one if any, else a limited one;
 * NULL when none is open. */
p2p_conn *p2p_host_find_conn(const p2p_host *h, const p2p_peerid *peer);
/* Calls fn for every open connection (fn may not close connections). */
void p2p_host_foreach_conn(const p2p_host *h,
                           void (*fn)(void *ctx, p2p_conn *c), void *ctx);

/* The stream's connection, and a per-stream pointer for its handler (NULL
 * until set). */
p2p_conn *p2p_host_stream_conn(const p2p_stream *s);
void p2p_host_stream_set_ctx(p2p_stream *s, void *ctx);
void *p2p_host_stream_ctx(const p2p_stream *s);
/* Bytes p2p_host_stream_write would accept now (the stream's queue room). */
size_t p2p_host_stream_room(const p2p_stream *s);

/* Listen addresses advertised through identify: add or remove one (copied;
 * without /p2p/ of ourselves, e.g. /ip4/R/tcp/P/ws/p2p/RELAY/p2p-circuit).
 * Every open connection's peer gets an identify push. Returns 0,
 * P2P_ERR_EXISTS / P2P_ERR_NOTFOUND, or P2P_ERR_NOMEM. */
P2P_WUR int p2p_host_add_addr(p2p_host *h, const p2p_multiaddr *ma,
                              uint64_t now);
P2P_WUR int p2p_host_remove_addr(p2p_host *h, const p2p_multiaddr *ma,
                                 uint64_t now);
/* The advertised addresses (owned by the host; valid until they change). */
const p2p_multiaddr *p2p_host_addrs(const p2p_host *h, size_t *n);

/* The host's next deadline (SIM_TIME_NEVER-like UINT64_MAX when none) and
 * the work due at `now`. */
uint64_t p2p_host_expiry(const p2p_host *h);
void p2p_host_on_expiry(p2p_host *h, uint64_t now);

#endif /* P2P_HOST_H */
