/*
 * p2p/websocket.h - WebSocket (RFC 6455) transport codec (sans-IO).
 *
 * A p2p_ws carries one byte stream over a WebSocket connection, the way
 * js-libp2p's @libp2p/websockets (the `ws` package) does: every write goes
 * out as binary messages, and the payloads of received binary messages
 * (and their continuation frames) are concatenated into the stream.
 *
 * Handshake. The client queues its HTTP/1.1 upgrade request at creation
 * (Sec-WebSocket-Key: base64 of 16 bytes from the injected p2p_rand) and
 * checks the server's 101 answer: status line, the "websocket" token in
 * Upgrade, the "upgrade" token in Connection (both case-insensitive) and
 * Sec-WebSocket-Accept = base64(SHA-1(key "258EAFA5-E914-47DA-95CA-
 * C5AB0DC85B11")); an answer offering extensions or a subprotocol it did
 * not ask for is refused. The server checks the request (GET, HTTP/1.1,
 * Host, Upgrade, Connection, a 16-byte Sec-WebSocket-Key, version 13) and
 * answers 101, or queues "400 Bad Request" (426 with the supported version
 * for a wrong Sec-WebSocket-Version) and fails. The header block is at most
 * P2P_WS_MAX_HEADER_LEN bytes.
 *
 * Frames. p2p_ws_write() cuts its input into binary frames (each a complete
 * message, FIN set) of at most max_frame_len payload bytes. Client frames
 * are masked with a fresh 4-byte key from p2p_rand per frame; server frames
 * are not. On input, pings are answered with a pong carrying the same
 * payload, pongs are ignored, and a close frame is echoed (unless one was
 * sent already) after which p2p_ws_eof() is true. Input is refused (the
 * object fails with P2P_ERR_PROTO and, when the connection is open, queues
 * a close frame) for: RSV bits set, an unknown opcode, a text frame (code
 * 1003: libp2p uses binary only), a control frame longer than 125 bytes or
 * without FIN, a server receiving an unmasked frame, a client receiving a
 * masked one, a 64-bit length with its top bit set, a continuation frame
 * outside a message or a new data frame inside one, a malformed close
 * payload (code 1002), and a frame or fragmented message longer than
 * max_message_len (P2P_ERR_LIMIT, code 1009).
 *
 * Usage: create, then loop: p2p_ws_send() until it returns 0 and write
 * those bytes to the peer; feed what the peer sends to p2p_ws_recv(); take
 * the application bytes with p2p_ws_read(). Input may be split at any byte
 * boundary. Steady-state frames allocate nothing: the object keeps one
 * output queue and one receive buffer that only grow. Nothing here reads a
 * clock: the caller applies its own handshake and close timeouts.
 */
#ifndef P2P_WEBSOCKET_H
#define P2P_WEBSOCKET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/error.h"
#include "p2p/rand.h"

/* The GUID RFC 6455 section 1.3 appends to the key before hashing. */
#define P2P_WS_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
/* Length of a Sec-WebSocket-Accept value (base64 of a SHA-1 digest). */
#define P2P_WS_ACCEPT_LEN 28
/* Length of a Sec-WebSocket-Key value (base64 of 16 bytes). */
#define P2P_WS_KEY_LEN 24
/* Largest HTTP header block (request or response, blank line included). */
#define P2P_WS_MAX_HEADER_LEN 8192
/* Longest payload of a control frame (RFC 6455 section 5.5). */
#define P2P_WS_MAX_CONTROL_LEN 125
/* Default largest payload of a frame this side sends. */
#define P2P_WS_DEFAULT_MAX_FRAME_LEN 65536
/* Default largest frame or fragmented message accepted: 1 MiB + 64 KiB. */
#define P2P_WS_DEFAULT_MAX_MESSAGE_LEN ((1u << 20) + 65536u)
/* Default bound on received application bytes held for p2p_ws_read. */
#define P2P_WS_DEFAULT_MAX_READ_BUFFER (256u * 1024u)
/* Longest Host value or request path accepted or sent. */
#define P2P_WS_MAX_TARGET_LEN 2048

/* Close status codes (RFC 6455 section 7.4.1) this module sends. */
#define P2P_WS_CLOSE_NORMAL 1000
#define P2P_WS_CLOSE_PROTOCOL 1002
#define P2P_WS_CLOSE_UNSUPPORTED 1003
#define P2P_WS_CLOSE_TOO_BIG 1009

typedef struct p2p_ws p2p_ws;

enum p2p_ws_role {
  P2P_WS_CLIENT = 0, /* sends the upgrade request, masks its frames */
  P2P_WS_SERVER = 1  /* answers the upgrade request */
};

enum p2p_ws_state {
  P2P_WS_HANDSHAKE = 0, /* the HTTP upgrade is under way */
  P2P_WS_OPEN = 1,      /* data flows both ways */
  P2P_WS_CLOSING = 2,   /* this side sent a close frame, awaits the peer's */
  P2P_WS_CLOSED = 3,    /* both close frames exchanged (or the peer's seen) */
  P2P_WS_FAILED = 4     /* a protocol error: p2p_ws_error / p2p_ws_reason */
};

/* Creation options. Zero fields take their defaults, so a zeroed struct is
 * a valid server configuration; a client needs host and path. */
typedef struct p2p_ws_config {
  const char *host;       /* client: the Host header, e.g. "example.com:443" */
  const char *path;       /* client: the request target, starting with '/' */
  size_t max_frame_len;   /* payload bytes per sent frame */
  size_t max_message_len; /* largest frame/fragmented message accepted */
  size_t max_read_buffer; /* received bytes held before recv pauses */
} p2p_ws_config;

/* Creates a WebSocket endpoint of `role`. `cfg` (copied; the strings too)
 * may be NULL for a server. `rand` is kept by pointer and must outlive the
 * object; a client draws its key from it at once and queues the upgrade
 * request for p2p_ws_send. Returns 0 and sets *out, P2P_ERR_INVALID (bad
 * role, missing rand, client without a valid host or path: non-empty, at
 * most P2P_WS_MAX_TARGET_LEN bytes, no control characters or spaces, path
 * starting with '/') or P2P_ERR_NOMEM. */
P2P_WUR int p2p_ws_new(p2p_ws **out, int role, const p2p_ws_config *cfg,
                       const p2p_rand *rand);

/* Frees the object. NULL is allowed. */
void p2p_ws_del(p2p_ws *ws);

/* Feeds bytes received from the peer; the input may be split anywhere.
 * Returns how many bytes were consumed; fewer than len only when the
 * receive buffer is full (take bytes with p2p_ws_read, then feed the rest)
 * or too many automatic replies (pongs) wait in the output queue (drain
 * p2p_ws_send). Once the peer's close frame is seen, further bytes are
 * consumed and ignored. Errors (the object is then P2P_WS_FAILED and keeps
 * returning them): P2P_ERR_PROTO for malformed input, P2P_ERR_LIMIT for a
 * header block, frame or message above its limit, P2P_ERR_INVALID for a
 * NULL object or buffer. */
P2P_WUR ssize_t p2p_ws_recv(p2p_ws *ws, const uint8_t *buf, size_t len);

/* Moves up to cap queued output bytes into out (caller-owned). Returns the
 * number written, 0 when nothing is queued. Output queued before or by a
 * failure (a 400 answer, a close frame) is still handed out. */
P2P_WUR ssize_t p2p_ws_send(p2p_ws *ws, uint8_t *out, size_t cap);

/* The number of output bytes waiting for p2p_ws_send. */
size_t p2p_ws_pending(const p2p_ws *ws);

/* Queues len bytes of application data as binary frames of at most
 * max_frame_len payload bytes each (len 0 queues nothing). Allowed while
 * P2P_WS_OPEN only. The output queue grows by the framed bytes: callers
 * apply backpressure with p2p_ws_pending. Returns 0, P2P_ERR_STATE,
 * P2P_ERR_INVALID or P2P_ERR_NOMEM (nothing queued then). */
P2P_WUR int p2p_ws_write(p2p_ws *ws, const uint8_t *buf, size_t len);

/* Moves up to cap received application bytes into out. Returns the number
 * moved; 0 when none are buffered (check p2p_ws_eof for the end). */
P2P_WUR ssize_t p2p_ws_read(p2p_ws *ws, uint8_t *out, size_t cap);

/* The number of received application bytes waiting for p2p_ws_read. */
size_t p2p_ws_readable(const p2p_ws *ws);

/* Starts the close handshake: queues a close frame with `code` (1000 for a
 * normal close; 0 sends no status) and moves to P2P_WS_CLOSING, or to
 * P2P_WS_CLOSED when the peer's close was already seen (then its echo was
 * sent and this returns 0 without queueing). Returns 0, P2P_ERR_STATE
 * (handshake not finished, already closing, or failed) or P2P_ERR_INVALID
 * (a code that may not be sent). */
P2P_WUR int p2p_ws_close(p2p_ws *ws, uint16_t code);

/* Nonzero once the peer's close frame was received: no more data comes. */
int p2p_ws_eof(const p2p_ws *ws);

/* The status code of the peer's close frame, 1005 (RFC "no status") when
 * it carried none, 0 before one was received. */
unsigned p2p_ws_peer_close_code(const p2p_ws *ws);

/* The current state, an enum p2p_ws_state value. */
int p2p_ws_state(const p2p_ws *ws);

/* Why the object failed (a negative P2P_ERR_*), or 0 if it has not. */
int p2p_ws_error(const p2p_ws *ws);

/* A static description of the failure, or NULL if the object has not
 * failed. */
const char *p2p_ws_reason(const p2p_ws *ws);

/* Server: the request path once the handshake is done (NUL-terminated,
 * owned by the object); client: the path it requested. */
const char *p2p_ws_path(const p2p_ws *ws);

/* Computes the Sec-WebSocket-Accept value for a Sec-WebSocket-Key of
 * key_len bytes into out (P2P_WS_ACCEPT_LEN characters plus a NUL). */
void p2p_ws_accept_for_key(const char *key, size_t key_len,
                           char out[P2P_WS_ACCEPT_LEN + 1]);

#endif /* P2P_WEBSOCKET_H */
