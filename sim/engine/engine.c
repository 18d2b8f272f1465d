/*
 * sim/engine/engine.c - the discrete-event engine: a 4-ary min-heap of
 * 16-byte (time, key) entries over a slab of event records.
 *
 * key = seq << 24 | slot, where seq counts schedules from 1 and slot indexes
 * the record. Because seq is unique and sits in the high bits, comparing
 * (time, key) is comparing (time, seq): ties at equal time leave in insertion
 * order. The key is also the event's handle: a live record stores its key,
 * so a handle is valid exactly while slab[slot].key == handle, and a heap
 * entry whose key no longer matches its record is a tombstone. Cancelling or
 * running an event frees its record at once; its heap entry, if still there,
 * is dropped when it reaches the root or when the heap is compacted.
 *
 * Layout: the heap lives at base + 3 in a 64-byte aligned array, so the
 * children 4i+1 .. 4i+4 of node i sit at base[4(i+1)] .. base[4(i+1)+3]: one
 * cache line. Every entry past the last one is a sentinel (all bits set)
 * that sorts after any real entry, so picking the least of four children
 * needs no bounds checks.
 *
 * Hold fast path: while a callback runs, its own entry stays at the root as
 * a tombstone (root_spent). The first event the callback schedules replaces
 * the root and sifts down once, instead of a pop and then a push.
 */
#include "sim/engine/engine.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SLOT_BITS 24
#define SLOT_MASK ((1ull << SLOT_BITS) - 1)
#define MAX_SLOTS (1ull << SLOT_BITS)
/* The largest seq is kept one short of 2^40 - 1 so no real key is all ones,
 * the sentinel's bit pattern. */
#define MAX_SEQ ((1ull << (64 - SLOT_BITS)) - 2)
#define HEAP_OFFSET 3
#define HEAP_ALIGN 64
#define HEAP_MIN_PHYS 64
#define SLAB_MIN 64
#define NO_SLOT UINT32_MAX
/* Compaction runs when tombstones exceed live events by this much: the
 * rebuild costs O(heap), paid for by at least live + slack cancellations. */
#define COMPACT_SLACK 256

typedef struct entry {
  uint64_t time;
  uint64_t key;
} entry;

typedef struct record {
  sim_event_fn fn;
  union {
    void *ctx;          /* while live */
    uint32_t next_free; /* while on the free list */
  } u;
  uint64_t key; /* 0 while free */
} record;

struct sim_engine {
  entry *heap;      /* heap[0] is the root; heap == base + HEAP_OFFSET */
  entry *heap_base; /* the aligned allocation */
  size_t heap_n;    /* entries, tombstones included */
  size_t heap_cap;  /* usable entries from heap[0] */
  record *slab;
  uint32_t slab_cap;
  uint32_t free_head;
  size_t live; /* scheduled, not cancelled, not yet run */
  uint64_t now;
  uint64_t next_seq;
  uint64_t events_run;
  bool stop;
  bool root_spent; /* heap[0] is the entry of the running callback */
};

/* (time, key) < (time, key), as one 128-bit comparison: it compiles to a
 * compare and a subtract-with-borrow, no branch, so picking the least child
 * costs no mispredictions (a branchy version ran at half the speed). */
static inline bool entry_before(entry a, entry b) {
  __extension__ typedef unsigned __int128 u128;
  return (((u128)a.time << 64) | a.key) < (((u128)b.time << 64) | b.key);
}

static inline bool entry_live(const sim_engine *e, entry x) {
  return e->slab[x.key & SLOT_MASK].key == x.key;
}

/* The least of the four children starting at c. */
static inline size_t min_child(const entry *h, size_t c) {
  size_t a = c + entry_before(h[c + 1], h[c]);
  size_t b = c + 2 + entry_before(h[c + 3], h[c + 2]);
  return entry_before(h[b], h[a]) ? b : a;
}

static inline void sift_up(entry *h, size_t i, entry x) {
  while (i > 0) {
    size_t p = (i - 1) >> 2;
    if (!entry_before(x, h[p]))
      break;
    h[i] = h[p];
    i = p;
  }
  h[i] = x;
}

/* Fills the hole at i with x: the hole first moves down along least
 * children to a leaf, then x moves up from there. x usually belongs near
 * the bottom, so this compares less than a top-down sift (Floyd). */
static inline void fill_hole(entry *h, size_t n, size_t i, entry x) {
  for (;;) {
    size_t c = 4 * i + 1;
    if (c >= n)
      break;
    size_t m = min_child(h, c);
    h[i] = h[m];
    i = m;
  }
  sift_up(h, i, x);
}

/* Fills the hole at the root with x. The record of the new root is fetched
 * while the hole travels down, so the next run finds it in cache. */
static inline void fill_root(sim_engine *e, entry x) {
  entry *h = e->heap;
  size_t n = e->heap_n;
  if (n <= 1) {
    h[0] = x;
    return;
  }
  size_t m = min_child(h, 1);
  h[0] = h[m];
  __builtin_prefetch(&e->slab[h[0].key & SLOT_MASK]);
  fill_hole(h, n, m, x);
}

/* Top-down sift of x from i, for heapify: x stays at or below i. */
static void sift_down(entry *h, size_t n, size_t i, entry x) {
  for (;;) {
    size_t c = 4 * i + 1;
    if (c >= n)
      break;
    size_t m = min_child(h, c);
    if (!entry_before(h[m], x))
      break;
    h[i] = h[m];
    i = m;
  }
  h[i] = x;
}

static void pop_root(sim_engine *e) {
  entry *h = e->heap;
  size_t n = --e->heap_n;
  entry x = h[n];
  memset(&h[n], 0xff, sizeof h[n]);
  e->root_spent = false;
  if (n > 0)
    fill_root(e, x);
}

/* Drops tombstones from the root; afterwards heap[0], if any, is live. */
static void skip_tombstones(sim_engine *e) {
  while (e->heap_n > 0 && !entry_live(e, e->heap[0]))
    pop_root(e);
}

static void compact(sim_engine *e) {
  entry *h = e->heap;
  size_t n = e->heap_n, j = 0;
  for (size_t i = 0; i < n; i++)
    if (entry_live(e, h[i]))
      h[j++] = h[i];
  memset(&h[j], 0xff, (n - j) * sizeof *h);
  e->heap_n = j;
  e->root_spent = false;
  if (j > 1)
    for (size_t i = (j - 2) / 4 + 1; i-- > 0;)
      sift_down(h, j, i, h[i]);
}

/* Makes room for one more heap entry plus the three sentinels that a
 * min_child call on the last node may read. */
static int heap_reserve(sim_engine *e) {
  if (e->heap_n + 4 <= e->heap_cap)
    return 0;
  size_t phys = e->heap_base ? (e->heap_cap + HEAP_OFFSET) * 2 : HEAP_MIN_PHYS;
  if (phys > SIZE_MAX / sizeof(entry))
    return P2P_ERR_NOMEM;
  entry *base = aligned_alloc(HEAP_ALIGN, phys * sizeof(entry));
  if (!base)
    return P2P_ERR_NOMEM;
  memset(base, 0xff, phys * sizeof(entry));
  if (e->heap_base) {
    memcpy(base + HEAP_OFFSET, e->heap, e->heap_n * sizeof(entry));
    free(e->heap_base);
  }
  e->heap_base = base;
  e->heap = base + HEAP_OFFSET;
  e->heap_cap = phys - HEAP_OFFSET;
  return 0;
}

static int slab_grow(sim_engine *e) {
  uint64_t cap = e->slab_cap ? (uint64_t)e->slab_cap * 2 : SLAB_MIN;
  if (cap > MAX_SLOTS)
    cap = MAX_SLOTS;
  if (cap <= e->slab_cap)
    return P2P_ERR_LIMIT;
  record *s = realloc(e->slab, (size_t)cap * sizeof *s);
  if (!s)
    return P2P_ERR_NOMEM;
  /* Chain the new records so the lowest slot is handed out first. */
  for (uint64_t i = e->slab_cap; i < cap; i++) {
    s[i].fn = NULL;
    s[i].key = 0;
    s[i].u.next_free = i + 1 < cap ? (uint32_t)(i + 1) : e->free_head;
  }
  e->free_head = e->slab_cap;
  e->slab = s;
  e->slab_cap = (uint32_t)cap;
  return 0;
}

static inline void free_record(sim_engine *e, uint32_t slot) {
  record *r = &e->slab[slot];
  r->key = 0;
  r->fn = NULL;
  r->u.next_free = e->free_head;
  e->free_head = slot;
  e->live--;
}

int sim_engine_new(sim_engine **out) {
  sim_engine *e = calloc(1, sizeof *e);
  if (!e)
    return P2P_ERR_NOMEM;
  e->free_head = NO_SLOT;
  e->next_seq = 1;
  if (heap_reserve(e) != 0 || slab_grow(e) != 0) {
    sim_engine_del(e);
    return P2P_ERR_NOMEM;
  }
  *out = e;
  return 0;
}

void sim_engine_del(sim_engine *e) {
  if (!e)
    return;
  free(e->heap_base);
  free(e->slab);
  free(e);
}

uint64_t sim_engine_now(const sim_engine *e) {
  return e->now;
}

int sim_engine_schedule(sim_engine *e, uint64_t at_ns, sim_event_fn fn,
                        void *ctx, sim_timer *out) {
  if (!fn || at_ns < e->now)
    return P2P_ERR_INVALID;
  if (e->next_seq > MAX_SEQ)
    return P2P_ERR_LIMIT;
  int rc;
  if (e->free_head == NO_SLOT && (rc = slab_grow(e)) != 0)
    return rc;
  if (!e->root_spent && (rc = heap_reserve(e)) != 0)
    return rc;

  uint32_t slot = e->free_head;
  record *r = &e->slab[slot];
  e->free_head = r->u.next_free;
  uint64_t key = (e->next_seq++ << SLOT_BITS) | slot;
  r->fn = fn;
  r->u.ctx = ctx;
  r->key = key;
  e->live++;

  entry x = {at_ns, key};
  if (e->root_spent) {
    e->root_spent = false;
    fill_root(e, x);
  } else {
    sift_up(e->heap, e->heap_n++, x);
  }
  if (out)
    *out = key;
  return 0;
}

int sim_engine_cancel(sim_engine *e, sim_timer t) {
  uint64_t slot = t & SLOT_MASK;
  if (t == 0 || slot >= e->slab_cap || e->slab[slot].key != t)
    return P2P_ERR_NOTFOUND;
  free_record(e, (uint32_t)slot);
  if (e->heap_n - e->live > e->live + COMPACT_SLACK)
    compact(e);
  return 0;
}

/* Runs the live event at the root. */
static void run_root(sim_engine *e) {
  entry top = e->heap[0];
  uint32_t slot = (uint32_t)(top.key & SLOT_MASK);
  record *r = &e->slab[slot];
  sim_event_fn fn = r->fn;
  void *ctx = r->u.ctx;
  free_record(e, slot);
  e->now = top.time;
  e->events_run++;
  e->root_spent = true;
  fn(ctx, top.time);
  if (e->root_spent)
    pop_root(e);
}

int64_t sim_engine_run_until(sim_engine *e, uint64_t until_ns) {
  int64_t ran = 0;
  e->stop = false;
  for (;;) {
    skip_tombstones(e);
    if (e->heap_n == 0 || e->heap[0].time > until_ns)
      break;
    run_root(e);
    ran++;
    if (e->stop)
      return ran;
  }
  if (until_ns > e->now && until_ns != SIM_TIME_NEVER)
    e->now = until_ns;
  return ran;
}

int sim_engine_run_next(sim_engine *e) {
  skip_tombstones(e);
  if (e->heap_n == 0)
    return 0;
  run_root(e);
  return 1;
}

void sim_engine_stop(sim_engine *e) {
  e->stop = true;
}

uint64_t sim_engine_next_time(sim_engine *e) {
  skip_tombstones(e);
  return e->heap_n ? e->heap[0].time : SIM_TIME_NEVER;
}

size_t sim_engine_pending(const sim_engine *e) {
  return e->live;
}

uint64_t sim_engine_events_run(const sim_engine *e) {
  return e->events_run;
}
