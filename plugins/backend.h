/*
 * plugins/backend.h - the backend ABI: the one table of functions through
 * which the simulator talks to a network backend (netsim, ns-3, posix).
 *
 * A backend is a shared object named `p2plab-backend-<name>.so` that exports
 * one function, P2PLAB_BACKEND_ENTRY, returning its table. The loader
 * (plugins/loader.h) finds it with dlopen and refuses a table whose
 * abi_version differs from P2PLAB_BACKEND_ABI_VERSION. A change to any
 * structure or function signature here bumps the version.
 *
 * The shape fits both kinds of backend:
 *  - a discrete-event backend (netsim) owns a virtual clock; run_until jumps
 *    it from event to event, and everything, including the caller's timers,
 *    runs from inside run_until as callbacks;
 *  - a backend with its own event loop (ns-3's simulator, real sockets with
 *    epoll and the wall clock) runs that loop inside run_until, and calls the
 *    same callbacks from it.
 * Callers never block and never read a clock of their own: `now` is passed to
 * every callback and is available from ->now().
 *
 * Topology (hosts, NATs, links) is described through the table too; a backend
 * that has no topology of its own (posix) offers only host_add for the local
 * machine and answers P2P_ERR_UNSUPPORTED to the rest.
 *
 * Threading: none. One backend instance is driven by one thread.
 * Reentrancy: callbacks may call any function of the table except destroy.
 * Ownership: objects returned through `out` parameters belong to the backend
 * and live until closed by the matching *_close call or until destroy.
 */
#ifndef P2PLAB_BACKEND_H
#define P2PLAB_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/error.h"
#include "sim/net/nat.h"

#define P2PLAB_BACKEND_ABI_VERSION 2u
#define P2PLAB_BACKEND_ENTRY "p2plab_backend_entry"

typedef struct p2plab_backend p2plab_backend; /* a backend instance */
typedef struct p2plab_udp p2plab_udp;         /* a bound UDP socket */
typedef struct p2plab_tcp p2plab_tcp;         /* a TCP connection */
typedef struct p2plab_tcp_listener p2plab_tcp_listener;
typedef uint64_t p2plab_timer; /* 0 is never valid */
typedef uint32_t p2plab_host_id;

/* An IP endpoint. IPv4 addresses are in host byte order in `v4`. */
typedef struct p2plab_addr {
  uint8_t family; /* P2PLAB_AF_INET or P2PLAB_AF_INET6 */
  uint16_t port;
  union {
    uint32_t v4;
    uint8_t v6[16];
  } ip;
} p2plab_addr;
#define P2PLAB_AF_INET 4
#define P2PLAB_AF_INET6 6

/* One direction of an access link. */
typedef struct p2plab_link_config {
  uint64_t latency_ns;  /* propagation delay */
  uint64_t jitter_ns;   /* each packet gets latency +- uniform(jitter);
                           a link never reorders its packets */
  uint32_t loss_ppm;    /* independent loss, parts per million */
  uint64_t rate_bps;    /* serialisation rate; 0 = unlimited */
  uint32_t queue_bytes; /* drop-tail queue: the bytes not yet serialised
                           (the rest of the packet on the wire included)
                           may not exceed it; 0 = unlimited */
} p2plab_link_config;

/* A host and where it sits. */
typedef struct p2plab_host_config {
  const char *name;            /* for logs; copied */
  p2plab_link_config up, down; /* the host's access link */
  /* The host's own NAT (a home router between the host and its access
   * link), or NULL for none. Copied. */
  const sim_nat_config *home_nat;
  /* The shared NAT (e.g. carrier-grade) the access link connects to, as
   * returned by nat_add, or P2PLAB_NO_NAT to connect to the core. */
  int32_t behind_nat;
} p2plab_host_config;
#define P2PLAB_NO_NAT (-1)

typedef struct p2plab_backend_config {
  uint64_t seed;            /* every random draw derives from it */
  uint64_t core_latency_ns; /* default one-way latency across the core */
  uint64_t core_jitter_ns;  /* +- uniform, per packet */
  uint32_t core_loss_ppm;
  /* Log sink for warnings about dropped input, may be NULL. */
  void (*log)(void *log_ctx, const char *msg);
  void *log_ctx;
} p2plab_backend_config;

/* Why a packet was dropped, for the optional packet observer. */
typedef enum p2plab_drop {
  P2PLAB_DROP_LOSS = 1, /* random loss on a link or the core */
  P2PLAB_DROP_QUEUE,    /* drop-tail queue full */
  P2PLAB_DROP_NAT,      /* a NAT dropped it (nat_reason says why) */
  P2PLAB_DROP_NO_ROUTE, /* no host or NAT has the destination address */
  P2PLAB_DROP_NO_SOCKET /* UDP to a port nobody has bound */
} p2plab_drop;

/* Packet observer (for traces and tests): called when a packet is delivered
 * to a host or dropped. `pkt` holds the headers as seen at that point. */
typedef struct p2plab_packet_event {
  uint64_t time_ns;
  p2plab_host_id src_host, dst_host; /* dst_host = UINT32_MAX if unknown */
  sim_nat_pkt hdr;
  uint32_t size;  /* bytes on the wire, headers included */
  int dropped;    /* 0, or a p2plab_drop */
  int nat_reason; /* a sim_nat_drop_reason when dropped by a NAT */
} p2plab_packet_event;
typedef void (*p2plab_packet_fn)(void *ctx, const p2plab_packet_event *ev);

typedef void (*p2plab_timer_fn)(void *ctx, uint64_t now);
typedef void (*p2plab_udp_recv_fn)(void *ctx, p2plab_udp *sock,
                                   const p2plab_addr *from, const uint8_t *buf,
                                   size_t len, uint64_t now);

/* TCP callbacks. `conn` stays valid until on_close returns. */
typedef struct p2plab_tcp_callbacks {
  /* The handshake completed (both for connect and accept). */
  void (*on_connect)(void *ctx, p2plab_tcp *conn, uint64_t now);
  /* Bytes from the peer, in order. */
  void (*on_data)(void *ctx, p2plab_tcp *conn, const uint8_t *buf, size_t len,
                  uint64_t now);
  /* The peer half-closed (FIN): no more bytes will come. */
  void (*on_eof)(void *ctx, p2plab_tcp *conn, uint64_t now);
  /* The connection is gone: err 0 (orderly close), P2P_ERR_RESET,
   * P2P_ERR_REFUSED, P2P_ERR_TIMEOUT. The backend frees conn after. */
  void (*on_close)(void *ctx, p2plab_tcp *conn, int err, uint64_t now);
} p2plab_tcp_callbacks;

/* A new inbound connection on a listener, already ESTABLISHED. The callee
 * sets *cbs and *cb_ctx for it (on_connect is not called for it). */
typedef void (*p2plab_tcp_accept_fn)(void *ctx, p2plab_tcp_listener *l,
                                     p2plab_tcp *conn,
                                     const p2plab_addr *remote,
                                     const p2plab_tcp_callbacks **cbs,
                                     void **cb_ctx, uint64_t now);

typedef struct p2plab_backend_api {
  uint32_t abi_version; /* P2PLAB_BACKEND_ABI_VERSION */
  const char *name;     /* "netsim", "ns3", "posix" */

  /* Lifecycle. */
  int (*create)(const p2plab_backend_config *cfg, p2plab_backend **out);
  void (*destroy)(p2plab_backend *b);

  /* Topology. nat_add creates a shared NAT whose outside is on the core (or
   * behind another shared NAT: `behind_nat`); host_add a host. Both assign
   * addresses. host_addr gives the host's own address, and host_public_addr
   * the address its packets carry on the core after every NAT. */
  int (*nat_add)(p2plab_backend *b, const sim_nat_config *cfg,
                 int32_t behind_nat, int32_t *out);
  int (*host_add)(p2plab_backend *b, const p2plab_host_config *cfg,
                  p2plab_host_id *out);
  int (*host_addr)(p2plab_backend *b, p2plab_host_id h, p2plab_addr *out);
  int (*host_public_addr)(p2plab_backend *b, p2plab_host_id h,
                          p2plab_addr *out);
  /* Overrides the one-way core latency between two hosts' sites (both
   * directions). */
  int (*core_latency_set)(p2plab_backend *b, p2plab_host_id a, p2plab_host_id c,
                          uint64_t latency_ns);
  /* Installs an observer of every delivered or dropped packet (or NULL). */
  void (*packet_observer)(p2plab_backend *b, p2plab_packet_fn fn, void *ctx);

  /* Clock and timers. */
  uint64_t (*now)(p2plab_backend *b);
  int (*timer_start)(p2plab_backend *b, uint64_t at_ns, p2plab_timer_fn fn,
                     void *ctx, p2plab_timer *out);
  int (*timer_cancel)(p2plab_backend *b, p2plab_timer t);

  /* UDP. port 0 picks a free ephemeral port. */
  int (*udp_bind)(p2plab_backend *b, p2plab_host_id h, uint16_t port,
                  p2plab_udp_recv_fn fn, void *ctx, p2plab_udp **out);
  int (*udp_local_addr)(p2plab_udp *s, p2plab_addr *out);
  int (*udp_send)(p2plab_udp *s, const p2plab_addr *to, const uint8_t *buf,
                  size_t len);
  void (*udp_close)(p2plab_udp *s);

  /* TCP. A listener and outgoing connections may share a local port (as
   * with SO_REUSEPORT), which simultaneous open needs. local_port 0 picks an
   * ephemeral port. */
  int (*tcp_listen)(p2plab_backend *b, p2plab_host_id h, uint16_t port,
                    p2plab_tcp_accept_fn fn, void *ctx,
                    p2plab_tcp_listener **out);
  void (*tcp_listener_close)(p2plab_tcp_listener *l);
  /* The address a listener is bound to (its port when listening on 0). */
  int (*tcp_listener_addr)(p2plab_tcp_listener *l, p2plab_addr *out);
  int (*tcp_connect)(p2plab_backend *b, p2plab_host_id h, uint16_t local_port,
                     const p2plab_addr *to, const p2plab_tcp_callbacks *cbs,
                     void *ctx, p2plab_tcp **out);
  int (*tcp_send)(p2plab_tcp *c, const uint8_t *buf, size_t len);
  int (*tcp_shutdown)(p2plab_tcp *c); /* FIN after queued data */
  void (*tcp_abort)(p2plab_tcp *c);   /* RST; no on_close follows */
  int (*tcp_local_addr)(p2plab_tcp *c, p2plab_addr *out);
  int (*tcp_remote_addr)(p2plab_tcp *c, p2plab_addr *out);

  /* Running. run_until processes everything due up to until_ns (virtual or
   * wall time) and returns the number of events processed, or a negative
   * error. stop makes a running run_until return soon. */
  int64_t (*run_until)(p2plab_backend *b, uint64_t until_ns);
  void (*stop)(p2plab_backend *b);
  /* Events processed since creation (for statistics). */
  uint64_t (*events_processed)(p2plab_backend *b);
} p2plab_backend_api;

/* The entry point each backend exports under the name P2PLAB_BACKEND_ENTRY. */
typedef const p2plab_backend_api *(*p2plab_backend_entry_fn)(void);

#endif /* P2PLAB_BACKEND_H */
