/*
 * memnet.c - N core hosts wired together in memory (see memnet.h).
 *
 * A link joins two host connections. Bytes written on one side become a
 * chunk delivered to the other side `latency` later; chunks are kept in one
 * FIFO, which stays in time order because the clock never goes back and
 * every chunk takes the same delay. Closing one side delivers EOF to the
 * other side after the same delay.
 */
#include "memnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine/rng.h"

typedef struct mn_host mn_host;
typedef struct mn_link mn_link;

struct mn_host {
  memnet *m;
  size_t i;
  p2p_host *host;
  sim_rng rng;
  p2p_rand rnd;
  p2p_multiaddr addr;
  int down;
};

/* One side of a link: the host's connection. */
typedef struct mn_side {
  size_t host;
  p2p_conn *conn; /* NULL once closed by its host */
  int closed;     /* its host closed it (or it never opened) */
} mn_side;

struct mn_link {
  memnet *m;
  mn_link *prev, *next; /* memnet's list of links */
  mn_side s[2];         /* s[0] dialled */
  int refs;             /* sides still open + chunks in flight */
  int expected_set;
  p2p_peerid expected;
};

enum { CH_DATA, CH_EOF, CH_CONNECT };

typedef struct mn_chunk {
  uint64_t at;
  int kind;
  mn_link *link;
  int to; /* side that receives */
  uint8_t *buf;
  size_t len;
  struct mn_chunk *next;
} mn_chunk;

struct memnet {
  uint64_t latency;
  uint64_t now;
  mn_host **hosts;
  size_t n;
  mn_chunk *head, *tail;
  void (*fn)(void *ctx, size_t i, const p2p_host_event *ev);
  void *fn_ctx;
  char **logs;
  size_t n_logs;
  mn_link *links;
};

static void rng_fill(void *ctx, uint8_t *buf, size_t len) {
  sim_rng_fill(ctx, buf, len);
}

static void link_unref(mn_link *l) {
  if (--l->refs > 0)
    return;
  if (l->prev)
    l->prev->next = l->next;
  else
    l->m->links = l->next;
  if (l->next)
    l->next->prev = l->prev;
  free(l);
}

static int push(memnet *m, int kind, mn_link *l, int to, const uint8_t *buf,
                size_t len) {
  mn_chunk *c = calloc(1, sizeof *c);
  if (c == NULL)
    return P2P_ERR_NOMEM;
  if (len) {
    c->buf = malloc(len);
    if (c->buf == NULL) {
      free(c);
      return P2P_ERR_NOMEM;
    }
    memcpy(c->buf, buf, len);
  }
  c->at = m->now + m->latency;
  c->kind = kind;
  c->link = l;
  c->to = to;
  c->len = len;
  l->refs++;
  if (m->tail)
    m->tail->next = c;
  else
    m->head = c;
  m->tail = c;
  return 0;
}

static int side_of(mn_link *l, p2p_conn *c) {
  return l->s[0].conn == c ? 0 : 1;
}

static int cb_write(void *ctx, p2p_conn *c, const uint8_t *buf, size_t len) {
  mn_host *mh = ctx;
  mn_link *l = p2p_host_conn_user(c);
  int me = side_of(l, c);
  if (l->s[!me].closed)
    return 0; /* the peer is gone: its EOF is on the way to us */
  return push(mh->m, CH_DATA, l, !me, buf, len);
}

static void cb_close(void *ctx, p2p_conn *c, int err) {
  mn_host *mh = ctx;
  (void)err;
  mn_link *l = p2p_host_conn_user(c);
  int me = side_of(l, c);
  l->s[me].conn = NULL;
  l->s[me].closed = 1;
  p2p_host_conn_free(mh->host, c);
  if (!l->s[!me].closed)
    (void)push(mh->m, CH_EOF, l, !me, NULL, 0);
  link_unref(l);
}

static void cb_event(void *ctx, const p2p_host_event *ev) {
  mn_host *mh = ctx;
  if (mh->m->fn)
    mh->m->fn(mh->m->fn_ctx, mh->i, ev);
}

static void cb_log(void *ctx, const char *msg) {
  mn_host *mh = ctx;
  memnet *m = mh->m;
  char **nl = realloc(m->logs, (m->n_logs + 1) * sizeof *nl);
  if (nl == NULL)
    return;
  m->logs = nl;
  size_t len = strlen(msg);
  char *copy = malloc(len + 1);
  if (copy == NULL)
    return;
  memcpy(copy, msg, len + 1);
  m->logs[m->n_logs++] = copy;
}

/* The host index of 10.0.0.<i+1>:4001, or -1. */
static long target_of(memnet *m, const p2p_multiaddr *ma, p2p_peerid *peer,
                      int *has_peer) {
  uint32_t ip;
  uint16_t port;
  if (p2p_host_tcp_target(ma, &ip, &port, peer, has_peer) < 0 || port != 4001 ||
      (ip >> 8) != 0x0a0000)
    return -1;
  long j = (long)(ip & 0xff) - 1;
  return j >= 0 && (size_t)j < m->n ? j : -1;
}

static int cb_dial(void *ctx, const p2p_multiaddr *ma) {
  mn_host *mh = ctx;
  memnet *m = mh->m;
  p2p_peerid peer;
  int has_peer = 0;
  long j = target_of(m, ma, &peer, &has_peer);
  if (j < 0)
    return P2P_ERR_INVALID;
  if (mh->down || m->hosts[j]->down)
    return P2P_ERR_REFUSED;
  mn_link *l = calloc(1, sizeof *l);
  if (l == NULL)
    return P2P_ERR_NOMEM;
  l->m = m;
  l->s[0].host = mh->i;
  l->s[1].host = (size_t)j;
  if (has_peer) {
    l->expected = peer;
    l->expected_set = 1;
  }
  int rc = push(m, CH_CONNECT, l, 1, NULL, 0);
  if (rc < 0) {
    free(l);
    return rc;
  }
  l->next = m->links;
  if (m->links)
    m->links->prev = l;
  m->links = l;
  return 0;
}

memnet *memnet_new(uint64_t latency_ns) {
  memnet *m = calloc(1, sizeof *m);
  if (m)
    m->latency = latency_ns;
  return m;
}

void memnet_del(memnet *m) {
  if (m == NULL)
    return;
  for (size_t i = 0; i < m->n; i++) {
    p2p_host_del(m->hosts[i]->host);
    p2p_multiaddr_free(&m->hosts[i]->addr);
    free(m->hosts[i]);
  }
  free(m->hosts);
  while (m->head) {
    mn_chunk *c = m->head;
    m->head = c->next;
    free(c->buf);
    free(c);
  }
  /* The hosts freed their connections (without callbacks). */
  while (m->links) {
    mn_link *l = m->links;
    m->links = l->next;
    free(l);
  }
  for (size_t i = 0; i < m->n_logs; i++)
    free(m->logs[i]);
  free(m->logs);
  free(m);
}

p2p_host *memnet_add(memnet *m, uint64_t seed) {
  mn_host **nh = realloc(m->hosts, (m->n + 1) * sizeof *nh);
  if (nh == NULL)
    return NULL;
  m->hosts = nh;
  mn_host *mh = calloc(1, sizeof *mh);
  if (mh == NULL)
    return NULL;
  mh->m = m;
  mh->i = m->n;
  sim_rng_init(&mh->rng, seed, 77);
  mh->rnd = (p2p_rand){.fill = rng_fill, .ctx = &mh->rng};
  uint8_t ks[P2P_ED25519_SEED_LEN];
  sim_rng_fill(&mh->rng, ks, sizeof ks);
  p2p_privkey key;
  char a[64];
  snprintf(a, sizeof a, "/ip4/10.0.0.%zu/tcp/4001", m->n + 1);
  p2p_multiaddr listen = {0};
  if (p2p_key_from_seed(ks, &key) < 0 || p2p_multiaddr_parse(a, &listen) < 0) {
    free(mh);
    return NULL;
  }
  p2p_host_config cfg = {.key = &key,
                         .rnd = &mh->rnd,
                         .listen_addrs = &listen,
                         .n_listen_addrs = 1,
                         .ctx = mh,
                         .conn_write = cb_write,
                         .conn_close = cb_close,
                         .on_event = cb_event,
                         .log = cb_log,
                         .dial = cb_dial};
  int rc = p2p_host_new(&cfg, &mh->host);
  p2p_privkey_clear(&key);
  if (rc < 0) {
    p2p_multiaddr_free(&listen);
    free(mh);
    return NULL;
  }
  char full[256], id[P2P_PEERID_STR_MAX];
  if (p2p_peerid_to_string(p2p_host_peer_id(mh->host), id, sizeof id) < 0 ||
      snprintf(full, sizeof full, "%s/p2p/%s", a, id) >= (int)sizeof full ||
      p2p_multiaddr_parse(full, &mh->addr) < 0) {
    p2p_multiaddr_free(&listen);
    p2p_host_del(mh->host);
    free(mh);
    return NULL;
  }
  p2p_multiaddr_free(&listen);
  m->hosts[m->n++] = mh;
  return mh->host;
}

p2p_host *memnet_host(memnet *m, size_t i) {
  return i < m->n ? m->hosts[i]->host : NULL;
}

size_t memnet_count(const memnet *m) {
  return m->n;
}

const p2p_multiaddr *memnet_addr(memnet *m, size_t i) {
  return i < m->n ? &m->hosts[i]->addr : NULL;
}

int memnet_dial(memnet *m, size_t i, size_t j) {
  if (i >= m->n || j >= m->n)
    return P2P_ERR_INVALID;
  return p2p_host_dial(m->hosts[i]->host, &m->hosts[j]->addr, m->now);
}

void memnet_set_down(memnet *m, size_t i, int down) {
  if (i >= m->n)
    return;
  m->hosts[i]->down = down;
  if (!down)
    return;
  /* Cut the links of host i: EOF now on both sides. Chunks in flight to or
   * from it are dropped at delivery (their side is closed by then). */
  for (mn_link *l = m->links; l;) {
    /* Hold the link: closing its sides may drop the last reference. */
    l->refs++;
    for (int k = 0; k < 2; k++)
      if ((l->s[0].host == i || l->s[1].host == i) && l->s[k].conn)
        p2p_host_conn_eof(m->hosts[l->s[k].host]->host, l->s[k].conn,
                          P2P_ERR_RESET, m->now);
    mn_link *next = l->next;
    link_unref(l);
    l = next;
  }
}

void memnet_on_event(memnet *m,
                     void (*fn)(void *ctx, size_t i, const p2p_host_event *ev),
                     void *ctx) {
  m->fn = fn;
  m->fn_ctx = ctx;
}

uint64_t memnet_now(const memnet *m) {
  return m->now;
}

static void deliver(memnet *m, mn_chunk *c) {
  mn_link *l = c->link;
  if (c->kind == CH_CONNECT) {
    mn_host *a = m->hosts[l->s[0].host], *b = m->hosts[l->s[1].host];
    if (a->down || b->down) {
      p2p_multiaddr *ma = &b->addr;
      p2p_host_report_dial_failure(a->host, ma, P2P_ERR_REFUSED,
                                   "memnet: host down", m->now);
      return;
    }
    char ra[64];
    p2p_multiaddr rem_a = {0}, rem_b = {0};
    snprintf(ra, sizeof ra, "/ip4/10.0.0.%zu/tcp/4001", l->s[1].host + 1);
    if (p2p_multiaddr_parse(ra, &rem_a) < 0)
      return;
    snprintf(ra, sizeof ra, "/ip4/10.0.0.%zu/tcp/%u", l->s[0].host + 1,
             (unsigned)(40000 + (m->now / 1000) % 20000));
    if (p2p_multiaddr_parse(ra, &rem_b) < 0) {
      p2p_multiaddr_free(&rem_a);
      return;
    }
    l->refs += 2; /* the two open sides */
    int ok =
        p2p_host_conn_new(a->host, 1, l->expected_set ? &l->expected : NULL,
                          &rem_a, l, m->now, &l->s[0].conn) == 0;
    if (!ok) {
      l->s[0].conn = NULL;
      l->s[0].closed = 1;
      l->refs--;
    }
    if (p2p_host_conn_new(b->host, 0, NULL, &rem_b, l, m->now, &l->s[1].conn) <
        0) {
      l->s[1].conn = NULL;
      l->s[1].closed = 1;
      l->refs--;
      if (l->s[0].conn)
        p2p_host_conn_eof(a->host, l->s[0].conn, P2P_ERR_REFUSED, m->now);
    }
    p2p_multiaddr_free(&rem_a);
    p2p_multiaddr_free(&rem_b);
    return;
  }
  mn_side *s = &l->s[c->to];
  if (s->conn == NULL)
    return;
  p2p_host *h = m->hosts[s->host]->host;
  if (c->kind == CH_DATA)
    p2p_host_conn_recv(h, s->conn, c->buf, c->len, m->now);
  else
    p2p_host_conn_eof(h, s->conn, 0, m->now);
}

void memnet_run(memnet *m, uint64_t until) {
  for (;;) {
    uint64_t te = UINT64_MAX;
    for (size_t i = 0; i < m->n; i++) {
      uint64_t e = p2p_host_expiry(m->hosts[i]->host);
      if (e < te)
        te = e;
    }
    uint64_t td = m->head ? m->head->at : UINT64_MAX;
    uint64_t t = td < te ? td : te;
    if (t > until)
      break;
    if (t > m->now)
      m->now = t;
    if (td <= te) {
      mn_chunk *c = m->head;
      m->head = c->next;
      if (m->head == NULL)
        m->tail = NULL;
      deliver(m, c);
      link_unref(c->link);
      free(c->buf);
      free(c);
    } else {
      for (size_t i = 0; i < m->n; i++)
        if (p2p_host_expiry(m->hosts[i]->host) <= m->now)
          p2p_host_on_expiry(m->hosts[i]->host, m->now);
    }
  }
  if (until > m->now)
    m->now = until;
}

size_t memnet_log_count(const memnet *m, const char *needle) {
  size_t k = 0;
  for (size_t i = 0; i < m->n_logs; i++)
    if (strstr(m->logs[i], needle))
      k++;
  return k;
}
