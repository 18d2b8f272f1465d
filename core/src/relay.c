/*
 * relay.c - circuit relay v2 (libp2p/specs relay/circuit-v2.md) on a
 * p2p_host: the hop server and the client (reservations, the stop handler,
 * the /p2p-circuit dialer).
 *
 * Object lifetimes. Every stream we hold carries its owner (a hop session,
 * a reservation entry or a relayed connection) as the stream's ctx
 * (p2p_host_stream_set_ctx); the handler's `user` is the server or client.
 * Callbacks look at the ctx first and do nothing when it is NULL, which is
 * how _del detaches the streams it resets. Owners are never freed inside a
 * callback: they are marked dead and swept when the outermost call into
 * this module returns (the host may call us back from inside the host
 * functions we call).
 *
 * Backpressure. The host credits received bytes back to the peer's yamux
 * window as soon as on_data returns, so the relay cannot stop reading a
 * stream. It writes what the other stream has room for
 * (p2p_host_stream_room) and keeps the rest in a bounded buffer per
 * direction, drained when room appears (on traffic and on a short poll
 * timer). A peer that overruns that buffer (RELAY_PEND_MAX) gets its
 * circuit reset: an end-to-end yamux session never has that much in
 * flight, since its own windows bound what the ends send.
 *
 * Time. The core has no wall clock: a reservation's expire (Unix seconds
 * on the wire) is p2p_host_unix_ns(now) + ttl, and an expire received is
 * turned back into the host's clock the same way.
 */
#include "p2p/relay.h"

#include <stdlib.h>
#include <string.h>

#define NS_PER_S 1000000000ull
#define DEF_MAX_RSVP 128
#define DEF_MAX_RSVP_PER_IP 8
#define DEF_MAX_CIRCUITS 16
#define DEF_RSVP_TTL_NS (3600ull * NS_PER_S)
#define DEF_DURATION_NS (120ull * NS_PER_S)
#define DEF_DATA (128ull * 1024)
/* How long the relay waits for the target's STATUS on the stop stream. */
#define STOP_TIMEOUT_NS (30ull * NS_PER_S)
/* How long a hop stream we answered and half-closed may stay open. */
#define LINGER_NS (10ull * NS_PER_S)
/* Bytes kept per circuit direction when the other stream has no room. */
#define RELAY_PEND_MAX (256u * 1024u)
/* Bytes a relayed connection keeps for its stream when it has no room. The
 * host's writes cannot be refused without closing the connection; the
 * end-to-end yamux windows bound them. */
#define CONN_PEND_MAX (4u * 1024u * 1024u)
/* How often buffered bytes are retried while the other side has no room. */
#define POLL_NS 5000000ull
#define DEF_RETRY_NS (5ull * NS_PER_S)
#define MAX_RETRY_NS (300ull * NS_PER_S)
#define MIN_REFRESH_MARGIN_NS (5ull * NS_PER_S)
/* Dialling the relay and the hop round trip, for reservations and
 * circuits. Longer than STOP_TIMEOUT_NS, so that a circuit dial hears the
 * relay's CONNECTION_FAILED when the target does not answer. */
#define CLIENT_TIMEOUT_NS (45ull * NS_PER_S)
#define MSG_BUF_LEN (P2P_RELAY_MAX_MSG_LEN + P2P_RELAY_MAX_PREFIX_LEN)
#define ADDR_STR_MAX 1024

/* ---- shared helpers ---------------------------------------------------- */

static size_t append(char *dst, size_t cap, size_t at, const char *src) {
  while (src && *src && at + 1 < cap)
    dst[at++] = *src++;
  dst[at] = '\0';
  return at;
}

static void say(void (*log)(void *, const char *), void *ctx, const char *a,
                const char *b, const char *c, const char *d) {
  if (log == NULL)
    return;
  char msg[512];
  size_t at = append(msg, sizeof msg, 0, a);
  at = append(msg, sizeof msg, at, b);
  at = append(msg, sizeof msg, at, c);
  (void)append(msg, sizeof msg, at, d);
  log(ctx, msg);
}

static void peer_str(const p2p_peerid *id, char *out, size_t cap) {
  if (id == NULL || p2p_peerid_to_string(id, out, cap) < 0)
    (void)append(out, cap, 0, "?");
}

/* For results that change nothing here (an address already withdrawn). */
static void ignore_rc(int rc) {
  (void)rc;
}

static uint64_t min_u64(uint64_t a, uint64_t b) {
  return a < b ? a : b;
}

/* Writes all of buf or fails: the hop and stop messages are small and the
 * stream's queue is far larger, so a short write means the stream is
 * unusable. */
static int write_all(p2p_stream *s, const uint8_t *buf, size_t len,
                     uint64_t now) {
  ssize_t n = p2p_host_stream_write(s, buf, len, now);
  if (n < 0)
    return (int)n;
  return (size_t)n == len ? 0 : P2P_ERR_LIMIT;
}

static int send_hop(p2p_stream *s, const p2p_relay_hop_msg *m, uint64_t now) {
  uint8_t buf[MSG_BUF_LEN];
  ssize_t n = p2p_relay_hop_encode(m, buf, sizeof buf);
  if (n < 0)
    return (int)n;
  return write_all(s, buf, (size_t)n, now);
}

static int send_stop(p2p_stream *s, const p2p_relay_stop_msg *m, uint64_t now) {
  uint8_t buf[MSG_BUF_LEN];
  ssize_t n = p2p_relay_stop_encode(m, buf, sizeof buf);
  if (n < 0)
    return (int)n;
  return write_all(s, buf, (size_t)n, now);
}

static int send_hop_status(p2p_stream *s, p2p_relay_status st,
                           const p2p_relay_limit *limit, uint64_t now) {
  p2p_relay_hop_msg m;
  memset(&m, 0, sizeof m);
  m.type = P2P_RELAY_HOP_STATUS;
  m.has_status = 1;
  m.status = st;
  if (limit) {
    m.has_limit = 1;
    m.limit = *limit;
  }
  return send_hop(s, &m, now);
}

/* A growable byte queue with a hard cap. */
typedef struct bytebuf {
  uint8_t *p;
  size_t len, cap;
} bytebuf;

static int buf_push(bytebuf *b, const uint8_t *d, size_t n, size_t max) {
  if (n == 0)
    return 0;
  if (b->len + n > max)
    return P2P_ERR_LIMIT;
  if (b->len + n > b->cap) {
    size_t nc = b->cap ? b->cap : 4096;
    while (nc < b->len + n)
      nc *= 2;
    if (nc > max)
      nc = max;
    uint8_t *np = realloc(b->p, nc);
    if (np == NULL)
      return P2P_ERR_NOMEM;
    b->p = np;
    b->cap = nc;
  }
  memcpy(b->p + b->len, d, n);
  b->len += n;
  return 0;
}

static void buf_drop(bytebuf *b, size_t n) {
  memmove(b->p, b->p + n, b->len - n);
  b->len -= n;
}

static void buf_free(bytebuf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

/* Writes as much of b as the stream has room for. Returns 0 or the
 * stream's error. */
static int buf_flush(bytebuf *b, p2p_stream *s, uint64_t now) {
  while (b->len) {
    size_t room = p2p_host_stream_room(s);
    if (room == 0)
      return 0;
    ssize_t n =
        p2p_host_stream_write(s, b->p, b->len < room ? b->len : room, now);
    if (n < 0)
      return n == P2P_ERR_LIMIT ? 0 : (int)n;
    if (n == 0)
      return 0;
    buf_drop(b, (size_t)n);
  }
  return 0;
}

/* Writes d to s, through b when b already holds bytes (to keep their
 * order) or when s has no room. Returns 0, P2P_ERR_LIMIT (b would exceed
 * max), or the stream's error. */
static int buf_write(bytebuf *b, p2p_stream *s, const uint8_t *d, size_t n,
                     size_t max, uint64_t now) {
  if (b->len == 0 && s) {
    size_t room = p2p_host_stream_room(s);
    if (room) {
      ssize_t w = p2p_host_stream_write(s, d, n < room ? n : room, now);
      if (w < 0 && w != P2P_ERR_LIMIT)
        return (int)w;
      if (w > 0) {
        d += w;
        n -= (size_t)w;
      }
    }
  }
  return buf_push(b, d, n, max);
}

/* The IP of a transport address (its first component), for per-IP
 * limits. Returns the value's length (0: none). */
static size_t addr_ip(const p2p_multiaddr *ma, uint8_t ip[16]) {
  size_t pos = 0;
  p2p_ma_component comp;
  if (ma == NULL || ma->len == 0 || p2p_multiaddr_next(ma, &pos, &comp) != 1)
    return 0;
  if ((comp.code == P2P_MA_IP4 && comp.value_len == 4) ||
      (comp.code == P2P_MA_IP6 && comp.value_len == 16)) {
    memcpy(ip, comp.value, comp.value_len);
    return comp.value_len;
  }
  return 0;
}

/* base (its trailing /p2p/X dropped; may be NULL or empty) followed by
 * /p2p/RELAY/p2p-circuit, then /p2p/PEER when peer is not NULL. */
static int circuit_addr(const p2p_multiaddr *base, const p2p_peerid *relay,
                        const p2p_peerid *peer, p2p_multiaddr *out) {
  char s[ADDR_STR_MAX], id[P2P_PEERID_STR_MAX];
  size_t at = 0;
  s[0] = '\0';
  memset(out, 0, sizeof *out);
  if (base && base->len) {
    size_t pos = 0, last = 0, before = 0;
    p2p_ma_component comp;
    uint32_t last_code = 0;
    int rc;
    while ((rc = p2p_multiaddr_next(base, &pos, &comp)) == 1) {
      before = last;
      last = pos;
      last_code = comp.code;
    }
    if (rc < 0)
      return rc;
    p2p_multiaddr head = {.bytes = base->bytes,
                          .len = last_code == P2P_MA_P2P ? before : base->len};
    if (head.len) {
      ssize_t n = p2p_multiaddr_to_string(&head, s, sizeof s);
      if (n < 0)
        return (int)n;
      at = (size_t)n;
    }
  }
  peer_str(relay, id, sizeof id);
  at = append(s, sizeof s, at, "/p2p/");
  at = append(s, sizeof s, at, id);
  at = append(s, sizeof s, at, "/p2p-circuit");
  if (peer) {
    peer_str(peer, id, sizeof id);
    at = append(s, sizeof s, at, "/p2p/");
    at = append(s, sizeof s, at, id);
  }
  if (at + 1 >= sizeof s)
    return P2P_ERR_LIMIT;
  return p2p_multiaddr_parse(s, out);
}

/* ======================================================================== */
/* Hop server.                                                              */

typedef struct rsvp {
  p2p_peerid peer;
  p2p_conn *conn;
  uint8_t ip[16];
  size_t ip_len;
  uint64_t expire_ns;
  struct rsvp *next;
} rsvp;

/* What a hop session (one inbound hop stream) is doing. */
enum {
  S_READ = 0,  /* waiting for the request */
  S_STOP_OPEN, /* CONNECT: the stop stream is being negotiated */
  S_STOP_WAIT, /* CONNECT sent to the target; waiting for its STATUS */
  S_SPLICE,    /* the circuit is up */
  S_LINGER,    /* answered and half-closed; waiting for the peer's close */
  S_DONE       /* reset; waiting for on_close */
};

typedef struct hop_sess {
  p2p_relay_server *srv;
  p2p_stream *src; /* the initiator's hop stream */
  p2p_stream *dst; /* our stop stream to the target */
  int state;
  int counted; /* holds one of srv->n_circuits (pending or spliced) */
  int spliced; /* holds one of stats.circuits */
  int dead;
  p2p_peerid src_peer, dst_peer;
  uint64_t deadline;
  uint64_t sent[2]; /* 0: initiator to target, 1: target to initiator */
  bytebuf pend[2];
  int fin[2]; /* the sender of that direction half-closed */
  p2p_relay_reader rd;
  struct hop_sess *next;
} hop_sess;

struct p2p_relay_server {
  p2p_host *h;
  p2p_relay_server_config cfg;
  rsvp *rsvps;
  hop_sess *sessions;
  unsigned n_circuits; /* pending and spliced */
  p2p_relay_server_stats st;
  int depth;
  uint64_t last_now;
  /* srv_expiry's answer, recomputed only after a deadline, a state, a
   * reservation or a backlog's emptiness changed (exp_dirty): the host
   * asks after every event, and a busy relay has thousands of each. */
  int exp_dirty;
  uint64_t exp_cache;
  int n_dead; /* sessions awaiting the sweep */
};

static void srv_event(p2p_relay_server *s, const char *what,
                      const p2p_peerid *a, const p2p_peerid *b, int status,
                      uint64_t now) {
  if (s->cfg.on_event)
    s->cfg.on_event(s->cfg.ctx, what, a, b, status, now);
}

static void srv_log(p2p_relay_server *s, const char *what,
                    const p2p_peerid *peer, const char *detail) {
  char id[P2P_PEERID_STR_MAX];
  peer_str(peer, id, sizeof id);
  say(s->cfg.log, s->cfg.ctx, what, id, detail ? ": " : "", detail);
}

static void srv_enter(p2p_relay_server *s, uint64_t now) {
  s->depth++;
  if (now > s->last_now)
    s->last_now = now;
}

static void sess_free(hop_sess *x) {
  buf_free(&x->pend[0]);
  buf_free(&x->pend[1]);
  free(x);
}

static void srv_leave(p2p_relay_server *s) {
  if (--s->depth > 0 || s->n_dead == 0)
    return;
  s->n_dead = 0;
  for (hop_sess **pp = &s->sessions; *pp;) {
    hop_sess *x = *pp;
    if (x->dead) {
      *pp = x->next;
      sess_free(x);
    } else {
      pp = &x->next;
    }
  }
}

static uint64_t srv_duration_s(const p2p_relay_server *s) {
  return s->cfg.limit_duration_ns / NS_PER_S;
}

static void srv_limit(const p2p_relay_server *s, p2p_relay_limit *l) {
  memset(l, 0, sizeof *l);
  uint64_t d = srv_duration_s(s);
  l->has_duration = 1;
  l->duration_s = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
  l->has_data = 1;
  l->data_bytes = s->cfg.limit_data;
}

/* The session no longer holds anything: release its counters, mark it for
 * the sweep once both streams are gone. */
static void sess_check_dead(hop_sess *x, uint64_t now) {
  p2p_relay_server *s = x->srv;
  if (x->src || x->dst || x->dead)
    return;
  x->dead = 1;
  s->n_dead++;
  s->exp_dirty = 1;
  if (x->counted) {
    x->counted = 0;
    s->n_circuits--;
  }
  if (x->spliced) {
    x->spliced = 0;
    s->st.circuits--;
    srv_event(s, "circuit_closed", &x->src_peer, &x->dst_peer, 0, now);
  }
}

/* Resets both streams (limits, overruns, failures). */
static void sess_kill(hop_sess *x, const char *why, int limit, uint64_t now) {
  p2p_relay_server *s = x->srv;
  if (x->state == S_DONE)
    return;
  if (x->spliced) {
    srv_log(s, "relay: circuit from ", &x->src_peer, why);
    if (limit) {
      s->st.circuits_limit_closed++;
      srv_event(s, "circuit_limit", &x->src_peer, &x->dst_peer, 0, now);
    }
  }
  x->state = S_DONE;
  x->srv->exp_dirty = 1;
  if (x->src)
    p2p_host_stream_reset(x->src, now);
  if (x->dst)
    p2p_host_stream_reset(x->dst, now);
}

/* Answers the hop request with a status and half-closes (the end of every
 * hop exchange but a successful CONNECT). */
static void sess_answer(hop_sess *x, p2p_relay_status st, uint64_t now) {
  if (x->src == NULL)
    return;
  if (send_hop_status(x->src, st, NULL, now) < 0 ||
      p2p_host_stream_close(x->src, now) < 0) {
    x->state = S_DONE;
    x->srv->exp_dirty = 1;
    p2p_host_stream_reset(x->src, now);
    return;
  }
  x->state = S_LINGER;
  x->srv->exp_dirty = 1;
  x->deadline = now + LINGER_NS;
  x->srv->exp_dirty = 1;
}

static void sess_refuse_circuit(hop_sess *x, p2p_relay_status st,
                                uint64_t now) {
  p2p_relay_server *s = x->srv;
  s->st.circuits_refused++;
  srv_log(s, "relay: circuit refused from ", &x->src_peer,
          p2p_relay_status_name(st));
  srv_event(s, "circuit_refused", &x->src_peer, &x->dst_peer, st, now);
  if (x->dst) {
    p2p_host_stream_reset(x->dst, now);
  }
  sess_answer(x, st, now);
}

static rsvp *rsvp_find(p2p_relay_server *s, const p2p_peerid *peer,
                       const p2p_conn *conn) {
  for (rsvp *r = s->rsvps; r; r = r->next)
    if (p2p_peerid_equal(&r->peer, peer) && (conn == NULL || r->conn == conn))
      return r;
  return NULL;
}

static void rsvp_remove(p2p_relay_server *s, rsvp *gone, uint64_t now,
                        const char *what) {
  s->exp_dirty = 1;
  for (rsvp **pp = &s->rsvps; *pp; pp = &(*pp)->next)
    if (*pp == gone) {
      *pp = gone->next;
      s->st.reservations--;
      srv_event(s, what, &gone->peer, NULL, 0, now);
      free(gone);
      return;
    }
}

static void rsvp_refuse(hop_sess *x, p2p_relay_status st, const char *why,
                        uint64_t now) {
  p2p_relay_server *s = x->srv;
  s->st.reservations_refused++;
  srv_log(s, "relay: reservation refused for ", &x->src_peer, why);
  srv_event(s, "reservation_refused", &x->src_peer, NULL, st, now);
  sess_answer(x, st, now);
}

static void handle_reserve(hop_sess *x, p2p_conn *conn, uint64_t now) {
  p2p_relay_server *s = x->srv;
  p2p_host *h = s->h;
  if (p2p_host_conn_limited(conn)) {
    rsvp_refuse(x, P2P_RELAY_STATUS_PERMISSION_DENIED,
                "over a relayed connection", now);
    return;
  }
  uint8_t ip[16];
  size_t ip_len = addr_ip(p2p_host_conn_remote(conn), ip);
  rsvp *r = rsvp_find(s, &x->src_peer,
                      s->cfg.max_reservations_per_peer == 1 ? NULL : conn);
  if (r == NULL) {
    unsigned per_peer = 0, per_ip = 0;
    for (rsvp *o = s->rsvps; o; o = o->next) {
      per_peer += p2p_peerid_equal(&o->peer, &x->src_peer);
      per_ip += ip_len && o->ip_len == ip_len && !memcmp(o->ip, ip, ip_len);
    }
    const char *why = NULL;
    if (s->st.reservations >= s->cfg.max_reservations)
      why = "too many reservations";
    else if (per_peer >= s->cfg.max_reservations_per_peer)
      why = "too many reservations for the peer";
    else if (per_ip >= s->cfg.max_reservations_per_ip)
      why = "too many reservations for the IP address";
    if (why) {
      rsvp_refuse(x, P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED, why, now);
      return;
    }
  }
  uint64_t expire_ns = now + s->cfg.reservation_ttl_ns;
  uint64_t expire_s =
      (p2p_host_unix_ns(h, now) + s->cfg.reservation_ttl_ns) / NS_PER_S;
  uint8_t voucher[P2P_RELAY_VOUCHER_MAX_LEN];
  ssize_t vlen = p2p_relay_voucher_seal(p2p_host_key(h), &x->src_peer, expire_s,
                                        voucher, sizeof voucher);
  if (vlen < 0) {
    rsvp_refuse(x, P2P_RELAY_STATUS_RESERVATION_REFUSED, "voucher failed", now);
    return;
  }
  /* The addresses the reserving peer can be reached through: ours,
   * without our own relayed ones. */
  size_t n_all = 0;
  const p2p_multiaddr *all = p2p_host_addrs(h, &n_all);
  p2p_multiaddr *addrs = n_all ? calloc(n_all, sizeof *addrs) : NULL;
  size_t na = 0;
  if (n_all && addrs == NULL) {
    rsvp_refuse(x, P2P_RELAY_STATUS_RESERVATION_REFUSED, "out of memory", now);
    return;
  }
  for (size_t i = 0; i < n_all; i++)
    if (all[i].len && !p2p_multiaddr_has(&all[i], P2P_MA_P2P_CIRCUIT))
      addrs[na++] = all[i]; /* borrowed: encode only reads */
  p2p_relay_hop_msg m;
  memset(&m, 0, sizeof m);
  m.type = P2P_RELAY_HOP_STATUS;
  m.has_status = 1;
  m.status = P2P_RELAY_STATUS_OK;
  m.has_reservation = 1;
  m.reservation.has_expire = 1;
  m.reservation.expire_unix_s = expire_s;
  m.reservation.addrs = addrs;
  m.reservation.has_voucher = 1;
  m.reservation.voucher = voucher;
  m.reservation.voucher_len = (size_t)vlen;
  m.has_limit = 1;
  srv_limit(s, &m.limit);
  uint8_t buf[MSG_BUF_LEN];
  ssize_t n;
  /* Too many addresses for one message: send fewer. */
  do {
    m.reservation.naddrs = na;
    n = p2p_relay_hop_encode(&m, buf, sizeof buf);
  } while (n == P2P_ERR_LIMIT && na-- > 0);
  free(addrs);
  if (n < 0) {
    rsvp_refuse(x, P2P_RELAY_STATUS_RESERVATION_REFUSED, "encoding failed",
                now);
    return;
  }
  if (r == NULL) {
    r = calloc(1, sizeof *r);
    if (r == NULL) {
      rsvp_refuse(x, P2P_RELAY_STATUS_RESERVATION_REFUSED, "out of memory",
                  now);
      return;
    }
    r->peer = x->src_peer;
    r->next = s->rsvps;
    s->rsvps = r;
    s->st.reservations++;
  }
  r->conn = conn;
  memcpy(r->ip, ip, ip_len);
  r->ip_len = ip_len;
  r->expire_ns = expire_ns;
  s->exp_dirty = 1;
  s->st.reservations_accepted++;
  srv_event(s, "reservation", &x->src_peer, NULL, P2P_RELAY_STATUS_OK, now);
  if (write_all(x->src, buf, (size_t)n, now) < 0 ||
      p2p_host_stream_close(x->src, now) < 0) {
    x->state = S_DONE;
    x->srv->exp_dirty = 1;
    p2p_host_stream_reset(x->src, now);
    return;
  }
  x->state = S_LINGER;
  x->srv->exp_dirty = 1;
  x->deadline = now + LINGER_NS;
  x->srv->exp_dirty = 1;
}

static const p2p_stream_handler stop_out_handler;

static void handle_connect(hop_sess *x, const p2p_relay_hop_msg *m,
                           p2p_conn *conn, uint64_t now) {
  p2p_relay_server *s = x->srv;
  p2p_host *h = s->h;
  if (!m->has_peer) {
    sess_refuse_circuit(x, P2P_RELAY_STATUS_MALFORMED_MESSAGE, now);
    return;
  }
  x->dst_peer = m->peer.id;
  if (p2p_host_conn_limited(conn)) {
    sess_refuse_circuit(x, P2P_RELAY_STATUS_PERMISSION_DENIED, now);
    return;
  }
  rsvp *r = rsvp_find(s, &m->peer.id, NULL);
  p2p_conn *tc = NULL;
  if (r && r->expire_ns > now) {
    tc = r->conn;
    if (!p2p_host_conn_is_open(tc))
      tc = p2p_host_find_conn(h, &r->peer);
  }
  if (tc == NULL) {
    sess_refuse_circuit(x, P2P_RELAY_STATUS_NO_RESERVATION, now);
    return;
  }
  unsigned to_peer = 0;
  for (hop_sess *o = s->sessions; o; o = o->next)
    to_peer += o->counted && p2p_peerid_equal(&o->dst_peer, &r->peer);
  if (s->n_circuits >= s->cfg.max_circuits ||
      to_peer >= s->cfg.max_circuits_per_peer) {
    sess_refuse_circuit(x, P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED, now);
    return;
  }
  const char *protos[] = {P2P_RELAY_STOP_PROTOCOL};
  p2p_stream *d = NULL;
  if (p2p_host_stream_open(h, tc, protos, 1, &stop_out_handler, s, now, &d) <
      0) {
    sess_refuse_circuit(x, P2P_RELAY_STATUS_CONNECTION_FAILED, now);
    return;
  }
  p2p_host_stream_set_ctx(d, x);
  x->dst = d;
  x->counted = 1;
  s->n_circuits++;
  x->state = S_STOP_OPEN;
  x->srv->exp_dirty = 1;
  x->deadline = now + STOP_TIMEOUT_NS;
  x->srv->exp_dirty = 1;
}

/* Takes one complete hop request. */
static void sess_request(hop_sess *x, uint64_t now) {
  p2p_relay_hop_msg m;
  p2p_relay_server *s = x->srv;
  int rc = p2p_relay_reader_take_hop(&x->rd, &m);
  if (rc < 0) {
    srv_log(s, "relay: malformed hop message from ", &x->src_peer, NULL);
    if (rc == P2P_ERR_PROTO)
      sess_answer(x, P2P_RELAY_STATUS_MALFORMED_MESSAGE, now);
    else
      sess_kill(x, "out of memory", 0, now);
    return;
  }
  p2p_conn *conn = p2p_host_stream_conn(x->src);
  switch (m.type) {
  case P2P_RELAY_HOP_RESERVE: handle_reserve(x, conn, now); break;
  case P2P_RELAY_HOP_CONNECT: handle_connect(x, &m, conn, now); break;
  default:
    srv_log(s, "relay: unexpected hop message from ", &x->src_peer, NULL);
    sess_answer(x, P2P_RELAY_STATUS_UNEXPECTED_MESSAGE, now);
    break;
  }
  p2p_relay_hop_msg_free(&m);
}

/* Sends buffered bytes of direction dir on, and a half-close once the
 * buffer is empty and its sender closed. */
static void sess_flush(hop_sess *x, int dir, uint64_t now) {
  p2p_stream *out = dir == 0 ? x->dst : x->src;
  if (x->state != S_SPLICE || out == NULL)
    return;
  int had = x->pend[dir].len != 0;
  if (buf_flush(&x->pend[dir], out, now) < 0) {
    sess_kill(x, "stream write failed", 0, now);
    return;
  }
  if (had != (x->pend[dir].len != 0))
    x->srv->exp_dirty = 1;
  if (x->pend[dir].len == 0 && x->fin[dir] == 1) {
    x->fin[dir] = 2;
    if (p2p_host_stream_close(out, now) < 0)
      sess_kill(x, "stream close failed", 0, now);
  }
}

/* Bytes of direction dir from one end: count them against the limit and
 * pass them on (buffered while the circuit is not up yet). */
static void sess_forward(hop_sess *x, int dir, const uint8_t *d, size_t n,
                         uint64_t now) {
  p2p_relay_server *s = x->srv;
  if (n == 0 || x->state == S_DONE || x->state == S_LINGER)
    return;
  if (x->sent[dir] + n > s->cfg.limit_data) {
    sess_kill(x, "data limit reached", 1, now);
    return;
  }
  x->sent[dir] += n;
  s->st.bytes_relayed += n;
  if (s->cfg.tap)
    s->cfg.tap(s->cfg.ctx, d, n);
  p2p_stream *out = dir == 0 ? x->dst : x->src;
  int had = x->pend[dir].len != 0;
  int rc = buf_write(&x->pend[dir], x->state == S_SPLICE ? out : NULL, d, n,
                     RELAY_PEND_MAX, now);
  if (had != (x->pend[dir].len != 0))
    s->exp_dirty = 1;
  if (rc < 0)
    sess_kill(x,
              rc == P2P_ERR_LIMIT ? "peer overran the relay's buffer"
                                  : "stream write failed",
              0, now);
}

/* The target answered the stop CONNECT. */
static void sess_stop_answer(hop_sess *x, uint64_t now) {
  p2p_relay_server *s = x->srv;
  p2p_relay_stop_msg m;
  int rc = p2p_relay_reader_take_stop(&x->rd, &m);
  int ok = rc == 0 && m.type == P2P_RELAY_STOP_STATUS && m.has_status &&
           m.status == P2P_RELAY_STATUS_OK;
  if (rc == 0 && !ok)
    srv_log(s, "relay: target refused the circuit: ", &x->dst_peer,
            m.has_status ? p2p_relay_status_name(m.status) : "no status");
  p2p_relay_stop_msg_free(&m);
  if (!ok) {
    sess_refuse_circuit(x, P2P_RELAY_STATUS_CONNECTION_FAILED, now);
    return;
  }
  p2p_relay_limit l;
  srv_limit(s, &l);
  if (x->src == NULL ||
      send_hop_status(x->src, P2P_RELAY_STATUS_OK, &l, now) < 0) {
    sess_kill(x, "initiator gone", 0, now);
    return;
  }
  x->state = S_SPLICE;
  x->srv->exp_dirty = 1;
  x->spliced = 1;
  x->deadline = now + s->cfg.limit_duration_ns;
  x->srv->exp_dirty = 1;
  s->st.circuits++;
  s->st.circuits_opened++;
  srv_event(s, "circuit_opened", &x->src_peer, &x->dst_peer,
            P2P_RELAY_STATUS_OK, now);
  sess_flush(x, 0, now);
}

/* Inbound hop streams. */

static void hop_in_open(void *user, p2p_stream *st, const char *proto,
                        uint64_t now) {
  (void)proto;
  p2p_relay_server *s = user;
  const p2p_peerid *peer = p2p_host_conn_peer(p2p_host_stream_conn(st));
  hop_sess *x = calloc(1, sizeof *x);
  if (x == NULL || peer == NULL) {
    free(x);
    p2p_host_stream_reset(st, now);
    return;
  }
  srv_enter(s, now);
  x->srv = s;
  x->src = st;
  x->src_peer = *peer;
  p2p_relay_reader_init(&x->rd);
  x->deadline = now + STOP_TIMEOUT_NS; /* the request must come in time */
  s->exp_dirty = 1;
  x->next = s->sessions;
  s->sessions = x;
  p2p_host_stream_set_ctx(st, x);
  srv_leave(s);
}

static void hop_in_data(void *user, p2p_stream *st, const uint8_t *d, size_t n,
                        uint64_t now) {
  (void)user;
  hop_sess *x = p2p_host_stream_ctx(st);
  if (x == NULL)
    return;
  p2p_relay_server *s = x->srv;
  srv_enter(s, now);
  if (x->state == S_READ) {
    ssize_t used = p2p_relay_reader_recv(&x->rd, d, n);
    if (used < 0) {
      srv_log(s, "relay: bad hop framing from ", &x->src_peer, NULL);
      sess_answer(x, P2P_RELAY_STATUS_MALFORMED_MESSAGE, now);
    } else if (p2p_relay_reader_done(&x->rd)) {
      sess_request(x, now);
      /* The initiator may only send circuit bytes after our STATUS OK,
       * but whatever follows a CONNECT is its first circuit bytes. */
      if (x->state == S_STOP_OPEN || x->state == S_STOP_WAIT)
        sess_forward(x, 0, d + used, n - (size_t)used, now);
    }
  } else if (x->state == S_STOP_OPEN || x->state == S_STOP_WAIT ||
             x->state == S_SPLICE) {
    sess_forward(x, 0, d, n, now);
    sess_flush(x, 1, now);
  }
  srv_leave(s);
}

static void hop_in_fin(void *user, p2p_stream *st, uint64_t now) {
  (void)user;
  hop_sess *x = p2p_host_stream_ctx(st);
  if (x == NULL)
    return;
  p2p_relay_server *s = x->srv;
  srv_enter(s, now);
  if (x->state == S_SPLICE || x->state == S_STOP_OPEN ||
      x->state == S_STOP_WAIT) {
    x->fin[0] = 1;
    sess_flush(x, 0, now);
  } else if (x->state == S_READ) {
    /* Closed before (or inside) a request. */
    x->state = S_LINGER;
    x->srv->exp_dirty = 1;
    if (p2p_host_stream_close(st, now) < 0)
      p2p_host_stream_reset(st, now);
  }
  srv_leave(s);
}

static void hop_in_close(void *user, p2p_stream *st, int err, uint64_t now) {
  (void)user;
  hop_sess *x = p2p_host_stream_ctx(st);
  if (x == NULL)
    return;
  p2p_relay_server *s = x->srv;
  srv_enter(s, now);
  x->src = NULL;
  if (x->dst && (err < 0 || x->state != S_SPLICE)) {
    x->state = S_DONE;
    x->srv->exp_dirty = 1;
    p2p_host_stream_reset(x->dst, now);
  }
  sess_check_dead(x, now);
  srv_leave(s);
}

static const p2p_stream_handler hop_in_handler = {.on_open = hop_in_open,
                                                  .on_data = hop_in_data,
                                                  .on_fin = hop_in_fin,
                                                  .on_close = hop_in_close};

/* Our stop streams to targets. */

static void stop_out_open(void *user, p2p_stream *st, const char *proto,
                          uint64_t now) {
  (void)user;
  (void)proto;
  hop_sess *x = p2p_host_stream_ctx(st);
  if (x == NULL)
    return;
  p2p_relay_server *s = x->srv;
  srv_enter(s, now);
  p2p_relay_stop_msg m;
  memset(&m, 0, sizeof m);
  m.type = P2P_RELAY_STOP_CONNECT;
  m.has_peer = 1;
  m.peer.id = x->src_peer;
  m.has_limit = 1;
  srv_limit(s, &m.limit);
  if (send_stop(st, &m, now) < 0) {
    sess_refuse_circuit(x, P2P_RELAY_STATUS_CONNECTION_FAILED, now);
  } else {
    x->state = S_STOP_WAIT;
    x->srv->exp_dirty = 1;
    p2p_relay_reader_init(&x->rd);
  }
  srv_leave(s);
}

static void stop_out_data(void *user, p2p_stream *st, const uint8_t *d,
                          size_t n, uint64_t now) {
  (void)user;
  hop_sess *x = p2p_host_stream_ctx(st);
  if (x == NULL)
    return;
  p2p_relay_server *s = x->srv;
  srv_enter(s, now);
  if (x->state == S_STOP_WAIT) {
    ssize_t used = p2p_relay_reader_recv(&x->rd, d, n);
    if (used < 0) {
      srv_log(s, "relay: bad stop framing from ", &x->dst_peer, NULL);
      sess_refuse_circuit(x, P2P_RELAY_STATUS_CONNECTION_FAILED, now);
    } else if (p2p_relay_reader_done(&x->rd)) {
      sess_stop_answer(x, now);
      if (x->state == S_SPLICE)
        sess_forward(x, 1, d + used, n - (size_t)used, now);
    }
  } else if (x->state == S_SPLICE) {
    sess_forward(x, 1, d, n, now);
    sess_flush(x, 0, now);
  }
  srv_leave(s);
}

static void stop_out_fin(void *user, p2p_stream *st, uint64_t now) {
  (void)user;
  hop_sess *x = p2p_host_stream_ctx(st);
  if (x == NULL)
    return;
  p2p_relay_server *s = x->srv;
  srv_enter(s, now);
  if (x->state == S_SPLICE) {
    x->fin[1] = 1;
    sess_flush(x, 1, now);
  } else if (x->state == S_STOP_OPEN || x->state == S_STOP_WAIT) {
    sess_refuse_circuit(x, P2P_RELAY_STATUS_CONNECTION_FAILED, now);
  }
  srv_leave(s);
}

static void stop_out_close(void *user, p2p_stream *st, int err, uint64_t now) {
  (void)user;
  hop_sess *x = p2p_host_stream_ctx(st);
  if (x == NULL)
    return;
  p2p_relay_server *s = x->srv;
  srv_enter(s, now);
  x->dst = NULL;
  if (x->state == S_STOP_OPEN || x->state == S_STOP_WAIT)
    sess_refuse_circuit(x, P2P_RELAY_STATUS_CONNECTION_FAILED, now);
  else if (x->src && err < 0)
    sess_kill(x, "target stream reset", 0, now);
  sess_check_dead(x, now);
  srv_leave(s);
}

static const p2p_stream_handler stop_out_handler = {.on_open = stop_out_open,
                                                    .on_data = stop_out_data,
                                                    .on_fin = stop_out_fin,
                                                    .on_close = stop_out_close};

/* Service: reservation loss with the connection, timers. */

static void srv_on_event(void *ctx, const p2p_host_event *ev) {
  p2p_relay_server *s = ctx;
  if (ev->type != P2P_HOST_EV_CONN_CLOSED || ev->conn == NULL)
    return;
  srv_enter(s, ev->now);
  for (rsvp *r = s->rsvps, *next; r; r = next) {
    next = r->next;
    if (r->conn == ev->conn)
      rsvp_remove(s, r, ev->now, "reservation_lost");
  }
  srv_leave(s);
}

static uint64_t srv_expiry(void *ctx) {
  p2p_relay_server *s = ctx;
  if (!s->exp_dirty)
    return s->exp_cache;
  uint64_t t = UINT64_MAX;
  for (const rsvp *r = s->rsvps; r; r = r->next)
    t = min_u64(t, r->expire_ns);
  for (const hop_sess *x = s->sessions; x; x = x->next) {
    if (x->dead || x->state == S_DONE)
      continue;
    t = min_u64(t, x->deadline);
    if (x->state == S_SPLICE && (x->pend[0].len || x->pend[1].len))
      t = min_u64(t, s->last_now + POLL_NS);
  }
  s->exp_dirty = 0;
  s->exp_cache = t;
  return t;
}

static void srv_on_expiry(void *ctx, uint64_t now) {
  p2p_relay_server *s = ctx;
  srv_enter(s, now);
  for (rsvp *r = s->rsvps, *next; r; r = next) {
    next = r->next;
    if (r->expire_ns <= now)
      rsvp_remove(s, r, now, "reservation_expired");
  }
  for (hop_sess *x = s->sessions; x; x = x->next) {
    if (x->dead || x->state == S_DONE)
      continue;
    if (x->state == S_SPLICE) {
      sess_flush(x, 0, now);
      sess_flush(x, 1, now);
    }
    if (x->deadline > now || x->state == S_DONE)
      continue;
    switch (x->state) {
    case S_READ:
    case S_LINGER:
      x->state = S_DONE;
      x->srv->exp_dirty = 1;
      if (x->src)
        p2p_host_stream_reset(x->src, now);
      break;
    case S_STOP_OPEN:
    case S_STOP_WAIT:
      srv_log(s, "relay: stop timed out for ", &x->dst_peer, NULL);
      sess_refuse_circuit(x, P2P_RELAY_STATUS_CONNECTION_FAILED, now);
      break;
    case S_SPLICE: sess_kill(x, "duration limit reached", 1, now); break;
    default: break;
    }
  }
  s->exp_dirty = 1; /* the poll time moved on */
  srv_leave(s);
}

int p2p_relay_server_new(p2p_host *h, const p2p_relay_server_config *cfg,
                         p2p_relay_server **out) {
  if (out == NULL)
    return P2P_ERR_INVALID;
  *out = NULL;
  if (h == NULL)
    return P2P_ERR_INVALID;
  p2p_relay_server *s = calloc(1, sizeof *s);
  if (s == NULL)
    return P2P_ERR_NOMEM;
  s->h = h;
  if (cfg)
    s->cfg = *cfg;
  p2p_relay_server_config *c = &s->cfg;
  if (!c->max_reservations)
    c->max_reservations = DEF_MAX_RSVP;
  if (!c->max_reservations_per_peer)
    c->max_reservations_per_peer = 1;
  if (!c->max_reservations_per_ip)
    c->max_reservations_per_ip = DEF_MAX_RSVP_PER_IP;
  if (!c->max_circuits)
    c->max_circuits = DEF_MAX_CIRCUITS;
  if (!c->max_circuits_per_peer)
    c->max_circuits_per_peer = DEF_MAX_CIRCUITS;
  if (!c->reservation_ttl_ns)
    c->reservation_ttl_ns = DEF_RSVP_TTL_NS;
  if (!c->limit_duration_ns)
    c->limit_duration_ns = DEF_DURATION_NS;
  if (!c->limit_data)
    c->limit_data = DEF_DATA;
  p2p_host_service svc = {.on_event = srv_on_event,
                          .expiry = srv_expiry,
                          .on_expiry = srv_on_expiry};
  int rc = p2p_host_handle(h, P2P_RELAY_HOP_PROTOCOL, &hop_in_handler, s);
  if (rc == 0 && (rc = p2p_host_add_service(h, &svc, s)) < 0)
    (void)p2p_host_unhandle(h, P2P_RELAY_HOP_PROTOCOL);
  if (rc < 0) {
    free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void p2p_relay_server_del(p2p_relay_server *s) {
  if (s == NULL)
    return;
  p2p_host_remove_service(s->h, s);
  (void)p2p_host_unhandle(s->h, P2P_RELAY_HOP_PROTOCOL);
  s->depth++; /* nothing is swept while we detach */
  for (hop_sess *x = s->sessions; x; x = x->next) {
    x->state = S_DONE;
    x->srv->exp_dirty = 1;
    p2p_stream *a = x->src, *b = x->dst;
    x->src = x->dst = NULL;
    if (a) {
      p2p_host_stream_set_ctx(a, NULL);
      p2p_host_stream_reset(a, s->last_now);
    }
    if (b) {
      p2p_host_stream_set_ctx(b, NULL);
      p2p_host_stream_reset(b, s->last_now);
    }
  }
  while (s->sessions) {
    hop_sess *x = s->sessions;
    s->sessions = x->next;
    sess_free(x);
  }
  while (s->rsvps) {
    rsvp *r = s->rsvps;
    s->rsvps = r->next;
    free(r);
  }
  free(s);
}

void p2p_relay_server_get_stats(const p2p_relay_server *s,
                                p2p_relay_server_stats *st) {
  if (st == NULL)
    return;
  if (s == NULL) {
    memset(st, 0, sizeof *st);
    return;
  }
  *st = s->st;
}

/* ======================================================================== */
/* Client.                                                                  */

/* A reservation kept on one relay. */
enum { R_IDLE = 0, R_DIALING, R_RESERVING, R_RESERVED };

typedef struct rentry {
  p2p_relay_client *cl;
  p2p_multiaddr addr; /* as given to listen, ends in /p2p/RELAY */
  p2p_peerid relay;
  int state;
  int held; /* a reservation is live and advertised */
  p2p_conn *conn;
  p2p_stream *hop;
  p2p_relay_reader rd;
  uint64_t next_at; /* IDLE: retry; DIALING/RESERVING: give up; RESERVED:
                       refresh */
  uint64_t backoff;
  uint64_t expire_ns;
  p2p_multiaddr *adv;
  size_t nadv;
  struct rentry *next;
} rentry;

/* A relayed connection: the circuit's setup on the dialer (hop) or
 * listener (stop) side, then the transport of a p2p_conn. */
enum { X_DIAL_RELAY = 0, X_HOP_OPEN, X_HOP_WAIT, X_STOP_READ, X_OPEN };

typedef struct rconn {
  p2p_relay_client *cl;
  int state;
  int outbound;
  int dead;
  p2p_stream *s;
  p2p_conn *conn;
  p2p_peerid relay, peer;
  p2p_multiaddr relay_addr; /* outbound: what to dial for the relay */
  p2p_multiaddr remote;     /* the full circuit address */
  p2p_relay_limit limit;
  p2p_relay_reader rd;
  bytebuf pend;    /* the relayed connection's bytes waiting for room */
  int close_after; /* half-close the stream once pend is empty */
  uint64_t deadline;
  struct rconn *next;
} rconn;

struct p2p_relay_client {
  p2p_host *h;
  p2p_relay_client_config cfg;
  rentry *relays;
  rconn *conns;
  int depth;
  uint64_t last_now;
  /* cl_expiry's answer, recomputed only after a deadline, a state or a
   * backlog's emptiness changed (see the server's). */
  int exp_dirty;
  uint64_t exp_cache;
  int sweep_due; /* a circuit died: cl_leave sweeps */
};

static void cl_log(p2p_relay_client *c, const char *what,
                   const p2p_peerid *peer, const char *detail) {
  char id[P2P_PEERID_STR_MAX];
  peer_str(peer, id, sizeof id);
  say(c->cfg.log, c->cfg.ctx, what, id, detail ? ": " : "", detail);
}

static void cl_enter(p2p_relay_client *c, uint64_t now) {
  c->depth++;
  c->exp_dirty = 1; /* anything may change in here */
  if (now > c->last_now)
    c->last_now = now;
}

static void rconn_free(rconn *x) {
  p2p_multiaddr_free(&x->relay_addr);
  p2p_multiaddr_free(&x->remote);
  buf_free(&x->pend);
  free(x);
}

static void cl_leave(p2p_relay_client *c) {
  if (--c->depth > 0 || !c->sweep_due)
    return;
  c->sweep_due = 0;
  for (rconn **pp = &c->conns; *pp;) {
    rconn *x = *pp;
    if (x->dead) {
      *pp = x->next;
      rconn_free(x);
    } else {
      pp = &x->next;
    }
  }
}

static void rconn_check_dead(rconn *x) {
  if (x->s == NULL && x->conn == NULL)
    x->dead = 1;
  x->cl->exp_dirty = 1;
}

/* Ends a circuit that never became a connection. A failed dial creates
 * no p2p_conn: it is logged and reported as the host reports failed
 * transport dials (p2p_host_report_dial_failure: CONN_CLOSED with conn
 * NULL, peer the target, reason the relay's status name or what failed). */
static void rconn_fail(rconn *x, const char *why, uint64_t now) {
  p2p_relay_client *c = x->cl;
  if (x->outbound) {
    cl_log(c, "relay: circuit dial failed through ", &x->relay, why);
    if (x->remote.len)
      p2p_host_report_dial_failure(c->h, &x->remote, P2P_ERR_REFUSED, why, now);
  } else
    cl_log(c, "relay: inbound circuit failed through ", &x->relay, why);
  p2p_stream *st = x->s;
  x->s = NULL;
  if (st) {
    p2p_host_stream_set_ctx(st, NULL);
    p2p_host_stream_reset(st, now);
  }
  rconn_check_dead(x);
}

/* Transport ops of a relayed connection. */

static int rconn_write(void *ctx, p2p_conn *conn, const uint8_t *buf,
                       size_t len) {
  (void)conn;
  rconn *x = ctx;
  if (x->s == NULL || x->close_after)
    return P2P_ERR_STATE;
  int had = x->pend.len != 0;
  int rc = buf_write(&x->pend, x->s, buf, len, CONN_PEND_MAX, x->cl->last_now);
  if (had != (x->pend.len != 0))
    x->cl->exp_dirty = 1;
  return rc;
}

static void rconn_close(void *ctx, p2p_conn *conn, int err) {
  rconn *x = ctx;
  p2p_relay_client *c = x->cl;
  uint64_t now = c->last_now;
  cl_enter(c, now);
  x->conn = NULL;
  p2p_host_conn_free(c->h, conn);
  if (x->s) {
    if (err < 0) {
      p2p_host_stream_reset(x->s, now);
    } else {
      x->close_after = 1;
      c->exp_dirty = 1;
      if (buf_flush(&x->pend, x->s, now) < 0 ||
          (x->pend.len == 0 && p2p_host_stream_close(x->s, now) < 0))
        p2p_host_stream_reset(x->s, now);
    }
  }
  rconn_check_dead(x);
  cl_leave(c);
}

static const p2p_conn_ops rconn_ops = {.write = rconn_write,
                                       .close = rconn_close};

static void rconn_flush(rconn *x, uint64_t now) {
  if (x->s == NULL || x->pend.len == 0)
    return;
  x->cl->exp_dirty = 1;
  if (buf_flush(&x->pend, x->s, now) < 0) {
    p2p_host_stream_reset(x->s, now);
    return;
  }
  if (x->pend.len == 0 && x->close_after &&
      p2p_host_stream_close(x->s, now) < 0)
    p2p_host_stream_reset(x->s, now);
}

/* The circuit is up: the stream becomes the connection's transport, and
 * the bytes after the handshake message are its first input. */
static void rconn_up(rconn *x, const uint8_t *rest, size_t n, uint64_t now) {
  p2p_relay_client *c = x->cl;
  p2p_conn *conn = NULL;
  int rc =
      p2p_host_conn_new_ops(c->h, x->outbound, x->outbound ? &x->peer : NULL,
                            &x->remote, &rconn_ops, x, NULL, now, &conn);
  if (rc < 0) {
    rconn_fail(x, "connection setup failed", now);
    return;
  }
  x->conn = conn;
  x->state = X_OPEN;
  x->cl->exp_dirty = 1;
  if (n)
    p2p_host_conn_recv(c->h, conn, rest, n, now);
}

static void rconn_data(rconn *x, p2p_stream *st, const uint8_t *d, size_t n,
                       uint64_t now) {
  p2p_relay_client *c = x->cl;
  if (x->state == X_OPEN) {
    if (x->conn)
      p2p_host_conn_recv(c->h, x->conn, d, n, now);
    rconn_flush(x, now);
    return;
  }
  if (x->state != X_HOP_WAIT && x->state != X_STOP_READ)
    return;
  ssize_t used = p2p_relay_reader_recv(&x->rd, d, n);
  if (used < 0) {
    rconn_fail(x, "bad message framing", now);
    return;
  }
  if (!p2p_relay_reader_done(&x->rd))
    return;
  const uint8_t *rest = d + used;
  size_t nrest = n - (size_t)used;
  if (x->state == X_HOP_WAIT) {
    p2p_relay_hop_msg m;
    int rc = p2p_relay_reader_take_hop(&x->rd, &m);
    if (rc < 0) {
      rconn_fail(x, "malformed hop answer", now);
      return;
    }
    if (m.type != P2P_RELAY_HOP_STATUS || !m.has_status ||
        m.status != P2P_RELAY_STATUS_OK) {
      rconn_fail(x,
                 m.has_status ? p2p_relay_status_name(m.status)
                              : "unexpected hop answer",
                 now);
      p2p_relay_hop_msg_free(&m);
      return;
    }
    if (m.has_limit)
      x->limit = m.limit;
    p2p_relay_hop_msg_free(&m);
    rconn_up(x, rest, nrest, now);
    return;
  }
  /* X_STOP_READ: the relay's CONNECT. */
  p2p_relay_stop_msg m;
  int rc = p2p_relay_reader_take_stop(&x->rd, &m);
  p2p_relay_status st_answer = P2P_RELAY_STATUS_OK;
  if (rc < 0)
    st_answer = P2P_RELAY_STATUS_MALFORMED_MESSAGE;
  else if (m.type != P2P_RELAY_STOP_CONNECT)
    st_answer = P2P_RELAY_STATUS_UNEXPECTED_MESSAGE;
  else if (!m.has_peer)
    st_answer = P2P_RELAY_STATUS_MALFORMED_MESSAGE;
  if (st_answer == P2P_RELAY_STATUS_OK) {
    x->peer = m.peer.id;
    if (m.has_limit)
      x->limit = m.limit;
  }
  p2p_relay_stop_msg_free(&m);
  p2p_relay_stop_msg ans;
  memset(&ans, 0, sizeof ans);
  ans.type = P2P_RELAY_STOP_STATUS;
  ans.has_status = 1;
  ans.status = st_answer;
  if (send_stop(st, &ans, now) < 0) {
    rconn_fail(x, "stop answer failed", now);
    return;
  }
  if (st_answer != P2P_RELAY_STATUS_OK) {
    cl_log(c, "relay: bad stop message from ", &x->relay,
           p2p_relay_status_name(st_answer));
    x->s = NULL;
    p2p_host_stream_set_ctx(st, NULL);
    if (p2p_host_stream_close(st, now) < 0)
      p2p_host_stream_reset(st, now);
    rconn_check_dead(x);
    return;
  }
  p2p_conn *rc_conn = p2p_host_stream_conn(st);
  p2p_multiaddr_free(&x->remote);
  if (circuit_addr(p2p_host_conn_remote(rc_conn), &x->relay, &x->peer,
                   &x->remote) < 0) {
    rconn_fail(x, "cannot form the remote address", now);
    return;
  }
  rconn_up(x, rest, nrest, now);
}

static void rconn_fin(rconn *x, uint64_t now) {
  if (x->state == X_OPEN) {
    if (x->conn)
      p2p_host_conn_eof(x->cl->h, x->conn, 0, now);
    return;
  }
  rconn_fail(x, "stream closed during the handshake", now);
}

static void rconn_closed(rconn *x, int err, uint64_t now) {
  x->s = NULL;
  if (x->state == X_OPEN) {
    if (x->conn)
      p2p_host_conn_eof(x->cl->h, x->conn, err < 0 ? err : 0, now);
  } else {
    rconn_fail(
        x, err == P2P_ERR_NOTFOUND ? "protocol not supported" : "stream closed",
        now);
  }
  rconn_check_dead(x);
}

/* Outbound hop streams of circuit dials (ctx: rconn). */

static void hop_out_open(void *user, p2p_stream *st, const char *proto,
                         uint64_t now) {
  (void)user;
  (void)proto;
  rconn *x = p2p_host_stream_ctx(st);
  if (x == NULL)
    return;
  p2p_relay_client *c = x->cl;
  cl_enter(c, now);
  p2p_relay_hop_msg m;
  memset(&m, 0, sizeof m);
  m.type = P2P_RELAY_HOP_CONNECT;
  m.has_peer = 1;
  m.peer.id = x->peer;
  if (send_hop(st, &m, now) < 0)
    rconn_fail(x, "CONNECT write failed", now);
  else
    x->state = X_HOP_WAIT;
  x->cl->exp_dirty = 1;
  cl_leave(c);
}

static void rconn_stream_data(void *user, p2p_stream *st, const uint8_t *d,
                              size_t n, uint64_t now) {
  (void)user;
  rconn *x = p2p_host_stream_ctx(st);
  if (x == NULL)
    return;
  p2p_relay_client *c = x->cl;
  cl_enter(c, now);
  rconn_data(x, st, d, n, now);
  cl_leave(c);
}

static void rconn_stream_fin(void *user, p2p_stream *st, uint64_t now) {
  (void)user;
  rconn *x = p2p_host_stream_ctx(st);
  if (x == NULL)
    return;
  p2p_relay_client *c = x->cl;
  cl_enter(c, now);
  rconn_fin(x, now);
  cl_leave(c);
}

static void rconn_stream_close(void *user, p2p_stream *st, int err,
                               uint64_t now) {
  (void)user;
  rconn *x = p2p_host_stream_ctx(st);
  if (x == NULL)
    return;
  p2p_relay_client *c = x->cl;
  cl_enter(c, now);
  rconn_closed(x, err, now);
  cl_leave(c);
}

static const p2p_stream_handler hop_out_handler = {.on_open = hop_out_open,
                                                   .on_data = rconn_stream_data,
                                                   .on_fin = rconn_stream_fin,
                                                   .on_close =
                                                       rconn_stream_close};

/* Inbound stop streams (user: client; ctx: rconn). */

static void stop_in_open(void *user, p2p_stream *st, const char *proto,
                         uint64_t now) {
  (void)proto;
  p2p_relay_client *c = user;
  const p2p_peerid *relay = p2p_host_conn_peer(p2p_host_stream_conn(st));
  rconn *x = calloc(1, sizeof *x);
  if (x == NULL || relay == NULL) {
    free(x);
    p2p_host_stream_reset(st, now);
    return;
  }
  cl_enter(c, now);
  x->cl = c;
  x->state = X_STOP_READ;
  x->cl->exp_dirty = 1;
  x->s = st;
  x->relay = *relay;
  x->deadline = now + CLIENT_TIMEOUT_NS;
  x->cl->exp_dirty = 1;
  p2p_relay_reader_init(&x->rd);
  x->next = c->conns;
  c->conns = x;
  c->exp_dirty = 1;
  p2p_host_stream_set_ctx(st, x);
  cl_leave(c);
}

static const p2p_stream_handler stop_in_handler = {.on_open = stop_in_open,
                                                   .on_data = rconn_stream_data,
                                                   .on_fin = rconn_stream_fin,
                                                   .on_close =
                                                       rconn_stream_close};

/* An open, direct connection to peer, or NULL. */
static p2p_conn *direct_conn(p2p_host *h, const p2p_peerid *peer) {
  p2p_conn *c = p2p_host_find_conn(h, peer);
  if (c == NULL || p2p_host_conn_limited(c) || !p2p_host_conn_is_open(c))
    return NULL;
  return c;
}

static void rconn_open_hop(rconn *x, p2p_conn *conn, uint64_t now) {
  p2p_relay_client *c = x->cl;
  const char *protos[] = {P2P_RELAY_HOP_PROTOCOL};
  p2p_stream *st = NULL;
  if (p2p_host_stream_open(c->h, conn, protos, 1, &hop_out_handler, c, now,
                           &st) < 0) {
    rconn_fail(x, "cannot open the hop stream", now);
    return;
  }
  p2p_host_stream_set_ctx(st, x);
  x->s = st;
  x->state = X_HOP_OPEN;
  x->cl->exp_dirty = 1;
  x->deadline = now + CLIENT_TIMEOUT_NS;
  x->cl->exp_dirty = 1;
}

/* Splits RELAYADDR/p2p/RELAY/p2p-circuit/p2p/TARGET. */
static int parse_circuit(const p2p_multiaddr *ma, p2p_multiaddr *relay_part,
                         p2p_peerid *relay, p2p_peerid *target) {
  size_t pos = 0, before = 0, cut = 0;
  p2p_ma_component comp;
  int rc, seen_circuit = 0, have_relay = 0, have_target = 0, n_after = 0;
  while ((rc = p2p_multiaddr_next(ma, &pos, &comp)) == 1) {
    if (seen_circuit) {
      n_after++;
      if (n_after == 1 && comp.code == P2P_MA_P2P &&
          p2p_peerid_from_bytes(comp.value, comp.value_len, target) == 0)
        have_target = 1;
    } else if (comp.code == P2P_MA_P2P_CIRCUIT) {
      seen_circuit = 1;
      cut = before;
    } else {
      have_relay =
          comp.code == P2P_MA_P2P &&
          p2p_peerid_from_bytes(comp.value, comp.value_len, relay) == 0;
    }
    before = pos;
  }
  if (rc < 0 || !seen_circuit || !have_relay || !have_target || n_after != 1)
    return P2P_ERR_INVALID;
  return p2p_multiaddr_from_bytes(ma->bytes, cut, relay_part);
}

/* 1 when ma names a transport before its /p2p/ (something to dial). */
static int addr_has_transport(const p2p_multiaddr *ma) {
  size_t pos = 0;
  p2p_ma_component comp;
  return p2p_multiaddr_next(ma, &pos, &comp) == 1 && comp.code != P2P_MA_P2P;
}

static int circuit_dial(void *ctx, const p2p_multiaddr *ma, uint64_t now) {
  p2p_relay_client *c = ctx;
  rconn *x = calloc(1, sizeof *x);
  if (x == NULL)
    return P2P_ERR_NOMEM;
  x->cl = c;
  x->outbound = 1;
  p2p_relay_reader_init(&x->rd);
  int rc = parse_circuit(ma, &x->relay_addr, &x->relay, &x->peer);
  if (rc == 0)
    rc = p2p_multiaddr_copy(ma, &x->remote);
  p2p_conn *conn = rc == 0 ? direct_conn(c->h, &x->relay) : NULL;
  if (rc == 0 && conn == NULL && !addr_has_transport(&x->relay_addr))
    rc = P2P_ERR_UNREACHABLE; /* no connection and nothing to dial */
  if (rc < 0) {
    rconn_free(x);
    return rc;
  }
  cl_enter(c, now);
  x->next = c->conns;
  c->conns = x;
  c->exp_dirty = 1;
  x->deadline = now + CLIENT_TIMEOUT_NS;
  x->cl->exp_dirty = 1;
  if (conn) {
    rconn_open_hop(x, conn, now);
  } else {
    x->state = X_DIAL_RELAY;
    x->cl->exp_dirty = 1;
    rc = p2p_host_dial(c->h, &x->relay_addr, now);
    if (rc < 0) {
      x->dead = 1;
      x->cl->exp_dirty = 1;
      x->cl->sweep_due = 1;
    }
  }
  cl_leave(c);
  return rc;
}

/* Reservations. */

static void rentry_unadvertise(rentry *e, uint64_t now) {
  p2p_host *h = e->cl->h;
  for (size_t i = 0; i < e->nadv; i++) {
    ignore_rc(p2p_host_remove_addr(h, &e->adv[i], now));
    p2p_multiaddr_free(&e->adv[i]);
  }
  free(e->adv);
  e->adv = NULL;
  e->nadv = 0;
}

static void rentry_drop_stream(rentry *e, uint64_t now) {
  p2p_stream *st = e->hop;
  e->hop = NULL;
  if (st) {
    p2p_host_stream_set_ctx(st, NULL);
    p2p_host_stream_reset(st, now);
  }
}

static void rentry_report(rentry *e, int status, uint64_t expire_s,
                          uint64_t now) {
  p2p_relay_client *c = e->cl;
  if (c->cfg.on_reservation)
    c->cfg.on_reservation(c->cfg.ctx, &e->relay, status, expire_s, now);
}

/* The reservation failed or was lost: stop advertising, retry later. */
static void rentry_fail(rentry *e, int status, const char *why, uint64_t now) {
  p2p_relay_client *c = e->cl;
  cl_log(c, "relay: reservation failed on ", &e->relay, why);
  rentry_drop_stream(e, now);
  rentry_unadvertise(e, now);
  e->held = 0;
  e->cl->exp_dirty = 1;
  e->state = R_IDLE;
  e->cl->exp_dirty = 1;
  e->backoff =
      e->backoff ? min_u64(e->backoff * 2, MAX_RETRY_NS) : c->cfg.retry_ns;
  e->next_at = now + e->backoff;
  e->cl->exp_dirty = 1;
  rentry_report(e, status, 0, now);
}

static const p2p_stream_handler rsv_handler;

static void rentry_reserve(rentry *e, p2p_conn *conn, uint64_t now) {
  p2p_relay_client *c = e->cl;
  const char *protos[] = {P2P_RELAY_HOP_PROTOCOL};
  p2p_stream *st = NULL;
  rentry_drop_stream(e, now);
  e->conn = conn;
  if (p2p_host_stream_open(c->h, conn, protos, 1, &rsv_handler, c, now, &st) <
      0) {
    rentry_fail(e, P2P_ERR_STATE, "cannot open the hop stream", now);
    return;
  }
  p2p_host_stream_set_ctx(st, e);
  e->hop = st;
  e->state = R_RESERVING;
  e->cl->exp_dirty = 1;
  e->next_at = now + CLIENT_TIMEOUT_NS;
  e->cl->exp_dirty = 1;
  p2p_relay_reader_init(&e->rd);
}

static void rentry_start(rentry *e, uint64_t now) {
  p2p_relay_client *c = e->cl;
  p2p_conn *conn = direct_conn(c->h, &e->relay);
  if (conn) {
    rentry_reserve(e, conn, now);
    return;
  }
  e->conn = NULL;
  e->state = R_DIALING;
  e->cl->exp_dirty = 1;
  e->next_at = now + CLIENT_TIMEOUT_NS;
  e->cl->exp_dirty = 1;
  int rc = p2p_host_dial(c->h, &e->addr, now);
  if (rc < 0 && e->state == R_DIALING)
    rentry_fail(e, rc, "dial failed", now);
}

/* Replaces the advertised addresses with the circuit addresses of the
 * relay's answer. */
static int rentry_advertise(rentry *e, const p2p_relay_reservation *r,
                            uint64_t now) {
  p2p_host *h = e->cl->h;
  size_t n = r->naddrs ? r->naddrs : 1;
  p2p_multiaddr *adv = calloc(n, sizeof *adv);
  if (adv == NULL)
    return P2P_ERR_NOMEM;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    const p2p_multiaddr *base = r->naddrs ? &r->addrs[i] : &e->addr;
    if (p2p_multiaddr_has(base, P2P_MA_P2P_CIRCUIT))
      continue;
    p2p_multiaddr a;
    if (circuit_addr(base, &e->relay, NULL, &a) < 0)
      continue;
    int dup = 0;
    for (size_t j = 0; j < k; j++)
      dup |= adv[j].len == a.len && !memcmp(adv[j].bytes, a.bytes, a.len);
    if (dup)
      p2p_multiaddr_free(&a);
    else
      adv[k++] = a;
  }
  /* Withdraw what the relay no longer lists, add what is new. */
  for (size_t i = 0; i < e->nadv; i++) {
    int keep = 0;
    for (size_t j = 0; j < k; j++)
      keep |= adv[j].len == e->adv[i].len &&
              !memcmp(adv[j].bytes, e->adv[i].bytes, adv[j].len);
    if (!keep)
      ignore_rc(p2p_host_remove_addr(h, &e->adv[i], now));
    p2p_multiaddr_free(&e->adv[i]);
  }
  free(e->adv);
  e->adv = adv;
  e->nadv = k;
  for (size_t i = 0; i < k; i++) {
    int rc = p2p_host_add_addr(h, &adv[i], now);
    if (rc < 0 && rc != P2P_ERR_EXISTS)
      return rc;
  }
  return 0;
}

static void rentry_answer(rentry *e, uint64_t now) {
  p2p_relay_client *c = e->cl;
  p2p_relay_hop_msg m;
  int rc = p2p_relay_reader_take_hop(&e->rd, &m);
  if (rc < 0) {
    rentry_fail(e, rc, "malformed reservation answer", now);
    return;
  }
  const char *why = NULL;
  int status = m.has_status ? (int)m.status : P2P_ERR_PROTO;
  if (m.type != P2P_RELAY_HOP_STATUS || !m.has_status)
    why = "unexpected answer";
  else if (m.status != P2P_RELAY_STATUS_OK)
    why = p2p_relay_status_name(m.status);
  else if (!m.has_reservation || !m.reservation.has_expire)
    why = "no reservation in the answer";
  else if (m.reservation.expire_unix_s * NS_PER_S <=
           p2p_host_unix_ns(c->h, now))
    why = "reservation already expired";
  if (why == NULL && m.reservation.has_voucher) {
    p2p_relay_voucher v;
    if (p2p_relay_voucher_open(m.reservation.voucher, m.reservation.voucher_len,
                               &e->relay, &v) < 0 ||
        !p2p_peerid_equal(&v.peer, p2p_host_peer_id(c->h)))
      why = "bad voucher";
  }
  if (why) {
    p2p_relay_hop_msg_free(&m);
    rentry_fail(e, status == P2P_RELAY_STATUS_OK ? P2P_ERR_PROTO : status, why,
                now);
    return;
  }
  uint64_t expire_s = m.reservation.expire_unix_s;
  rc = rentry_advertise(e, &m.reservation, now);
  p2p_relay_hop_msg_free(&m);
  if (rc < 0) {
    rentry_fail(e, rc, "cannot advertise the circuit addresses", now);
    return;
  }
  /* The exchange is over: half-close, the relay closes its side. */
  p2p_stream *st = e->hop;
  e->hop = NULL;
  p2p_host_stream_set_ctx(st, NULL);
  if (p2p_host_stream_close(st, now) < 0)
    p2p_host_stream_reset(st, now);
  e->held = 1;
  e->cl->exp_dirty = 1;
  e->state = R_RESERVED;
  e->cl->exp_dirty = 1;
  e->backoff = 0;
  /* On our clock: the relay's Unix time less our clock's Unix offset. */
  e->expire_ns = expire_s * NS_PER_S - (p2p_host_unix_ns(c->h, now) - now);
  e->cl->exp_dirty = 1;
  uint64_t left = e->expire_ns - now;
  uint64_t margin = c->cfg.refresh_margin_ns;
  if (margin == 0)
    margin =
        left / 4 > MIN_REFRESH_MARGIN_NS ? left / 4 : MIN_REFRESH_MARGIN_NS;
  if (margin >= left)
    margin = left / 2;
  e->next_at = e->expire_ns - margin;
  e->cl->exp_dirty = 1;
  rentry_report(e, P2P_RELAY_STATUS_OK, expire_s, now);
}

static void rsv_open(void *user, p2p_stream *st, const char *proto,
                     uint64_t now) {
  (void)user;
  (void)proto;
  rentry *e = p2p_host_stream_ctx(st);
  if (e == NULL)
    return;
  p2p_relay_client *c = e->cl;
  cl_enter(c, now);
  p2p_relay_hop_msg m;
  memset(&m, 0, sizeof m);
  m.type = P2P_RELAY_HOP_RESERVE;
  if (send_hop(st, &m, now) < 0)
    rentry_fail(e, P2P_ERR_STATE, "RESERVE write failed", now);
  cl_leave(c);
}

static void rsv_data(void *user, p2p_stream *st, const uint8_t *d, size_t n,
                     uint64_t now) {
  (void)user;
  rentry *e = p2p_host_stream_ctx(st);
  if (e == NULL)
    return;
  p2p_relay_client *c = e->cl;
  cl_enter(c, now);
  ssize_t used = p2p_relay_reader_recv(&e->rd, d, n);
  if (used < 0)
    rentry_fail(e, (int)used, "bad answer framing", now);
  else if (p2p_relay_reader_done(&e->rd))
    rentry_answer(e, now);
  cl_leave(c);
}

static void rsv_fin(void *user, p2p_stream *st, uint64_t now) {
  (void)user;
  rentry *e = p2p_host_stream_ctx(st);
  if (e == NULL)
    return;
  p2p_relay_client *c = e->cl;
  cl_enter(c, now);
  rentry_fail(e, P2P_ERR_PROTO, "stream closed before the answer", now);
  cl_leave(c);
}

static void rsv_close(void *user, p2p_stream *st, int err, uint64_t now) {
  (void)user;
  rentry *e = p2p_host_stream_ctx(st);
  if (e == NULL)
    return;
  p2p_relay_client *c = e->cl;
  cl_enter(c, now);
  e->hop = NULL;
  rentry_fail(e, err < 0 ? err : P2P_ERR_PROTO,
              err == P2P_ERR_NOTFOUND ? "the peer is not a relay"
                                      : "hop stream closed",
              now);
  cl_leave(c);
}

static const p2p_stream_handler rsv_handler = {.on_open = rsv_open,
                                               .on_data = rsv_data,
                                               .on_fin = rsv_fin,
                                               .on_close = rsv_close};

/* Service. */

static void cl_on_event(void *ctx, const p2p_host_event *ev) {
  p2p_relay_client *c = ctx;
  uint64_t now = ev->now;
  cl_enter(c, now);
  if (ev->type == P2P_HOST_EV_CONNECTED && ev->peer && ev->conn &&
      !p2p_host_conn_limited(ev->conn)) {
    for (rentry *e = c->relays; e; e = e->next)
      if (e->state == R_DIALING && p2p_peerid_equal(&e->relay, ev->peer))
        rentry_reserve(e, ev->conn, now);
    for (rconn *x = c->conns; x; x = x->next)
      if (!x->dead && x->state == X_DIAL_RELAY &&
          p2p_peerid_equal(&x->relay, ev->peer))
        rconn_open_hop(x, ev->conn, now);
  } else if (ev->type == P2P_HOST_EV_CONN_CLOSED) {
    for (rentry *e = c->relays; e; e = e->next) {
      if (ev->conn && e->conn == ev->conn) {
        e->conn = NULL;
        if (e->state != R_IDLE)
          rentry_fail(e, ev->err < 0 ? ev->err : P2P_ERR_RESET,
                      "connection to the relay lost", now);
      } else if (ev->conn == NULL && e->state == R_DIALING && ev->peer &&
                 p2p_peerid_equal(ev->peer, &e->relay)) {
        rentry_fail(e, ev->err < 0 ? ev->err : P2P_ERR_UNREACHABLE,
                    "dial failed", now);
      }
    }
    for (rconn *x = c->conns; x; x = x->next)
      if (!x->dead && x->state == X_DIAL_RELAY && ev->conn == NULL &&
          ev->peer && p2p_peerid_equal(ev->peer, &x->relay))
        rconn_fail(x, "dialling the relay failed", now);
  }
  cl_leave(c);
}

static uint64_t cl_expiry(void *ctx) {
  p2p_relay_client *c = ctx;
  if (!c->exp_dirty)
    return c->exp_cache;
  uint64_t t = UINT64_MAX;
  for (const rentry *e = c->relays; e; e = e->next) {
    t = min_u64(t, e->next_at);
    if (e->held)
      t = min_u64(t, e->expire_ns);
  }
  for (const rconn *x = c->conns; x; x = x->next) {
    if (x->dead)
      continue;
    if (x->state != X_OPEN)
      t = min_u64(t, x->deadline);
    else if (x->pend.len && x->s)
      t = min_u64(t, c->last_now + POLL_NS);
  }
  c->exp_dirty = 0;
  c->exp_cache = t;
  return t;
}

static void cl_on_expiry(void *ctx, uint64_t now) {
  p2p_relay_client *c = ctx;
  cl_enter(c, now);
  for (rentry *e = c->relays; e; e = e->next) {
    if (e->held && e->expire_ns <= now) {
      rentry_fail(e, P2P_ERR_TIMEOUT, "reservation expired", now);
      continue;
    }
    if (e->next_at > now)
      continue;
    switch (e->state) {
    case R_IDLE: rentry_start(e, now); break;
    case R_DIALING:
      rentry_fail(e, P2P_ERR_TIMEOUT, "dial timed out", now);
      break;
    case R_RESERVING:
      rentry_fail(e, P2P_ERR_TIMEOUT, "reservation timed out", now);
      break;
    case R_RESERVED:
      if (e->conn && p2p_host_conn_is_open(e->conn))
        rentry_reserve(e, e->conn, now); /* refresh */
      else
        rentry_start(e, now);
      break;
    default: break;
    }
  }
  for (rconn *x = c->conns; x; x = x->next) {
    if (x->dead)
      continue;
    if (x->state == X_OPEN)
      rconn_flush(x, now);
    else if (x->deadline <= now)
      rconn_fail(x, "timed out", now);
  }
  c->exp_dirty = 1; /* the poll time moved on */
  cl_leave(c);
}

int p2p_relay_client_new(p2p_host *h, const p2p_relay_client_config *cfg,
                         p2p_relay_client **out) {
  if (out == NULL)
    return P2P_ERR_INVALID;
  *out = NULL;
  if (h == NULL)
    return P2P_ERR_INVALID;
  p2p_relay_client *c = calloc(1, sizeof *c);
  if (c == NULL)
    return P2P_ERR_NOMEM;
  c->h = h;
  if (cfg)
    c->cfg = *cfg;
  if (c->cfg.retry_ns == 0)
    c->cfg.retry_ns = DEF_RETRY_NS;
  int rc = 0;
  if (c->cfg.accept_stop)
    rc = p2p_host_handle(h, P2P_RELAY_STOP_PROTOCOL, &stop_in_handler, c);
  p2p_host_service svc = {
      .on_event = cl_on_event, .expiry = cl_expiry, .on_expiry = cl_on_expiry};
  if (rc == 0 && (rc = p2p_host_add_service(h, &svc, c)) < 0 &&
      c->cfg.accept_stop)
    (void)p2p_host_unhandle(h, P2P_RELAY_STOP_PROTOCOL);
  if (rc < 0) {
    free(c);
    return rc;
  }
  p2p_host_set_circuit_dialer(h, circuit_dial, c);
  *out = c;
  return 0;
}

void p2p_relay_client_del(p2p_relay_client *c) {
  if (c == NULL)
    return;
  p2p_host_remove_service(c->h, c);
  p2p_host_set_circuit_dialer(c->h, NULL, NULL);
  if (c->cfg.accept_stop)
    (void)p2p_host_unhandle(c->h, P2P_RELAY_STOP_PROTOCOL);
  c->depth++; /* nothing is swept or called back while we detach */
  uint64_t now = c->last_now;
  while (c->relays) {
    rentry *e = c->relays;
    c->relays = e->next;
    rentry_drop_stream(e, now);
    rentry_unadvertise(e, now);
    p2p_multiaddr_free(&e->addr);
    free(e);
  }
  while (c->conns) {
    rconn *x = c->conns;
    c->conns = x->next;
    if (x->s) {
      p2p_host_stream_set_ctx(x->s, NULL);
      p2p_host_stream_reset(x->s, now);
    }
    if (x->conn)
      p2p_host_conn_free(c->h, x->conn);
    rconn_free(x);
  }
  free(c);
}

int p2p_relay_client_listen(p2p_relay_client *c,
                            const p2p_multiaddr *relay_addr, uint64_t now) {
  if (c == NULL || relay_addr == NULL || relay_addr->len == 0)
    return P2P_ERR_INVALID;
  p2p_peerid relay;
  size_t pos = 0;
  p2p_ma_component comp;
  int rc, have = 0;
  while ((rc = p2p_multiaddr_next(relay_addr, &pos, &comp)) == 1) {
    if (comp.code == P2P_MA_P2P_CIRCUIT)
      return P2P_ERR_INVALID;
    have = comp.code == P2P_MA_P2P &&
           p2p_peerid_from_bytes(comp.value, comp.value_len, &relay) == 0;
  }
  if (rc < 0 || !have)
    return P2P_ERR_INVALID;
  for (rentry *o = c->relays; o; o = o->next)
    if (p2p_peerid_equal(&o->relay, &relay))
      return P2P_ERR_EXISTS;
  rentry *e = calloc(1, sizeof *e);
  if (e == NULL)
    return P2P_ERR_NOMEM;
  rc = p2p_multiaddr_copy(relay_addr, &e->addr);
  if (rc < 0) {
    free(e);
    return rc;
  }
  e->cl = c;
  e->relay = relay;
  e->state = R_IDLE;
  e->cl->exp_dirty = 1;
  e->next_at = now;
  e->cl->exp_dirty = 1;
  e->next = c->relays;
  c->relays = e;
  c->exp_dirty = 1;
  cl_enter(c, now);
  rentry_start(e, now);
  cl_leave(c);
  return 0;
}

unsigned p2p_relay_client_reservations(const p2p_relay_client *c) {
  unsigned n = 0;
  if (c == NULL)
    return 0;
  for (const rentry *e = c->relays; e; e = e->next)
    n += e->held != 0;
  return n;
}

int p2p_relay_client_conn_limit(const p2p_relay_client *c, const p2p_conn *conn,
                                p2p_relay_limit *out) {
  if (c == NULL || conn == NULL || out == NULL)
    return P2P_ERR_INVALID;
  for (const rconn *x = c->conns; x; x = x->next)
    if (!x->dead && x->conn == conn) {
      *out = x->limit;
      return 0;
    }
  return P2P_ERR_NOTFOUND;
}
