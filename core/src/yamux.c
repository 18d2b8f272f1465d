/*
 * yamux.c - the yamux stream multiplexer, sans-IO.
 *
 * Input is parsed with a 12-byte header buffer and then streamed: a data
 * frame's payload goes to on_data piece by piece as it arrives, so no frame
 * is ever buffered whole on the receive side. Output is produced one frame
 * at a time into a staging buffer, which p2p_yamux_send drains into the
 * caller's buffer: a frame without payload is staged in the session itself,
 * a data frame in a heap buffer sized to it (at most 12 +
 * max_frame_data_bytes).
 *
 * Memory: an idle session holds no payload buffers. A stream's send queue
 * and the data staging buffer are allocated when data is written, reused
 * while more follows, and freed when they drain completely, unless they are
 * small (at most BUF_KEEP bytes), which keeps small exchanges such as pings
 * allocation-free.
 */
#include "p2p/yamux.h"

#include <stdlib.h>
#include <string.h>

#define CTL_QUEUE_LEN 64
/* Control frames queued in the session itself; a longer queue (up to
 * CTL_QUEUE_LEN) moves to the heap until it drains. */
#define CTL_INLINE_LEN 4
/* The smallest queue allocation, and the largest buffer kept when empty. */
#define BUF_MIN 256u
#define BUF_KEEP 256u

typedef struct ctl_frame {
  uint8_t type;
  uint16_t flags;
  uint32_t id;
  uint32_t length;
} ctl_frame;

typedef struct ystream {
  uint32_t id;
  uint8_t inbound;
  uint8_t need_syn;      /* our SYN not yet produced */
  uint8_t need_ack;      /* our ACK not yet produced */
  uint8_t established;   /* the peer ACKed our SYN */
  uint8_t fin_requested; /* the application closed its half */
  uint8_t fin_sent;
  uint8_t remote_fin;
  uint8_t rst_pending; /* the application reset the stream */
  uint32_t send_window;
  uint32_t recv_window;
  uint32_t pending_delta; /* credit to announce in a window update */
  uint32_t unconsumed;    /* delivered to on_data, not consumed */
  uint32_t consumed;      /* consumed, not yet announced */
  uint8_t *q;             /* send queue: q[qhead .. qhead+qlen) */
  size_t qhead, qlen, qcap;
} ystream;

struct p2p_yamux {
  p2p_yamux_config cfg;
  p2p_yamux_callbacks cb;
  void *user;

  ystream **streams;
  size_t nstreams, streams_cap, rr;
  uint32_t n_inbound;
  uint32_t next_id;       /* next local stream id; 0 when exhausted */
  uint32_t max_remote_id; /* highest peer-opened id seen */
  int local_go_away;      /* we queued or sent GoAway */
  int remote_go_away;     /* the peer sent GoAway */
  int go_away_queued;     /* our GoAway not yet produced */
  uint32_t go_away_code;
  const char *failed; /* protocol error reason */

  ctl_frame *ctl; /* ring of ctl_cap: ctl_small or a heap array */
  size_t ctl_head, ctl_len, ctl_cap;
  ctl_frame ctl_small[CTL_INLINE_LEN];

  /* receive state */
  uint8_t hdr[P2P_YAMUX_HEADER_LEN];
  size_t hdr_len;
  uint32_t pay_left;  /* payload bytes still to come */
  uint32_t pay_id;    /* stream they belong to; 0 to discard them */
  uint16_t pay_flags; /* flags of that data frame, applied at its end */

  /* send staging: out is hdr_out or dbuf */
  uint8_t *out;
  size_t out_len, out_off;
  uint8_t hdr_out[P2P_YAMUX_HEADER_LEN];
  uint8_t *dbuf;
  size_t dbuf_cap;
};

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static uint16_t get16(const uint8_t *p) {
  return (uint16_t)((p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
         ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static size_t min_size(size_t a, size_t b) {
  return a < b ? a : b;
}

void p2p_yamux_config_default(p2p_yamux_config *cfg, int is_client) {
  memset(cfg, 0, sizeof(*cfg));
  cfg->is_client = is_client ? 1 : 0;
  cfg->max_window_bytes = P2P_YAMUX_INITIAL_WINDOW;
  cfg->max_inbound_streams = 256;
  cfg->max_stream_queued_bytes = 1024u * 1024u;
  cfg->max_frame_data_bytes = 64u * 1024u;
}

int p2p_yamux_new(const p2p_yamux_config *cfg, const p2p_yamux_callbacks *cb,
                  void *user, p2p_yamux **out) {
  if (!cfg || !out)
    return P2P_ERR_INVALID;
  *out = NULL;
  if (cfg->max_window_bytes < P2P_YAMUX_INITIAL_WINDOW ||
      cfg->max_frame_data_bytes == 0 ||
      cfg->max_frame_data_bytes > (16u << 20) ||
      cfg->max_stream_queued_bytes == 0)
    return P2P_ERR_INVALID;
  p2p_yamux *y = calloc(1, sizeof(*y));
  if (!y)
    return P2P_ERR_NOMEM;
  y->out = y->hdr_out;
  y->ctl = y->ctl_small;
  y->ctl_cap = CTL_INLINE_LEN;
  y->cfg = *cfg;
  y->cfg.is_client = cfg->is_client ? 1 : 0;
  if (cb)
    y->cb = *cb;
  y->user = user;
  y->next_id = y->cfg.is_client ? 1 : 2;
  *out = y;
  return 0;
}

static void stream_free(ystream *s) {
  free(s->q);
  free(s);
}

void p2p_yamux_del(p2p_yamux *y) {
  if (!y)
    return;
  for (size_t i = 0; i < y->nstreams; i++)
    stream_free(y->streams[i]);
  free(y->streams);
  free(y->dbuf);
  if (y->ctl != y->ctl_small)
    free(y->ctl);
  free(y);
}

static ystream *find_stream(const p2p_yamux *y, uint32_t id) {
  for (size_t i = 0; i < y->nstreams; i++)
    if (y->streams[i]->id == id)
      return y->streams[i];
  return NULL;
}

static ystream *stream_add(p2p_yamux *y, uint32_t id, int inbound) {
  if (y->nstreams == y->streams_cap) {
    size_t ncap = y->streams_cap ? y->streams_cap * 2 : 8;
    ystream **ns = realloc(y->streams, ncap * sizeof(*ns));
    if (!ns)
      return NULL;
    y->streams = ns;
    y->streams_cap = ncap;
  }
  ystream *s = calloc(1, sizeof(*s));
  if (!s)
    return NULL;
  s->id = id;
  s->inbound = (uint8_t)inbound;
  s->send_window = P2P_YAMUX_INITIAL_WINDOW;
  s->recv_window = P2P_YAMUX_INITIAL_WINDOW;
  s->pending_delta = y->cfg.max_window_bytes - P2P_YAMUX_INITIAL_WINDOW;
  if (inbound) {
    s->need_ack = 1;
    y->n_inbound++;
  } else {
    s->need_syn = 1;
  }
  y->streams[y->nstreams++] = s;
  return s;
}

/* Removes a stream and reports it closed. */
static void stream_remove(p2p_yamux *y, ystream *s) {
  size_t i;
  for (i = 0; i < y->nstreams; i++)
    if (y->streams[i] == s)
      break;
  if (i == y->nstreams)
    return;
  memmove(&y->streams[i], &y->streams[i + 1],
          (y->nstreams - i - 1) * sizeof(*y->streams));
  y->nstreams--;
  if (y->rr > i)
    y->rr--;
  if (s->inbound)
    y->n_inbound--;
  uint32_t id = s->id;
  stream_free(s);
  if (y->cb.on_stream_closed)
    y->cb.on_stream_closed(y, id, y->user);
}

static int fail(p2p_yamux *y, const char *reason) {
  if (!y->failed) {
    y->failed = reason;
    y->go_away_queued = 1;
    y->local_go_away = 1;
    y->go_away_code = P2P_YAMUX_GO_AWAY_PROTOCOL;
  }
  return P2P_ERR_PROTO;
}

static int ctl_push(p2p_yamux *y, uint8_t type, uint16_t flags, uint32_t id,
                    uint32_t length) {
  if (y->ctl_len == CTL_QUEUE_LEN)
    return P2P_ERR_LIMIT;
  if (y->ctl_len == y->ctl_cap) { /* move the ring to the heap, in order */
    ctl_frame *big = malloc(CTL_QUEUE_LEN * sizeof(*big));
    if (!big)
      return P2P_ERR_NOMEM;
    for (size_t i = 0; i < y->ctl_len; i++)
      big[i] = y->ctl[(y->ctl_head + i) % y->ctl_cap];
    y->ctl = big;
    y->ctl_cap = CTL_QUEUE_LEN;
    y->ctl_head = 0;
  }
  ctl_frame *f = &y->ctl[(y->ctl_head + y->ctl_len) % y->ctl_cap];
  f->type = type;
  f->flags = flags;
  f->id = id;
  f->length = length;
  y->ctl_len++;
  return 0;
}

static int is_local_id(const p2p_yamux *y, uint32_t id) {
  return (id & 1u) == (y->cfg.is_client ? 1u : 0u);
}

/* A stream id that was in use once and is gone now: late frames for it are
 * dropped, as a reset or close may cross them on the wire. */
static int was_used(const p2p_yamux *y, uint32_t id) {
  if (is_local_id(y, id))
    return y->next_id == 0 || id < y->next_id;
  return id <= y->max_remote_id;
}

/* ---- receive ---------------------------------------------------------- */

static int apply_fin(p2p_yamux *y, ystream *s) {
  if (s->remote_fin)
    return fail(y, "FIN on a stream the peer already closed");
  s->remote_fin = 1;
  uint32_t id = s->id;
  if (y->cb.on_stream_fin)
    y->cb.on_stream_fin(y, id, y->user);
  /* The callback may not free it, but look it up again to stay honest. */
  s = find_stream(y, id);
  if (s && s->fin_sent && !s->rst_pending)
    stream_remove(y, s);
  return 0;
}

static int on_stream_frame(p2p_yamux *y, uint8_t type, uint16_t flags,
                           uint32_t id, uint32_t length) {
  if (type == P2P_YAMUX_DATA && length > y->cfg.max_window_bytes)
    return fail(y, "data frame longer than the largest window");
  ystream *s;
  if (flags & P2P_YAMUX_SYN) {
    if (is_local_id(y, id))
      return fail(y, "SYN with a stream id of our parity");
    if (find_stream(y, id))
      return fail(y, "SYN on an existing stream id");
    if (id > y->max_remote_id)
      y->max_remote_id = id;
    if (flags & P2P_YAMUX_RST) {
      /* Opened and reset at once: nothing to report. */
      if (type == P2P_YAMUX_DATA)
        y->pay_left = length, y->pay_id = 0;
      return 0;
    }
    if (y->local_go_away || y->n_inbound >= y->cfg.max_inbound_streams) {
      /* Refused. If the control queue is full the RST is dropped: a peer
       * flooding SYNs without reading gets no answer. */
      (void)ctl_push(y, P2P_YAMUX_WINDOW_UPDATE, P2P_YAMUX_RST, id, 0);
      if (type == P2P_YAMUX_DATA)
        y->pay_left = length, y->pay_id = 0;
      return 0;
    }
    s = stream_add(y, id, 1);
    if (!s) {
      (void)ctl_push(y, P2P_YAMUX_WINDOW_UPDATE, P2P_YAMUX_RST, id, 0);
      if (type == P2P_YAMUX_DATA)
        y->pay_left = length, y->pay_id = 0;
      return 0;
    }
    if (y->cb.on_stream_open)
      y->cb.on_stream_open(y, id, y->user);
    s = find_stream(y, id);
    if (!s) /* cannot happen: removal is deferred */
      return 0;
  } else {
    s = find_stream(y, id);
    if (!s) {
      if (!was_used(y, id))
        return fail(y, "frame for a stream that was never opened");
      if (type == P2P_YAMUX_DATA)
        y->pay_left = length, y->pay_id = 0;
      return 0;
    }
  }

  if (flags & P2P_YAMUX_ACK) {
    if (!s->inbound && !s->established) {
      s->established = 1;
      if (y->cb.on_stream_ack)
        y->cb.on_stream_ack(y, id, y->user);
      s = find_stream(y, id);
      if (!s)
        return 0;
    }
  }

  if (flags & P2P_YAMUX_RST) {
    if (type == P2P_YAMUX_DATA)
      y->pay_left = length, y->pay_id = 0;
    if (y->cb.on_stream_reset)
      y->cb.on_stream_reset(y, id, y->user);
    s = find_stream(y, id);
    if (s)
      stream_remove(y, s);
    return 0;
  }

  if (type == P2P_YAMUX_WINDOW_UPDATE) {
    if (length > UINT32_MAX - s->send_window)
      return fail(y, "window update overflows the send window");
    s->send_window += length;
    if (flags & P2P_YAMUX_FIN)
      return apply_fin(y, s);
    return 0;
  }

  /* Data */
  if (s->remote_fin)
    return fail(y, "data on a stream the peer closed");
  if (length > s->recv_window)
    return fail(y, "data beyond the receive window");
  s->recv_window -= length;
  if (length > 0) {
    y->pay_left = length;
    y->pay_id = id;
    y->pay_flags = flags;
    return 0;
  }
  if (flags & P2P_YAMUX_FIN)
    return apply_fin(y, s);
  return 0;
}

static int on_header(p2p_yamux *y) {
  const uint8_t *h = y->hdr;
  uint8_t type = h[1];
  uint16_t flags = get16(h + 2);
  uint32_t id = get32(h + 4);
  uint32_t length = get32(h + 8);
  if (h[0] != 0)
    return fail(y, "unsupported yamux version");
  switch (type) {
  case P2P_YAMUX_DATA:
  case P2P_YAMUX_WINDOW_UPDATE:
    if (id == 0)
      return fail(y, "stream frame on the session id 0");
    return on_stream_frame(y, type, flags, id, length);
  case P2P_YAMUX_PING:
    if (id != 0)
      return fail(y, "ping on a stream id");
    if (flags & P2P_YAMUX_SYN) {
      /* Answer; with a full control queue the answer is dropped, so a peer
       * that floods pings cannot grow our memory. */
      (void)ctl_push(y, P2P_YAMUX_PING, P2P_YAMUX_ACK, 0, length);
    } else if (flags & P2P_YAMUX_ACK) {
      if (y->cb.on_ping_ack)
        y->cb.on_ping_ack(y, length, y->user);
    } else {
      return fail(y, "ping without SYN or ACK");
    }
    return 0;
  case P2P_YAMUX_GO_AWAY:
    if (id != 0)
      return fail(y, "go away on a stream id");
    y->remote_go_away = 1;
    if (y->cb.on_go_away)
      y->cb.on_go_away(y, length, y->user);
    return 0;
  default: return fail(y, "unknown frame type");
  }
}

static int on_payload(p2p_yamux *y, const uint8_t *buf, size_t n, int last) {
  ystream *s = y->pay_id ? find_stream(y, y->pay_id) : NULL;
  if (!s)
    return 0;
  if (!s->rst_pending) {
    s->unconsumed += (uint32_t)n;
    if (y->cb.on_data)
      y->cb.on_data(y, s->id, buf, n, y->user);
    s = find_stream(y, y->pay_id);
    if (!s)
      return 0;
  }
  if (last && (y->pay_flags & P2P_YAMUX_FIN))
    return apply_fin(y, s);
  return 0;
}

int p2p_yamux_recv(p2p_yamux *y, const uint8_t *buf, size_t len, uint64_t now) {
  (void)now;
  if (!y || (!buf && len))
    return P2P_ERR_INVALID;
  while (len > 0) {
    if (y->failed)
      return P2P_ERR_PROTO;
    if (y->pay_left == 0) {
      size_t take = min_size(P2P_YAMUX_HEADER_LEN - y->hdr_len, len);
      memcpy(y->hdr + y->hdr_len, buf, take);
      y->hdr_len += take;
      buf += take;
      len -= take;
      if (y->hdr_len < P2P_YAMUX_HEADER_LEN)
        break;
      y->hdr_len = 0;
      int rv = on_header(y);
      if (rv < 0)
        return rv;
    } else {
      size_t n = min_size(y->pay_left, len);
      y->pay_left -= (uint32_t)n;
      int rv = on_payload(y, buf, n, y->pay_left == 0);
      buf += n;
      len -= n;
      if (rv < 0)
        return rv;
    }
  }
  return y->failed ? P2P_ERR_PROTO : 0;
}

/* ---- send ------------------------------------------------------------- */

static void stage_header(p2p_yamux *y, uint8_t type, uint16_t flags,
                         uint32_t id, uint32_t length) {
  uint8_t *h = y->out = y->hdr_out;
  h[0] = 0;
  h[1] = type;
  put16(h + 2, flags);
  put32(h + 4, id);
  put32(h + 8, length);
  y->out_len = P2P_YAMUX_HEADER_LEN;
  y->out_off = 0;
}

/* Makes room for a data frame of n payload bytes in dbuf. Returns 0 or
 * P2P_ERR_NOMEM. */
static int reserve_data(p2p_yamux *y, size_t n) {
  size_t need = P2P_YAMUX_HEADER_LEN + n;
  if (y->dbuf_cap >= need)
    return 0;
  if (need < BUF_MIN)
    need = BUF_MIN;
  free(y->dbuf); /* empty: only called between frames */
  y->dbuf_cap = 0;
  y->dbuf = malloc(need);
  if (!y->dbuf)
    return P2P_ERR_NOMEM;
  y->dbuf_cap = need;
  return 0;
}

/* Stages a data frame header in dbuf (reserved by the caller). */
static void stage_data_header(p2p_yamux *y, uint16_t flags, uint32_t id,
                              uint32_t length) {
  stage_header(y, P2P_YAMUX_DATA, flags, id, length);
  memcpy(y->dbuf, y->hdr_out, P2P_YAMUX_HEADER_LEN);
  y->out = y->dbuf;
}

static void queue_drained(ystream *s) {
  s->qhead = 0;
  if (s->qcap > BUF_KEEP) { /* the burst is over */
    free(s->q);
    s->q = NULL;
    s->qcap = 0;
  }
}

static int stream_has_work(const ystream *s) {
  if (s->rst_pending || s->need_syn || s->need_ack)
    return 1;
  if (s->qlen > 0 && s->send_window > 0)
    return 1;
  if (s->pending_delta > 0 && !s->remote_fin)
    return 1;
  return s->fin_requested && !s->fin_sent && s->qlen == 0;
}

static uint16_t take_open_flags(ystream *s) {
  uint16_t f = 0;
  if (s->need_syn)
    f |= P2P_YAMUX_SYN;
  if (s->need_ack)
    f |= P2P_YAMUX_ACK;
  s->need_syn = s->need_ack = 0;
  return f;
}

static void stage_window_update(p2p_yamux *y, ystream *s, uint16_t flags) {
  uint32_t delta = s->remote_fin ? 0 : s->pending_delta;
  s->recv_window += delta;
  s->pending_delta = 0;
  stage_header(y, P2P_YAMUX_WINDOW_UPDATE, flags, s->id, delta);
}

/* Stages the next frame of stream `s`. Returns 1 when a frame was staged. */
static int stage_stream_frame(p2p_yamux *y, ystream *s) {
  if (s->rst_pending) {
    int announced = !s->need_syn;
    if (announced)
      stage_header(y, P2P_YAMUX_WINDOW_UPDATE, P2P_YAMUX_RST, s->id, 0);
    stream_remove(y, s);
    return announced;
  }
  int open = s->need_syn || s->need_ack;
  if (open && s->pending_delta > 0) {
    stage_window_update(y, s, take_open_flags(s));
    return 1;
  }
  if (s->qlen > 0 && s->send_window > 0) {
    size_t n = min_size(s->qlen, s->send_window);
    n = min_size(n, y->cfg.max_frame_data_bytes);
    if (reserve_data(y, n) < 0)
      return 0; /* out of memory: the data stays queued for a later try */
    /* The FIN never rides on a data frame: it follows in a window update
     * of its own, as go-yamux sends it, because js-libp2p's yamux may
     * close the stream's readable end before it delivers the payload of a
     * data frame that carries FIN. */
    uint16_t flags = take_open_flags(s);
    stage_data_header(y, flags, s->id, (uint32_t)n);
    memcpy(y->out + P2P_YAMUX_HEADER_LEN, s->q + s->qhead, n);
    y->out_len += n;
    s->qhead += n;
    s->qlen -= n;
    if (s->qlen == 0)
      queue_drained(s);
    s->send_window -= (uint32_t)n;
  } else if (open || (s->pending_delta > 0 && !s->remote_fin)) {
    uint16_t flags = take_open_flags(s);
    if (s->fin_requested && !s->fin_sent && s->qlen == 0) {
      flags |= P2P_YAMUX_FIN;
      s->fin_sent = 1;
    }
    stage_window_update(y, s, flags);
  } else if (s->fin_requested && !s->fin_sent && s->qlen == 0) {
    stage_header(y, P2P_YAMUX_WINDOW_UPDATE, P2P_YAMUX_FIN, s->id, 0);
    s->fin_sent = 1;
  } else {
    s->pending_delta = 0; /* the peer closed: no one to announce it to */
    return 0;
  }
  if (s->fin_sent && s->remote_fin)
    stream_remove(y, s);
  return 1;
}

/* Stages the next frame to send. Returns 1 when one was staged. */
static int stage_next(p2p_yamux *y) {
  if (y->failed) {
    if (!y->go_away_queued)
      return 0;
    y->go_away_queued = 0;
    stage_header(y, P2P_YAMUX_GO_AWAY, 0, 0, y->go_away_code);
    return 1;
  }
  if (y->ctl_len > 0) {
    ctl_frame f = y->ctl[y->ctl_head];
    y->ctl_head = (y->ctl_head + 1) % y->ctl_cap;
    y->ctl_len--;
    if (y->ctl_len == 0 && y->ctl != y->ctl_small) { /* drained */
      free(y->ctl);
      y->ctl = y->ctl_small;
      y->ctl_cap = CTL_INLINE_LEN;
      y->ctl_head = 0;
    }
    stage_header(y, f.type, f.flags, f.id, f.length);
    return 1;
  }
  if (y->go_away_queued) {
    y->go_away_queued = 0;
    stage_header(y, P2P_YAMUX_GO_AWAY, 0, 0, y->go_away_code);
    return 1;
  }
  /* Round robin over the streams so none starves the others. */
  for (size_t tries = y->nstreams + 1; tries > 0 && y->nstreams > 0; tries--) {
    size_t n = y->nstreams, i;
    ystream *s = NULL;
    for (i = 0; i < n; i++) {
      size_t idx = (y->rr + i) % n;
      if (stream_has_work(y->streams[idx])) {
        s = y->streams[idx];
        y->rr = idx + 1;
        break;
      }
    }
    if (!s)
      return 0;
    if (stage_stream_frame(y, s))
      return 1;
    /* The stream had nothing to put on the wire after all (a reset
     * before its SYN, a delta the peer no longer needs): look again. */
  }
  return 0;
}

ssize_t p2p_yamux_send(p2p_yamux *y, uint8_t *buf, size_t cap, uint64_t now) {
  (void)now;
  if (!y || (!buf && cap))
    return P2P_ERR_INVALID;
  size_t written = 0;
  while (written < cap) {
    if (y->out_off == y->out_len) {
      y->out_off = y->out_len = 0;
      if (!stage_next(y)) {
        if (y->dbuf_cap > BUF_KEEP) { /* nothing more to send for now */
          free(y->dbuf);
          y->dbuf = NULL;
          y->dbuf_cap = 0;
        }
        y->out = y->hdr_out;
        break;
      }
    }
    size_t n = min_size(y->out_len - y->out_off, cap - written);
    memcpy(buf + written, y->out + y->out_off, n);
    y->out_off += n;
    written += n;
  }
  return (ssize_t)written;
}

/* ---- streams ---------------------------------------------------------- */

int p2p_yamux_stream_open(p2p_yamux *y, uint32_t *id) {
  if (!y || !id)
    return P2P_ERR_INVALID;
  if (y->failed || y->local_go_away || y->remote_go_away)
    return P2P_ERR_STATE;
  if (y->next_id == 0)
    return P2P_ERR_LIMIT;
  ystream *s = stream_add(y, y->next_id, 0);
  if (!s)
    return P2P_ERR_NOMEM;
  *id = y->next_id;
  /* Ids must not wrap: 0 marks the space as used up. */
  y->next_id = y->next_id > UINT32_MAX - 2 ? 0 : y->next_id + 2;
  return 0;
}

ssize_t p2p_yamux_stream_write(p2p_yamux *y, uint32_t id, const uint8_t *data,
                               size_t len) {
  if (!y || (!data && len))
    return P2P_ERR_INVALID;
  ystream *s = find_stream(y, id);
  if (!s)
    return P2P_ERR_NOTFOUND;
  if (s->fin_requested || s->rst_pending || y->failed)
    return P2P_ERR_STATE;
  size_t room = y->cfg.max_stream_queued_bytes - s->qlen;
  size_t n = min_size(room, len);
  if (n == 0)
    return len ? P2P_ERR_LIMIT : 0;
  if (s->qhead + s->qlen + n > s->qcap) {
    if (s->qhead > 0) {
      memmove(s->q, s->q + s->qhead, s->qlen);
      s->qhead = 0;
    }
    if (s->qlen + n > s->qcap) {
      size_t need = s->qlen + n, ncap;
      if (s->qcap == 0) {
        ncap = need > BUF_MIN ? need : BUF_MIN; /* the first: sized to need */
      } else {
        ncap = s->qcap * 2;
        while (ncap < need)
          ncap *= 2;
      }
      if (ncap > y->cfg.max_stream_queued_bytes)
        ncap = y->cfg.max_stream_queued_bytes;
      uint8_t *nq = realloc(s->q, ncap);
      if (!nq)
        return P2P_ERR_NOMEM;
      s->q = nq;
      s->qcap = ncap;
    }
  }
  memcpy(s->q + s->qhead + s->qlen, data, n);
  s->qlen += n;
  return (ssize_t)n;
}

int p2p_yamux_stream_consume(p2p_yamux *y, uint32_t id, size_t n) {
  if (!y)
    return P2P_ERR_INVALID;
  ystream *s = find_stream(y, id);
  if (!s)
    return P2P_ERR_NOTFOUND;
  if (n > s->unconsumed)
    return P2P_ERR_INVALID;
  s->unconsumed -= (uint32_t)n;
  s->consumed += (uint32_t)n;
  /* Announce credit in batches of at least half a window, as go-yamux and
   * js-yamux do, so small reads do not each cost a frame. */
  if (s->consumed >= y->cfg.max_window_bytes / 2) {
    s->pending_delta += s->consumed;
    s->consumed = 0;
  }
  return 0;
}

int p2p_yamux_stream_close(p2p_yamux *y, uint32_t id) {
  if (!y)
    return P2P_ERR_INVALID;
  ystream *s = find_stream(y, id);
  if (!s)
    return P2P_ERR_NOTFOUND;
  if (s->fin_requested || s->rst_pending)
    return P2P_ERR_STATE;
  s->fin_requested = 1;
  return 0;
}

int p2p_yamux_stream_reset(p2p_yamux *y, uint32_t id) {
  if (!y)
    return P2P_ERR_INVALID;
  ystream *s = find_stream(y, id);
  if (!s)
    return P2P_ERR_NOTFOUND;
  if (s->rst_pending)
    return P2P_ERR_STATE;
  s->rst_pending = 1;
  s->qlen = 0;
  queue_drained(s);
  return 0;
}

int p2p_yamux_stream_get_info(const p2p_yamux *y, uint32_t id,
                              p2p_yamux_stream_info *info) {
  if (!y || !info)
    return P2P_ERR_INVALID;
  const ystream *s = find_stream(y, id);
  if (!s)
    return P2P_ERR_NOTFOUND;
  info->send_window_bytes = s->send_window;
  info->recv_window_bytes = s->recv_window;
  info->queued_bytes = s->qlen;
  info->unconsumed_bytes = s->unconsumed;
  info->local_closed = s->fin_requested;
  info->remote_closed = s->remote_fin;
  return 0;
}

int p2p_yamux_ping(p2p_yamux *y, uint32_t opaque) {
  if (!y)
    return P2P_ERR_INVALID;
  if (y->failed)
    return P2P_ERR_STATE;
  return ctl_push(y, P2P_YAMUX_PING, P2P_YAMUX_SYN, 0, opaque);
}

int p2p_yamux_go_away(p2p_yamux *y, uint32_t code) {
  if (!y)
    return P2P_ERR_INVALID;
  if (y->local_go_away)
    return P2P_ERR_STATE;
  y->local_go_away = 1;
  y->go_away_queued = 1;
  y->go_away_code = code;
  return 0;
}

size_t p2p_yamux_stream_count(const p2p_yamux *y) {
  return y ? y->nstreams : 0;
}

const char *p2p_yamux_error_reason(const p2p_yamux *y) {
  return y ? y->failed : NULL;
}
