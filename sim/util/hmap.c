#include "sim/util/hmap.h"

#include <stdlib.h>

static inline size_t hash2(uint64_t a, uint64_t b) {
  /* A strong 64-bit mix (SplitMix64 finaliser) of both words: keys are often
   * small consecutive integers, which a weak hash would cluster. */
  uint64_t x = a * 0x9e3779b97f4a7c15ull ^ (b + 0x632be59bd9b4e019ull);
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return (size_t)x;
}

void sim_hmap_init(sim_hmap *m) {
  m->slots = NULL;
  m->mask = 0;
  m->len = 0;
}

void sim_hmap_free(sim_hmap *m) {
  free(m->slots);
  sim_hmap_init(m);
}

void *sim_hmap_get(const sim_hmap *m, uint64_t a, uint64_t b) {
  if (m->slots == NULL)
    return NULL;
  for (size_t i = hash2(a, b) & m->mask;; i = (i + 1) & m->mask) {
    const sim_hmap_entry *e = &m->slots[i];
    if (e->val == NULL)
      return NULL;
    if (e->a == a && e->b == b)
      return e->val;
  }
}

/* Rehashes into a table of ncap slots (a power of two). */
static int resize(sim_hmap *m, size_t ncap) {
  sim_hmap_entry *ns = calloc(ncap, sizeof *ns);
  if (ns == NULL)
    return P2P_ERR_NOMEM;
  size_t nmask = ncap - 1;
  if (m->slots != NULL) {
    for (size_t i = 0; i <= m->mask; i++) {
      sim_hmap_entry *e = &m->slots[i];
      if (e->val == NULL)
        continue;
      size_t j = hash2(e->a, e->b) & nmask;
      while (ns[j].val != NULL)
        j = (j + 1) & nmask;
      ns[j] = *e;
    }
    free(m->slots);
  }
  m->slots = ns;
  m->mask = nmask;
  return 0;
}

int sim_hmap_reserve(sim_hmap *m, size_t extra) {
  size_t cap = m->slots ? m->mask + 1 : 0;
  if (m->slots != NULL && (m->len + extra) * 2 <= cap)
    return 0;
  size_t ncap = cap ? cap * 2 : 16;
  while ((m->len + extra) * 2 > ncap) {
    if (ncap > SIZE_MAX / 4)
      return P2P_ERR_NOMEM;
    ncap *= 2;
  }
  return resize(m, ncap);
}

int sim_hmap_put(sim_hmap *m, uint64_t a, uint64_t b, void *val) {
  if (val == NULL)
    return P2P_ERR_INVALID;
  int rc = sim_hmap_reserve(m, 1);
  if (rc < 0)
    return rc;
  for (size_t i = hash2(a, b) & m->mask;; i = (i + 1) & m->mask) {
    sim_hmap_entry *e = &m->slots[i];
    if (e->val == NULL) {
      e->a = a;
      e->b = b;
      e->val = val;
      m->len++;
      return 0;
    }
    if (e->a == a && e->b == b) {
      e->val = val;
      return 0;
    }
  }
}

void *sim_hmap_del(sim_hmap *m, uint64_t a, uint64_t b) {
  if (m->slots == NULL)
    return NULL;
  size_t i = hash2(a, b) & m->mask;
  for (;; i = (i + 1) & m->mask) {
    if (m->slots[i].val == NULL)
      return NULL;
    if (m->slots[i].a == a && m->slots[i].b == b)
      break;
  }
  void *old = m->slots[i].val;
  /* Backward-shift deletion: move later members of the probe run into the
   * hole when their home slot does not lie cyclically in (hole, j]. */
  size_t hole = i;
  for (size_t j = (i + 1) & m->mask; m->slots[j].val != NULL;
       j = (j + 1) & m->mask) {
    size_t home = hash2(m->slots[j].a, m->slots[j].b) & m->mask;
    if (((j - home) & m->mask) >= ((j - hole) & m->mask)) {
      m->slots[hole] = m->slots[j];
      hole = j;
    }
  }
  m->slots[hole].val = NULL;
  m->len--;
  return old;
}

size_t sim_hmap_next(const sim_hmap *m, size_t pos, sim_hmap_entry **e) {
  if (m->slots == NULL)
    return 0;
  for (size_t i = pos; i <= m->mask; i++) {
    if (m->slots[i].val != NULL) {
      *e = &m->slots[i];
      return i + 1;
    }
  }
  return 0;
}
