/*
 * p2p/mss.h - multistream-select 1.0 protocol negotiation (sans-IO).
 *
 * Wire format: every message is an unsigned varint length, then that many
 * bytes of UTF-8 text ending in '\n' (the newline counts in the length).
 * Both sides first send the header "/multistream/1.0.0". The dialer then
 * proposes protocol IDs in its order of preference, one at a time; the
 * listener answers each with the same ID (accepted: negotiation is over and
 * the bytes that follow belong to that protocol) or with "na" (refused). The
 * dialer pipelines its first proposal right behind its header.
 *
 * Limits. A message (text plus its '\n') is at most P2P_MSS_MAX_MSG_LEN =
 * 1024 bytes, the limit go-multistream and js-libp2p (MAX_PROTOCOL_LENGTH,
 * applied as the length-prefix reader's maxDataLength) enforce, so a
 * protocol ID is at most 1023 bytes. Input is rejected with P2P_ERR_PROTO
 * when a length is zero or above the limit, the varint is malformed or not
 * minimal, the text does not end in '\n', contains another '\n' or a NUL,
 * is empty, is not valid UTF-8, the first message is not the exact header
 * (e.g. "/multistream/2.0.0"), or the dialer gets an answer that is neither
 * its proposal nor "na".
 *
 * "ls": a listener answers it with one message whose body is, for each of
 * its listed protocols (in creation order), varint(len + 1) protocol '\n',
 * followed by one final '\n' (the layout rust-libp2p and older js-libp2p
 * send; go-multistream omits the final '\n'). A listener that decides by
 * callback only answers with just "\n". The dialer never sends "ls".
 *
 * Usage: create, then loop: p2p_mss_send() until it returns 0 and write
 * those bytes to the peer; feed what the peer sends to p2p_mss_recv(). Once
 * p2p_mss_state() is P2P_MSS_DONE, flush p2p_mss_send() one last time (the
 * listener's echo), and bytes of the last recv() beyond the count it
 * returned are application data. Nothing here reads a clock: the caller
 * applies its own negotiation timeout.
 */
#ifndef P2P_MSS_H
#define P2P_MSS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/error.h"

/* The multistream-select 1.0 header, without its newline. */
#define P2P_MSS_HEADER "/multistream/1.0.0"
/* Longest message body accepted or sent, the trailing '\n' included. */
#define P2P_MSS_MAX_MSG_LEN 1024
/* Longest protocol ID (the body minus its '\n'). */
#define P2P_MSS_MAX_PROTO_LEN (P2P_MSS_MAX_MSG_LEN - 1)

typedef struct p2p_mss p2p_mss;

enum p2p_mss_state {
  P2P_MSS_NEGOTIATING = 0, /* still exchanging messages */
  P2P_MSS_DONE = 1,        /* a protocol is selected: p2p_mss_selected */
  P2P_MSS_FAILED = 2       /* negotiation failed: p2p_mss_error says why */
};

/* Listener policy for protocols not in its list: return nonzero to accept
 * `proto` (NUL-terminated UTF-8, `len` bytes, valid only during the call).
 * Called from inside p2p_mss_recv; it must not call back into the object. */
typedef int (*p2p_mss_accept_cb)(const char *proto, size_t len, void *user);

/* Creates a dialer that proposes protos[0..n-1] in that order. The strings
 * are copied; n must be >= 1 and each ID non-empty, at most
 * P2P_MSS_MAX_PROTO_LEN bytes of UTF-8 without '\n', and not "na" or "ls".
 * The header and the first proposal are queued at once for p2p_mss_send.
 * Returns 0 and sets *out, P2P_ERR_INVALID or P2P_ERR_NOMEM. */
P2P_WUR int p2p_mss_dialer_new(p2p_mss **out, const char *const *protos,
                               size_t n);

/* Creates a listener that accepts any ID in protos[0..n-1] (copied, same
 * rules as the dialer's) and, for other IDs, whatever `accept` (optional)
 * approves, with `user` passed through. At least one of n > 0 or `accept`
 * is needed. The header is queued at once. Returns 0 and sets *out,
 * P2P_ERR_INVALID or P2P_ERR_NOMEM. */
P2P_WUR int p2p_mss_listener_new(p2p_mss **out, const char *const *protos,
                                 size_t n, p2p_mss_accept_cb accept,
                                 void *user);

/* Frees the object. NULL is allowed. */
void p2p_mss_del(p2p_mss *m);

/* Feeds bytes received from the peer; the input may be split anywhere and
 * may hold several messages. Returns how many bytes were consumed:
 * - while negotiating, fewer than len only when the output queue is too
 *   full to answer the next message: drain p2p_mss_send, then feed the
 *   rest again;
 * - when this call completes the negotiation, the bytes up to the last
 *   message; buf[ret..len) is application data for the selected protocol;
 * - once done, 0 (every byte is application data).
 * Errors (the object is then P2P_MSS_FAILED and keeps returning them):
 * P2P_ERR_PROTO on malformed input, P2P_ERR_NOTFOUND for a dialer whose
 * last proposal was refused, P2P_ERR_INTERNAL on a broken invariant (a
 * bug), P2P_ERR_INVALID for a NULL object or buffer. */
P2P_WUR ssize_t p2p_mss_recv(p2p_mss *m, const uint8_t *buf, size_t len);

/* Tells the object the peer closed its sending side. Returns 0 once done;
 * while negotiating the object fails with P2P_ERR_PROTO (EOF inside a
 * message), P2P_ERR_NOTFOUND (a listener that refused at least one
 * proposal: no protocol in common) or P2P_ERR_RESET (otherwise), and that
 * code is returned. A failed object returns its error. */
P2P_WUR int p2p_mss_recv_eof(p2p_mss *m);

/* Moves up to cap queued output bytes into out (caller-owned). Returns the
 * number written, 0 when nothing is queued. Output queued before a failure
 * is still handed out (e.g. the "na" answers before the peer gave up). */
P2P_WUR ssize_t p2p_mss_send(p2p_mss *m, uint8_t *out, size_t cap);

/* The number of output bytes waiting for p2p_mss_send. */
size_t p2p_mss_pending(const p2p_mss *m);

/* The current state, an enum p2p_mss_state value. */
int p2p_mss_state(const p2p_mss *m);

/* Why the negotiation failed (a negative P2P_ERR_*), or 0 if it has not. */
int p2p_mss_error(const p2p_mss *m);

/* The selected protocol ID (NUL-terminated, owned by the object, valid
 * until p2p_mss_del) once done, else NULL. */
const char *p2p_mss_selected(const p2p_mss *m);

#endif /* P2P_MSS_H */
