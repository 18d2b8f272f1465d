/*
 * host.c - the libp2p host: the connection upgrade of tests/interop/
 * stack_probe.c (multistream-select "/noise" -> Noise XX -> yamux, early
 * muxer negotiation or multistream-select inside Noise) generalised to many
 * connections, with identify, identify push, ping, a peer store, a gater
 * and application protocols.
 *
 * Reentrancy. Embedder callbacks (on_event, stream handlers, conn_write,
 * conn_close) may call back into the host, and yamux callbacks run inside
 * p2p_yamux_recv, where p2p_yamux_send and p2p_yamux_del are not allowed.
 * So every public entry point counts its depth; output is flushed and dead
 * streams and freed connections are released only when the outermost call
 * returns, never inside a call stack that may still use them. Closing a
 * connection only marks it; its layers are freed by p2p_host_conn_free.
 *
 * Signed peer records: the host seals a fresh record for every identify
 * answer, with a sequence number from a per-host counter that starts at 1
 * and grows by one per record (the core has no clock, which is what
 * go-libp2p uses).
 */
#include "p2p/host.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/identify.h"
#include "p2p/mss.h"
#include "p2p/noise.h"
#include "p2p/ping.h"
#include "p2p/yamux.h"

#ifndef P2PLAB_VERSION
#define P2PLAB_VERSION "0.1.0"
#endif

#define YAMUX_PROTO "/yamux/1.0.0"
#define DEFAULT_TIMEOUT_NS 10000000000ull
#define IO_BUF_LEN 65536
#define MAX_AGENT_LEN 256
/* How long an identify answer waits before its FIN (see serve_identify). */
#define ID_FIN_DELAY_NS 50000000ull

/* What a stream is for. Outbound kinds are fixed at creation; an inbound
 * stream becomes one of the R_* roles once its protocol is selected. */
enum {
  K_OUT_ID = 1, /* we ask the peer for identify */
  K_OUT_PING,   /* our ping client */
  K_OUT_APP,    /* p2p_host_stream_open */
  K_OUT_PUSH,   /* we push identify */
  K_IN          /* opened by the peer */
};
enum {
  R_NONE = 0,   /* still negotiating (inbound) */
  R_ID_SERVE,   /* we answer identify */
  R_PUSH_IN,    /* the peer pushes identify */
  R_PING_SERVE, /* we echo pings */
  R_APP,        /* an application handler */
  R_DISCARD     /* abandoned (a timed-out ping): ignore its bytes */
};

struct p2p_stream {
  p2p_conn *conn;
  uint32_t id;
  int kind;
  int role;
  p2p_mss *mss;
  p2p_identify_reader idr;
  p2p_ping_client pc;
  p2p_ping_server ps;
  p2p_stream_handler hcb;
  void *user;
  int opened;      /* application on_open was called */
  uint64_t fin_at; /* our delayed half-close (identify answers), 0: none */
  int dead;        /* gone: on_close delivered, awaiting release */
  int err;         /* what on_close reports */
  void *ctx;       /* p2p_host_stream_set_ctx */
  p2p_stream *next;
};

enum { C_SEC_NEG = 0, C_NOISE, C_MUX_NEG, C_OPEN };

struct p2p_conn {
  p2p_host *h;
  int outbound;
  int has_expected;
  p2p_peerid expected;
  int has_remote;
  p2p_multiaddr remote;
  void *user;
  int state;
  int closed; /* conn_close was called (or freed without callbacks) */
  int freed;  /* p2p_host_conn_free was called while the host was busy */
  int dirty;  /* output may be waiting in a layer */
  int has_peer;
  p2p_peerid peer;
  p2p_mss *mss1, *mss2;
  p2p_noise *noise;
  p2p_yamux *yamux;
  uint64_t hs_deadline;
  p2p_stream *streams;
  p2p_stream *ping; /* our ping stream, or NULL */
  int ping_active;  /* a ping was requested and has not ended */
  uint64_t ping_deadline;
  int receiving;    /* inside p2p_host_conn_recv for this connection */
  uint8_t *backlog; /* bytes fed by a nested p2p_host_conn_recv */
  size_t backlog_len;
  p2p_stream *last_stream; /* find_stream's cache (on c->streams) */
  int in_dirty;            /* on the host's list of connections to flush */
  p2p_conn *dnext;
  int timed; /* on the host's list of connections with deadlines */
  p2p_conn *tprev, *tnext;
  int has_ops; /* its own transport (a relayed connection) */
  p2p_conn_ops ops;
  void *ops_ctx;
  p2p_conn *next;
};

typedef struct handler_entry {
  char *proto;
  p2p_stream_handler hcb;
  void *user;
} handler_entry;

typedef struct service_entry {
  p2p_host_service svc;
  void *ctx; /* NULL: removed, awaiting compaction */
} service_entry;

typedef struct peer_entry {
  p2p_peerid id;
  p2p_identify_msg msg;
  struct peer_entry *next;
} peer_entry;

struct p2p_host {
  p2p_host_config cfg; /* pointers below replace the borrowed ones */
  p2p_privkey key;
  p2p_peerid self;
  uint8_t pub[64];
  size_t pub_len;
  char *agent;
  p2p_multiaddr *addrs;
  size_t n_addrs;
  uint64_t record_seq;
  handler_entry *handlers;
  size_t n_handlers;
  peer_entry *peers;
  p2p_conn *conns;
  p2p_stream *dead; /* streams awaiting release */
  service_entry *svcs;
  size_t n_svcs;
  int svc_dirty;          /* a service was removed during a callback */
  size_t yamux_queue_max; /* max_stream_queued_bytes of our sessions */
  /* Connections that may have a deadline (handshake, ping, a delayed
   * FIN): expiry walks these, not every connection. */
  p2p_conn *timed;
  p2p_conn *dirty; /* connections whose output may wait in a layer */
  size_t n_freed;  /* connections freed while the host was busy */
  int (*circuit_dial)(void *ctx, const p2p_multiaddr *ma, uint64_t now);
  void *circuit_ctx;
  int depth;    /* nesting of public entry points */
  uint64_t now; /* `now` of the current entry point */
  uint8_t buf[IO_BUF_LEN];
};

/* ------------------------------------------------------------------ */

/* For results that change nothing here (the stream is already going). */
static void ignore_rc(int rc) {
  (void)rc;
}

static void emit(p2p_host *h, p2p_host_event *ev) {
  ev->now = h->now;
  if (h->cfg.on_event)
    h->cfg.on_event(h->cfg.ctx, ev);
  /* Services registered during the loop see the next event. */
  size_t n = h->n_svcs;
  for (size_t i = 0; i < n; i++)
    if (h->svcs[i].ctx && h->svcs[i].svc.on_event)
      h->svcs[i].svc.on_event(h->svcs[i].ctx, ev);
}

/* Output may wait in one of c's layers: flush it when the host's
 * outermost call returns. */
static void set_dirty(p2p_conn *c) {
  c->dirty = 1;
  if (c->in_dirty)
    return;
  c->in_dirty = 1;
  c->dnext = c->h->dirty;
  c->h->dirty = c;
}

static void mark_timed(p2p_conn *c) {
  p2p_host *h = c->h;
  if (c->timed)
    return;
  c->timed = 1;
  c->tprev = NULL;
  c->tnext = h->timed;
  if (h->timed)
    h->timed->tprev = c;
  h->timed = c;
}

static void unmark_timed(p2p_conn *c) {
  if (!c->timed)
    return;
  c->timed = 0;
  if (c->tprev)
    c->tprev->tnext = c->tnext;
  else
    c->h->timed = c->tnext;
  if (c->tnext)
    c->tnext->tprev = c->tprev;
  c->tprev = c->tnext = NULL;
}

/* The connection's earliest deadline, UINT64_MAX when it has none. */
static uint64_t conn_deadline(const p2p_conn *c) {
  uint64_t t = UINT64_MAX;
  if (c->closed)
    return t;
  if (c->state != C_OPEN && c->hs_deadline < t)
    t = c->hs_deadline;
  if (c->ping_active && c->ping_deadline < t)
    t = c->ping_deadline;
  for (const p2p_stream *st = c->streams; st; st = st->next)
    if (!st->dead && st->fin_at && st->fin_at < t)
      t = st->fin_at;
  return t;
}

static int conn_write_out(p2p_conn *c, const uint8_t *buf, size_t len) {
  p2p_host *h = c->h;
  if (c->has_ops)
    return c->ops.write(c->ops_ctx, c, buf, len);
  return h->cfg.conn_write(h->cfg.ctx, c, buf, len);
}

static void conn_fail(p2p_conn *c, int err, const char *reason);

static void stream_release(p2p_stream *s) {
  p2p_mss_del(s->mss);
  p2p_identify_reader_free(&s->idr);
  free(s);
}

/* The stream is gone: tell its handler once and park it for release. */
static void stream_finish(p2p_stream *s, int err) {
  p2p_conn *c = s->conn;
  p2p_host *h = c->h;
  if (s->dead)
    return;
  s->dead = 1;
  if (c->last_stream == s)
    c->last_stream = NULL;
  for (p2p_stream **pp = &c->streams; *pp; pp = &(*pp)->next)
    if (*pp == s) {
      *pp = s->next;
      break;
    }
  s->next = h->dead;
  h->dead = s;
  if (c->ping == s) {
    c->ping = NULL;
    if (c->ping_active) {
      c->ping_active = 0;
      p2p_host_event ev = {.type = P2P_HOST_EV_PING_FAILED,
                           .conn = c,
                           .peer = c->has_peer ? &c->peer : NULL,
                           .err = err ? err : P2P_ERR_RESET,
                           .reason = "ping stream closed"};
      emit(h, &ev);
    }
  }
  if ((s->role == R_APP || s->kind == K_OUT_APP) && s->hcb.on_close)
    s->hcb.on_close(s->user, s, err, h->now);
}

static p2p_stream *find_stream(p2p_conn *c, uint32_t id) {
  /* Frames come in runs on one stream: remember the last one found (a
   * relay's connections carry dozens of streams). */
  if (c->last_stream && c->last_stream->id == id)
    return c->last_stream;
  for (p2p_stream *s = c->streams; s; s = s->next)
    if (s->id == id)
      return c->last_stream = s;
  return NULL;
}

/* Moves a stream's multistream-select output into the stream. */
static int stream_flush_mss(p2p_stream *s) {
  p2p_conn *c = s->conn;
  uint8_t buf[2048];
  ssize_t n;
  if (s->mss == NULL)
    return 0;
  while ((n = p2p_mss_send(s->mss, buf, sizeof buf)) > 0)
    if (p2p_yamux_stream_write(c->yamux, s->id, buf, (size_t)n) != n)
      return P2P_ERR_LIMIT;
  set_dirty(c);
  return 0;
}

static p2p_stream *stream_new(p2p_conn *c, uint32_t id, int kind,
                              const char *const *protos, size_t n) {
  p2p_host *h = c->h;
  p2p_stream *s = calloc(1, sizeof *s);
  if (s == NULL)
    return NULL;
  s->conn = c;
  s->id = id;
  s->kind = kind;
  p2p_identify_reader_init(&s->idr);
  p2p_ping_client_init(&s->pc);
  p2p_ping_server_init(&s->ps);
  int rc;
  if (kind == K_IN) {
    size_t total = 3 + h->n_handlers;
    const char **all = malloc(total * sizeof *all);
    if (all == NULL) {
      free(s);
      return NULL;
    }
    all[0] = P2P_IDENTIFY_PROTOCOL_ID;
    all[1] = P2P_IDENTIFY_PUSH_PROTOCOL_ID;
    all[2] = P2P_PING_PROTOCOL_ID;
    for (size_t i = 0; i < h->n_handlers; i++)
      all[3 + i] = h->handlers[i].proto;
    rc = p2p_mss_listener_new(&s->mss, all, total, NULL, NULL);
    free(all);
  } else {
    rc = p2p_mss_dialer_new(&s->mss, protos, n);
  }
  if (rc < 0) {
    p2p_identify_reader_free(&s->idr);
    free(s);
    return NULL;
  }
  s->next = c->streams;
  c->streams = s;
  if (stream_flush_mss(s) < 0) {
    conn_fail(c, P2P_ERR_LIMIT, "stream write failed");
    return NULL;
  }
  return s;
}

/* ------------------------------------------------------------------ */

/* Appends NUL-terminated `src` to dst at `at`, truncating at cap. */
static size_t append(char *dst, size_t cap, size_t at, const char *src) {
  while (*src && at + 1 < cap)
    dst[at++] = *src++;
  dst[at] = '\0';
  return at;
}

static void conn_fail(p2p_conn *c, int err, const char *reason) {
  p2p_host *h = c->h;
  if (c->closed)
    return;
  c->closed = 1;
  if (h->cfg.log) {
    char peer[P2P_PEERID_STR_MAX] = "unauthenticated";
    char msg[512];
    if (c->has_peer && p2p_peerid_to_string(&c->peer, peer, sizeof peer) < 0)
      strcpy(peer, "?");
    size_t at = 0;
    at = append(msg, sizeof msg, at, "connection ");
    at = append(msg, sizeof msg, at, peer);
    at = append(msg, sizeof msg, at, ": ");
    (void)append(msg, sizeof msg, at, reason);
    h->cfg.log(h->cfg.ctx, msg);
  }
  while (c->streams)
    stream_finish(c->streams, err < 0 ? err : P2P_ERR_RESET);
  if (c->ping_active) {
    c->ping_active = 0;
    p2p_host_event pev = {.type = P2P_HOST_EV_PING_FAILED,
                          .conn = c,
                          .peer = c->has_peer ? &c->peer : NULL,
                          .err = err < 0 ? err : P2P_ERR_RESET,
                          .reason = "connection closed"};
    emit(h, &pev);
  }
  p2p_host_event ev = {.type = P2P_HOST_EV_CONN_CLOSED,
                       .conn = c,
                       .peer = c->has_peer ? &c->peer : NULL,
                       .err = err,
                       .reason = reason};
  emit(h, &ev);
  if (c->has_ops)
    c->ops.close(c->ops_ctx, c, err);
  else
    h->cfg.conn_close(h->cfg.ctx, c, err);
}

static void conn_release(p2p_conn *c) {
  unmark_timed(c);
  if (c->in_dirty) /* only when freed outside the host's calls */
    for (p2p_conn **pp = &c->h->dirty; *pp; pp = &(*pp)->dnext)
      if (*pp == c) {
        *pp = c->dnext;
        break;
      }
  while (c->streams) {
    p2p_stream *s = c->streams;
    c->streams = s->next;
    stream_release(s);
  }
  p2p_yamux_del(c->yamux);
  p2p_noise_del(c->noise);
  p2p_mss_del(c->mss1);
  p2p_mss_del(c->mss2);
  p2p_multiaddr_free(&c->remote);
  free(c->backlog);
  free(c);
}

/* Pushes every layer's output of `c` to its transport. */
static void conn_flush(p2p_conn *c) {
  p2p_host *h = c->h;
  ssize_t n = 0;
  int rc = 0;
  c->dirty = 0;
  if (c->closed)
    return;
  if (c->mss1)
    while (rc == 0 && (n = p2p_mss_send(c->mss1, h->buf, sizeof h->buf)) > 0)
      rc = conn_write_out(c, h->buf, (size_t)n);
  if (rc == 0 && c->noise && !c->closed) {
    if (p2p_noise_state(c->noise) == P2P_NOISE_ESTABLISHED) {
      if (c->mss2)
        while (rc == 0 &&
               (n = p2p_mss_send(c->mss2, h->buf, sizeof h->buf)) > 0)
          if (p2p_noise_write(c->noise, h->buf, (size_t)n) != n)
            rc = P2P_ERR_NOMEM;
      /* Stream-closed callbacks may run from p2p_yamux_send. */
      while (rc == 0 && c->yamux && !c->closed &&
             (n = p2p_yamux_send(c->yamux, h->buf, sizeof h->buf, h->now)) > 0)
        if (p2p_noise_write(c->noise, h->buf, (size_t)n) != n)
          rc = P2P_ERR_NOMEM;
    }
    while (rc == 0 && !c->closed &&
           (n = p2p_noise_send(c->noise, h->buf, sizeof h->buf)) > 0)
      rc = conn_write_out(c, h->buf, (size_t)n);
    if (rc == 0 && n < 0)
      rc = (int)n;
  }
  if (rc < 0)
    conn_fail(c, rc, "transport write failed");
}

static void enter(p2p_host *h, uint64_t now) {
  h->depth++;
  /* Time never goes back: a nested call may bring an older `now` (a
   * module passing the time it last saw). */
  if (h->depth == 1 || now > h->now)
    h->now = now;
}

/* Leaves a public entry point; the outermost one flushes every connection
 * and releases what died. */
static void leave(p2p_host *h) {
  if (h->depth > 1) {
    h->depth--;
    return;
  }
  /* Flushing one connection may queue output on another (a relayed
   * connection writes into a stream of its relay connection). */
  while (h->dirty) {
    p2p_conn *c = h->dirty;
    h->dirty = c->dnext;
    c->in_dirty = 0;
    c->dnext = NULL;
    if (c->dirty && !c->closed)
      conn_flush(c);
  }
  while (h->dead) {
    p2p_stream *s = h->dead;
    h->dead = s->next;
    stream_release(s);
  }
  for (p2p_conn *c = h->timed, *next; c; c = next) {
    next = c->tnext;
    if (conn_deadline(c) == UINT64_MAX)
      unmark_timed(c);
  }
  if (h->svc_dirty) {
    size_t k = 0;
    for (size_t i = 0; i < h->n_svcs; i++)
      if (h->svcs[i].ctx)
        h->svcs[k++] = h->svcs[i];
    h->n_svcs = k;
    h->svc_dirty = 0;
  }
  if (h->n_freed) {
    h->n_freed = 0;
    for (p2p_conn **pp = &h->conns; *pp;) {
      p2p_conn *c = *pp;
      if (c->freed) {
        *pp = c->next;
        conn_release(c);
      } else {
        pp = &c->next;
      }
    }
  }
  h->depth = 0;
}

/* ------------------------------------------------------------------ */
/* Identify. */

static peer_entry *peer_find(const p2p_host *h, const p2p_peerid *id) {
  for (peer_entry *e = h->peers; e; e = e->next)
    if (p2p_peerid_equal(&e->id, id))
      return e;
  return NULL;
}

/* Exchanges two objects of the same type, byte for byte. */
static void swap_mem(void *a, void *b, size_t n) {
  uint8_t *x = a, *y = b;
  for (size_t i = 0; i < n; i++) {
    uint8_t t = x[i];
    x[i] = y[i];
    y[i] = t;
  }
}

#define SWAP(a, b) swap_mem(&(a), &(b), sizeof(a))

/* Moves the fields a push carries into the stored message; `m` is left
 * with what they replaced. */
static void merge_push(p2p_identify_msg *e, p2p_identify_msg *m) {
  if (m->has_public_key) {
    e->has_public_key = 1;
    e->public_key = m->public_key;
  }
  if (m->n_listen_addrs) {
    SWAP(e->listen_addrs, m->listen_addrs);
    SWAP(e->n_listen_addrs, m->n_listen_addrs);
  }
  if (m->n_protocols) {
    SWAP(e->protocols, m->protocols);
    SWAP(e->n_protocols, m->n_protocols);
  }
  if (m->has_observed_addr) {
    SWAP(e->has_observed_addr, m->has_observed_addr);
    SWAP(e->observed_addr, m->observed_addr);
  }
  if (m->protocol_version)
    SWAP(e->protocol_version, m->protocol_version);
  if (m->agent_version)
    SWAP(e->agent_version, m->agent_version);
  if (m->has_peer_record) {
    SWAP(e->has_peer_record, m->has_peer_record);
    SWAP(e->peer_record, m->peer_record);
    SWAP(e->peer_record_signer, m->peer_record_signer);
    SWAP(e->signed_peer_record, m->signed_peer_record);
    SWAP(e->signed_peer_record_len, m->signed_peer_record_len);
  }
}

/* An identify message (or push) of the peer of `c` arrived: check it is
 * the authenticated peer's, store it and report it. Takes ownership. */
static void got_identify(p2p_conn *c, p2p_identify_msg *m, int push) {
  p2p_host *h = c->h;
  if ((m->has_public_key &&
       !p2p_peerid_matches_pubkey(&c->peer, &m->public_key)) ||
      (m->has_peer_record &&
       !p2p_peerid_equal(&m->peer_record.peer_id, &c->peer))) {
    p2p_identify_msg_free(m);
    conn_fail(c, P2P_ERR_PROTO, "identify is not the authenticated peer's");
    return;
  }
  peer_entry *e = peer_find(h, &c->peer);
  if (e == NULL) {
    e = calloc(1, sizeof *e);
    if (e == NULL) {
      p2p_identify_msg_free(m);
      conn_fail(c, P2P_ERR_NOMEM, "out of memory");
      return;
    }
    e->id = c->peer;
    e->next = h->peers;
    h->peers = e;
    e->msg = *m;
  } else if (push) {
    merge_push(&e->msg, m);
    p2p_identify_msg_free(m);
  } else {
    p2p_identify_msg_free(&e->msg);
    e->msg = *m;
  }
  memset(m, 0, sizeof *m);
  p2p_host_event ev = {.type = P2P_HOST_EV_IDENTIFY,
                       .conn = c,
                       .peer = &c->peer,
                       .identify = &e->msg};
  emit(h, &ev);
}

/* Answers the peer's identify request. The requester reads messages until
 * we close the stream (js-libp2p waits up to 5 s for that), but our FIN
 * must not arrive in the same read as the answer: js-libp2p's
 * multistream-select hands bytes it read ahead back to the stream after
 * selecting, which fails once the FIN has closed it. So the half-close
 * follows ID_FIN_DELAY_NS later (on_expiry), or at once when the peer
 * half-closes first (on_fin). */
static void send_identify(p2p_stream *s, int push) {
  p2p_conn *c = s->conn;
  p2p_host *h = c->h;
  size_t np = 3 + h->n_handlers;
  const char **protos = malloc(np * sizeof *protos);
  uint8_t *rec = malloc(P2P_IDENTIFY_MAX_MSG_LEN);
  uint8_t *msg = NULL;
  ssize_t rl = 0, n = P2P_ERR_NOMEM;
  if (protos && rec) {
    protos[0] = P2P_IDENTIFY_PROTOCOL_ID;
    protos[1] = P2P_IDENTIFY_PUSH_PROTOCOL_ID;
    protos[2] = P2P_PING_PROTOCOL_ID;
    for (size_t i = 0; i < h->n_handlers; i++)
      protos[3 + i] = h->handlers[i].proto;
    rl = p2p_identify_seal_record(&h->key, ++h->record_seq, h->addrs,
                                  h->n_addrs, rec, P2P_IDENTIFY_MAX_MSG_LEN);
    p2p_identify_info info = {
        .public_key = h->pub,
        .public_key_len = h->pub_len,
        .listen_addrs = h->addrs,
        .n_listen_addrs = h->n_addrs,
        .protocols = protos,
        .n_protocols = np,
        .observed_addr = c->has_remote ? &c->remote : NULL,
        .protocol_version = P2P_IDENTIFY_PROTOCOL_VERSION,
        .agent_version = h->agent,
        .signed_peer_record = rl > 0 ? rec : NULL,
        .signed_peer_record_len = rl > 0 ? (size_t)rl : 0};
    n = p2p_identify_build(&info, NULL, 0);
    if (n > 0 && (msg = malloc((size_t)n)) != NULL)
      n = p2p_identify_build(&info, msg, (size_t)n);
    else if (n > 0)
      n = P2P_ERR_NOMEM;
  }
  if (n > 0 && p2p_yamux_stream_write(c->yamux, s->id, msg, (size_t)n) != n)
    n = P2P_ERR_LIMIT;
  free(protos);
  free(rec);
  free(msg);
  if (n < 0)
    conn_fail(c, (int)n, "identify answer failed");
  else if (push)
    ignore_rc(p2p_yamux_stream_close(c->yamux, s->id));
  else
    s->fin_at = h->now + ID_FIN_DELAY_NS;
  mark_timed(c);
  set_dirty(c);
}

/* ------------------------------------------------------------------ */
/* Ping. */

static void start_ping(p2p_stream *s) {
  p2p_conn *c = s->conn;
  p2p_host *h = c->h;
  uint8_t buf[P2P_PING_PAYLOAD_LEN];
  if (p2p_ping_client_start(&s->pc, h->cfg.rnd, h->now, buf, sizeof buf) !=
          P2P_PING_PAYLOAD_LEN ||
      p2p_yamux_stream_write(c->yamux, s->id, buf, sizeof buf) !=
          P2P_PING_PAYLOAD_LEN) {
    conn_fail(c, P2P_ERR_STATE, "ping start failed");
    return;
  }
  set_dirty(c);
}

/* Our ping failed without the connection failing: report it and drop the
 * stream (a new ping opens a new one). */
static void ping_fail(p2p_conn *c, int err, const char *reason) {
  p2p_stream *s = c->ping;
  c->ping_active = 0;
  c->ping = NULL;
  if (s) {
    s->role = R_DISCARD;
    ignore_rc(p2p_yamux_stream_reset(c->yamux, s->id));
    set_dirty(c);
  }
  p2p_host_event ev = {.type = P2P_HOST_EV_PING_FAILED,
                       .conn = c,
                       .peer = &c->peer,
                       .err = err,
                       .reason = reason};
  emit(c->h, &ev);
}

/* ------------------------------------------------------------------ */
/* Streams. */

static handler_entry *find_handler(p2p_host *h, const char *proto) {
  for (size_t i = 0; i < h->n_handlers; i++)
    if (strcmp(h->handlers[i].proto, proto) == 0)
      return &h->handlers[i];
  return NULL;
}

/* The stream's protocol was just selected. */
static void stream_selected(p2p_stream *s) {
  p2p_conn *c = s->conn;
  p2p_host *h = c->h;
  const char *sel = p2p_mss_selected(s->mss);
  if (s->kind == K_OUT_PING) {
    if (c->ping == s && c->ping_active)
      start_ping(s);
    return;
  }
  if (s->kind == K_OUT_APP) {
    s->opened = 1;
    if (s->hcb.on_open)
      s->hcb.on_open(s->user, s, sel, h->now);
    return;
  }
  if (s->kind == K_OUT_PUSH) {
    send_identify(s, 1);
    return;
  }
  if (s->kind != K_IN)
    return;
  if (strcmp(sel, P2P_IDENTIFY_PROTOCOL_ID) == 0) {
    s->role = R_ID_SERVE;
    send_identify(s, 0);
  } else if (strcmp(sel, P2P_IDENTIFY_PUSH_PROTOCOL_ID) == 0) {
    s->role = R_PUSH_IN;
  } else if (strcmp(sel, P2P_PING_PROTOCOL_ID) == 0) {
    s->role = R_PING_SERVE;
  } else {
    handler_entry *he = find_handler(h, sel);
    if (he == NULL) { /* unregistered while the stream negotiated */
      s->role = R_DISCARD;
      ignore_rc(p2p_yamux_stream_reset(c->yamux, s->id));
      set_dirty(c);
      return;
    }
    s->role = R_APP;
    s->hcb = he->hcb;
    s->user = he->user;
    s->opened = 1;
    if (s->hcb.on_open)
      s->hcb.on_open(s->user, s, sel, h->now);
  }
}

/* Reads an identify message (request answer or push) from stream bytes. */
static void stream_identify_bytes(p2p_stream *s, const uint8_t *d, size_t len) {
  p2p_conn *c = s->conn;
  if (p2p_identify_reader_done(&s->idr))
    return; /* anything after the message is the peer's excess */
  ssize_t used = p2p_identify_reader_recv(&s->idr, d, len);
  if (used < 0) {
    conn_fail(c, (int)used, "malformed identify message");
    return;
  }
  if (!p2p_identify_reader_done(&s->idr))
    return;
  p2p_identify_msg m;
  if (p2p_identify_reader_take(&s->idr, &m) < 0) {
    conn_fail(c, P2P_ERR_INTERNAL, "identify reader");
    return;
  }
  got_identify(c, &m, s->role == R_PUSH_IN);
  /* The requester reads one message, then is done with the stream. */
  if (!c->closed && s->kind == K_OUT_ID) {
    ignore_rc(p2p_yamux_stream_close(c->yamux, s->id));
    set_dirty(c);
  }
}

/* Protocol bytes on a stream, after its negotiation. */
static void stream_bytes(p2p_stream *s, const uint8_t *d, size_t len) {
  p2p_conn *c = s->conn;
  p2p_host *h = c->h;
  while (len > 0 && !c->closed && !s->dead) {
    if (s->kind == K_OUT_ID || s->role == R_PUSH_IN) {
      stream_identify_bytes(s, d, len);
      return;
    } else if (s->kind == K_OUT_PING && s->role != R_DISCARD) {
      size_t used = 0;
      uint64_t rtt = 0;
      int r = p2p_ping_client_recv(&s->pc, d, len, h->now, &used, &rtt);
      if (r < 0) {
        conn_fail(c, r, "ping echo mismatch");
        return;
      }
      d += used;
      len -= used;
      if (r == 1 && c->ping == s && c->ping_active) {
        c->ping_active = 0;
        p2p_host_event ev = {.type = P2P_HOST_EV_PING,
                             .conn = c,
                             .peer = &c->peer,
                             .rtt_ns = rtt};
        emit(h, &ev);
      }
      if (used == 0)
        return;
    } else if (s->role == R_PING_SERVE) {
      uint8_t out[256];
      size_t used = 0;
      ssize_t n = p2p_ping_server_recv(&s->ps, d, len, out, sizeof out, &used);
      if (n < 0 || (n > 0 && p2p_yamux_stream_write(c->yamux, s->id, out,
                                                    (size_t)n) != n)) {
        conn_fail(c, n < 0 ? (int)n : P2P_ERR_LIMIT, "ping answer failed");
        return;
      }
      set_dirty(c);
      d += used;
      len -= used;
      if (used == 0)
        return;
    } else if (s->role == R_APP || s->kind == K_OUT_APP) {
      if (s->hcb.on_data)
        s->hcb.on_data(s->user, s, d, len, h->now);
      return;
    } else {
      return; /* identify requests and abandoned streams carry nothing */
    }
  }
}

static void y_on_data(p2p_yamux *y, uint32_t id, const uint8_t *d, size_t len,
                      void *user) {
  p2p_conn *c = user;
  p2p_stream *s = find_stream(c, id);
  if (p2p_yamux_stream_consume(y, id, len) < 0 || s == NULL || c->closed)
    return;
  set_dirty(c);
  while (len > 0 && s->mss && p2p_mss_state(s->mss) == P2P_MSS_NEGOTIATING) {
    ssize_t used = p2p_mss_recv(s->mss, d, len);
    if (used < 0) {
      if (used == P2P_ERR_NOTFOUND) { /* no protocol in common */
        ignore_rc(p2p_yamux_stream_reset(y, id));
        stream_finish(s, P2P_ERR_NOTFOUND);
        return;
      }
      conn_fail(c, (int)used, "stream protocol negotiation failed");
      return;
    }
    if (stream_flush_mss(s) < 0) {
      conn_fail(c, P2P_ERR_LIMIT, "stream write failed");
      return;
    }
    d += used;
    len -= (size_t)used;
    if (p2p_mss_state(s->mss) == P2P_MSS_DONE) {
      stream_selected(s);
      /* Negotiation is over and its answer went out: the parser (over a
       * KiB) goes. A relay's connections carry thousands of streams. */
      p2p_mss_del(s->mss);
      s->mss = NULL;
      break;
    }
    if (used == 0)
      break;
  }
  if (len && !c->closed && !s->dead && s->mss == NULL)
    stream_bytes(s, d, len);
}

static void y_on_open(p2p_yamux *y, uint32_t id, void *user) {
  p2p_conn *c = user;
  if (c->closed)
    return;
  if (stream_new(c, id, K_IN, NULL, 0) == NULL && !c->closed)
    ignore_rc(p2p_yamux_stream_reset(y, id));
}

/* The peer half-closed a stream. */
static void y_on_fin(p2p_yamux *y, uint32_t id, void *user) {
  p2p_conn *c = user;
  p2p_stream *s = find_stream(c, id);
  if (s == NULL || c->closed)
    return;
  set_dirty(c);
  if (s->kind == K_IN) {
    if (s->role == R_APP) {
      if (s->hcb.on_fin)
        s->hcb.on_fin(s->user, s, c->h->now);
      return;
    }
    if (s->role == R_PUSH_IN) {
      int rc = p2p_identify_reader_recv_eof(&s->idr);
      if (rc < 0) {
        conn_fail(c, rc, "truncated identify push");
        return;
      }
    }
    /* Our built-in services are done once the peer is. */
    s->fin_at = 0;
    ignore_rc(p2p_yamux_stream_close(y, id));
  } else if (s->kind == K_OUT_APP) {
    if (s->opened && s->hcb.on_fin)
      s->hcb.on_fin(s->user, s, c->h->now);
  } else if (s->kind == K_OUT_ID) {
    if (!p2p_identify_reader_done(&s->idr)) {
      int rc = p2p_identify_reader_recv_eof(&s->idr);
      conn_fail(c, rc < 0 ? rc : P2P_ERR_PROTO,
                "identify stream ended before the message");
    }
  } else if (s->kind == K_OUT_PING) {
    if (c->ping == s && c->ping_active)
      ping_fail(c, P2P_ERR_RESET, "ping stream closed by the peer");
    else
      ignore_rc(p2p_yamux_stream_close(y, id));
  }
}

static void y_on_reset(p2p_yamux *y, uint32_t id, void *user) {
  (void)y;
  p2p_conn *c = user;
  p2p_stream *s = find_stream(c, id);
  if (s)
    s->err = P2P_ERR_RESET;
}

static void y_on_closed(p2p_yamux *y, uint32_t id, void *user) {
  (void)y;
  p2p_conn *c = user;
  p2p_stream *s = find_stream(c, id);
  if (s)
    stream_finish(s, s->err);
}

/* ------------------------------------------------------------------ */
/* Connection layers. */

static void start_yamux(p2p_conn *c) {
  p2p_host *h = c->h;
  p2p_yamux_config cfg;
  p2p_yamux_config_default(&cfg, c->outbound);
  h->yamux_queue_max = cfg.max_stream_queued_bytes;
  p2p_yamux_callbacks cb = {.on_stream_open = y_on_open,
                            .on_data = y_on_data,
                            .on_stream_fin = y_on_fin,
                            .on_stream_reset = y_on_reset,
                            .on_stream_closed = y_on_closed};
  uint32_t id;
  const char *idp[] = {P2P_IDENTIFY_PROTOCOL_ID};
  if (p2p_yamux_new(&cfg, &cb, c, &c->yamux) < 0 ||
      p2p_yamux_stream_open(c->yamux, &id) < 0) {
    conn_fail(c, P2P_ERR_NOMEM, "yamux setup failed");
    return;
  }
  if (stream_new(c, id, K_OUT_ID, idp, 1) == NULL) {
    conn_fail(c, P2P_ERR_NOMEM, "identify stream setup failed");
    return;
  }
  c->state = C_OPEN;
  set_dirty(c);
  p2p_host_event ev = {
      .type = P2P_HOST_EV_CONNECTED, .conn = c, .peer = &c->peer};
  emit(h, &ev);
}

/* Noise just authenticated the peer. */
static void secured(p2p_conn *c) {
  p2p_host *h = c->h;
  c->peer = *p2p_noise_remote_peer(c->noise);
  c->has_peer = 1;
  if (h->cfg.gate &&
      h->cfg.gate(h->cfg.ctx, &c->peer, c->has_remote ? &c->remote : NULL)) {
    conn_fail(c, P2P_ERR_REFUSED, "refused by the connection gater");
    return;
  }
  /* Early muxer negotiation (libp2p noise spec): when both sides list
   * stream muxers in the handshake's extensions, the muxer is the first of
   * the initiator's (ours: yamux) that the responder also lists, and no
   * multistream-select round follows. Otherwise the muxer is negotiated
   * with multistream-select inside Noise. */
  size_t nm = 0;
  const char *const *rm = p2p_noise_remote_muxers(c->noise, &nm);
  int early = 0;
  for (size_t i = 0; i < nm; i++)
    early |= strcmp(rm[i], YAMUX_PROTO) == 0;
  if (early) {
    start_yamux(c);
    return;
  }
  const char *protos[] = {YAMUX_PROTO};
  c->state = C_MUX_NEG;
  if ((c->outbound ? p2p_mss_dialer_new(&c->mss2, protos, 1)
                   : p2p_mss_listener_new(&c->mss2, protos, 1, NULL, NULL)) < 0)
    conn_fail(c, P2P_ERR_NOMEM, "muxer negotiation setup failed");
}

/* Plaintext from Noise: multistream-select for the muxer, then yamux. */
static void on_plain(p2p_conn *c, const uint8_t *d, size_t len) {
  while (len > 0 && c->state == C_MUX_NEG && !c->closed) {
    ssize_t used = p2p_mss_recv(c->mss2, d, len);
    if (used < 0) {
      conn_fail(c, (int)used, "muxer negotiation failed");
      return;
    }
    d += used;
    len -= (size_t)used;
    if (p2p_mss_state(c->mss2) == P2P_MSS_DONE) {
      start_yamux(c);
      break;
    }
    if (used == 0) {
      conn_flush(c); /* the answer queue is full: drain it */
      if (c->closed)
        return;
    }
  }
  if (len == 0 || c->closed || c->yamux == NULL)
    return;
  int rc = p2p_yamux_recv(c->yamux, d, len, c->h->now);
  if (rc < 0 && !c->closed) {
    const char *r = p2p_yamux_error_reason(c->yamux);
    conn_fail(c, rc, r ? r : "yamux failed");
  }
}

static void conn_bytes(p2p_conn *c, const uint8_t *d, size_t len) {
  p2p_host *h = c->h;
  set_dirty(c);
  while (len > 0 && c->state == C_SEC_NEG && !c->closed) {
    ssize_t used = p2p_mss_recv(c->mss1, d, len);
    if (used < 0) {
      conn_fail(c, (int)used, "security negotiation failed");
      return;
    }
    d += used;
    len -= (size_t)used;
    if (p2p_mss_state(c->mss1) == P2P_MSS_DONE) {
      const char *mux[] = {YAMUX_PROTO};
      if (p2p_noise_new(c->outbound ? P2P_NOISE_INITIATOR : P2P_NOISE_RESPONDER,
                        &h->key, c->has_expected ? &c->expected : NULL, mux, 1,
                        h->cfg.rnd, &c->noise) < 0) {
        conn_fail(c, P2P_ERR_NOMEM, "noise setup failed");
        return;
      }
      c->state = C_NOISE;
    } else if (used == 0) {
      conn_flush(c);
    }
  }
  uint8_t plain[16384];
  while (len > 0 && !c->closed && c->noise) {
    int was = p2p_noise_state(c->noise);
    ssize_t used = p2p_noise_recv(c->noise, d, len);
    if (used < 0) {
      const char *r = p2p_noise_reason(c->noise);
      conn_fail(c, (int)used, r && *r ? r : "noise failed");
      return;
    }
    d += used;
    len -= (size_t)used;
    if (was != P2P_NOISE_ESTABLISHED &&
        p2p_noise_state(c->noise) == P2P_NOISE_ESTABLISHED) {
      secured(c);
      if (c->closed)
        return;
    }
    ssize_t n;
    while (!c->closed &&
           (n = p2p_noise_read(c->noise, plain, sizeof plain)) > 0)
      on_plain(c, plain, (size_t)n);
    if (used == 0 && (c->closed || p2p_noise_readable(c->noise) == 0))
      break;
  }
}

/* ------------------------------------------------------------------ */
/* Public API. */

int p2p_host_new(const p2p_host_config *cfg, p2p_host **out) {
  if (out == NULL)
    return P2P_ERR_INVALID;
  *out = NULL;
  if (cfg == NULL || cfg->key == NULL || cfg->key->type != P2P_KEY_ED25519 ||
      cfg->rnd == NULL || cfg->rnd->fill == NULL || cfg->conn_write == NULL ||
      cfg->conn_close == NULL ||
      (cfg->n_listen_addrs > 0 && cfg->listen_addrs == NULL) ||
      (cfg->agent_version && (cfg->agent_version[0] == '\0' ||
                              strlen(cfg->agent_version) > MAX_AGENT_LEN)))
    return P2P_ERR_INVALID;
  p2p_host *h = calloc(1, sizeof *h);
  if (h == NULL)
    return P2P_ERR_NOMEM;
  h->cfg = *cfg;
  h->key = *cfg->key;
  h->cfg.key = &h->key;
  if (h->cfg.handshake_timeout_ns == 0)
    h->cfg.handshake_timeout_ns = DEFAULT_TIMEOUT_NS;
  if (h->cfg.ping_timeout_ns == 0)
    h->cfg.ping_timeout_ns = DEFAULT_TIMEOUT_NS;
  int rc = 0;
  ssize_t pl = p2p_pubkey_marshal(&h->key.pub, h->pub, sizeof h->pub);
  if (pl < 0 || p2p_peerid_from_pubkey(&h->key.pub, &h->self) < 0)
    rc = P2P_ERR_INVALID;
  h->pub_len = pl > 0 ? (size_t)pl : 0;
  const char *agent =
      cfg->agent_version ? cfg->agent_version : "p2plab/" P2PLAB_VERSION;
  if (rc == 0 && (h->agent = malloc(strlen(agent) + 1)) == NULL)
    rc = P2P_ERR_NOMEM;
  if (rc == 0)
    strcpy(h->agent, agent);
  h->cfg.agent_version = h->agent;
  if (rc == 0 && cfg->n_listen_addrs) {
    h->addrs = calloc(cfg->n_listen_addrs, sizeof *h->addrs);
    if (h->addrs == NULL)
      rc = P2P_ERR_NOMEM;
    for (size_t i = 0; rc == 0 && i < cfg->n_listen_addrs; i++) {
      rc = p2p_multiaddr_from_bytes(cfg->listen_addrs[i].bytes,
                                    cfg->listen_addrs[i].len, &h->addrs[i]);
      h->n_addrs = i + 1;
    }
  }
  h->cfg.listen_addrs = h->addrs;
  if (rc < 0) {
    p2p_host_del(h);
    return rc;
  }
  *out = h;
  return 0;
}

void p2p_host_del(p2p_host *h) {
  if (h == NULL)
    return;
  while (h->conns) {
    p2p_conn *c = h->conns;
    h->conns = c->next;
    conn_release(c);
  }
  while (h->dead) {
    p2p_stream *s = h->dead;
    h->dead = s->next;
    stream_release(s);
  }
  while (h->peers) {
    peer_entry *e = h->peers;
    h->peers = e->next;
    p2p_identify_msg_free(&e->msg);
    free(e);
  }
  for (size_t i = 0; i < h->n_handlers; i++)
    free(h->handlers[i].proto);
  free(h->handlers);
  free(h->svcs);
  for (size_t i = 0; i < h->n_addrs; i++)
    p2p_multiaddr_free(&h->addrs[i]);
  free(h->addrs);
  free(h->agent);
  p2p_privkey_clear(&h->key);
  free(h);
}

const p2p_peerid *p2p_host_peer_id(const p2p_host *h) {
  return &h->self;
}

int p2p_host_tcp_target(const p2p_multiaddr *ma, uint32_t *ip, uint16_t *port,
                        p2p_peerid *peer, int *has_peer) {
  uint32_t a;
  uint16_t p;
  p2p_peerid pid;
  int is_ws = 0, got_peer = 0;
  if (ma == NULL || ip == NULL || port == NULL ||
      p2p_multiaddr_tcp_target(ma, &a, &p, &is_ws, &pid, &got_peer) < 0 ||
      is_ws)
    return P2P_ERR_INVALID;
  *ip = a;
  *port = p;
  if (peer && got_peer)
    *peer = pid;
  if (has_peer)
    *has_peer = got_peer;
  return 0;
}

int p2p_host_conn_new(p2p_host *h, int outbound, const p2p_peerid *expected,
                      const p2p_multiaddr *remote, void *user, uint64_t now,
                      p2p_conn **out) {
  return p2p_host_conn_new_ops(h, outbound, expected, remote, NULL, NULL, user,
                               now, out);
}

int p2p_host_conn_new_ops(p2p_host *h, int outbound, const p2p_peerid *expected,
                          const p2p_multiaddr *remote, const p2p_conn_ops *ops,
                          void *ops_ctx, void *user, uint64_t now,
                          p2p_conn **out) {
  if (h == NULL || out == NULL ||
      (ops && (ops->write == NULL || ops->close == NULL)))
    return P2P_ERR_INVALID;
  *out = NULL;
  p2p_conn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return P2P_ERR_NOMEM;
  c->h = h;
  if (ops) {
    c->has_ops = 1;
    c->ops = *ops;
    c->ops_ctx = ops_ctx;
  }
  c->outbound = outbound != 0;
  c->user = user;
  if (expected && outbound) {
    c->expected = *expected;
    c->has_expected = 1;
  }
  int rc = 0;
  if (remote && remote->len) {
    rc = p2p_multiaddr_copy(remote, &c->remote);
    c->has_remote = rc == 0;
  }
  const char *sec[] = {P2P_NOISE_PROTOCOL_ID};
  if (rc == 0)
    rc = outbound ? p2p_mss_dialer_new(&c->mss1, sec, 1)
                  : p2p_mss_listener_new(&c->mss1, sec, 1, NULL, NULL);
  if (rc < 0) {
    conn_release(c);
    return rc;
  }
  c->hs_deadline = now + h->cfg.handshake_timeout_ns;
  mark_timed(c);
  set_dirty(c);
  c->next = h->conns;
  h->conns = c;
  *out = c;
  enter(h, now);
  leave(h);
  return 0;
}

void p2p_host_conn_recv(p2p_host *h, p2p_conn *c, const uint8_t *buf,
                        size_t len, uint64_t now) {
  if (h == NULL || c == NULL || c->closed || c->freed)
    return;
  if (buf == NULL || len == 0)
    return;
  if (c->receiving) {
    /* Called from a callback while this connection's input is being
     * processed (yamux forbids nested p2p_yamux_recv): queue the bytes
     * for the outer call. */
    uint8_t *nb = realloc(c->backlog, c->backlog_len + len);
    if (nb == NULL) {
      enter(h, now);
      conn_fail(c, P2P_ERR_NOMEM, "out of memory");
      leave(h);
      return;
    }
    memcpy(nb + c->backlog_len, buf, len);
    c->backlog = nb;
    c->backlog_len += len;
    return;
  }
  enter(h, now);
  c->receiving = 1;
  conn_bytes(c, buf, len);
  while (c->backlog_len && !c->closed) {
    uint8_t *b = c->backlog;
    size_t bl = c->backlog_len;
    c->backlog = NULL;
    c->backlog_len = 0;
    conn_bytes(c, b, bl);
    free(b);
  }
  c->receiving = 0;
  leave(h);
}

void p2p_host_conn_eof(p2p_host *h, p2p_conn *c, int err, uint64_t now) {
  if (h == NULL || c == NULL || c->closed || c->freed)
    return;
  enter(h, now);
  conn_fail(c, err,
            err < 0 ? "transport failed" : "connection closed by the peer");
  leave(h);
}

void p2p_host_conn_free(p2p_host *h, p2p_conn *c) {
  if (h == NULL || c == NULL)
    return;
  c->closed = 1; /* no callbacks from now on */
  if (h->depth > 0) {
    if (!c->freed)
      h->n_freed++;
    c->freed = 1; /* released when the outermost call returns */
    return;
  }
  for (p2p_conn **pp = &h->conns; *pp; pp = &(*pp)->next)
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  conn_release(c);
}

void *p2p_host_conn_user(const p2p_conn *c) {
  return c ? c->user : NULL;
}

const p2p_peerid *p2p_host_conn_peer(const p2p_conn *c) {
  return c && c->has_peer ? &c->peer : NULL;
}

int p2p_host_ping(p2p_host *h, p2p_conn *c, uint64_t now) {
  if (h == NULL || c == NULL)
    return P2P_ERR_INVALID;
  if (c->closed || c->state != C_OPEN || c->ping_active)
    return P2P_ERR_STATE;
  enter(h, now);
  int rc = 0;
  c->ping_active = 1;
  c->ping_deadline = now + h->cfg.ping_timeout_ns;
  mark_timed(c);
  if (c->ping == NULL) {
    uint32_t id;
    const char *pp[] = {P2P_PING_PROTOCOL_ID};
    rc = p2p_yamux_stream_open(c->yamux, &id);
    if (rc == 0 && (c->ping = stream_new(c, id, K_OUT_PING, pp, 1)) == NULL)
      rc = P2P_ERR_NOMEM;
    if (rc < 0)
      c->ping_active = 0;
  } else if (c->ping->mss == NULL) { /* negotiated: ping again */
    start_ping(c->ping);
  }
  leave(h);
  return rc;
}

const p2p_identify_msg *p2p_host_peer_info(const p2p_host *h,
                                           const p2p_peerid *peer) {
  if (h == NULL || peer == NULL)
    return NULL;
  const peer_entry *e = peer_find(h, peer);
  return e ? &e->msg : NULL;
}

int p2p_host_handle(p2p_host *h, const char *proto,
                    const p2p_stream_handler *handler, void *user) {
  if (h == NULL || proto == NULL || handler == NULL || proto[0] == '\0' ||
      strlen(proto) > P2P_MSS_MAX_PROTO_LEN || strchr(proto, '\n'))
    return P2P_ERR_INVALID;
  if (find_handler(h, proto) || strcmp(proto, P2P_IDENTIFY_PROTOCOL_ID) == 0 ||
      strcmp(proto, P2P_IDENTIFY_PUSH_PROTOCOL_ID) == 0 ||
      strcmp(proto, P2P_PING_PROTOCOL_ID) == 0)
    return P2P_ERR_EXISTS;
  handler_entry *hs =
      realloc(h->handlers, (h->n_handlers + 1) * sizeof *h->handlers);
  if (hs == NULL)
    return P2P_ERR_NOMEM;
  h->handlers = hs;
  char *copy = malloc(strlen(proto) + 1);
  if (copy == NULL)
    return P2P_ERR_NOMEM;
  strcpy(copy, proto);
  hs[h->n_handlers++] =
      (handler_entry){.proto = copy, .hcb = *handler, .user = user};
  return 0;
}

int p2p_host_unhandle(p2p_host *h, const char *proto) {
  if (h == NULL || proto == NULL)
    return P2P_ERR_INVALID;
  handler_entry *he = find_handler(h, proto);
  if (he == NULL)
    return P2P_ERR_NOTFOUND;
  /* Open streams of the protocol keep their handler copy: the caller
   * resets them first when its `user` goes away. */
  free(he->proto);
  size_t i = (size_t)(he - h->handlers);
  memmove(&h->handlers[i], &h->handlers[i + 1],
          (h->n_handlers - i - 1) * sizeof *h->handlers);
  h->n_handlers--;
  return 0;
}

int p2p_host_stream_open(p2p_host *h, p2p_conn *c, const char *const *protos,
                         size_t n, const p2p_stream_handler *handler,
                         void *user, uint64_t now, p2p_stream **out) {
  if (h == NULL || c == NULL || protos == NULL || n == 0 || handler == NULL ||
      out == NULL)
    return P2P_ERR_INVALID;
  *out = NULL;
  if (c->closed || c->state != C_OPEN)
    return P2P_ERR_STATE;
  enter(h, now);
  uint32_t id;
  int rc = p2p_yamux_stream_open(c->yamux, &id);
  p2p_stream *s = NULL;
  if (rc == 0) {
    s = stream_new(c, id, K_OUT_APP, protos, n);
    if (s == NULL) {
      rc = c->closed ? P2P_ERR_STATE : P2P_ERR_INVALID;
      if (!c->closed)
        ignore_rc(p2p_yamux_stream_reset(c->yamux, id));
    }
  }
  if (s) {
    s->hcb = *handler;
    s->user = user;
    *out = s;
  }
  leave(h);
  return rc;
}

ssize_t p2p_host_stream_write(p2p_stream *s, const uint8_t *buf, size_t len,
                              uint64_t now) {
  if (s == NULL || (buf == NULL && len))
    return P2P_ERR_INVALID;
  p2p_conn *c = s->conn;
  if (s->dead || c->closed || !s->opened)
    return P2P_ERR_STATE;
  enter(c->h, now);
  ssize_t n = p2p_yamux_stream_write(c->yamux, s->id, buf, len);
  set_dirty(c);
  leave(c->h);
  return n;
}

int p2p_host_stream_close(p2p_stream *s, uint64_t now) {
  if (s == NULL)
    return P2P_ERR_INVALID;
  p2p_conn *c = s->conn;
  if (s->dead || c->closed)
    return P2P_ERR_STATE;
  enter(c->h, now);
  int rc = p2p_yamux_stream_close(c->yamux, s->id);
  set_dirty(c);
  leave(c->h);
  return rc;
}

void p2p_host_stream_reset(p2p_stream *s, uint64_t now) {
  if (s == NULL || s->dead || s->conn->closed)
    return;
  p2p_conn *c = s->conn;
  enter(c->h, now);
  s->err = P2P_ERR_RESET;
  ignore_rc(p2p_yamux_stream_reset(c->yamux, s->id));
  set_dirty(c);
  leave(c->h);
}

uint64_t p2p_host_expiry(const p2p_host *h) {
  uint64_t t = UINT64_MAX;
  if (h == NULL)
    return t;
  for (const p2p_conn *c = h->timed; c; c = c->tnext) {
    uint64_t d = conn_deadline(c);
    if (d < t)
      t = d;
  }
  for (size_t i = 0; i < h->n_svcs; i++)
    if (h->svcs[i].ctx && h->svcs[i].svc.expiry) {
      uint64_t e = h->svcs[i].svc.expiry(h->svcs[i].ctx);
      if (e < t)
        t = e;
    }
  return t;
}

void p2p_host_on_expiry(p2p_host *h, uint64_t now) {
  if (h == NULL)
    return;
  enter(h, now);
  /* New timed connections go to the head: not visited this round. */
  for (p2p_conn *c = h->timed; c; c = c->tnext) {
    if (c->closed)
      continue;
    if (c->state != C_OPEN && c->hs_deadline <= now) {
      conn_fail(c, P2P_ERR_TIMEOUT, "handshake timed out");
      continue;
    }
    if (c->ping_active && c->ping_deadline <= now)
      ping_fail(c, P2P_ERR_TIMEOUT, "ping timed out");
    for (p2p_stream *st = c->streams; st && !c->closed; st = st->next) {
      if (st->dead || st->fin_at == 0 || st->fin_at > now)
        continue;
      st->fin_at = 0;
      ignore_rc(p2p_yamux_stream_close(c->yamux, st->id));
      set_dirty(c);
    }
  }
  size_t n = h->n_svcs;
  for (size_t i = 0; i < n; i++) {
    service_entry *e = &h->svcs[i];
    if (e->ctx && e->svc.on_expiry &&
        (e->svc.expiry == NULL || e->svc.expiry(e->ctx) <= now))
      e->svc.on_expiry(e->ctx, now);
  }
  leave(h);
}

/* ------------------------------------------------------------------ */
/* Extension points. */

uint64_t p2p_host_unix_ns(const p2p_host *h, uint64_t now) {
  return now + h->cfg.unix_offset_ns;
}

const p2p_rand *p2p_host_rand(const p2p_host *h) {
  return h->cfg.rnd;
}

const p2p_privkey *p2p_host_key(const p2p_host *h) {
  return &h->key;
}

int p2p_host_add_service(p2p_host *h, const p2p_host_service *svc, void *ctx) {
  if (h == NULL || svc == NULL || ctx == NULL)
    return P2P_ERR_INVALID;
  for (size_t i = 0; i < h->n_svcs; i++)
    if (h->svcs[i].ctx == ctx)
      return P2P_ERR_EXISTS;
  service_entry *ns = realloc(h->svcs, (h->n_svcs + 1) * sizeof *ns);
  if (ns == NULL)
    return P2P_ERR_NOMEM;
  h->svcs = ns;
  ns[h->n_svcs++] = (service_entry){.svc = *svc, .ctx = ctx};
  return 0;
}

void p2p_host_remove_service(p2p_host *h, void *ctx) {
  if (h == NULL || ctx == NULL)
    return;
  for (size_t i = 0; i < h->n_svcs; i++)
    if (h->svcs[i].ctx == ctx) {
      h->svcs[i].ctx = NULL;
      h->svc_dirty = 1;
    }
  if (h->depth == 0) {
    enter(h, h->now);
    leave(h);
  }
}

int p2p_host_dial(p2p_host *h, const p2p_multiaddr *ma, uint64_t now) {
  if (h == NULL || ma == NULL || ma->len == 0)
    return P2P_ERR_INVALID;
  int rc;
  enter(h, now);
  if (p2p_multiaddr_has(ma, P2P_MA_P2P_CIRCUIT))
    rc = h->circuit_dial ? h->circuit_dial(h->circuit_ctx, ma, now)
                         : P2P_ERR_INVALID;
  else
    rc = h->cfg.dial ? h->cfg.dial(h->cfg.ctx, ma) : P2P_ERR_INVALID;
  leave(h);
  return rc;
}

void p2p_host_report_dial_failure(p2p_host *h, const p2p_multiaddr *ma, int err,
                                  const char *reason, uint64_t now) {
  if (h == NULL)
    return;
  /* The peer is the last /p2p/ of the address (the target of a circuit). */
  p2p_peerid peer;
  int has_peer = p2p_multiaddr_last_peer(ma, &peer);
  enter(h, now);
  p2p_host_event ev = {.type = P2P_HOST_EV_CONN_CLOSED,
                       .peer = has_peer ? &peer : NULL,
                       .err = err < 0 ? err : P2P_ERR_REFUSED,
                       .reason = reason ? reason : "dial failed"};
  emit(h, &ev);
  leave(h);
}

void p2p_host_set_circuit_dialer(p2p_host *h,
                                 int (*dial)(void *ctx, const p2p_multiaddr *ma,
                                             uint64_t now),
                                 void *ctx) {
  if (h == NULL)
    return;
  h->circuit_dial = dial;
  h->circuit_ctx = dial ? ctx : NULL;
}

int p2p_host_conn_limited(const p2p_conn *c) {
  return c && c->has_ops;
}

int p2p_host_conn_outbound(const p2p_conn *c) {
  return c && c->outbound;
}

int p2p_host_conn_is_open(const p2p_conn *c) {
  return c && !c->closed && c->state == C_OPEN;
}

const p2p_multiaddr *p2p_host_conn_remote(const p2p_conn *c) {
  return c && c->has_remote ? &c->remote : NULL;
}

void p2p_host_conn_close(p2p_host *h, p2p_conn *c, const char *reason,
                         uint64_t now) {
  if (h == NULL || c == NULL || c->closed || c->freed)
    return;
  enter(h, now);
  conn_flush(c); /* what was queued goes out first */
  conn_fail(c, 0, reason ? reason : "closed locally");
  leave(h);
}

p2p_conn *p2p_host_find_conn(const p2p_host *h, const p2p_peerid *peer) {
  if (h == NULL || peer == NULL)
    return NULL;
  p2p_conn *limited = NULL;
  for (p2p_conn *c = h->conns; c; c = c->next) {
    if (c->closed || c->state != C_OPEN || !c->has_peer ||
        !p2p_peerid_equal(&c->peer, peer))
      continue;
    if (!c->has_ops)
      return c;
    if (limited == NULL)
      limited = c;
  }
  return limited;
}

void p2p_host_foreach_conn(const p2p_host *h,
                           void (*fn)(void *ctx, p2p_conn *c), void *ctx) {
  if (h == NULL || fn == NULL)
    return;
  for (p2p_conn *c = h->conns; c; c = c->next)
    if (!c->closed && c->state == C_OPEN)
      fn(ctx, c);
}

p2p_conn *p2p_host_stream_conn(const p2p_stream *s) {
  return s ? s->conn : NULL;
}

void p2p_host_stream_set_ctx(p2p_stream *s, void *ctx) {
  if (s)
    s->ctx = ctx;
}

void *p2p_host_stream_ctx(const p2p_stream *s) {
  return s ? s->ctx : NULL;
}

size_t p2p_host_stream_room(const p2p_stream *s) {
  if (s == NULL || s->dead || s->conn->closed || s->conn->yamux == NULL)
    return 0;
  p2p_yamux_stream_info info;
  if (p2p_yamux_stream_get_info(s->conn->yamux, s->id, &info) < 0 ||
      info.local_closed)
    return 0;
  size_t max = s->conn->h->yamux_queue_max;
  return info.queued_bytes >= max ? 0 : max - info.queued_bytes;
}

static int ma_equal(const p2p_multiaddr *a, const p2p_multiaddr *b) {
  return a->len == b->len && memcmp(a->bytes, b->bytes, a->len) == 0;
}

/* Opens an identify push stream on every open connection. */
static void push_identify_all(p2p_host *h) {
  const char *pp[] = {P2P_IDENTIFY_PUSH_PROTOCOL_ID};
  for (p2p_conn *c = h->conns; c; c = c->next) {
    if (c->closed || c->state != C_OPEN)
      continue;
    uint32_t id;
    if (p2p_yamux_stream_open(c->yamux, &id) < 0)
      continue; /* the peer learns the addresses at the next identify */
    if (stream_new(c, id, K_OUT_PUSH, pp, 1) == NULL && !c->closed)
      ignore_rc(p2p_yamux_stream_reset(c->yamux, id));
    set_dirty(c);
  }
}

int p2p_host_add_addr(p2p_host *h, const p2p_multiaddr *ma, uint64_t now) {
  if (h == NULL || ma == NULL || ma->len == 0)
    return P2P_ERR_INVALID;
  for (size_t i = 0; i < h->n_addrs; i++)
    if (ma_equal(&h->addrs[i], ma))
      return P2P_ERR_EXISTS;
  p2p_multiaddr *na = realloc(h->addrs, (h->n_addrs + 1) * sizeof *na);
  if (na == NULL)
    return P2P_ERR_NOMEM;
  h->addrs = na;
  h->cfg.listen_addrs = na;
  int rc = p2p_multiaddr_copy(ma, &na[h->n_addrs]);
  if (rc < 0)
    return rc;
  h->n_addrs++;
  enter(h, now);
  push_identify_all(h);
  leave(h);
  return 0;
}

int p2p_host_remove_addr(p2p_host *h, const p2p_multiaddr *ma, uint64_t now) {
  if (h == NULL || ma == NULL)
    return P2P_ERR_INVALID;
  for (size_t i = 0; i < h->n_addrs; i++)
    if (ma_equal(&h->addrs[i], ma)) {
      p2p_multiaddr_free(&h->addrs[i]);
      memmove(&h->addrs[i], &h->addrs[i + 1],
              (h->n_addrs - i - 1) * sizeof *h->addrs);
      h->n_addrs--;
      enter(h, now);
      push_identify_all(h);
      leave(h);
      return 0;
    }
  return P2P_ERR_NOTFOUND;
}

const p2p_multiaddr *p2p_host_addrs(const p2p_host *h, size_t *n) {
  if (n)
    *n = h ? h->n_addrs : 0;
  return h ? h->addrs : NULL;
}
