/*
 * sim/util/hmap.h - an open-addressing hash map from a 128-bit key (two
 * uint64) to a non-NULL pointer.
 *
 * Linear probing with backward-shift deletion (no tombstones), capacity a
 * power of two, load factor at most 1/2. Lookups touch one or two cache
 * lines; nothing allocates except growth. Iteration order is the table
 * order: it depends only on the sequence of operations, so it is
 * deterministic, but callers that write results must not rely on it.
 */
#ifndef SIM_HMAP_H
#define SIM_HMAP_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/error.h"

typedef struct sim_hmap_entry {
  uint64_t a, b;
  void *val; /* NULL marks an empty slot */
} sim_hmap_entry;

typedef struct sim_hmap {
  sim_hmap_entry *slots;
  size_t mask; /* capacity - 1; 0 when nothing is allocated */
  size_t len;
} sim_hmap;

/* Initialises an empty map (no allocation until the first put). */
void sim_hmap_init(sim_hmap *m);
/* Frees the table; the values are the caller's. */
void sim_hmap_free(sim_hmap *m);
/* The value for (a, b), or NULL. */
void *sim_hmap_get(const sim_hmap *m, uint64_t a, uint64_t b);
/* Inserts or replaces. val must not be NULL. Returns 0, P2P_ERR_INVALID or
 * P2P_ERR_NOMEM (the map is unchanged then). */
P2P_WUR int sim_hmap_put(sim_hmap *m, uint64_t a, uint64_t b, void *val);
/* Makes room for `extra` more entries, so that that many puts of new keys
 * cannot fail. Returns 0 or P2P_ERR_NOMEM (the map is unchanged then). */
P2P_WUR int sim_hmap_reserve(sim_hmap *m, size_t extra);
/* Removes (a, b); returns its value or NULL when absent. */
void *sim_hmap_del(sim_hmap *m, uint64_t a, uint64_t b);
/* Number of entries. */
static inline size_t sim_hmap_len(const sim_hmap *m) {
  return m->len;
}
/* Iteration: for (size_t i = 0; (i = sim_hmap_next(m, i, &e)) != 0;) ...
 * yields each entry once; the map must not change during the walk. */
size_t sim_hmap_next(const sim_hmap *m, size_t pos, sim_hmap_entry **e);

#endif /* SIM_HMAP_H */
