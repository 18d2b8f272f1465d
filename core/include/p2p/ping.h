/*
 * p2p/ping.h - the ping protocol (libp2p/specs ping/ping.md), sans-IO.
 *
 * The dialer writes 32 random bytes and the listener echoes them back; the
 * dialer checks the echo and measures the round trip. The dialer may send
 * further pings on the same stream, one at a time. The host owns the stream
 * and the clock: every time-dependent call takes `now` in nanoseconds.
 */
#ifndef P2P_PING_H
#define P2P_PING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/error.h"
#include "p2p/rand.h"

#define P2P_PING_PROTOCOL_ID "/ipfs/ping/1.0.0"
/* The payload size fixed by the spec. */
#define P2P_PING_PAYLOAD_LEN 32

/* The dialer's side. Caller-owned storage; no heap. */
typedef struct p2p_ping_client {
  uint8_t payload[P2P_PING_PAYLOAD_LEN]; /* what was sent */
  uint8_t echo[P2P_PING_PAYLOAD_LEN];    /* what came back so far */
  size_t echo_len;
  uint64_t start_ns;
  int outstanding; /* a ping was sent and its echo is not complete */
  int failed;      /* a mismatch or unsolicited bytes: drop the stream */
} p2p_ping_client;

/* Prepares *c; no ping is outstanding. Never fails. */
void p2p_ping_client_init(p2p_ping_client *c);

/* Starts a ping at time `now`: draws 32 bytes from rnd and writes them into
 * out for the host to send. Returns P2P_PING_PAYLOAD_LEN,
 * P2P_ERR_INVALID for NULL arguments, P2P_ERR_LIMIT when cap is below 32,
 * or P2P_ERR_STATE while a ping is outstanding or after a failure. */
P2P_WUR ssize_t p2p_ping_client_start(p2p_ping_client *c, const p2p_rand *rnd,
                                      uint64_t now, uint8_t *out, size_t cap);

/* Feeds echo bytes received at time `now`, split anywhere. Consumes at most
 * the rest of the outstanding echo; *consumed (may be NULL) gets the count.
 * Returns 1 when the echo is complete and matches (then *rtt_ns, when not
 * NULL, is now minus the start time, 0 if the clock went backwards, and a
 * new ping may be started), 0 when more bytes are needed, P2P_ERR_PROTO for
 * an echo that differs from the payload or bytes with no ping outstanding
 * (the client fails), P2P_ERR_STATE after a failure, or P2P_ERR_INVALID. */
P2P_WUR int p2p_ping_client_recv(p2p_ping_client *c, const uint8_t *buf,
                                 size_t len, uint64_t now, size_t *consumed,
                                 uint64_t *rtt_ns);

/* 1 while a ping waits for its echo. The host times it out itself, e.g.
 * start time plus its ping timeout. */
int p2p_ping_client_outstanding(const p2p_ping_client *c);

/* The listener's side: echoes every full 32-byte block and holds a partial
 * one until the rest arrives. Caller-owned storage; no heap. */
typedef struct p2p_ping_server {
  uint8_t block[P2P_PING_PAYLOAD_LEN];
  size_t block_len;
} p2p_ping_server;

/* Prepares *s. Never fails. */
void p2p_ping_server_init(p2p_ping_server *s);

/* Feeds len received bytes and writes the echo of every block they complete
 * into out. Input is consumed only as far as the echoes fit in cap (the
 * last byte of a block whose echo does not fit stays unconsumed), so the
 * host feeds the rest again once it has sent the output; *consumed (may be
 * NULL) gets the input bytes taken. Returns the bytes written into out (a
 * multiple of 32), or P2P_ERR_INVALID for NULL arguments. */
P2P_WUR ssize_t p2p_ping_server_recv(p2p_ping_server *s, const uint8_t *buf,
                                     size_t len, uint8_t *out, size_t cap,
                                     size_t *consumed);

/* Bytes of a partial block held by the server (0..31). */
size_t p2p_ping_server_pending(const p2p_ping_server *s);

#endif /* P2P_PING_H */
