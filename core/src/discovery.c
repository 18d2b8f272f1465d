/*
 * Bootstrap and pubsub peer discovery (see p2p/discovery.h).
 */
#include "p2p/discovery.h"

#include <stdlib.h>
#include <string.h>

#include "discovery.pb-c.h"

#define DEFAULT_BACKOFF_NS 1000000000ull
#define DEFAULT_MAX_BACKOFF_NS 60000000000ull
#define DEFAULT_INTERVAL_NS 10000000000ull
#define DEFAULT_FIRST_NS 1000000000ull
#define DEFAULT_MAX_DIALS 8
#define MAX_ANNOUNCE_LEN 8192
#define MAX_ADDRS 64
/* A discovered peer that could not be reached is tried again this late. */
#define RETRY_NS 30000000000ull

typedef struct boot_peer {
  p2p_multiaddr addr;
  p2p_peerid peer;
  int dialing;
  uint64_t next_at; /* UINT64_MAX: connected or dialling */
  uint64_t backoff;
} boot_peer;

/* A discovered peer we are dialling (or have given up on for a while). */
typedef struct dial_peer {
  p2p_peerid peer;
  p2p_multiaddr *addrs;
  size_t n, idx;
  int dialing;
  uint64_t retry_at; /* after every address failed */
  struct dial_peer *next;
} dial_peer;

struct p2p_discovery {
  p2p_host *h;
  p2p_discovery_config cfg;
  char **topics;
  boot_peer *boot;
  size_t n_boot;
  dial_peer *dials;
  unsigned n_dialing;
  uint64_t next_announce;
  p2p_discovery_stats st;
};

static void dlog(p2p_discovery *d, const char *msg) {
  if (d->cfg.log)
    d->cfg.log(d->cfg.ctx, msg);
}

static void free_addrs(p2p_multiaddr *a, size_t n) {
  for (size_t i = 0; i < n; i++)
    p2p_multiaddr_free(&a[i]);
  free(a);
}

/* ---- codec ------------------------------------------------------------- */

ssize_t p2p_discovery_encode_peer(const p2p_pubkey *key,
                                  const p2p_multiaddr *addrs, size_t n,
                                  uint8_t *out, size_t cap) {
  if (key == NULL || (n && addrs == NULL) || n > MAX_ADDRS)
    return P2P_ERR_INVALID;
  uint8_t pk[128];
  ssize_t pl = p2p_pubkey_marshal(key, pk, sizeof pk);
  if (pl < 0)
    return pl;
  ProtobufCBinaryData bins[MAX_ADDRS];
  for (size_t i = 0; i < n; i++)
    bins[i] = (ProtobufCBinaryData){.len = addrs[i].len,
                                    .data = (uint8_t *)addrs[i].bytes};
  DiscoveryPeer m = DISCOVERY_PEER__INIT;
  m.publickey = (ProtobufCBinaryData){.len = (size_t)pl, .data = pk};
  m.n_addrs = n;
  m.addrs = n ? bins : NULL;
  size_t len = discovery_peer__get_packed_size(&m);
  if (len > cap)
    return P2P_ERR_LIMIT;
  return (ssize_t)discovery_peer__pack(&m, out);
}

int p2p_discovery_decode_peer(const uint8_t *buf, size_t len, p2p_peerid *peer,
                              p2p_multiaddr **addrs, size_t *n) {
  if (buf == NULL || peer == NULL || addrs == NULL || n == NULL)
    return P2P_ERR_INVALID;
  *addrs = NULL;
  *n = 0;
  DiscoveryPeer *m = discovery_peer__unpack(NULL, len, buf);
  if (m == NULL)
    return P2P_ERR_PROTO;
  int rc = 0;
  p2p_pubkey key;
  if (p2p_pubkey_unmarshal(m->publickey.data, m->publickey.len, &key) < 0 ||
      p2p_peerid_from_pubkey(&key, peer) < 0)
    rc = P2P_ERR_PROTO;
  size_t k = 0;
  p2p_multiaddr *a = NULL;
  if (rc == 0 && m->n_addrs) {
    size_t na = m->n_addrs < MAX_ADDRS ? m->n_addrs : MAX_ADDRS;
    a = calloc(na, sizeof *a);
    if (a == NULL)
      rc = P2P_ERR_NOMEM;
    for (size_t i = 0; rc == 0 && i < na; i++)
      if (p2p_multiaddr_from_bytes(m->addrs[i].data, m->addrs[i].len, &a[k]) ==
          0)
        k++; /* addresses we cannot read are skipped, as js-libp2p does */
  }
  discovery_peer__free_unpacked(m, NULL);
  if (rc < 0) {
    free_addrs(a, k);
    return rc;
  }
  *addrs = a;
  *n = k;
  return 0;
}

/* ---- helpers ------------------------------------------------------------ */

/* ma with /p2p/peer appended unless it already ends with that peer. */
static int with_peer(const p2p_multiaddr *ma, const p2p_peerid *peer,
                     p2p_multiaddr *out) {
  p2p_peerid last;
  if (p2p_multiaddr_last_peer(ma, &last) && p2p_peerid_equal(&last, peer)) {
    /* Ends in /p2p/peer only if nothing follows it; a circuit address
     * through that peer as relay would end in /p2p-circuit. */
    size_t pos = 0, at = 0;
    p2p_ma_component c;
    uint32_t code = 0;
    while (p2p_multiaddr_next(ma, &pos, &c) == 1) {
      code = c.code;
      at = pos;
    }
    (void)at;
    if (code == P2P_MA_P2P)
      return p2p_multiaddr_copy(ma, out);
  }
  char id[P2P_PEERID_STR_MAX], s[P2P_PEERID_STR_MAX + 8];
  if (p2p_peerid_to_string(peer, id, sizeof id) < 0)
    return P2P_ERR_INVALID;
  strcpy(s, "/p2p/");
  strcat(s, id);
  p2p_multiaddr tail = {0};
  int rc = p2p_multiaddr_parse(s, &tail);
  if (rc == 0)
    rc = p2p_multiaddr_encapsulate(ma, &tail, out);
  p2p_multiaddr_free(&tail);
  return rc;
}

static void count_conn(void *ctx, p2p_conn *c) {
  (void)c;
  (*(size_t *)ctx)++;
}

static size_t open_conns(const p2p_discovery *d) {
  size_t n = 0;
  p2p_host_foreach_conn(d->h, count_conn, &n);
  return n;
}

/* ---- bootstrap ---------------------------------------------------------- */

static void boot_dial(p2p_discovery *d, boot_peer *b, uint64_t now) {
  if (p2p_host_find_conn(d->h, &b->peer)) {
    b->next_at = UINT64_MAX;
    b->dialing = 0;
    return;
  }
  d->st.bootstrap_dials++;
  int rc = p2p_host_dial(d->h, &b->addr, now);
  if (rc < 0) {
    b->dialing = 0;
    b->next_at = now + b->backoff;
    b->backoff = b->backoff * 2 > d->cfg.bootstrap_max_backoff_ns
                     ? d->cfg.bootstrap_max_backoff_ns
                     : b->backoff * 2;
    dlog(d, "bootstrap: dial refused by the transport");
    return;
  }
  b->dialing = 1;
  b->next_at = UINT64_MAX;
}

/* ---- dialing discovered peers ------------------------------------------ */

static dial_peer *find_dial(p2p_discovery *d, const p2p_peerid *p) {
  for (dial_peer *x = d->dials; x; x = x->next)
    if (p2p_peerid_equal(&x->peer, p))
      return x;
  return NULL;
}

static void drop_dial(p2p_discovery *d, dial_peer *x) {
  for (dial_peer **pp = &d->dials; *pp; pp = &(*pp)->next)
    if (*pp == x) {
      *pp = x->next;
      break;
    }
  if (x->dialing && d->n_dialing)
    d->n_dialing--;
  free_addrs(x->addrs, x->n);
  free(x);
}

/* Tries x's addresses from x->idx on until one dial starts. */
static void dial_next(p2p_discovery *d, dial_peer *x, uint64_t now) {
  if (x->dialing) {
    x->dialing = 0;
    d->n_dialing--;
  }
  while (x->idx < x->n) {
    const p2p_multiaddr *ma = &x->addrs[x->idx++];
    d->st.dials++;
    if (p2p_host_dial(d->h, ma, now) == 0) {
      x->dialing = 1;
      d->n_dialing++;
      return;
    }
  }
  d->st.dial_failures++;
  x->retry_at = now + RETRY_NS;
}

/* Orders addrs: direct ones first, then circuit ones (stable). */
static void order_addrs(p2p_multiaddr *a, size_t n) {
  for (size_t i = 1; i < n; i++)
    for (size_t j = i;
         j > 0 && p2p_multiaddr_has(&a[j - 1], P2P_MA_P2P_CIRCUIT) &&
         !p2p_multiaddr_has(&a[j], P2P_MA_P2P_CIRCUIT);
         j--) {
      p2p_multiaddr t = a[j];
      a[j] = a[j - 1];
      a[j - 1] = t;
    }
}

static void discovered(p2p_discovery *d, const p2p_peerid *peer,
                       p2p_multiaddr *addrs, size_t n, uint64_t now) {
  d->st.discovered++;
  if (d->cfg.on_discovery)
    d->cfg.on_discovery(d->cfg.ctx, peer, addrs, n, now);
  if (!d->cfg.dial_discovered || n == 0 ||
      p2p_peerid_equal(peer, p2p_host_peer_id(d->h)) ||
      p2p_host_find_conn(d->h, peer))
    return;
  dial_peer *x = find_dial(d, peer);
  if (x && (x->dialing || x->retry_at > now))
    return;
  if (x == NULL && d->n_dialing >= d->cfg.max_dials)
    return; /* the next announcement brings it back */
  if (d->cfg.max_conns && open_conns(d) + d->n_dialing >= d->cfg.max_conns)
    return; /* enough peers: js-libp2p's connection manager stops here too */
  p2p_multiaddr *full = calloc(n, sizeof *full);
  if (full == NULL)
    return;
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (with_peer(&addrs[i], peer, &full[k]) == 0)
      k++;
  order_addrs(full, k);
  if (x == NULL) {
    x = calloc(1, sizeof *x);
    if (x == NULL) {
      free_addrs(full, k);
      return;
    }
    x->peer = *peer;
    x->next = d->dials;
    d->dials = x;
  } else {
    free_addrs(x->addrs, x->n);
  }
  x->addrs = full;
  x->n = k;
  x->idx = 0;
  x->retry_at = 0;
  dial_next(d, x, now);
}

/* ---- announcements ------------------------------------------------------ */

static void announce(p2p_discovery *d, uint64_t now) {
  size_t n = 0;
  const p2p_multiaddr *own = p2p_host_addrs(d->h, &n);
  if (n > MAX_ADDRS)
    n = MAX_ADDRS;
  p2p_multiaddr full[MAX_ADDRS];
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    if (with_peer(&own[i], p2p_host_peer_id(d->h), &full[k]) == 0)
      k++;
  uint8_t *buf = malloc(MAX_ANNOUNCE_LEN);
  ssize_t len = P2P_ERR_NOMEM;
  if (buf)
    len = p2p_discovery_encode_peer(&p2p_host_key(d->h)->pub, full, k, buf,
                                    MAX_ANNOUNCE_LEN);
  for (size_t i = 0; i < k; i++)
    p2p_multiaddr_free(&full[i]);
  if (len < 0) {
    free(buf);
    dlog(d, "discovery: announcement could not be encoded");
    return;
  }
  for (size_t t = 0; t < d->cfg.n_topics; t++)
    if (p2p_gossipsub_publish(d->cfg.pubsub, d->topics[t], buf, (size_t)len,
                              now, NULL, NULL, 0) == 0)
      d->st.announced++;
  free(buf);
}

/* ---- service ------------------------------------------------------------ */

static void on_event(void *ctx, const p2p_host_event *ev) {
  p2p_discovery *d = ctx;
  if (ev->peer == NULL)
    return;
  for (size_t i = 0; i < d->n_boot; i++) {
    boot_peer *b = &d->boot[i];
    if (!p2p_peerid_equal(&b->peer, ev->peer))
      continue;
    if (ev->type == P2P_HOST_EV_CONNECTED) {
      b->dialing = 0;
      b->next_at = UINT64_MAX;
      b->backoff = d->cfg.bootstrap_backoff_ns;
    } else if (ev->type == P2P_HOST_EV_CONN_CLOSED &&
               (ev->conn == NULL || !p2p_host_find_conn(d->h, &b->peer))) {
      /* Lost (or never made): dial again after the backoff. */
      b->dialing = 0;
      b->next_at = ev->now + b->backoff;
      b->backoff = b->backoff * 2 > d->cfg.bootstrap_max_backoff_ns
                       ? d->cfg.bootstrap_max_backoff_ns
                       : b->backoff * 2;
    }
  }
  dial_peer *x = find_dial(d, ev->peer);
  if (x == NULL)
    return;
  if (ev->type == P2P_HOST_EV_CONNECTED) {
    drop_dial(d, x);
  } else if (ev->type == P2P_HOST_EV_CONN_CLOSED && ev->conn == NULL &&
             x->dialing) {
    dial_next(d, x, ev->now); /* that address failed: the next one */
  }
}

static uint64_t expiry(void *ctx) {
  p2p_discovery *d = ctx;
  uint64_t t = d->next_announce;
  for (size_t i = 0; i < d->n_boot; i++)
    if (d->boot[i].next_at < t)
      t = d->boot[i].next_at;
  return t;
}

static void on_expiry(void *ctx, uint64_t now) {
  p2p_discovery *d = ctx;
  for (size_t i = 0; i < d->n_boot; i++)
    if (d->boot[i].next_at <= now)
      boot_dial(d, &d->boot[i], now);
  if (d->next_announce <= now) {
    d->next_announce = now + d->cfg.interval_ns;
    announce(d, now);
  }
  /* Forget peers whose retry time passed: their next announcement brings
   * them back. */
  for (dial_peer *x = d->dials, *nx; x; x = nx) {
    nx = x->next;
    if (!x->dialing && x->retry_at && x->retry_at <= now)
      drop_dial(d, x);
  }
}

static const p2p_host_service service = {
    .on_event = on_event, .expiry = expiry, .on_expiry = on_expiry};

int p2p_discovery_new(p2p_host *h, const p2p_discovery_config *cfg,
                      uint64_t now, p2p_discovery **out) {
  if (out == NULL)
    return P2P_ERR_INVALID;
  *out = NULL;
  if (h == NULL || cfg == NULL || (cfg->n_bootstrap && !cfg->bootstrap) ||
      (cfg->n_topics && (!cfg->topics || !cfg->pubsub)))
    return P2P_ERR_INVALID;
  p2p_discovery *d = calloc(1, sizeof *d);
  if (d == NULL)
    return P2P_ERR_NOMEM;
  d->h = h;
  d->cfg = *cfg;
  if (!d->cfg.bootstrap_backoff_ns)
    d->cfg.bootstrap_backoff_ns = DEFAULT_BACKOFF_NS;
  if (!d->cfg.bootstrap_max_backoff_ns)
    d->cfg.bootstrap_max_backoff_ns = DEFAULT_MAX_BACKOFF_NS;
  if (!d->cfg.interval_ns)
    d->cfg.interval_ns = DEFAULT_INTERVAL_NS;
  if (!d->cfg.first_announce_ns)
    d->cfg.first_announce_ns = DEFAULT_FIRST_NS;
  if (!d->cfg.max_dials)
    d->cfg.max_dials = DEFAULT_MAX_DIALS;
  d->cfg.bootstrap = NULL;
  d->cfg.topics = NULL;
  int rc = 0;
  if (cfg->n_bootstrap) {
    d->boot = calloc(cfg->n_bootstrap, sizeof *d->boot);
    if (d->boot == NULL)
      rc = P2P_ERR_NOMEM;
    for (size_t i = 0; rc == 0 && i < cfg->n_bootstrap; i++) {
      boot_peer *b = &d->boot[i];
      if (!p2p_multiaddr_last_peer(&cfg->bootstrap[i], &b->peer)) {
        rc = P2P_ERR_INVALID;
        break;
      }
      rc = p2p_multiaddr_copy(&cfg->bootstrap[i], &b->addr);
      if (rc == 0) {
        d->n_boot++;
        b->backoff = d->cfg.bootstrap_backoff_ns;
        b->next_at = now; /* dialled by the first on_expiry */
      }
    }
  }
  if (rc == 0 && cfg->n_topics) {
    d->topics = calloc(cfg->n_topics, sizeof *d->topics);
    if (d->topics == NULL)
      rc = P2P_ERR_NOMEM;
    for (size_t i = 0; rc == 0 && i < cfg->n_topics; i++) {
      d->topics[i] = malloc(strlen(cfg->topics[i]) + 1);
      if (d->topics[i] == NULL) {
        rc = P2P_ERR_NOMEM;
        break;
      }
      strcpy(d->topics[i], cfg->topics[i]);
      rc = p2p_gossipsub_subscribe(cfg->pubsub, d->topics[i], now);
    }
  }
  d->next_announce = (cfg->n_topics && !cfg->listen_only)
                         ? now + d->cfg.first_announce_ns
                         : UINT64_MAX;
  if (rc == 0)
    rc = p2p_host_add_service(h, &service, d);
  if (rc < 0) {
    p2p_discovery_del(d);
    return rc;
  }
  /* Bootstrap dials start at once. */
  for (size_t i = 0; i < d->n_boot; i++)
    boot_dial(d, &d->boot[i], now);
  *out = d;
  return 0;
}

void p2p_discovery_del(p2p_discovery *d) {
  if (d == NULL)
    return;
  p2p_host_remove_service(d->h, d);
  for (size_t i = 0; i < d->n_boot; i++)
    p2p_multiaddr_free(&d->boot[i].addr);
  free(d->boot);
  if (d->topics)
    for (size_t i = 0; i < d->cfg.n_topics; i++)
      free(d->topics[i]);
  free(d->topics);
  while (d->dials)
    drop_dial(d, d->dials);
  free(d);
}

int p2p_discovery_on_message(p2p_discovery *d, const p2p_gossip_msg *m,
                             uint64_t now) {
  if (d == NULL || m == NULL || m->topic == NULL)
    return 0;
  size_t t = 0;
  while (t < d->cfg.n_topics && strcmp(d->topics[t], m->topic) != 0)
    t++;
  if (t == d->cfg.n_topics)
    return 0;
  p2p_peerid peer;
  p2p_multiaddr *addrs = NULL;
  size_t n = 0;
  if (p2p_discovery_decode_peer(m->data, m->data_len, &peer, &addrs, &n) < 0) {
    d->st.bad_messages++;
    dlog(d, "discovery: malformed Peer message ignored");
    return 1;
  }
  if (!p2p_peerid_equal(&peer, p2p_host_peer_id(d->h)))
    discovered(d, &peer, addrs, n, now);
  free_addrs(addrs, n);
  return 1;
}

void p2p_discovery_get_stats(const p2p_discovery *d, p2p_discovery_stats *st) {
  if (d && st)
    *st = d->st;
}
