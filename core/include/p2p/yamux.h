/*
 * p2p/yamux.h - the yamux stream multiplexer (hashicorp spec.md, as used by
 * libp2p under /yamux/1.0.0), sans-IO.
 *
 * A session never touches a socket or a clock. Bytes read from the
 * connection go in with p2p_yamux_recv; frames to write come out of
 * p2p_yamux_send into a buffer the caller owns. Events (new inbound stream,
 * data, half-close, reset, ping acknowledgement, go-away) are reported
 * through callbacks while p2p_yamux_recv runs. Yamux has no timers of its
 * own here: a ping is answered with its opaque value and the embedder
 * measures the round trip with its own clock.
 *
 * Streams are named by their 32-bit id: odd for the dialer (client), even
 * for the listener (server). Received data is handed to on_data; the
 * application then grants the peer new credit with p2p_yamux_stream_consume,
 * and a window update goes out once at least half the window was consumed.
 *
 * Callbacks must not call p2p_yamux_recv, p2p_yamux_send or p2p_yamux_del;
 * the stream functions (write, close, reset, consume, open) are allowed.
 *
 * Memory: a session allocates payload buffers (a stream's send queue, the
 * staging of a data frame) only while data waits to go out, and gives
 * buffers larger than a few hundred bytes back once they drain, so an idle
 * session costs little more than its structs.
 *
 * A protocol violation by the peer makes p2p_yamux_recv return
 * P2P_ERR_PROTO; p2p_yamux_error_reason says why. The session then only
 * sends a GoAway(protocol error) frame and must be dropped after that.
 */
#ifndef P2P_YAMUX_H
#define P2P_YAMUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/error.h"

#define P2P_YAMUX_HEADER_LEN 12
#define P2P_YAMUX_INITIAL_WINDOW (256u * 1024u)

enum p2p_yamux_type {
  P2P_YAMUX_DATA = 0,
  P2P_YAMUX_WINDOW_UPDATE = 1,
  P2P_YAMUX_PING = 2,
  P2P_YAMUX_GO_AWAY = 3
};

enum p2p_yamux_flag {
  P2P_YAMUX_SYN = 1,
  P2P_YAMUX_ACK = 2,
  P2P_YAMUX_FIN = 4,
  P2P_YAMUX_RST = 8
};

enum p2p_yamux_go_away_code {
  P2P_YAMUX_GO_AWAY_NORMAL = 0,
  P2P_YAMUX_GO_AWAY_PROTOCOL = 1,
  P2P_YAMUX_GO_AWAY_INTERNAL = 2
};

typedef struct p2p_yamux p2p_yamux;

/* Session settings. Fill with p2p_yamux_config_default, then adjust. */
typedef struct p2p_yamux_config {
  int is_client;                /* dialer: odd stream ids */
  uint32_t max_window_bytes;    /* receive window per stream, >= 256 KiB */
  uint32_t max_inbound_streams; /* extra inbound SYNs are refused with RST */
  uint32_t max_stream_queued_bytes; /* unsent bytes kept per stream */
  uint32_t max_frame_data_bytes;    /* largest data frame produced */
} p2p_yamux_config;

/* Event callbacks; any may be NULL. `user` is the pointer given to
 * p2p_yamux_new. */
typedef struct p2p_yamux_callbacks {
  /* The peer opened stream `id` (an ACK is sent automatically; reset the
   * stream here to refuse it). */
  void (*on_stream_open)(p2p_yamux *y, uint32_t id, void *user);
  /* The peer acknowledged a stream we opened. */
  void (*on_stream_ack)(p2p_yamux *y, uint32_t id, void *user);
  /* Payload bytes for stream `id`, valid only during the call. They keep
   * their share of the receive window until p2p_yamux_stream_consume. */
  void (*on_data)(p2p_yamux *y, uint32_t id, const uint8_t *data, size_t len,
                  void *user);
  /* The peer half-closed stream `id` (FIN): no more data will arrive. */
  void (*on_stream_fin)(p2p_yamux *y, uint32_t id, void *user);
  /* The peer reset stream `id` (RST), or refused a stream we opened. */
  void (*on_stream_reset)(p2p_yamux *y, uint32_t id, void *user);
  /* Stream `id` is gone (both sides closed, or reset either way); its id
   * is no longer valid for the stream functions. Runs from p2p_yamux_recv,
   * or from p2p_yamux_send once our RST or last FIN was produced. */
  void (*on_stream_closed)(p2p_yamux *y, uint32_t id, void *user);
  /* The peer answered our ping carrying `opaque`. */
  void (*on_ping_ack)(p2p_yamux *y, uint32_t opaque, void *user);
  /* The peer sent GoAway with `code` (p2p_yamux_go_away_code). */
  void (*on_go_away)(p2p_yamux *y, uint32_t code, void *user);
} p2p_yamux_callbacks;

/* What p2p_yamux_stream_get_info reports. */
typedef struct p2p_yamux_stream_info {
  uint32_t send_window_bytes; /* credit the peer gave us, unused */
  uint32_t recv_window_bytes; /* credit we gave the peer, unused */
  size_t queued_bytes;        /* written, not yet framed */
  size_t unconsumed_bytes;    /* delivered by on_data, not yet consumed */
  int local_closed;           /* p2p_yamux_stream_close was called */
  int remote_closed;          /* the peer sent FIN */
} p2p_yamux_stream_info;

/* Fills `cfg` with the defaults: 256 KiB windows, 256 inbound streams,
 * 1 MiB queued per stream, 64 KiB data frames. */
void p2p_yamux_config_default(p2p_yamux_config *cfg, int is_client);

/* Creates a session. `cfg` and `cb` are copied; `user` is passed to every
 * callback. On success *out owns a session to free with p2p_yamux_del.
 * Returns 0, P2P_ERR_INVALID for a bad config or P2P_ERR_NOMEM. */
P2P_WUR int p2p_yamux_new(const p2p_yamux_config *cfg,
                          const p2p_yamux_callbacks *cb, void *user,
                          p2p_yamux **out);

/* Frees a session and all its streams without sending anything. NULL is
 * fine. Not to be called from a callback. */
void p2p_yamux_del(p2p_yamux *y);

/* Feeds `len` bytes read from the connection; they may split frames at any
 * byte. Callbacks run from here. Returns 0 when all bytes were taken, or
 * P2P_ERR_PROTO when the peer broke the protocol (now or earlier): a GoAway
 * is queued and the session must be dropped once it was sent. */
P2P_WUR int p2p_yamux_recv(p2p_yamux *y, const uint8_t *buf, size_t len,
                           uint64_t now);

/* Writes pending frames into `buf` (up to `cap` bytes, a frame may be split
 * across calls). Returns the number of bytes written, 0 when there is
 * nothing to send, or P2P_ERR_INVALID for a NULL buffer with cap > 0. */
P2P_WUR ssize_t p2p_yamux_send(p2p_yamux *y, uint8_t *buf, size_t cap,
                               uint64_t now);

/* Opens an outbound stream; its SYN goes out with the first frame sent for
 * it. On success *id is the new stream's id. Returns 0, P2P_ERR_STATE after
 * a GoAway either way or a protocol error, P2P_ERR_LIMIT when ids are
 * exhausted, P2P_ERR_NOMEM. */
P2P_WUR int p2p_yamux_stream_open(p2p_yamux *y, uint32_t *id);

/* Queues up to `len` bytes of `data` (copied) on stream `id`. Data leaves
 * only as the peer's window allows; at most max_stream_queued_bytes wait in
 * the stream. Returns the number of bytes accepted (possibly fewer than
 * len), P2P_ERR_LIMIT when the queue is full, P2P_ERR_NOTFOUND for an
 * unknown id, P2P_ERR_STATE after close or reset, P2P_ERR_NOMEM. */
P2P_WUR ssize_t p2p_yamux_stream_write(p2p_yamux *y, uint32_t id,
                                       const uint8_t *data, size_t len);

/* Tells the session the application is done with `n` bytes delivered by
 * on_data on stream `id`, so the peer may send that much more. Returns 0,
 * P2P_ERR_NOTFOUND, or P2P_ERR_INVALID when n exceeds the unconsumed
 * bytes. */
P2P_WUR int p2p_yamux_stream_consume(p2p_yamux *y, uint32_t id, size_t n);

/* Half-closes stream `id`: a FIN follows the queued data. Reading goes on
 * until the peer's FIN. Returns 0, P2P_ERR_NOTFOUND, or P2P_ERR_STATE when
 * already closed or reset. */
P2P_WUR int p2p_yamux_stream_close(p2p_yamux *y, uint32_t id);

/* Resets stream `id`: queued data is dropped, an RST is sent and the stream
 * is removed (on_stream_closed) once the RST was produced. Returns 0,
 * P2P_ERR_NOTFOUND, or P2P_ERR_STATE when already reset. */
P2P_WUR int p2p_yamux_stream_reset(p2p_yamux *y, uint32_t id);

/* Fills `info` for stream `id`. Returns 0 or P2P_ERR_NOTFOUND. */
P2P_WUR int p2p_yamux_stream_get_info(const p2p_yamux *y, uint32_t id,
                                      p2p_yamux_stream_info *info);

/* Queues a ping carrying `opaque`; on_ping_ack reports the answer. Returns
 * 0, P2P_ERR_LIMIT when too many control frames wait, P2P_ERR_NOMEM,
 * P2P_ERR_STATE after a protocol error. */
P2P_WUR int p2p_yamux_ping(p2p_yamux *y, uint32_t opaque);

/* Queues a GoAway with `code` (p2p_yamux_go_away_code): no new streams are
 * accepted or opened afterwards; open streams go on. Returns 0 or
 * P2P_ERR_STATE when a GoAway was already sent or queued. */
P2P_WUR int p2p_yamux_go_away(p2p_yamux *y, uint32_t code);

/* Number of live streams (both directions). */
size_t p2p_yamux_stream_count(const p2p_yamux *y);

/* Why the session failed (a static string), or NULL while it is healthy. */
const char *p2p_yamux_error_reason(const p2p_yamux *y);

#endif /* P2P_YAMUX_H */
