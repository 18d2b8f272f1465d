/*
 * p2p/relay.h - circuit relay v2 on a p2p_host (libp2p/specs
 * relay/circuit-v2.md): the hop server (reservations and circuits with
 * limits), and the client (reservations kept fresh, the stop handler that
 * accepts relayed connections, and the dialer of /p2p-circuit addresses).
 *
 * A relayed connection is a p2p_conn made with p2p_host_conn_new_ops over
 * the hop (dialer) or stop (listener) stream: it is upgraded end to end
 * with Noise and yamux like any other, so the relay only forwards
 * ciphertext. Such connections are limited (p2p_host_conn_limited).
 */
#ifndef P2P_RELAY_H
#define P2P_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/error.h"
#include "p2p/host.h"
#include "p2p/multiaddr.h"
#include "p2p/peerid.h"
#include "p2p/relay_msg.h"

/* ---- hop server --------------------------------------------------------- */

typedef struct p2p_relay_server p2p_relay_server;

typedef struct p2p_relay_server_config {
  unsigned max_reservations;          /* total; 0: 128 */
  unsigned max_reservations_per_peer; /* 0: 1 (a renewal replaces) */
  unsigned max_reservations_per_ip;   /* 0: 8 */
  unsigned max_circuits;              /* open circuits in total; 0: 16 */
  unsigned max_circuits_per_peer;     /* per reserving peer; 0: 16 */
  uint64_t reservation_ttl_ns;        /* 0: 1 h */
  uint64_t limit_duration_ns;         /* per circuit; 0: 2 min */
  uint64_t limit_data;                /* bytes per direction; 0: 128 KiB */
  /* The hook for events; may be NULL. `what` (static) is one of
   * "reservation" (made or renewed; a = the peer, status OK),
   * "reservation_refused" (status = the refusal), "reservation_lost" (its
   * connection closed), "reservation_expired", "circuit_opened" (a =
   * initiator, b = target), "circuit_refused" (status = the refusal sent
   * to the initiator), "circuit_limit" (reset at the data or duration
   * limit, followed by "circuit_closed") and "circuit_closed". b is NULL
   * for reservation events. */
  void (*on_event)(void *ctx, const char *what, const p2p_peerid *a,
                   const p2p_peerid *b, int status, uint64_t now);
  void (*log)(void *ctx, const char *msg);
  /* Sees every chunk of circuit bytes the relay forwards, before it is
   * passed on (tests check the relay never sees plaintext; metrics); may
   * be NULL. */
  void (*tap)(void *ctx, const uint8_t *buf, size_t len);
  void *ctx;
} p2p_relay_server_config;

/* Registers the hop handler on h. The reservation's addresses are the
 * host's advertised addresses (p2p_host_addrs). */
P2P_WUR int p2p_relay_server_new(p2p_host *h,
                                 const p2p_relay_server_config *cfg,
                                 p2p_relay_server **out);
/* Resets every circuit and hop stream, unregisters the service and frees
 * s. The hop handler stays registered on the host (the host cannot remove
 * one): delete the host next, or let it receive no new hop streams. */
void p2p_relay_server_del(p2p_relay_server *s);

typedef struct p2p_relay_server_stats {
  unsigned reservations, circuits; /* current */
  uint64_t reservations_accepted, reservations_refused;
  uint64_t circuits_opened, circuits_refused, circuits_limit_closed;
  uint64_t bytes_relayed;
} p2p_relay_server_stats;
void p2p_relay_server_get_stats(const p2p_relay_server *s,
                                p2p_relay_server_stats *st);

/* ---- client ------------------------------------------------------------- */

typedef struct p2p_relay_client p2p_relay_client;

typedef struct p2p_relay_client_config {
  /* Accept inbound relayed connections (the stop handler); 0 still lets
   * this host dial through relays. */
  int accept_stop;
  /* Reservations are renewed this long before they expire; 0: 1/4 of the
   * remaining lifetime, at least 5 s before. */
  uint64_t refresh_margin_ns;
  uint64_t retry_ns; /* after a failed reservation; 0: 5 s, doubling to 5 min */
  /* A reservation was made (status OK: expire is the Unix time in s) or
   * failed (status != OK or err < 0); may be NULL. */
  void (*on_reservation)(void *ctx, const p2p_peerid *relay, int status,
                         uint64_t expire, uint64_t now);
  void (*log)(void *ctx, const char *msg);
  void *ctx;
} p2p_relay_client_config;

/* Registers the stop handler (when accept_stop) and the host's circuit
 * dialer.
 *
 * Dialling RELAYADDR/p2p/RELAY/p2p-circuit/p2p/TARGET (p2p_host_dial) uses
 * an open direct connection to the relay or dials RELAYADDR, sends
 * CONNECT{TARGET} on a hop stream and, on STATUS OK, makes the outbound
 * relayed connection (CONNECTED follows once Noise and yamux are up end to
 * end). A circuit that fails (the relay's refusal, an unreachable relay, a
 * timeout) creates no connection: it is logged and reported like a failed
 * transport dial, with p2p_host_report_dial_failure (CONN_CLOSED, conn
 * NULL, peer TARGET, reason the relay's status name such as
 * "NO_RESERVATION" or what failed). The dialer returns P2P_ERR_INVALID for
 * an address not of that form and P2P_ERR_UNREACHABLE when there is no
 * connection to the relay and RELAYADDR names no transport. */
P2P_WUR int p2p_relay_client_new(p2p_host *h,
                                 const p2p_relay_client_config *cfg,
                                 p2p_relay_client **out);
/* Resets the client's relay streams, frees its relayed connections
 * without callbacks, withdraws the circuit addresses, removes the service
 * and the circuit dialer, and frees c. The stop handler stays registered
 * (see p2p_relay_server_del). */
void p2p_relay_client_del(p2p_relay_client *c);

/* Keeps a reservation on the relay at `relay_addr` (a transport address
 * ending in /p2p/RELAY): dials it through the host when no connection is
 * open, reserves, advertises RELAYADDR/p2p/RELAY/p2p-circuit for each
 * address the relay returned (p2p_host_add_addr), renews before expiry and
 * again after the connection is lost (with backoff). Returns 0,
 * P2P_ERR_INVALID (no /p2p/), P2P_ERR_EXISTS (already listening on that
 * relay) or P2P_ERR_NOMEM. */
P2P_WUR int p2p_relay_client_listen(p2p_relay_client *c,
                                    const p2p_multiaddr *relay_addr,
                                    uint64_t now);
/* The number of relays on which a reservation is currently held. */
unsigned p2p_relay_client_reservations(const p2p_relay_client *c);

/* The limits the relay announced for the relayed connection `conn` made
 * by this client (the dialer's from the hop STATUS, the listener's from the
 * stop CONNECT, as js-libp2p reports them on the connection); fields the
 * relay left out have has_* 0. Returns 0, P2P_ERR_INVALID or
 * P2P_ERR_NOTFOUND (not a relayed connection of this client). */
P2P_WUR int p2p_relay_client_conn_limit(const p2p_relay_client *c,
                                        const p2p_conn *conn,
                                        p2p_relay_limit *out);

#endif /* P2P_RELAY_H */
