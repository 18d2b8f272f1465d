/*
 * gossipsub.c - GossipSub v1.1 router (libp2p/specs pubsub/gossipsub
 * gossipsub-v1.0.md and gossipsub-v1.1.md, pubsub/README.md) running as a
 * host service. See p2p/gossipsub.h.
 *
 * Cost: every lookup on the message path is a hash probe (seen cache,
 * message cache, peer table) or a scan of a mesh (at most D_hi peers); a
 * received message is packed once and the same bytes go to every peer it
 * is forwarded to. Expiry is amortised: the seen cache is a FIFO (entries
 * are inserted in time order), the message cache drops one window per
 * heartbeat. Iteration order never depends on addresses: peers live in an
 * array in arrival order, topics in an array in creation order.
 */
#include "p2p/gossipsub.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/crypto.h"
#include "p2p/identify.h"
#include "p2p/varint.h"
#include "rpc.pb-c.h"

#define NS_PER_S 1000000000ull
/* Message IDs longer than this are refused (the default is at most 52). */
#define GS_MAX_ID_LEN 128
/* The spec's UnsubscribeBackoff (v1.1): backoff sent when leaving. */
#define GS_UNSUB_BACKOFF_NS (10ull * NS_PER_S)
/* Message IDs we act on per IHAVE or IWANT RPC (go's MaxIHaveLength). */
#define GS_MAX_IDS_PER_RPC 5000
/* Topics one peer may be subscribed to before we stop tracking more. */
#define GS_MAX_PEER_TOPICS 1024
/* The v1.1 gossip factor: gossip to max(D_lazy, n / 4) peers. */
#define GS_GOSSIP_FACTOR_DIV 4
#define GS_SIGN_PREFIX "libp2p-pubsub:"
#define GS_SIGN_PREFIX_LEN (sizeof(GS_SIGN_PREFIX) - 1)

enum { PROTO_NONE = 0, PROTO_FLOOD, PROTO_V10, PROTO_V11 };
enum { OUT_NONE = 0, OUT_OPENING, OUT_OPEN, OUT_REFUSED };

typedef struct gs_peer gs_peer;
typedef struct gs_topic gs_topic;

/* ------------------------------------------------------------------ */
/* A hash map from byte strings to objects that hold their own key: open
 * addressing, linear probing, backward-shift deletion. */

typedef struct idslot {
  const uint8_t *key;
  size_t len;
  uint64_t hash;
  void *obj; /* NULL: empty */
} idslot;

typedef struct idmap {
  idslot *s;
  size_t cap, n; /* cap: 0 or a power of two */
  uint64_t seed;
} idmap;

static uint64_t id_hash(uint64_t seed, const uint8_t *p, size_t n) {
  uint64_t h = seed ^ 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

static idslot *idmap_find(const idmap *m, const uint8_t *k, size_t len) {
  if (m->cap == 0)
    return NULL;
  uint64_t h = id_hash(m->seed, k, len);
  size_t mask = m->cap - 1;
  for (size_t i = h & mask; m->s[i].obj; i = (i + 1) & mask)
    if (m->s[i].hash == h && m->s[i].len == len &&
        memcmp(m->s[i].key, k, len) == 0)
      return &m->s[i];
  return NULL;
}

static void *idmap_get(const idmap *m, const uint8_t *k, size_t len) {
  idslot *s = idmap_find(m, k, len);
  return s ? s->obj : NULL;
}

static void idmap_place(idslot *tab, size_t cap, const idslot *e) {
  size_t mask = cap - 1, i = e->hash & mask;
  while (tab[i].obj)
    i = (i + 1) & mask;
  tab[i] = *e;
}

/* Inserts obj under key k (len bytes, kept by obj): the key must not be in
 * the map. Returns 0 or P2P_ERR_NOMEM. */
static int idmap_put(idmap *m, const uint8_t *k, size_t len, void *obj) {
  if ((m->n + 1) * 4 > m->cap * 3) {
    size_t ncap = m->cap ? m->cap * 2 : 16;
    idslot *ns = calloc(ncap, sizeof(*ns));
    if (ns == NULL)
      return P2P_ERR_NOMEM;
    for (size_t i = 0; i < m->cap; i++)
      if (m->s[i].obj)
        idmap_place(ns, ncap, &m->s[i]);
    free(m->s);
    m->s = ns;
    m->cap = ncap;
  }
  idslot e = {k, len, id_hash(m->seed, k, len), obj};
  idmap_place(m->s, m->cap, &e);
  m->n++;
  return 0;
}

static void idmap_del(idmap *m, const uint8_t *k, size_t len) {
  idslot *s = idmap_find(m, k, len);
  if (s == NULL)
    return;
  size_t mask = m->cap - 1, i = (size_t)(s - m->s), j = i;
  for (;;) {
    j = (j + 1) & mask;
    if (m->s[j].obj == NULL)
      break;
    size_t home = m->s[j].hash & mask;
    /* Move the entry at j back to the hole at i unless its home lies
     * cyclically in (i, j]. */
    int in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!in_range) {
      m->s[i] = m->s[j];
      i = j;
    }
  }
  m->s[i].obj = NULL;
  m->n--;
}

/* ------------------------------------------------------------------ */
/* Router state. */

typedef struct pvec {
  gs_peer **v;
  size_t n, cap;
} pvec;

typedef struct backoff {
  p2p_peerid id;
  uint64_t until;
} backoff;

struct gs_topic {
  char *name;
  int subscribed;
  pvec peers;  /* peers subscribed to the topic */
  pvec mesh;   /* when subscribed */
  pvec fanout; /* when not subscribed and publishing */
  uint64_t fanout_last_ns;
  backoff *bo;
  size_t n_bo, cap_bo;
  size_t mc_refs; /* messages in the message cache */
  size_t n_flood; /* floodsub peers among peers */
};

/* A peer's subscription: the topic and the peer's index in its list. */
typedef struct gs_sub {
  gs_topic *t;
  size_t pos;
} gs_sub;

/* The reader of one inbound stream. */
typedef struct gs_in {
  p2p_gossipsub *g;
  gs_peer *peer; /* NULL once the peer is gone */
  p2p_stream *s;
  struct gs_in *next;
  uint8_t *buf; /* an incomplete RPC */
  size_t len, cap;
  int busy, dead; /* on_close during on_data defers the free */
} gs_in;

struct gs_peer {
  p2p_peerid id;
  size_t idx; /* in g->peers */
  int proto;
  int out_state;
  int outbound; /* the connection of our stream was dialled by us */
  p2p_stream *out;
  gs_in *ins;
  gs_sub *subs;
  size_t n_subs, cap_subs;
  int zombie;           /* removed while an RPC of it was being handled */
  gs_peer *next_zombie; /* freed once no RPC is being handled */
};

typedef struct gs_msg {
  gs_topic *t;
  uint8_t *frame; /* varint length + RPC{publish: [message]} */
  size_t frame_len;
  size_t id_len;
  uint8_t id[];
} gs_msg;

/* A seen-cache record: the keyed hash of a message ID (0: superseded) and
 * when it stops counting as seen. */
typedef struct seen_rec {
  uint64_t key;
  uint64_t expiry;
} seen_rec;

/* The seen cache (see seen_add): a FIFO ring of records and a hash set of
 * their keys (open addressing, linear probing, 0: empty). */
typedef struct seen_cache {
  seen_rec *ring;
  size_t head, n, cap; /* cap: 0 or a power of two */
  uint64_t *set;
  size_t set_n, set_cap; /* set_cap: 0 or a power of two */
  uint8_t hkey[crypto_shorthash_KEYBYTES];
} seen_cache;

typedef struct mc_window {
  gs_msg **v;
  size_t n, cap;
} mc_window;

struct p2p_gossipsub {
  p2p_host *h;
  p2p_gossipsub_config cfg;
  p2p_peerid self;
  uint64_t seqno;
  uint64_t next_hb; /* 0: not started */
  uint64_t now;     /* the latest time we were given */
  gs_peer **peers;
  size_t n_peers, cap_peers;
  idmap peer_map;
  gs_topic **topics;
  size_t n_topics, cap_topics;
  seen_cache seen;
  idmap mc_map;
  mc_window *mc; /* cfg.mcache_len windows, [0] the current one */
  unsigned busy; /* RPCs being handled (callbacks may remove peers) */
  gs_peer *zombies;
  p2p_gossipsub_stats st;
};

static const char *const gs_protos[] = {P2P_GOSSIPSUB_ID_V11,
                                        P2P_GOSSIPSUB_ID_V10, P2P_FLOODSUB_ID};

/* Logs "gossipsub: " followed by the pieces given (NULL ends early). */
static void gs_log(p2p_gossipsub *g, const char *a, const char *b,
                   const char *c, const char *d) {
  char line[256];
  if (g->cfg.log == NULL)
    return;
  snprintf(line, sizeof(line), "gossipsub: %s%s%s%s", a ? a : "", b ? b : "",
           c ? c : "", d ? d : "");
  g->cfg.log(g->cfg.ctx, line);
}

static const char *peer_str(const gs_peer *p, char *buf, size_t cap) {
  if (p2p_peerid_to_string(&p->id, buf, cap) < 0)
    snprintf(buf, cap, "?");
  return buf;
}

static uint64_t rand_u64(p2p_gossipsub *g) {
  uint8_t b[8];
  uint64_t v = 0;
  p2p_rand_fill(p2p_host_rand(g->h), b, sizeof(b));
  for (int i = 0; i < 8; i++)
    v = (v << 8) | b[i];
  return v;
}

/* Draws the seen cache's hash key. It takes the 8 bytes the seed of the
 * former ID-keyed seen map took, so the host's random stream (and with it
 * every later choice in a seeded run) is unchanged; the second half of the
 * SipHash key is derived from the first. 64 secret bits are ample: the
 * key only has to keep peers from aiming at a collision. */
static void seen_key_init(p2p_gossipsub *g) {
  uint8_t *k = g->seen.hkey;
  p2p_rand_fill(p2p_host_rand(g->h), k, 8);
  for (size_t i = 8; i < crypto_shorthash_KEYBYTES; i++)
    k[i] = (uint8_t)(k[i - 8] ^ 0x5c);
}

/* Shuffles the first k of v[0..n) into random positions (partial
 * Fisher-Yates): v[0..k) is then a uniform random k-subset. */
static void shuffle_prefix(p2p_gossipsub *g, gs_peer **v, size_t n, size_t k) {
  for (size_t i = 0; i < k && i + 1 < n; i++) {
    size_t j = i + (size_t)(rand_u64(g) % (n - i));
    gs_peer *t = v[i];
    v[i] = v[j];
    v[j] = t;
  }
}

static int pvec_push(pvec *pv, gs_peer *p) {
  if (pv->n == pv->cap) {
    size_t nc = pv->cap ? pv->cap * 2 : 8;
    gs_peer **nv = realloc(pv->v, nc * sizeof(*nv));
    if (nv == NULL)
      return P2P_ERR_NOMEM;
    pv->v = nv;
    pv->cap = nc;
  }
  pv->v[pv->n++] = p;
  return 0;
}

static int pvec_has(const pvec *pv, const gs_peer *p) {
  for (size_t i = 0; i < pv->n; i++)
    if (pv->v[i] == p)
      return 1;
  return 0;
}

/* Removes p keeping the order of the others (meshes are small). */
static int pvec_remove(pvec *pv, const gs_peer *p) {
  for (size_t i = 0; i < pv->n; i++)
    if (pv->v[i] == p) {
      memmove(&pv->v[i], &pv->v[i + 1], (pv->n - i - 1) * sizeof(*pv->v));
      pv->n--;
      return 1;
    }
  return 0;
}

/* ------------------------------------------------------------------ */
/* Topics. */

static gs_topic *topic_find(const p2p_gossipsub *g, const char *name) {
  for (size_t i = 0; i < g->n_topics; i++)
    if (strcmp(g->topics[i]->name, name) == 0)
      return g->topics[i];
  return NULL;
}

static gs_topic *topic_get(p2p_gossipsub *g, const char *name) {
  gs_topic *t = topic_find(g, name);
  if (t)
    return t;
  if (g->n_topics == g->cap_topics) {
    size_t nc = g->cap_topics ? g->cap_topics * 2 : 4;
    gs_topic **nt = realloc(g->topics, nc * sizeof(*nt));
    if (nt == NULL)
      return NULL;
    g->topics = nt;
    g->cap_topics = nc;
  }
  t = calloc(1, sizeof(*t));
  if (t == NULL)
    return NULL;
  size_t n = strlen(name) + 1;
  t->name = malloc(n);
  if (t->name == NULL) {
    free(t);
    return NULL;
  }
  memcpy(t->name, name, n);
  g->topics[g->n_topics++] = t;
  return t;
}

static void topic_free(gs_topic *t) {
  free(t->name);
  free(t->peers.v);
  free(t->mesh.v);
  free(t->fanout.v);
  free(t->bo);
  free(t);
}

/* Frees topics nobody refers to any more (order of the rest kept). */
static void topics_gc(p2p_gossipsub *g) {
  size_t k = 0;
  for (size_t i = 0; i < g->n_topics; i++) {
    gs_topic *t = g->topics[i];
    if (!t->subscribed && t->peers.n == 0 && t->fanout.n == 0 && t->n_bo == 0 &&
        t->mc_refs == 0 && t->mesh.n == 0)
      topic_free(t);
    else
      g->topics[k++] = t;
  }
  g->n_topics = k;
}

static backoff *backoff_find(gs_topic *t, const p2p_peerid *id) {
  for (size_t i = 0; i < t->n_bo; i++)
    if (p2p_peerid_equal(&t->bo[i].id, id))
      return &t->bo[i];
  return NULL;
}

static int in_backoff(gs_topic *t, const gs_peer *p, uint64_t now) {
  backoff *b = backoff_find(t, &p->id);
  return b && b->until > now;
}

/* Sets (or extends) the backoff of peer id on t until `until`. */
static void backoff_set(gs_topic *t, const p2p_peerid *id, uint64_t until) {
  backoff *b = backoff_find(t, id);
  if (b) {
    if (b->until < until)
      b->until = until;
    return;
  }
  if (t->n_bo == t->cap_bo) {
    size_t nc = t->cap_bo ? t->cap_bo * 2 : 4;
    backoff *nb = realloc(t->bo, nc * sizeof(*nb));
    if (nb == NULL)
      return; /* without memory the peer may graft again early: harmless */
    t->bo = nb;
    t->cap_bo = nc;
  }
  t->bo[t->n_bo].id = *id;
  t->bo[t->n_bo].until = until;
  t->n_bo++;
}

static void backoff_expire(gs_topic *t, uint64_t now) {
  size_t k = 0;
  for (size_t i = 0; i < t->n_bo; i++)
    if (t->bo[i].until > now)
      t->bo[k++] = t->bo[i];
  t->n_bo = k;
}

/* ------------------------------------------------------------------ */
/* Peers. */

static gs_peer *peer_find(const p2p_gossipsub *g, const p2p_peerid *id) {
  return idmap_get(&g->peer_map, id->bytes, id->len);
}

static gs_peer *peer_get(p2p_gossipsub *g, const p2p_peerid *id) {
  gs_peer *p = peer_find(g, id);
  if (p)
    return p;
  if (g->n_peers == g->cap_peers) {
    size_t nc = g->cap_peers ? g->cap_peers * 2 : 8;
    gs_peer **np = realloc(g->peers, nc * sizeof(*np));
    if (np == NULL)
      return NULL;
    g->peers = np;
    g->cap_peers = nc;
  }
  p = calloc(1, sizeof(*p));
  if (p == NULL)
    return NULL;
  p->id = *id;
  if (idmap_put(&g->peer_map, p->id.bytes, p->id.len, p) != 0) {
    free(p);
    return NULL;
  }
  p->idx = g->n_peers;
  g->peers[g->n_peers++] = p;
  return p;
}

static gs_sub *peer_sub(gs_peer *p, const gs_topic *t) {
  for (size_t i = 0; i < p->n_subs; i++)
    if (p->subs[i].t == t)
      return &p->subs[i];
  return NULL;
}

static int peer_subscribe(gs_peer *p, gs_topic *t) {
  if (peer_sub(p, t))
    return 0;
  if (p->n_subs >= GS_MAX_PEER_TOPICS)
    return P2P_ERR_LIMIT;
  if (p->n_subs == p->cap_subs) {
    size_t nc = p->cap_subs ? p->cap_subs * 2 : 4;
    gs_sub *ns = realloc(p->subs, nc * sizeof(*ns));
    if (ns == NULL)
      return P2P_ERR_NOMEM;
    p->subs = ns;
    p->cap_subs = nc;
  }
  if (pvec_push(&t->peers, p) != 0)
    return P2P_ERR_NOMEM;
  p->subs[p->n_subs].t = t;
  p->subs[p->n_subs].pos = t->peers.n - 1;
  p->n_subs++;
  t->n_flood += p->proto == PROTO_FLOOD;
  return 0;
}

/* Drops p's subscription to t (and its mesh and fanout membership). */
static void peer_unsubscribe(gs_peer *p, gs_topic *t) {
  gs_sub *s = peer_sub(p, t);
  if (s == NULL)
    return;
  size_t pos = s->pos, last = t->peers.n - 1;
  if (pos != last) {
    gs_peer *q = t->peers.v[last];
    t->peers.v[pos] = q;
    gs_sub *qs = peer_sub(q, t);
    if (qs)
      qs->pos = pos;
  }
  t->peers.n--;
  t->n_flood -= p->proto == PROTO_FLOOD;
  *s = p->subs[--p->n_subs];
  pvec_remove(&t->mesh, p);
  pvec_remove(&t->fanout, p);
}

/* Sets the protocol p speaks, keeping the topics' floodsub counts. */
static void peer_set_proto(gs_peer *p, const char *proto) {
  int np = strcmp(proto, P2P_GOSSIPSUB_ID_V11) == 0   ? PROTO_V11
           : strcmp(proto, P2P_GOSSIPSUB_ID_V10) == 0 ? PROTO_V10
                                                      : PROTO_FLOOD;
  if (np == p->proto)
    return;
  for (size_t i = 0; i < p->n_subs; i++) {
    p->subs[i].t->n_flood -= p->proto == PROTO_FLOOD;
    p->subs[i].t->n_flood += np == PROTO_FLOOD;
  }
  p->proto = np;
}

/* Forgets a peer (its connections are gone). While one of its RPCs is
 * being handled (an application callback closed its connection) the
 * struct lives on, detached, until the handling is over. */
static void peer_remove(p2p_gossipsub *g, gs_peer *p) {
  while (p->n_subs > 0)
    peer_unsubscribe(p, p->subs[p->n_subs - 1].t);
  free(p->subs);
  p->subs = NULL;
  p->cap_subs = 0;
  /* A GRAFT may have put it in the mesh of a topic it never announced. */
  for (size_t i = 0; i < g->n_topics; i++) {
    pvec_remove(&g->topics[i]->mesh, p);
    pvec_remove(&g->topics[i]->fanout, p);
  }
  for (gs_in *in = p->ins; in; in = in->next)
    in->peer = NULL;
  if (p->out)
    p2p_host_stream_set_ctx(p->out, NULL);
  idmap_del(&g->peer_map, p->id.bytes, p->id.len);
  size_t last = g->n_peers - 1;
  if (p->idx != last) {
    g->peers[p->idx] = g->peers[last];
    g->peers[p->idx]->idx = p->idx;
  }
  g->n_peers--;
  if (g->busy) {
    p->zombie = 1;
    p->out = NULL;
    p->out_state = OUT_REFUSED;
    p->ins = NULL;
    p->next_zombie = g->zombies;
    g->zombies = p;
  } else {
    free(p);
  }
}

static void zombies_free(p2p_gossipsub *g) {
  while (g->zombies) {
    gs_peer *p = g->zombies;
    g->zombies = p->next_zombie;
    free(p);
  }
}

/* ------------------------------------------------------------------ */
/* Output. */

/* Writes one whole frame to p's stream, or nothing: a partial RPC would
 * corrupt the stream, so a full queue drops the RPC (as go-libp2p drops
 * from a full peer queue). */
static int write_frame(p2p_gossipsub *g, gs_peer *p, const uint8_t *f,
                       size_t len, uint64_t now) {
  if (p->out_state != OUT_OPEN || p->out == NULL)
    return P2P_ERR_STATE;
  if (p2p_host_stream_room(p->out) < len)
    return P2P_ERR_LIMIT;
  ssize_t n = p2p_host_stream_write(p->out, f, len, now);
  if (n != (ssize_t)len)
    return n < 0 ? (int)n : P2P_ERR_INTERNAL;
  g->st.rpc_out++;
  return 0;
}

/* Packs rpc with its varint length prefix into a new buffer. */
static uint8_t *pack_frame(const p2p_gossipsub *g, const Pubsub__Pb__RPC *rpc,
                           size_t *len, int *err) {
  size_t body = pubsub__pb__rpc__get_packed_size(rpc);
  if (body > g->cfg.max_message_size) {
    *err = P2P_ERR_LIMIT;
    return NULL;
  }
  size_t hdr = p2p_varint_len(body);
  uint8_t *f = malloc(hdr + body);
  if (f == NULL) {
    *err = P2P_ERR_NOMEM;
    return NULL;
  }
  if (p2p_varint_encode(body, f, hdr) != (int)hdr ||
      pubsub__pb__rpc__pack(rpc, f + hdr) != body) {
    free(f);
    *err = P2P_ERR_INTERNAL;
    return NULL;
  }
  *len = hdr + body;
  return f;
}

static int send_rpc(p2p_gossipsub *g, gs_peer *p, const Pubsub__Pb__RPC *rpc,
                    uint64_t now) {
  if (p->out_state != OUT_OPEN)
    return P2P_ERR_STATE;
  size_t len;
  int err = 0;
  uint8_t *f = pack_frame(g, rpc, &len, &err);
  if (f == NULL)
    return err;
  err = write_frame(g, p, f, len, now);
  free(f);
  return err;
}

static int send_control(p2p_gossipsub *g, gs_peer *p,
                        Pubsub__Pb__ControlMessage *ctl, uint64_t now) {
  Pubsub__Pb__RPC rpc = PUBSUB__PB__RPC__INIT;
  rpc.control = ctl;
  return send_rpc(g, p, &rpc, now);
}

static void send_graft(p2p_gossipsub *g, gs_peer *p, gs_topic *t,
                       uint64_t now) {
  Pubsub__Pb__ControlMessage ctl = PUBSUB__PB__CONTROL_MESSAGE__INIT;
  Pubsub__Pb__ControlGraft gr = PUBSUB__PB__CONTROL_GRAFT__INIT;
  Pubsub__Pb__ControlGraft *grs[1] = {&gr};
  gr.topicid = t->name;
  ctl.n_graft = 1;
  ctl.graft = grs;
  if (send_control(g, p, &ctl, now) == 0)
    g->st.graft_out++;
}

/* Sends PRUNE for t to p: with a backoff (v1.1 peers) and, when px, up to
 * prune_peers other peers of the topic with their signed peer records
 * when identify brought them. */
static void send_prune(p2p_gossipsub *g, gs_peer *p, gs_topic *t, int px,
                       uint64_t backoff_ns, uint64_t now) {
  Pubsub__Pb__ControlMessage ctl = PUBSUB__PB__CONTROL_MESSAGE__INIT;
  Pubsub__Pb__ControlPrune pr = PUBSUB__PB__CONTROL_PRUNE__INIT;
  Pubsub__Pb__ControlPrune *prs[1] = {&pr};
  Pubsub__Pb__PeerInfo *infos = NULL, **ptrs = NULL;
  gs_peer **cand = NULL;
  pr.topicid = t->name;
  ctl.n_prune = 1;
  ctl.prune = prs;
  if (p->proto == PROTO_V11) {
    pr.has_backoff = 1;
    pr.backoff = (backoff_ns + NS_PER_S - 1) / NS_PER_S;
  }
  size_t n = 0;
  if (px && p->proto == PROTO_V11 && !g->cfg.no_px && t->peers.n > 1)
    cand = malloc(t->peers.n * sizeof(*cand));
  if (cand) {
    for (size_t i = 0; i < t->peers.n; i++)
      if (t->peers.v[i] != p)
        cand[n++] = t->peers.v[i];
    size_t k = n < g->cfg.prune_peers ? n : g->cfg.prune_peers;
    shuffle_prefix(g, cand, n, k);
    n = k;
    infos = calloc(n ? n : 1, sizeof(*infos));
    ptrs = calloc(n ? n : 1, sizeof(*ptrs));
    if (infos == NULL || ptrs == NULL)
      n = 0;
    for (size_t i = 0; i < n; i++) {
      Pubsub__Pb__PeerInfo init = PUBSUB__PB__PEER_INFO__INIT;
      infos[i] = init;
      infos[i].has_peerid = 1;
      infos[i].peerid.data = cand[i]->id.bytes;
      infos[i].peerid.len = cand[i]->id.len;
      const p2p_identify_msg *im = p2p_host_peer_info(g->h, &cand[i]->id);
      if (im && im->signed_peer_record && im->signed_peer_record_len) {
        infos[i].has_signedpeerrecord = 1;
        infos[i].signedpeerrecord.data = im->signed_peer_record;
        infos[i].signedpeerrecord.len = im->signed_peer_record_len;
      }
      ptrs[i] = &infos[i];
    }
    pr.n_peers = n;
    pr.peers = ptrs;
  }
  if (send_control(g, p, &ctl, now) == 0)
    g->st.prune_out++;
  free(cand);
  free(infos);
  free(ptrs);
}

/* Announces subscription changes: all our topics (subscribe) to one peer,
 * or one topic to every peer. */
static void send_subs(p2p_gossipsub *g, gs_peer *p, const char *topic,
                      int subscribe, uint64_t now) {
  Pubsub__Pb__RPC rpc = PUBSUB__PB__RPC__INIT;
  if (p) {
    size_t n = 0;
    Pubsub__Pb__RPC__SubOpts *so = calloc(g->n_topics + 1, sizeof(*so));
    Pubsub__Pb__RPC__SubOpts **sp = calloc(g->n_topics + 1, sizeof(*sp));
    if (so && sp) {
      for (size_t i = 0; i < g->n_topics; i++) {
        if (!g->topics[i]->subscribed)
          continue;
        Pubsub__Pb__RPC__SubOpts init = PUBSUB__PB__RPC__SUB_OPTS__INIT;
        so[n] = init;
        so[n].has_subscribe = 1;
        so[n].subscribe = 1;
        so[n].topicid = g->topics[i]->name;
        sp[n] = &so[n];
        n++;
      }
      rpc.n_subscriptions = n;
      rpc.subscriptions = sp;
      if (n > 0 && send_rpc(g, p, &rpc, now) != 0)
        gs_log(g, "could not send subscriptions", NULL, NULL, NULL);
    }
    free(so);
    free(sp);
    return;
  }
  Pubsub__Pb__RPC__SubOpts so = PUBSUB__PB__RPC__SUB_OPTS__INIT;
  Pubsub__Pb__RPC__SubOpts *sp[1] = {&so};
  so.has_subscribe = 1;
  so.subscribe = subscribe != 0;
  so.topicid = (char *)(uintptr_t)topic;
  rpc.n_subscriptions = 1;
  rpc.subscriptions = sp;
  size_t len;
  int err = 0;
  uint8_t *f = pack_frame(g, &rpc, &len, &err);
  if (f == NULL)
    return;
  for (size_t i = 0; i < g->n_peers; i++)
    (void)write_frame(g, g->peers[i], f, len, now);
  free(f);
}

/* ------------------------------------------------------------------ */
/* Seen cache and message cache.
 *
 * The seen cache keeps, per message ID, only a 64-bit SipHash-2-4 of the
 * ID under a per-router key (libsodium crypto_shorthash), not the ID
 * itself: 16 bytes in a FIFO ring plus one 8-byte slot in a hash set,
 * with no allocation per message. At 100 messages/s and a 120 s TTL a
 * host holds ~12,000 entries, which at 10,000 simulated hosts is what
 * matters. The price is that two different IDs whose keyed hashes collide
 * count as the same message, so the second would be dropped as a
 * duplicate: with n entries live that happens with probability about
 * n^2 / 2^65 per host (~4e-12 for n = 12,000), and since the key is secret
 * a peer cannot aim for a collision. go-libp2p's TimeCache keys by the
 * full ID string; we trade that exactness for memory.
 *
 * Every entry lives cfg.seen_ttl_ns, so entries expire in insertion
 * order: the ring is a FIFO and expiry pops its head. A key is in the set
 * while a live ring record holds it; the ring holds at most one live
 * record per key (a key added again supersedes its older record, which
 * then carries key 0 and is skipped). Key 0 is never used: a hash of 0 is
 * taken as 1. */

static uint64_t seen_key(const p2p_gossipsub *g, const uint8_t *id,
                         size_t len) {
  uint8_t h[crypto_shorthash_BYTES];
  (void)crypto_shorthash(h, id, len, g->seen.hkey);
  uint64_t k = 0;
  for (int i = 0; i < 8; i++)
    k |= (uint64_t)h[i] << (8 * i);
  return k ? k : 1;
}

/* The slot holding key k, or the empty slot where it would go. */
static size_t seen_slot(const seen_cache *c, uint64_t k) {
  size_t mask = c->set_cap - 1, i = (size_t)k & mask;
  while (c->set[i] && c->set[i] != k)
    i = (i + 1) & mask;
  return i;
}

static int seen_has(const p2p_gossipsub *g, const uint8_t *id, size_t len) {
  const seen_cache *c = &g->seen;
  if (c->set_n == 0)
    return 0;
  return c->set[seen_slot(c, seen_key(g, id, len))] != 0;
}

/* Rebuilds the set with ncap slots (a power of two above set_n).
 * Returns 0 or P2P_ERR_NOMEM (the set is then unchanged). */
static int seen_set_resize(seen_cache *c, size_t ncap) {
  uint64_t *ns = calloc(ncap, sizeof(*ns));
  if (ns == NULL)
    return P2P_ERR_NOMEM;
  uint64_t *old = c->set;
  size_t ocap = c->set_cap;
  c->set = ns;
  c->set_cap = ncap;
  for (size_t i = 0; i < ocap; i++)
    if (old[i])
      c->set[seen_slot(c, old[i])] = old[i];
  free(old);
  return 0;
}

/* Moves the ring to ncap records (a power of two, at least n), oldest
 * first. Returns 0 or P2P_ERR_NOMEM (the ring is then unchanged). */
static int seen_ring_resize(seen_cache *c, size_t ncap) {
  seen_rec *nr = malloc(ncap * sizeof(*nr));
  if (nr == NULL)
    return P2P_ERR_NOMEM;
  for (size_t i = 0; i < c->n; i++)
    nr[i] = c->ring[(c->head + i) & (c->cap - 1)];
  free(c->ring);
  c->ring = nr;
  c->cap = ncap;
  c->head = 0;
  return 0;
}

/* Removes key k from the set (backward-shift deletion). */
static void seen_set_del(seen_cache *c, uint64_t k) {
  size_t mask = c->set_cap - 1, i = seen_slot(c, k), j = i;
  if (c->set[i] == 0)
    return;
  for (;;) {
    j = (j + 1) & mask;
    if (c->set[j] == 0)
      break;
    size_t home = (size_t)c->set[j] & mask;
    /* Move the key at j back to the hole at i unless its home lies
     * cyclically in (i, j]. */
    int in_range = i <= j ? (home > i && home <= j) : (home > i || home <= j);
    if (!in_range) {
      c->set[i] = c->set[j];
      i = j;
    }
  }
  c->set[i] = 0;
  c->set_n--;
}

#define SEEN_MIN_CAP 64

static void seen_expire(p2p_gossipsub *g, uint64_t now) {
  seen_cache *c = &g->seen;
  while (c->n > 0 && c->ring[c->head].expiry <= now) {
    uint64_t k = c->ring[c->head].key;
    if (k)
      seen_set_del(c, k);
    c->head = (c->head + 1) & (c->cap - 1);
    c->n--;
  }
  /* Give memory back after a burst; failing to shrink is harmless. */
  if (c->cap > SEEN_MIN_CAP && c->n * 4 < c->cap)
    (void)seen_ring_resize(c, c->cap / 2);
  if (c->set_cap > SEEN_MIN_CAP && c->set_n * 8 < c->set_cap)
    (void)seen_set_resize(c, c->set_cap / 2);
}

static int seen_add(p2p_gossipsub *g, const uint8_t *id, size_t len,
                    uint64_t now) {
  seen_cache *c = &g->seen;
  seen_expire(g, now);
  /* Make room first, so a failure leaves the cache as it was. */
  if (c->n == c->cap &&
      seen_ring_resize(c, c->cap ? c->cap * 2 : SEEN_MIN_CAP) != 0)
    return P2P_ERR_NOMEM;
  if ((c->set_n + 1) * 4 > c->set_cap * 3 &&
      seen_set_resize(c, c->set_cap ? c->set_cap * 2 : SEEN_MIN_CAP) != 0)
    return P2P_ERR_NOMEM;
  uint64_t k = seen_key(g, id, len);
  size_t s = seen_slot(c, k);
  if (c->set[s] == k) {
    /* Seen again (a local publish with a content-based ID): the entry
     * now lives until the new expiry, so retire the older record. This
     * scan never runs for messages from peers, which are added only when
     * not already seen. */
    for (size_t i = 0; i < c->n; i++) {
      seen_rec *r = &c->ring[(c->head + i) & (c->cap - 1)];
      if (r->key == k) {
        r->key = 0;
        break;
      }
    }
  } else {
    c->set[s] = k;
    c->set_n++;
  }
  c->ring[(c->head + c->n) & (c->cap - 1)] =
      (seen_rec){k, now + g->cfg.seen_ttl_ns};
  c->n++;
  return 0;
}

static gs_msg *mcache_get(const p2p_gossipsub *g, const uint8_t *id,
                          size_t len) {
  return idmap_get(&g->mc_map, id, len);
}

/* Keeps frame (taken over) under id in the current window. */
static int mcache_put(p2p_gossipsub *g, gs_topic *t, const uint8_t *id,
                      size_t id_len, uint8_t *frame, size_t frame_len) {
  mc_window *w = &g->mc[0];
  if (mcache_get(g, id, id_len)) {
    free(frame);
    return 0;
  }
  if (w->n == w->cap) {
    size_t nc = w->cap ? w->cap * 2 : 16;
    gs_msg **nv = realloc(w->v, nc * sizeof(*nv));
    if (nv == NULL) {
      free(frame);
      return P2P_ERR_NOMEM;
    }
    w->v = nv;
    w->cap = nc;
  }
  gs_msg *m = malloc(sizeof(*m) + id_len);
  if (m == NULL) {
    free(frame);
    return P2P_ERR_NOMEM;
  }
  m->t = t;
  m->frame = frame;
  m->frame_len = frame_len;
  m->id_len = id_len;
  memcpy(m->id, id, id_len);
  if (idmap_put(&g->mc_map, m->id, id_len, m) != 0) {
    free(frame);
    free(m);
    return P2P_ERR_NOMEM;
  }
  t->mc_refs++;
  w->v[w->n++] = m;
  return 0;
}

static void mcache_free_window(p2p_gossipsub *g, mc_window *w) {
  for (size_t i = 0; i < w->n; i++) {
    gs_msg *m = w->v[i];
    idmap_del(&g->mc_map, m->id, m->id_len);
    m->t->mc_refs--;
    free(m->frame);
    free(m);
  }
  w->n = 0;
}

static void mcache_shift(p2p_gossipsub *g) {
  size_t n = g->cfg.mcache_len;
  mc_window last = g->mc[n - 1];
  mcache_free_window(g, &last);
  memmove(&g->mc[1], &g->mc[0], (n - 1) * sizeof(*g->mc));
  g->mc[0] = last; /* reuse its array */
}

/* ------------------------------------------------------------------ */
/* Messages. */

static uint64_t be64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = (v << 8) | p[i];
  return v;
}

static size_t default_msg_id(const p2p_gossip_msg *m, uint8_t *out,
                             size_t cap) {
  size_t n = m->from->len + 8;
  if (n > cap)
    return 0;
  memcpy(out, m->from->bytes, m->from->len);
  for (int i = 0; i < 8; i++)
    out[m->from->len + (size_t)i] = (uint8_t)(m->seqno >> (56 - 8 * i));
  return n;
}

static size_t msg_id(p2p_gossipsub *g, const p2p_gossip_msg *m, uint8_t *out) {
  size_t n = g->cfg.msg_id ? g->cfg.msg_id(g->cfg.ctx, m, out, GS_MAX_ID_LEN)
                           : default_msg_id(m, out, GS_MAX_ID_LEN);
  return n <= GS_MAX_ID_LEN ? n : 0;
}

/* The bytes a StrictSign signature covers: the prefix and the message
 * without its signature and key. */
static uint8_t *sign_input(const Pubsub__Pb__Message *m, size_t *len) {
  Pubsub__Pb__Message c = PUBSUB__PB__MESSAGE__INIT;
  c.has_from = m->has_from;
  c.from = m->from;
  c.has_data = m->has_data;
  c.data = m->data;
  c.has_seqno = m->has_seqno;
  c.seqno = m->seqno;
  c.topic = m->topic;
  size_t body = pubsub__pb__message__get_packed_size(&c);
  uint8_t *buf = malloc(GS_SIGN_PREFIX_LEN + body);
  if (buf == NULL)
    return NULL;
  memcpy(buf, GS_SIGN_PREFIX, GS_SIGN_PREFIX_LEN);
  if (pubsub__pb__message__pack(&c, buf + GS_SIGN_PREFIX_LEN) != body) {
    free(buf);
    return NULL;
  }
  *len = GS_SIGN_PREFIX_LEN + body;
  return buf;
}

/* StrictSign checks. Returns 0 for a valid message (from and seqno
 * filled), P2P_ERR_PROTO for one to drop, P2P_ERR_NOMEM. */
static int msg_check(p2p_sigcache *cache, const Pubsub__Pb__Message *m,
                     p2p_peerid *from, uint64_t *seqno, const char **why) {
  p2p_pubkey pk;
  *why = NULL;
  if (m->topic == NULL || !m->has_from || !m->has_seqno || m->seqno.len != 8 ||
      !m->has_signature) {
    *why = "unsigned or incomplete message";
    return P2P_ERR_PROTO;
  }
  if (p2p_peerid_from_bytes(m->from.data, m->from.len, from) != 0) {
    *why = "bad from";
    return P2P_ERR_PROTO;
  }
  *seqno = be64(m->seqno.data);
  if (m->has_key) {
    if (p2p_pubkey_unmarshal(m->key.data, m->key.len, &pk) != 0 ||
        !p2p_peerid_matches_pubkey(from, &pk)) {
      *why = "key does not match from";
      return P2P_ERR_PROTO;
    }
  } else if (p2p_peerid_to_pubkey(from, &pk) != 0) {
    *why = "no key for from";
    return P2P_ERR_PROTO;
  }
  size_t len;
  uint8_t *in = sign_input(m, &len);
  if (in == NULL)
    return P2P_ERR_NOMEM;
  int rv = p2p_sigcache_verify(cache, &pk, in, len, m->signature.data,
                               m->signature.len);
  free(in);
  if (rv != 0) {
    *why = "bad signature";
    return P2P_ERR_PROTO;
  }
  return 0;
}

/* Sends frame to the peers of t a message goes to: mesh peers (or, when
 * flood, every peer of the topic) and floodsub peers, except `except`
 * and the peer whose ID is `from`. Returns the number of peers. */
static size_t route(p2p_gossipsub *g, gs_topic *t, const pvec *set, int flood,
                    const gs_peer *except, const p2p_peerid *from,
                    const uint8_t *f, size_t len, uint64_t now) {
  size_t n = 0;
  const pvec *all = &t->peers;
  for (size_t i = 0; i < all->n; i++) {
    gs_peer *p = all->v[i];
    if (p == except || (from && p2p_peerid_equal(&p->id, from)))
      continue;
    if (!flood && p->proto != PROTO_FLOOD && !pvec_has(set, p))
      continue;
    if (write_frame(g, p, f, len, now) == 0)
      n++;
  }
  return n;
}

/* Mesh forwarding only walks the mesh when there is no floodsub peer to
 * find: per-message cost O(D) instead of O(topic peers). */
static size_t forward(p2p_gossipsub *g, gs_topic *t, const gs_peer *except,
                      const p2p_peerid *from, const uint8_t *f, size_t len,
                      uint64_t now, size_t n_flood) {
  if (n_flood > 0)
    return route(g, t, &t->mesh, 0, except, from, f, len, now);
  size_t n = 0;
  for (size_t i = 0; i < t->mesh.n; i++) {
    gs_peer *p = t->mesh.v[i];
    if (p == except || p2p_peerid_equal(&p->id, from))
      continue;
    if (write_frame(g, p, f, len, now) == 0)
      n++;
  }
  return n;
}

static void handle_message(p2p_gossipsub *g, gs_peer *src,
                           Pubsub__Pb__Message *m, uint64_t now) {
  char a[P2P_PEERID_STR_MAX];
  if (m->topic == NULL)
    return;
  gs_topic *t = topic_find(g, m->topic);
  if (t == NULL || !t->subscribed)
    return; /* not ours to deliver or relay */
  p2p_peerid from;
  uint64_t seqno = 0;
  const char *why = NULL;
  /* Cheap field checks first, so the ID is computable. */
  if (!m->has_from || !m->has_seqno || m->seqno.len != 8 ||
      p2p_peerid_from_bytes(m->from.data, m->from.len, &from) != 0) {
    g->st.bad_sig++;
    gs_log(g, "dropped message from ", peer_str(src, a, sizeof(a)),
           ": missing from or seqno", NULL);
    return;
  }
  p2p_gossip_msg gm = {.topic = t->name,
                       .data = m->has_data ? m->data.data : NULL,
                       .data_len = m->has_data ? m->data.len : 0,
                       .from = &from,
                       .received_from = &src->id,
                       .seqno = be64(m->seqno.data)};
  uint8_t id[GS_MAX_ID_LEN];
  size_t id_len = msg_id(g, &gm, id);
  if (id_len == 0)
    return;
  if (seen_has(g, id, id_len)) {
    g->st.duplicates++;
    return;
  }
  /* Verify before marking seen, so a forged copy cannot shadow the
   * genuine message. */
  int rv = msg_check(g->cfg.sigcache, m, &from, &seqno, &why);
  if (rv == P2P_ERR_NOMEM)
    return;
  if (rv != 0) {
    g->st.bad_sig++;
    gs_log(g, "dropped message from ", peer_str(src, a, sizeof(a)), ": ", why);
    return;
  }
  if (seen_add(g, id, id_len, now) != 0)
    return;
  gm.id = id;
  gm.id_len = id_len;
  g->st.delivered++;
  if (g->cfg.on_message)
    g->cfg.on_message(g->cfg.ctx, &gm, now);
  /* The callback may have unsubscribed or removed peers: look again. */
  t = topic_find(g, m->topic);
  if (t == NULL)
    return;
  Pubsub__Pb__RPC rpc = PUBSUB__PB__RPC__INIT;
  Pubsub__Pb__Message *pm[1] = {m};
  rpc.n_publish = 1;
  rpc.publish = pm;
  size_t len;
  int err = 0;
  uint8_t *f = pack_frame(g, &rpc, &len, &err);
  if (f == NULL)
    return;
  if (t->subscribed)
    g->st.forwarded += forward(g, t, src, &from, f, len, now, t->n_flood);
  (void)mcache_put(g, t, id, id_len, f, len);
}

/* ------------------------------------------------------------------ */
/* Control messages. */

static void handle_ihave(p2p_gossipsub *g, gs_peer *p,
                         Pubsub__Pb__ControlIHave **ih, size_t n,
                         uint64_t now) {
  ProtobufCBinaryData *want = NULL;
  size_t n_want = 0, budget = GS_MAX_IDS_PER_RPC;
  for (size_t i = 0; i < n && budget > 0; i++) {
    if (ih[i]->topicid == NULL)
      continue;
    gs_topic *t = topic_find(g, ih[i]->topicid);
    if (t == NULL || !t->subscribed)
      continue;
    for (size_t j = 0; j < ih[i]->n_messageids && budget > 0; j++, budget--) {
      ProtobufCBinaryData *id = &ih[i]->messageids[j];
      if (id->len == 0 || id->len > GS_MAX_ID_LEN ||
          seen_has(g, id->data, id->len))
        continue;
      if (want == NULL) {
        want = malloc(GS_MAX_IDS_PER_RPC * sizeof(*want));
        if (want == NULL)
          return;
      }
      want[n_want++] = *id;
    }
  }
  if (n_want > 0) {
    Pubsub__Pb__ControlMessage ctl = PUBSUB__PB__CONTROL_MESSAGE__INIT;
    Pubsub__Pb__ControlIWant iw = PUBSUB__PB__CONTROL_IWANT__INIT;
    Pubsub__Pb__ControlIWant *iws[1] = {&iw};
    iw.n_messageids = n_want;
    iw.messageids = want;
    ctl.n_iwant = 1;
    ctl.iwant = iws;
    if (send_control(g, p, &ctl, now) == 0)
      g->st.iwant_out++;
  }
  free(want);
}

static void handle_iwant(p2p_gossipsub *g, gs_peer *p,
                         Pubsub__Pb__ControlIWant **iw, size_t n,
                         uint64_t now) {
  size_t budget = GS_MAX_IDS_PER_RPC;
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; j < iw[i]->n_messageids && budget > 0; j++, budget--) {
      gs_msg *m =
          mcache_get(g, iw[i]->messageids[j].data, iw[i]->messageids[j].len);
      if (m)
        (void)write_frame(g, p, m->frame, m->frame_len, now);
    }
}

static void handle_graft(p2p_gossipsub *g, gs_peer *p, const char *topic,
                         uint64_t now) {
  char a[P2P_PEERID_STR_MAX];
  if (topic == NULL || p->proto == PROTO_FLOOD)
    return;
  gs_topic *t = topic_find(g, topic);
  if (t == NULL || !t->subscribed) {
    /* Not a topic of ours: refuse without peer exchange. */
    if (t)
      send_prune(g, p, t, 0, g->cfg.prune_backoff_ns, now);
    return;
  }
  if (pvec_has(&t->mesh, p))
    return;
  if (in_backoff(t, p, now)) {
    /* v1.1: a GRAFT during backoff is refused and the backoff renewed. */
    gs_log(g, "GRAFT during backoff refused: ", peer_str(p, a, sizeof(a)),
           " on ", t->name);
    backoff_set(t, &p->id, now + g->cfg.prune_backoff_ns);
    send_prune(g, p, t, 0, g->cfg.prune_backoff_ns, now);
    return;
  }
  if (t->mesh.n >= g->cfg.d_hi && !p->outbound) {
    backoff_set(t, &p->id, now + g->cfg.prune_backoff_ns);
    send_prune(g, p, t, 1, g->cfg.prune_backoff_ns, now);
    return;
  }
  (void)pvec_push(&t->mesh, p);
}

static void handle_prune(p2p_gossipsub *g, gs_peer *p,
                         const Pubsub__Pb__ControlPrune *pr, uint64_t now) {
  char a[P2P_PEERID_STR_MAX], b[64];
  if (pr->topicid == NULL)
    return;
  gs_topic *t = topic_find(g, pr->topicid);
  if (t == NULL)
    return;
  pvec_remove(&t->mesh, p);
  uint64_t bo = g->cfg.prune_backoff_ns;
  if (pr->has_backoff)
    bo = pr->backoff > UINT64_MAX / NS_PER_S / 2 ? UINT64_MAX / 2
                                                 : pr->backoff * NS_PER_S;
  backoff_set(t, &p->id, now + bo);
  if (pr->n_peers > 0 && !g->cfg.no_px && p->proto == PROTO_V11) {
    size_t ok = 0;
    for (size_t i = 0; i < pr->n_peers; i++) {
      p2p_peerid id;
      if (pr->peers[i]->has_peerid &&
          p2p_peerid_from_bytes(pr->peers[i]->peerid.data,
                                pr->peers[i]->peerid.len, &id) == 0)
        ok++;
    }
    snprintf(b, sizeof(b), "%zu", ok);
    gs_log(g, "PRUNE with peer exchange from ", peer_str(p, a, sizeof(a)),
           ", peers: ", b);
  }
}

static void handle_rpc(p2p_gossipsub *g, gs_peer *p, Pubsub__Pb__RPC *rpc,
                       uint64_t now) {
  g->st.rpc_in++;
  for (size_t i = 0; i < rpc->n_subscriptions; i++) {
    Pubsub__Pb__RPC__SubOpts *so = rpc->subscriptions[i];
    if (so->topicid == NULL || so->topicid[0] == '\0')
      continue;
    int sub = so->has_subscribe && so->subscribe;
    gs_topic *t = sub ? topic_get(g, so->topicid) : topic_find(g, so->topicid);
    if (t == NULL)
      continue;
    int had = peer_sub(p, t) != NULL;
    if (sub && !had && peer_subscribe(p, t) == 0 && g->cfg.on_subscription)
      g->cfg.on_subscription(g->cfg.ctx, &p->id, t->name, 1, now);
    if (!sub && had) {
      peer_unsubscribe(p, t);
      if (g->cfg.on_subscription)
        g->cfg.on_subscription(g->cfg.ctx, &p->id, t->name, 0, now);
    }
    if (p->zombie)
      return;
  }
  for (size_t i = 0; i < rpc->n_publish && !p->zombie; i++)
    handle_message(g, p, rpc->publish[i], now);
  Pubsub__Pb__ControlMessage *c = rpc->control;
  if (c == NULL || p->proto == PROTO_FLOOD || p->zombie)
    return;
  if (c->n_ihave)
    handle_ihave(g, p, c->ihave, c->n_ihave, now);
  if (c->n_iwant)
    handle_iwant(g, p, c->iwant, c->n_iwant, now);
  for (size_t i = 0; i < c->n_graft; i++)
    handle_graft(g, p, c->graft[i]->topicid, now);
  for (size_t i = 0; i < c->n_prune; i++)
    handle_prune(g, p, c->prune[i], now);
}

/* Decodes and handles every whole RPC at the start of buf. Returns the
 * bytes consumed, or a negative error for a malformed or oversized RPC
 * (why says which). */
static ssize_t consume(p2p_gossipsub *g, gs_peer *p, const uint8_t *buf,
                       size_t len, uint64_t now, const char **why) {
  size_t off = 0;
  while (off < len && !p->zombie) {
    uint64_t body;
    int hdr = p2p_varint_decode(buf + off, len - off, &body);
    if (hdr < 0) {
      *why = "bad length prefix";
      return P2P_ERR_PROTO;
    }
    if (hdr == 0)
      break;
    if (body > g->cfg.max_message_size) {
      *why = "oversized RPC";
      return P2P_ERR_LIMIT;
    }
    if (len - off - (size_t)hdr < body)
      break;
    Pubsub__Pb__RPC *rpc =
        pubsub__pb__rpc__unpack(NULL, (size_t)body, buf + off + (size_t)hdr);
    if (rpc == NULL) {
      *why = "malformed RPC";
      return P2P_ERR_PROTO;
    }
    handle_rpc(g, p, rpc, now);
    pubsub__pb__rpc__free_unpacked(rpc, NULL);
    off += (size_t)hdr + (size_t)body;
  }
  return (ssize_t)off;
}

/* ------------------------------------------------------------------ */
/* Streams and host events. */

static void peer_conn_cb(void *ctx, p2p_conn *c);

/* Every entry point passes its time here. The first one starts the
 * heartbeat and takes on the connections that were open before us. */
static void ensure_started(p2p_gossipsub *g, uint64_t now) {
  g->now = now;
  if (g->next_hb == 0) {
    g->next_hb = now + g->cfg.heartbeat_delay_ns;
    p2p_host_foreach_conn(g->h, peer_conn_cb, g);
  }
}

static void out_on_open(void *user, p2p_stream *s, const char *proto,
                        uint64_t now) {
  (void)user;
  gs_peer *p = p2p_host_stream_ctx(s);
  p2p_gossipsub *g = user;
  if (p == NULL)
    return;
  p->out_state = OUT_OPEN;
  peer_set_proto(p, proto);
  send_subs(g, p, NULL, 1, now);
}

static void out_on_data(void *user, p2p_stream *s, const uint8_t *buf,
                        size_t len, uint64_t now) {
  /* Peers do not write on our stream; anything they send is ignored. */
  (void)user, (void)s, (void)buf, (void)len, (void)now;
}

static void out_on_fin(void *user, p2p_stream *s, uint64_t now) {
  (void)user, (void)s, (void)now;
}

static void out_on_close(void *user, p2p_stream *s, int err, uint64_t now) {
  gs_peer *p = p2p_host_stream_ctx(s);
  (void)user, (void)now;
  if (p == NULL || p->out != s)
    return;
  p->out = NULL;
  /* A peer without pubsub refused every protocol: do not ask again. */
  p->out_state = err == P2P_ERR_NOTFOUND ? OUT_REFUSED : OUT_NONE;
}

static const p2p_stream_handler out_handler = {out_on_open, out_on_data,
                                               out_on_fin, out_on_close};

static void open_out(p2p_gossipsub *g, gs_peer *p, p2p_conn *c, uint64_t now) {
  p2p_stream *s = NULL;
  if (p->out_state != OUT_NONE)
    return;
  int rv =
      p2p_host_stream_open(g->h, c, gs_protos, 3, &out_handler, g, now, &s);
  if (rv != 0 || s == NULL)
    return;
  p2p_host_stream_set_ctx(s, p);
  p->out = s;
  p->out_state = OUT_OPENING;
  p->outbound = p2p_host_conn_outbound(c);
}

static void in_free(gs_in *in) {
  free(in->buf);
  free(in);
}

static void in_unlink(gs_in *in) {
  if (in->peer == NULL)
    return;
  for (gs_in **pp = &in->peer->ins; *pp; pp = &(*pp)->next)
    if (*pp == in) {
      *pp = in->next;
      break;
    }
  in->peer = NULL;
}

static void in_on_open(void *user, p2p_stream *s, const char *proto,
                       uint64_t now) {
  p2p_gossipsub *g = user;
  const p2p_peerid *id = p2p_host_conn_peer(p2p_host_stream_conn(s));
  ensure_started(g, now);
  gs_peer *p = id ? peer_get(g, id) : NULL;
  gs_in *in = p ? calloc(1, sizeof(*in)) : NULL;
  if (in == NULL) {
    p2p_host_stream_reset(s, now);
    return;
  }
  in->g = g;
  in->peer = p;
  in->s = s;
  in->next = p->ins;
  p->ins = in;
  p2p_host_stream_set_ctx(s, in);
  if (p->out_state != OUT_OPEN)
    peer_set_proto(p, proto);
  /* We may not have heard CONNECTED for this connection (a service added
   * late): make sure our side of the exchange is there too. */
  if (p->out_state == OUT_NONE)
    open_out(g, p, p2p_host_stream_conn(s), now);
}

/* Feeds stream bytes to the reader of `in`. Returns 0 or the error for
 * which the stream must be reset (logged). */
static int in_feed(gs_in *in, const uint8_t *buf, size_t len, uint64_t now) {
  p2p_gossipsub *g = in->g;
  const char *why = "";
  char a[P2P_PEERID_STR_MAX];
  ssize_t used;
  int rv = 0;
  in->busy = 1;
  g->busy++;
  if (in->len == 0) {
    used = consume(g, in->peer, buf, len, now, &why);
    if (used >= 0) {
      buf += used;
      len -= (size_t)used;
    }
  } else {
    used = 0;
  }
  if (used >= 0 && len > 0 && !in->dead && in->peer) {
    if (in->len + len > in->cap) {
      size_t nc = in->cap ? in->cap : 256;
      while (nc < in->len + len)
        nc *= 2;
      uint8_t *nb = realloc(in->buf, nc);
      if (nb == NULL) {
        used = P2P_ERR_NOMEM;
        why = "out of memory";
        goto out;
      }
      in->buf = nb;
      in->cap = nc;
    }
    memcpy(in->buf + in->len, buf, len);
    in->len += len;
    used = consume(g, in->peer, in->buf, in->len, now, &why);
    if (used > 0) {
      memmove(in->buf, in->buf + used, in->len - (size_t)used);
      in->len -= (size_t)used;
    }
    /* The largest legal frame: prefix plus max_message_size. */
    if (used >= 0 && in->len > g->cfg.max_message_size + P2P_VARINT_MAX_LEN) {
      used = P2P_ERR_LIMIT;
      why = "oversized RPC";
    }
  }
out:
  in->busy = 0;
  if (--g->busy == 0)
    zombies_free(g);
  if (used < 0) {
    rv = (int)used;
    g->st.bad_rpc++;
    if (in->peer)
      gs_log(g, why, " from ", peer_str(in->peer, a, sizeof(a)),
             ": stream reset");
  }
  return rv;
}

static void in_on_data(void *user, p2p_stream *s, const uint8_t *buf,
                       size_t len, uint64_t now) {
  gs_in *in = p2p_host_stream_ctx(s);
  (void)user;
  if (in == NULL || in->dead || in->peer == NULL)
    return;
  int rv = in_feed(in, buf, len, now);
  if (in->dead) {
    in_free(in); /* on_close came during the callbacks */
    return;
  }
  if (rv != 0)
    p2p_host_stream_reset(s, now); /* on_close frees in */
}

static void in_on_fin(void *user, p2p_stream *s, uint64_t now) {
  (void)user, (void)s, (void)now;
}

static void in_on_close(void *user, p2p_stream *s, int err, uint64_t now) {
  gs_in *in = p2p_host_stream_ctx(s);
  (void)user, (void)err, (void)now;
  if (in == NULL)
    return;
  p2p_host_stream_set_ctx(s, NULL);
  in_unlink(in);
  if (in->busy)
    in->dead = 1;
  else
    in_free(in);
}

static const p2p_stream_handler in_handler = {in_on_open, in_on_data, in_on_fin,
                                              in_on_close};

static void svc_on_event(void *ctx, const p2p_host_event *ev) {
  p2p_gossipsub *g = ctx;
  ensure_started(g, ev->now);
  if (ev->peer == NULL || ev->conn == NULL)
    return;
  if (ev->type == P2P_HOST_EV_CONNECTED) {
    gs_peer *p = peer_get(g, ev->peer);
    if (p && p->out_state == OUT_NONE)
      open_out(g, p, ev->conn, ev->now);
  } else if (ev->type == P2P_HOST_EV_CONN_CLOSED) {
    gs_peer *p = peer_find(g, ev->peer);
    if (p == NULL)
      return;
    if (p->out && p2p_host_stream_conn(p->out) == ev->conn) {
      p2p_host_stream_set_ctx(p->out, NULL);
      p->out = NULL;
      p->out_state = OUT_NONE;
    }
    p2p_conn *other = p2p_host_find_conn(g->h, ev->peer);
    if (other == NULL)
      peer_remove(g, p);
    else if (p->out_state == OUT_NONE)
      open_out(g, p, other, ev->now);
  }
}

/* ------------------------------------------------------------------ */
/* Heartbeat. */

/* Peers of t that may join its mesh: gossipsub peers with an open
 * stream, not in the mesh, not backed off; outbound_only for D_out. */
static size_t mesh_candidates(p2p_gossipsub *g, gs_topic *t, gs_peer **out,
                              int outbound_only, uint64_t now) {
  size_t n = 0;
  (void)g;
  for (size_t i = 0; i < t->peers.n; i++) {
    gs_peer *p = t->peers.v[i];
    if (p->proto == PROTO_FLOOD || p->out_state != OUT_OPEN ||
        pvec_has(&t->mesh, p) || in_backoff(t, p, now) ||
        (outbound_only && !p->outbound))
      continue;
    out[n++] = p;
  }
  return n;
}

static void graft_some(p2p_gossipsub *g, gs_topic *t, size_t want,
                       int outbound_only, uint64_t now) {
  if (want == 0 || t->peers.n == 0)
    return;
  gs_peer **c = malloc(t->peers.n * sizeof(*c));
  if (c == NULL)
    return;
  size_t n = mesh_candidates(g, t, c, outbound_only, now);
  size_t k = n < want ? n : want;
  shuffle_prefix(g, c, n, k);
  for (size_t i = 0; i < k; i++)
    if (pvec_push(&t->mesh, c[i]) == 0)
      send_graft(g, c[i], t, now);
  free(c);
}

static void mesh_maintain(p2p_gossipsub *g, gs_topic *t, uint64_t now) {
  const p2p_gossipsub_config *cfg = &g->cfg;
  /* Peers that lost their stream cannot be in a mesh. */
  for (size_t i = 0; i < t->mesh.n;)
    if (t->mesh.v[i]->out_state != OUT_OPEN)
      pvec_remove(&t->mesh, t->mesh.v[i]);
    else
      i++;
  if (t->mesh.n < cfg->d_lo)
    graft_some(g, t, cfg->d - t->mesh.n, 0, now);
  if (t->mesh.n > cfg->d_hi) {
    /* Keep D at random, with at least D_out outbound peers among them. */
    gs_peer **m = t->mesh.v;
    size_t n = t->mesh.n, d = cfg->d, outs = 0;
    shuffle_prefix(g, m, n, n);
    for (size_t i = 0; i < d; i++)
      outs += m[i]->outbound;
    for (size_t j = d; j < n && outs < cfg->d_out; j++) {
      if (!m[j]->outbound)
        continue;
      /* Swap the last inbound peer among the kept for this one. */
      for (size_t i = d; i-- > 0;)
        if (!m[i]->outbound) {
          gs_peer *tmp = m[i];
          m[i] = m[j];
          m[j] = tmp;
          outs++;
          break;
        }
    }
    for (size_t j = d; j < n; j++) {
      backoff_set(t, &m[j]->id, now + cfg->prune_backoff_ns);
      send_prune(g, m[j], t, 1, cfg->prune_backoff_ns, now);
    }
    t->mesh.n = d;
  }
  if (t->mesh.n >= cfg->d_lo) {
    size_t outs = 0;
    for (size_t i = 0; i < t->mesh.n; i++)
      outs += t->mesh.v[i]->outbound;
    if (outs < cfg->d_out)
      graft_some(g, t, cfg->d_out - outs, 1, now);
  }
}

static void fanout_maintain(p2p_gossipsub *g, gs_topic *t, uint64_t now) {
  if (t->fanout_last_ns + g->cfg.fanout_ttl_ns <= now) {
    t->fanout.n = 0;
    t->fanout_last_ns = 0;
    return;
  }
  for (size_t i = 0; i < t->fanout.n;)
    if (!peer_sub(t->fanout.v[i], t) || t->fanout.v[i]->out_state != OUT_OPEN)
      pvec_remove(&t->fanout, t->fanout.v[i]);
    else
      i++;
  if (t->fanout.n < g->cfg.d && t->peers.n > 0) {
    gs_peer **c = malloc(t->peers.n * sizeof(*c));
    if (c == NULL)
      return;
    size_t n = 0;
    for (size_t i = 0; i < t->peers.n; i++) {
      gs_peer *p = t->peers.v[i];
      if (p->proto != PROTO_FLOOD && p->out_state == OUT_OPEN &&
          !pvec_has(&t->fanout, p))
        c[n++] = p;
    }
    size_t want = g->cfg.d - t->fanout.n, k = n < want ? n : want;
    shuffle_prefix(g, c, n, k);
    for (size_t i = 0; i < k; i++)
      (void)pvec_push(&t->fanout, c[i]);
    free(c);
  }
}

/* IHAVE of the last mcache_gossip windows' messages of t to max(D_lazy,
 * n/4) gossipsub peers of t outside its mesh and fanout. */
static void emit_gossip(p2p_gossipsub *g, gs_topic *t, uint64_t now) {
  size_t n_ids = 0;
  for (unsigned w = 0; w < g->cfg.mcache_gossip; w++)
    for (size_t i = 0; i < g->mc[w].n; i++)
      n_ids += g->mc[w].v[i]->t == t;
  if (n_ids == 0 || t->peers.n == 0)
    return;
  if (n_ids > GS_MAX_IDS_PER_RPC)
    n_ids = GS_MAX_IDS_PER_RPC;
  gs_peer **c = malloc(t->peers.n * sizeof(*c));
  ProtobufCBinaryData *ids = malloc(n_ids * sizeof(*ids));
  if (c == NULL || ids == NULL) {
    free(c);
    free(ids);
    return;
  }
  size_t k = 0;
  for (unsigned w = 0; w < g->cfg.mcache_gossip && k < n_ids; w++)
    for (size_t i = 0; i < g->mc[w].n && k < n_ids; i++)
      if (g->mc[w].v[i]->t == t) {
        ids[k].data = g->mc[w].v[i]->id;
        ids[k].len = g->mc[w].v[i]->id_len;
        k++;
      }
  size_t n = 0;
  for (size_t i = 0; i < t->peers.n; i++) {
    gs_peer *p = t->peers.v[i];
    if (p->proto != PROTO_FLOOD && p->out_state == OUT_OPEN &&
        !pvec_has(&t->mesh, p) && !pvec_has(&t->fanout, p))
      c[n++] = p;
  }
  size_t want = n / GS_GOSSIP_FACTOR_DIV;
  if (want < g->cfg.d_lazy)
    want = g->cfg.d_lazy;
  if (want > n)
    want = n;
  shuffle_prefix(g, c, n, want);
  Pubsub__Pb__ControlMessage ctl = PUBSUB__PB__CONTROL_MESSAGE__INIT;
  Pubsub__Pb__ControlIHave ih = PUBSUB__PB__CONTROL_IHAVE__INIT;
  Pubsub__Pb__ControlIHave *ihs[1] = {&ih};
  ih.topicid = t->name;
  ih.n_messageids = k;
  ih.messageids = ids;
  ctl.n_ihave = 1;
  ctl.ihave = ihs;
  Pubsub__Pb__RPC rpc = PUBSUB__PB__RPC__INIT;
  rpc.control = &ctl;
  size_t len;
  int err = 0;
  uint8_t *f = pack_frame(g, &rpc, &len, &err);
  for (size_t i = 0; f && i < want; i++)
    if (write_frame(g, c[i], f, len, now) == 0)
      g->st.ihave_out++;
  free(f);
  free(c);
  free(ids);
}

static void heartbeat(p2p_gossipsub *g, uint64_t now) {
  for (size_t i = 0; i < g->n_topics; i++) {
    gs_topic *t = g->topics[i];
    backoff_expire(t, now);
    if (t->subscribed)
      mesh_maintain(g, t, now);
    else if (t->fanout.n > 0 || t->fanout_last_ns)
      fanout_maintain(g, t, now);
  }
  for (size_t i = 0; i < g->n_topics; i++) {
    gs_topic *t = g->topics[i];
    if (t->subscribed || t->fanout.n > 0)
      emit_gossip(g, t, now);
  }
  mcache_shift(g);
  seen_expire(g, now);
  topics_gc(g);
}

static uint64_t svc_expiry(void *ctx) {
  p2p_gossipsub *g = ctx;
  return g->next_hb ? g->next_hb : UINT64_MAX;
}

static void svc_on_expiry(void *ctx, uint64_t now) {
  p2p_gossipsub *g = ctx;
  if (g->next_hb == 0 || g->next_hb > now)
    return;
  heartbeat(g, now);
  g->next_hb += g->cfg.heartbeat_ns;
  if (g->next_hb <= now)
    g->next_hb = now + g->cfg.heartbeat_ns; /* we were late: skip ahead */
}

/* ------------------------------------------------------------------ */
/* Public API. */

static void peer_conn_cb(void *ctx, p2p_conn *c) {
  p2p_gossipsub *g = ctx;
  const p2p_peerid *id = p2p_host_conn_peer(c);
  gs_peer *p = id ? peer_get(g, id) : NULL;
  if (p && p->out_state == OUT_NONE)
    open_out(g, p, c, g->now);
}

int p2p_gossipsub_new(p2p_host *h, const p2p_gossipsub_config *cfg,
                      p2p_gossipsub **out) {
  if (h == NULL || cfg == NULL || out == NULL)
    return P2P_ERR_INVALID;
  *out = NULL;
  p2p_gossipsub *g = calloc(1, sizeof(*g));
  if (g == NULL)
    return P2P_ERR_NOMEM;
  g->h = h;
  g->cfg = *cfg;
  p2p_gossipsub_config *c = &g->cfg;
  if (c->d == 0)
    c->d = 6;
  if (c->d_lo == 0)
    c->d_lo = 4;
  if (c->d_hi == 0)
    c->d_hi = 12;
  if (c->d_lazy == 0)
    c->d_lazy = 6;
  if (c->d_out == 0) {
    /* The default 2, kept below D_lo and within D / 2 for small D. */
    c->d_out = 2;
    if (c->d_out >= c->d_lo)
      c->d_out = c->d_lo ? c->d_lo - 1 : 0;
    if (c->d_out > c->d / 2)
      c->d_out = c->d / 2;
  }
  if (c->heartbeat_ns == 0)
    c->heartbeat_ns = NS_PER_S;
  if (c->heartbeat_delay_ns == 0)
    c->heartbeat_delay_ns = 100000000ull;
  if (c->fanout_ttl_ns == 0)
    c->fanout_ttl_ns = 60ull * NS_PER_S;
  if (c->mcache_len == 0)
    c->mcache_len = 5;
  if (c->mcache_gossip == 0)
    c->mcache_gossip = 3;
  if (c->seen_ttl_ns == 0)
    c->seen_ttl_ns = 120ull * NS_PER_S;
  if (c->prune_backoff_ns == 0)
    c->prune_backoff_ns = 60ull * NS_PER_S;
  if (c->prune_peers == 0)
    c->prune_peers = 16;
  if (c->max_message_size == 0)
    c->max_message_size = 1024u * 1024u;
  /* The spec's constraints: D_lo <= D <= D_hi, D_out < D_lo and
   * D_out <= D / 2; gossip windows within the history. */
  if (c->d_lo > c->d || c->d > c->d_hi || c->d_out >= c->d_lo ||
      c->d_out > c->d / 2 || c->mcache_gossip > c->mcache_len ||
      c->max_message_size > P2P_VARINT_MAX) {
    free(g);
    return P2P_ERR_INVALID;
  }
  int rv = p2p_peerid_from_pubkey(&p2p_host_key(h)->pub, &g->self);
  if (rv != 0) {
    free(g);
    return rv;
  }
  g->seqno = rand_u64(g);
  g->peer_map.seed = rand_u64(g);
  seen_key_init(g);
  g->mc_map.seed = rand_u64(g);
  g->mc = calloc(c->mcache_len, sizeof(*g->mc));
  if (g->mc == NULL) {
    free(g);
    return P2P_ERR_NOMEM;
  }
  for (size_t i = 0; i < 3; i++) {
    rv = p2p_host_handle(h, gs_protos[i], &in_handler, g);
    if (rv != 0) {
      while (i-- > 0)
        (void)p2p_host_unhandle(h, gs_protos[i]);
      free(g->mc);
      free(g);
      return rv;
    }
  }
  p2p_host_service svc = {svc_on_event, svc_expiry, svc_on_expiry};
  rv = p2p_host_add_service(h, &svc, g);
  if (rv != 0) {
    for (size_t i = 0; i < 3; i++)
      (void)p2p_host_unhandle(h, gs_protos[i]);
    free(g->mc);
    free(g);
    return rv;
  }
  *out = g;
  return 0;
}

void p2p_gossipsub_del(p2p_gossipsub *g) {
  if (g == NULL)
    return;
  p2p_host_remove_service(g->h, g);
  for (size_t i = 0; i < 3; i++)
    (void)p2p_host_unhandle(g->h, gs_protos[i]);
  for (size_t i = 0; i < g->n_peers; i++) {
    gs_peer *p = g->peers[i];
    for (gs_in *in = p->ins, *next; in; in = next) {
      next = in->next;
      p2p_host_stream_set_ctx(in->s, NULL);
      p2p_host_stream_reset(in->s, g->now);
      if (in->busy) {
        in->dead = 1;
        in->peer = NULL;
      } else {
        in_free(in);
      }
    }
    if (p->out) {
      p2p_host_stream_set_ctx(p->out, NULL);
      p2p_host_stream_reset(p->out, g->now);
    }
    free(p->subs);
    free(p);
  }
  zombies_free(g);
  free(g->peers);
  free(g->peer_map.s);
  for (size_t i = 0; i < g->cfg.mcache_len; i++) {
    mcache_free_window(g, &g->mc[i]);
    free(g->mc[i].v);
  }
  free(g->mc);
  free(g->mc_map.s);
  free(g->seen.ring);
  free(g->seen.set);
  for (size_t i = 0; i < g->n_topics; i++)
    topic_free(g->topics[i]);
  free(g->topics);
  free(g);
}

static int topic_name_ok(const p2p_gossipsub *g, const char *topic) {
  return topic && topic[0] != '\0' &&
         strlen(topic) < g->cfg.max_message_size / 2;
}

int p2p_gossipsub_subscribe(p2p_gossipsub *g, const char *topic, uint64_t now) {
  if (g == NULL || !topic_name_ok(g, topic))
    return P2P_ERR_INVALID;
  ensure_started(g, now);
  gs_topic *t = topic_get(g, topic);
  if (t == NULL)
    return P2P_ERR_NOMEM;
  if (t->subscribed)
    return 0;
  t->subscribed = 1;
  send_subs(g, NULL, t->name, 1, now);
  /* Join: fanout peers first, then random peers of the topic, up to D. */
  for (size_t i = 0; i < t->fanout.n && t->mesh.n < g->cfg.d; i++) {
    gs_peer *p = t->fanout.v[i];
    if (p->out_state == OUT_OPEN && !in_backoff(t, p, now) &&
        pvec_push(&t->mesh, p) == 0)
      send_graft(g, p, t, now);
  }
  t->fanout.n = 0;
  t->fanout_last_ns = 0;
  if (t->mesh.n < g->cfg.d)
    graft_some(g, t, g->cfg.d - t->mesh.n, 0, now);
  return 0;
}

int p2p_gossipsub_unsubscribe(p2p_gossipsub *g, const char *topic,
                              uint64_t now) {
  if (g == NULL || topic == NULL)
    return P2P_ERR_INVALID;
  ensure_started(g, now);
  gs_topic *t = topic_find(g, topic);
  if (t == NULL || !t->subscribed)
    return P2P_ERR_NOTFOUND;
  t->subscribed = 0;
  send_subs(g, NULL, t->name, 0, now);
  for (size_t i = 0; i < t->mesh.n; i++) {
    backoff_set(t, &t->mesh.v[i]->id, now + GS_UNSUB_BACKOFF_NS);
    send_prune(g, t->mesh.v[i], t, 1, GS_UNSUB_BACKOFF_NS, now);
  }
  t->mesh.n = 0;
  return 0;
}

int p2p_gossipsub_publish(p2p_gossipsub *g, const char *topic,
                          const uint8_t *data, size_t len, uint64_t now,
                          uint8_t *id, size_t *id_len, size_t cap) {
  if (g == NULL || !topic_name_ok(g, topic) || (data == NULL && len > 0) ||
      (id != NULL && id_len == NULL))
    return P2P_ERR_INVALID;
  ensure_started(g, now);
  uint8_t seq[8], sig[P2P_ED25519_SIG_LEN];
  uint64_t seqno = ++g->seqno;
  for (int i = 0; i < 8; i++)
    seq[i] = (uint8_t)(seqno >> (56 - 8 * i));
  Pubsub__Pb__Message m = PUBSUB__PB__MESSAGE__INIT;
  m.has_from = 1;
  m.from.data = g->self.bytes;
  m.from.len = g->self.len;
  m.has_data = 1;
  m.data.data = (uint8_t *)(uintptr_t)data;
  m.data.len = len;
  m.has_seqno = 1;
  m.seqno.data = seq;
  m.seqno.len = 8;
  m.topic = (char *)(uintptr_t)topic;
  if (len > g->cfg.max_message_size)
    return P2P_ERR_LIMIT;
  size_t in_len;
  uint8_t *in = sign_input(&m, &in_len);
  if (in == NULL)
    return P2P_ERR_NOMEM;
  int rv = p2p_privkey_sign(p2p_host_key(g->h), in, in_len, sig);
  free(in);
  if (rv != 0)
    return rv;
  m.has_signature = 1;
  m.signature.data = sig;
  m.signature.len = sizeof(sig);
  Pubsub__Pb__RPC rpc = PUBSUB__PB__RPC__INIT;
  Pubsub__Pb__Message *pm[1] = {&m};
  rpc.n_publish = 1;
  rpc.publish = pm;
  size_t flen;
  int err = 0;
  uint8_t *f = pack_frame(g, &rpc, &flen, &err);
  if (f == NULL)
    return err;
  p2p_gossip_msg gm = {.topic = topic,
                       .data = data,
                       .data_len = len,
                       .from = &g->self,
                       .received_from = &g->self,
                       .seqno = seqno};
  uint8_t mid[GS_MAX_ID_LEN];
  size_t mid_len = msg_id(g, &gm, mid);
  gs_topic *t = topic_get(g, topic);
  if (mid_len == 0 || t == NULL) {
    free(f);
    return mid_len == 0 ? P2P_ERR_INVALID : P2P_ERR_NOMEM;
  }
  if (id) {
    if (cap < mid_len) {
      free(f);
      return P2P_ERR_LIMIT;
    }
    memcpy(id, mid, mid_len);
    *id_len = mid_len;
  }
  rv = seen_add(g, mid, mid_len, now);
  if (rv != 0) {
    free(f);
    return rv;
  }
  if (!g->cfg.no_flood_publish) {
    route(g, t, &t->mesh, 1, NULL, NULL, f, flen, now);
  } else if (t->subscribed) {
    route(g, t, &t->mesh, 0, NULL, NULL, f, flen, now);
  } else {
    t->fanout_last_ns = now;
    if (t->fanout.n == 0)
      fanout_maintain(g, t, now);
    route(g, t, &t->fanout, 0, NULL, NULL, f, flen, now);
  }
  g->st.published++;
  return mcache_put(g, t, mid, mid_len, f, flen);
}

void p2p_gossipsub_get_stats(const p2p_gossipsub *g, p2p_gossipsub_stats *st) {
  if (st == NULL)
    return;
  memset(st, 0, sizeof(*st));
  if (g == NULL)
    return;
  *st = g->st;
  for (size_t i = 0; i < g->n_peers; i++)
    st->peers += g->peers[i]->out_state == OUT_OPEN;
  for (size_t i = 0; i < g->n_topics; i++)
    st->mesh_peers += (unsigned)g->topics[i]->mesh.n;
}

unsigned p2p_gossipsub_mesh_size(const p2p_gossipsub *g, const char *topic) {
  if (g == NULL || topic == NULL)
    return 0;
  const gs_topic *t = topic_find(g, topic);
  return t ? (unsigned)t->mesh.n : 0;
}

int p2p_gossipsub_inject(p2p_gossipsub *g, const p2p_peerid *peer,
                         const uint8_t *buf, size_t len, uint64_t now) {
  if (g == NULL || peer == NULL || (buf == NULL && len > 0))
    return P2P_ERR_INVALID;
  ensure_started(g, now);
  gs_peer *p = peer_get(g, peer);
  if (p == NULL)
    return P2P_ERR_NOMEM;
  if (p->out_state != OUT_OPEN && p->proto == PROTO_NONE)
    p->proto = PROTO_V11;
  gs_in tmp;
  memset(&tmp, 0, sizeof(tmp));
  tmp.g = g;
  tmp.peer = p;
  int rv = in_feed(&tmp, buf, len, now);
  free(tmp.buf);
  return rv;
}
