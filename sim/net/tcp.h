/*
 * sim/net/tcp.h - the TCP segment model: one connection's state machine.
 *
 * Sans-IO, in the ngtcp2 shape: segments go in with sim_tcp_input, segments
 * come out through ops->emit, and the connection's one timer is read with
 * sim_tcp_expiry and fired with sim_tcp_on_expiry. The owner (a backend)
 * demultiplexes segments to connections by 4-tuple, carries emitted segments
 * over its network (through NATs, as real segments), and answers segments for
 * which no connection or listener exists with sim_tcp_make_rst.
 *
 * What is modelled (RFC 9293 state machine): three-way handshake; simultaneous
 * open (SYN_SENT receiving a SYN goes to SYN_RECEIVED); an in-order byte
 * stream with out-of-order segments buffered and cumulative ACKs (every
 * segment is ACKed at once; no delayed ACK, no SACK, no window scaling
 * semantics: windows are plain byte counts); retransmission on timeout (RFC
 * 6298 SRTT/RTTVAR, exponential backoff) and fast retransmit on three
 * duplicate ACKs with NewReno recovery (RFC 6582); Reno congestion control
 * (initial window RFC 6928, slow start, congestion avoidance); FIN in both
 * orders and simultaneous close; TIME_WAIT; RST sent and received; SYN
 * retries and data retries that end in a timeout. Not modelled: options
 * (MSS is configured, not negotiated), Nagle, urgent data, PAWS.
 *
 * Sequence numbers are 32-bit and wrap as on the wire.
 */
#ifndef SIM_TCP_H
#define SIM_TCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/error.h"
#include "sim/net/nat.h" /* SIM_TCP_* flag bits */

typedef struct sim_tcp_seg {
  uint32_t seq;
  uint32_t ack;  /* valid when flags has SIM_TCP_ACK */
  uint32_t wnd;  /* receive window in bytes */
  uint8_t flags; /* SIM_TCP_SYN | SIM_TCP_ACK | SIM_TCP_FIN | SIM_TCP_RST */
  uint32_t len;  /* payload bytes */
  const uint8_t *data; /* payload; valid only during the call it is passed to */
} sim_tcp_seg;

typedef struct sim_tcp_config {
  uint32_t mss;            /* payload bytes per segment; default 1460 */
  uint32_t init_cwnd_segs; /* default 10 (RFC 6928) */
  uint32_t rcv_wnd;        /* advertised window, bytes; default 1 MiB */
  uint64_t rto_initial_ns; /* default 1 s (RFC 6298) */
  uint64_t rto_min_ns;     /* default 200 ms (as Linux) */
  uint64_t rto_max_ns;     /* default 60 s */
  uint32_t syn_retries;    /* default 6 (as Linux): 123 s with rto_max */
  uint32_t data_retries;   /* default 15 (as Linux tcp_retries2) */
  uint64_t time_wait_ns;   /* default 60 s (as Linux) */
} sim_tcp_config;

/* Fills cfg with the defaults above. */
void sim_tcp_config_default(sim_tcp_config *cfg);

typedef enum sim_tcp_state {
  SIM_TCP_CLOSED = 0,
  SIM_TCP_SYN_SENT,
  SIM_TCP_SYN_RECEIVED,
  SIM_TCP_ESTABLISHED,
  SIM_TCP_FIN_WAIT_1,
  SIM_TCP_FIN_WAIT_2,
  SIM_TCP_CLOSE_WAIT,
  SIM_TCP_CLOSING,
  SIM_TCP_LAST_ACK,
  SIM_TCP_TIME_WAIT
} sim_tcp_state;

/* Callbacks to the owner. The connection must not be deleted from inside a
 * callback; every other sim_tcp_* call is allowed there (e.g. sending from
 * `data`). */
typedef struct sim_tcp_ops {
  /* A segment to put on the wire. seg->data is valid during the call only. */
  void (*emit)(void *ctx, const sim_tcp_seg *seg, uint64_t now);
  /* The handshake completed (ESTABLISHED reached): data may flow. */
  void (*connected)(void *ctx, uint64_t now);
  /* In-order payload bytes from the peer. */
  void (*data)(void *ctx, const uint8_t *buf, size_t len, uint64_t now);
  /* The peer sent FIN after all its data: no more bytes will arrive. */
  void (*eof)(void *ctx, uint64_t now);
  /* The connection is over: err is 0 (orderly close completed, or TIME_WAIT
   * ended), P2P_ERR_RESET (RST received), P2P_ERR_REFUSED (RST in answer to
   * our SYN), P2P_ERR_TIMEOUT (retries exhausted). Called once; after it the
   * connection is CLOSED and emits nothing more. */
  void (*closed)(void *ctx, int err, uint64_t now);
} sim_tcp_ops;

typedef struct sim_tcp_conn sim_tcp_conn;

/* Creates a CLOSED connection. `iss` is the initial send sequence number
 * (drawn by the owner from its seeded generator). ops and ctx are kept.
 * cfg may be NULL for the defaults. Returns 0 or P2P_ERR_NOMEM. */
P2P_WUR int sim_tcp_new(const sim_tcp_config *cfg, const sim_tcp_ops *ops,
                        void *ctx, uint32_t iss, sim_tcp_conn **out);
void sim_tcp_del(sim_tcp_conn *c);

/* Active open: sends SYN, enters SYN_SENT. P2P_ERR_STATE unless CLOSED. */
P2P_WUR int sim_tcp_connect(sim_tcp_conn *c, uint64_t now);

/* Passive open on a received SYN (the owner's listener accepted it): sends
 * SYN-ACK, enters SYN_RECEIVED. P2P_ERR_STATE unless CLOSED,
 * P2P_ERR_INVALID unless syn has SYN and not ACK. */
P2P_WUR int sim_tcp_accept(sim_tcp_conn *c, const sim_tcp_seg *syn,
                           uint64_t now);

/* Feeds one segment addressed to this connection. Never fails: a segment
 * that does not fit the state is answered or ignored as RFC 9293 says. */
void sim_tcp_input(sim_tcp_conn *c, const sim_tcp_seg *seg, uint64_t now);

/* Queues len bytes (copied) for sending; sends what the windows allow.
 * Allowed in SYN_SENT, SYN_RECEIVED (sent once established), ESTABLISHED and
 * CLOSE_WAIT. Returns 0, P2P_ERR_STATE or P2P_ERR_NOMEM. */
P2P_WUR int sim_tcp_send(sim_tcp_conn *c, const uint8_t *buf, size_t len,
                         uint64_t now);

/* Half-close: sends FIN after the queued data. Idempotent. Returns 0 or
 * P2P_ERR_STATE when the connection is not open. */
P2P_WUR int sim_tcp_shutdown(sim_tcp_conn *c, uint64_t now);

/* Abort: sends RST (unless CLOSED, SYN_SENT or TIME_WAIT) and enters CLOSED
 * without calling `closed`. */
void sim_tcp_abort(sim_tcp_conn *c, uint64_t now);

/* The connection's next deadline (retransmission, TIME_WAIT end), or
 * SIM_TIME_NEVER (UINT64_MAX). Read it after every call into the
 * connection. */
uint64_t sim_tcp_expiry(const sim_tcp_conn *c);

/* Runs the timer work due at `now` (may be called early or late; work not yet
 * due is left alone). */
void sim_tcp_on_expiry(sim_tcp_conn *c, uint64_t now);

sim_tcp_state sim_tcp_get_state(const sim_tcp_conn *c);
const char *sim_tcp_state_name(sim_tcp_state s);

/* Bytes queued by sim_tcp_send and not yet acknowledged by the peer. */
size_t sim_tcp_unacked(const sim_tcp_conn *c);
/* Segments retransmitted so far (timeouts and fast retransmits). */
uint64_t sim_tcp_retransmits(const sim_tcp_conn *c);
/* Smoothed RTT in ns, 0 before the first sample. */
uint64_t sim_tcp_srtt(const sim_tcp_conn *c);

/* Builds the RST that answers `in` when no connection takes it (RFC 9293
 * §3.10.7.1). Returns false, leaving out untouched, when in is itself a RST
 * (a RST is never answered). */
bool sim_tcp_make_rst(const sim_tcp_seg *in, sim_tcp_seg *out);

#endif /* SIM_TCP_H */
