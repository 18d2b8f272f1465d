/*
 * A cache of verified signatures (see p2p/sigcache.h): an open-addressed
 * table of SHA-256 digests with linear probing, and a ring of the same
 * digests in insertion order for eviction (deletion re-inserts the rest of
 * the probe run, so lookups never stop at a hole).
 */
#include "p2p/sigcache.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
  uint8_t d[32];
  int used;
} slot;

struct p2p_sigcache {
  slot *tab;     /* 2 * cap slots */
  size_t mask;   /* 2 * cap - 1 */
  uint8_t *ring; /* cap digests, oldest at `head` once full */
  size_t cap, n, head;
  uint64_t hits, misses;
};

int p2p_sigcache_new(size_t capacity, p2p_sigcache **out) {
  if (out == NULL || capacity > ((size_t)1 << 30))
    return P2P_ERR_INVALID;
  size_t cap = 64;
  while (cap < capacity)
    cap <<= 1;
  p2p_sigcache *c = calloc(1, sizeof *c);
  if (c == NULL)
    return P2P_ERR_NOMEM;
  c->tab = calloc(2 * cap, sizeof *c->tab);
  c->ring = malloc(cap * 32);
  if (c->tab == NULL || c->ring == NULL) {
    p2p_sigcache_del(c);
    return P2P_ERR_NOMEM;
  }
  c->cap = cap;
  c->mask = 2 * cap - 1;
  *out = c;
  return 0;
}

void p2p_sigcache_del(p2p_sigcache *c) {
  if (c == NULL)
    return;
  free(c->tab);
  free(c->ring);
  free(c);
}

static size_t home(const p2p_sigcache *c, const uint8_t d[32]) {
  size_t h;
  memcpy(&h, d, sizeof h);
  return h & c->mask;
}

static slot *find(p2p_sigcache *c, const uint8_t d[32]) {
  for (size_t i = home(c, d);; i = (i + 1) & c->mask) {
    if (!c->tab[i].used)
      return NULL;
    if (memcmp(c->tab[i].d, d, 32) == 0)
      return &c->tab[i];
  }
}

static void insert(p2p_sigcache *c, const uint8_t d[32]) {
  size_t i = home(c, d);
  while (c->tab[i].used)
    i = (i + 1) & c->mask;
  memcpy(c->tab[i].d, d, 32);
  c->tab[i].used = 1;
}

static void erase(p2p_sigcache *c, slot *s) {
  size_t i = (size_t)(s - c->tab);
  s->used = 0;
  for (size_t j = (i + 1) & c->mask; c->tab[j].used; j = (j + 1) & c->mask) {
    uint8_t d[32];
    memcpy(d, c->tab[j].d, 32);
    c->tab[j].used = 0;
    insert(c, d);
  }
}

int p2p_sigcache_verify(p2p_sigcache *c, const p2p_pubkey *key,
                        const uint8_t *msg, size_t len, const uint8_t *sig,
                        size_t sig_len) {
  if (c == NULL)
    return p2p_pubkey_verify(key, msg, len, sig, sig_len);
  if (key == NULL || (msg == NULL && len) || sig == NULL)
    return P2P_ERR_INVALID;
  uint8_t d[32];
  crypto_hash_sha256_state st;
  uint8_t n[8];
  for (int i = 0; i < 8; i++)
    n[i] = (uint8_t)((uint64_t)sig_len >> (8 * i));
  crypto_hash_sha256_init(&st);
  crypto_hash_sha256_update(&st, (const uint8_t *)&key->type, sizeof key->type);
  crypto_hash_sha256_update(&st, key->data, sizeof key->data);
  crypto_hash_sha256_update(&st, n, sizeof n);
  crypto_hash_sha256_update(&st, sig, sig_len);
  crypto_hash_sha256_update(&st, msg, len);
  crypto_hash_sha256_final(&st, d);
  if (find(c, d)) {
    c->hits++;
    return 0;
  }
  c->misses++;
  int rc = p2p_pubkey_verify(key, msg, len, sig, sig_len);
  if (rc != 0)
    return rc;
  if (c->n == c->cap) {
    slot *old = find(c, c->ring + c->head * 32);
    if (old)
      erase(c, old);
    memcpy(c->ring + c->head * 32, d, 32);
    c->head = (c->head + 1) % c->cap;
  } else {
    memcpy(c->ring + c->n * 32, d, 32);
    c->n++;
  }
  insert(c, d);
  return 0;
}

void p2p_sigcache_stats(const p2p_sigcache *c, uint64_t *hits,
                        uint64_t *misses) {
  if (hits)
    *hits = c ? c->hits : 0;
  if (misses)
    *misses = c ? c->misses : 0;
}
