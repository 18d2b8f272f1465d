/*
 * tests/bench/bench_engine.c - throughput of the event queue.
 *
 * The classic hold model: the queue holds N pending events; each event, when
 * it runs, schedules one new event at now + a random increment, so the queue
 * size stays N. Printed per N, in events run per wall-clock second:
 *
 *   pending=N events_per_s=X                       the engine
 *   baseline=binary-heap pending=N events_per_s=X  a textbook pointer heap
 *   cancel_churn pending=N events_per_s=X          the engine, each event also
 *                                                  restarting a timer
 *   baseline=binary-heap cancel_churn pending=N events_per_s=X
 *
 * In the churn runs the N pending events are N/2 "connections", each with a
 * data event and a retransmission timer that every data event cancels and
 * schedules again, as TCP does with its RTO.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "sim/engine/engine.h"
#include "sim/engine/rng.h"

#define BENCH_SEED 0x5eedull
/* Increments are uniform in [0, 2 * MEAN_NS). */
#define MEAN_NS 1000u
#define RTO_NS (200u * MEAN_NS)

static double wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc) {
  fprintf(stderr, "bench_engine: %s failed: %d\n", what, rc);
  exit(1);
}

/* --- the engine ---------------------------------------------------------- */

typedef struct hold_state {
  sim_engine *e;
  sim_rng rng;
  uint64_t remaining;
} hold_state;

static void hold_fire(void *ctx, uint64_t now) {
  hold_state *h = ctx;
  int rc = sim_engine_schedule(h->e, now + sim_rng_below(&h->rng, 2 * MEAN_NS),
                               hold_fire, h, NULL);
  if (rc != 0)
    die("schedule", rc);
  if (--h->remaining == 0)
    sim_engine_stop(h->e);
}

static double bench_engine_hold(size_t n, uint64_t holds) {
  hold_state h = {NULL, {{0}}, holds};
  int rc = sim_engine_new(&h.e);
  if (rc != 0)
    die("sim_engine_new", rc);
  sim_rng_init(&h.rng, BENCH_SEED, SIM_RNG_STREAM(SIM_RNG_KIND_WORKLOAD, 1));
  for (size_t i = 0; i < n; i++) {
    rc = sim_engine_schedule(h.e, sim_rng_below(&h.rng, 2 * MEAN_NS), hold_fire,
                             &h, NULL);
    if (rc != 0)
      die("schedule", rc);
  }
  double t0 = wall_s();
  int64_t ran = sim_engine_run_until(h.e, SIM_TIME_NEVER);
  double t1 = wall_s();
  if ((uint64_t)ran != holds || sim_engine_pending(h.e) != n)
    die("hold accounting", -1);
  sim_engine_del(h.e);
  return (double)holds / (t1 - t0);
}

typedef struct churn_state {
  sim_engine *e;
  sim_rng rng;
  uint64_t remaining;
  uint64_t rto_fired;
} churn_state;

typedef struct churn_conn {
  churn_state *s;
  sim_timer rto;
} churn_conn;

static void rto_fire(void *ctx, uint64_t now) {
  churn_conn *c = ctx;
  (void)now;
  c->s->rto_fired++;
  c->rto = 0;
}

static void data_fire(void *ctx, uint64_t now) {
  churn_conn *c = ctx;
  churn_state *s = c->s;
  if (c->rto != 0 && sim_engine_cancel(s->e, c->rto) != 0)
    die("cancel", -1);
  int rc = sim_engine_schedule(s->e, now + RTO_NS, rto_fire, c, &c->rto);
  if (rc != 0)
    die("schedule", rc);
  rc = sim_engine_schedule(s->e, now + sim_rng_below(&s->rng, 2 * MEAN_NS),
                           data_fire, c, NULL);
  if (rc != 0)
    die("schedule", rc);
  if (--s->remaining == 0)
    sim_engine_stop(s->e);
}

static double bench_engine_churn(size_t n, uint64_t holds) {
  churn_state s = {NULL, {{0}}, holds, 0};
  int rc = sim_engine_new(&s.e);
  if (rc != 0)
    die("sim_engine_new", rc);
  sim_rng_init(&s.rng, BENCH_SEED, SIM_RNG_STREAM(SIM_RNG_KIND_WORKLOAD, 2));
  size_t conns = n / 2;
  churn_conn *c = calloc(conns, sizeof *c);
  if (!c)
    die("calloc", -1);
  for (size_t i = 0; i < conns; i++) {
    c[i].s = &s;
    rc = sim_engine_schedule(s.e, RTO_NS, rto_fire, &c[i], &c[i].rto);
    if (rc != 0)
      die("schedule", rc);
    rc = sim_engine_schedule(s.e, sim_rng_below(&s.rng, 2 * MEAN_NS), data_fire,
                             &c[i], NULL);
    if (rc != 0)
      die("schedule", rc);
  }
  double t0 = wall_s();
  int64_t ran = sim_engine_run_until(s.e, SIM_TIME_NEVER);
  double t1 = wall_s();
  if ((uint64_t)ran != holds || s.rto_fired != 0 ||
      sim_engine_pending(s.e) != 2 * conns)
    die("churn accounting", -1);
  sim_engine_del(s.e);
  free(c);
  return (double)holds / (t1 - t0);
}

/* --- the baseline: a binary heap of pointers to event nodes --------------- */

typedef struct bh_node {
  uint64_t time;
  uint64_t seq;
  size_t index; /* position in the heap, for removal */
  void (*fn)(void *ctx, uint64_t now);
  void *ctx;
  struct bh_node *next_free;
} bh_node;

typedef struct bh_queue {
  bh_node **heap;
  size_t n;
  bh_node *nodes;
  bh_node *free_list;
  uint64_t seq;
  uint64_t now;
  int stop;
} bh_queue;

static int bh_less(const bh_node *a, const bh_node *b) {
  return a->time < b->time || (a->time == b->time && a->seq < b->seq);
}

static void bh_place(bh_queue *q, size_t i, bh_node *x) {
  q->heap[i] = x;
  x->index = i;
}

static void bh_up(bh_queue *q, size_t i) {
  bh_node *x = q->heap[i];
  while (i > 0 && bh_less(x, q->heap[(i - 1) / 2])) {
    bh_place(q, i, q->heap[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
  bh_place(q, i, x);
}

static void bh_down(bh_queue *q, size_t i) {
  bh_node *x = q->heap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= q->n)
      break;
    if (c + 1 < q->n && bh_less(q->heap[c + 1], q->heap[c]))
      c++;
    if (!bh_less(q->heap[c], x))
      break;
    bh_place(q, i, q->heap[c]);
    i = c;
  }
  bh_place(q, i, x);
}

static void bh_init(bh_queue *q, size_t cap) {
  q->heap = malloc(cap * sizeof *q->heap);
  q->nodes = malloc(cap * sizeof *q->nodes);
  if (!q->heap || !q->nodes)
    die("malloc", -1);
  q->n = 0;
  q->free_list = NULL;
  for (size_t i = cap; i-- > 0;) {
    q->nodes[i].next_free = q->free_list;
    q->free_list = &q->nodes[i];
  }
  q->seq = 0;
  q->now = 0;
  q->stop = 0;
}

static void bh_free(bh_queue *q) {
  free(q->heap);
  free(q->nodes);
}

static bh_node *bh_schedule(bh_queue *q, uint64_t at,
                            void (*fn)(void *, uint64_t), void *ctx) {
  bh_node *x = q->free_list;
  if (!x)
    die("baseline capacity", -1);
  q->free_list = x->next_free;
  x->time = at;
  x->seq = q->seq++;
  x->fn = fn;
  x->ctx = ctx;
  q->heap[q->n] = x;
  bh_up(q, q->n++);
  return x;
}

static void bh_release(bh_queue *q, bh_node *x) {
  x->next_free = q->free_list;
  q->free_list = x;
}

/* Eager removal: the last node takes the hole and moves up or down. */
static void bh_cancel(bh_queue *q, bh_node *x) {
  size_t i = x->index;
  bh_node *last = q->heap[--q->n];
  if (last != x) {
    bh_place(q, i, last);
    bh_up(q, i);
    bh_down(q, last->index);
  }
  bh_release(q, x);
}

static void bh_run(bh_queue *q) {
  q->stop = 0;
  while (q->n > 0 && !q->stop) {
    bh_node *x = q->heap[0];
    bh_node *last = q->heap[--q->n];
    if (q->n > 0) {
      bh_place(q, 0, last);
      bh_down(q, 0);
    }
    q->now = x->time;
    void (*fn)(void *, uint64_t) = x->fn;
    void *ctx = x->ctx;
    bh_release(q, x);
    fn(ctx, q->now);
  }
}

typedef struct bh_hold_state {
  bh_queue q;
  sim_rng rng;
  uint64_t remaining;
} bh_hold_state;

static void bh_hold_fire(void *ctx, uint64_t now) {
  bh_hold_state *h = ctx;
  bh_schedule(&h->q, now + sim_rng_below(&h->rng, 2 * MEAN_NS), bh_hold_fire,
              h);
  if (--h->remaining == 0)
    h->q.stop = 1;
}

static double bench_baseline_hold(size_t n, uint64_t holds) {
  bh_hold_state h;
  bh_init(&h.q, n + 1);
  h.remaining = holds;
  sim_rng_init(&h.rng, BENCH_SEED, SIM_RNG_STREAM(SIM_RNG_KIND_WORKLOAD, 1));
  for (size_t i = 0; i < n; i++)
    bh_schedule(&h.q, sim_rng_below(&h.rng, 2 * MEAN_NS), bh_hold_fire, &h);
  double t0 = wall_s();
  bh_run(&h.q);
  double t1 = wall_s();
  bh_free(&h.q);
  return (double)holds / (t1 - t0);
}

typedef struct bh_churn_state {
  bh_queue q;
  sim_rng rng;
  uint64_t remaining;
} bh_churn_state;

typedef struct bh_conn {
  bh_churn_state *s;
  bh_node *rto;
} bh_conn;

static void bh_rto_fire(void *ctx, uint64_t now) {
  bh_conn *c = ctx;
  (void)now;
  c->rto = NULL;
}

static void bh_data_fire(void *ctx, uint64_t now) {
  bh_conn *c = ctx;
  bh_churn_state *s = c->s;
  if (c->rto)
    bh_cancel(&s->q, c->rto);
  c->rto = bh_schedule(&s->q, now + RTO_NS, bh_rto_fire, c);
  bh_schedule(&s->q, now + sim_rng_below(&s->rng, 2 * MEAN_NS), bh_data_fire,
              c);
  if (--s->remaining == 0)
    s->q.stop = 1;
}

static double bench_baseline_churn(size_t n, uint64_t holds) {
  bh_churn_state s;
  size_t conns = n / 2;
  bh_init(&s.q, 2 * conns + 2);
  s.remaining = holds;
  sim_rng_init(&s.rng, BENCH_SEED, SIM_RNG_STREAM(SIM_RNG_KIND_WORKLOAD, 2));
  bh_conn *c = calloc(conns, sizeof *c);
  if (!c)
    die("calloc", -1);
  for (size_t i = 0; i < conns; i++) {
    c[i].s = &s;
    c[i].rto = bh_schedule(&s.q, RTO_NS, bh_rto_fire, &c[i]);
    bh_schedule(&s.q, sim_rng_below(&s.rng, 2 * MEAN_NS), bh_data_fire, &c[i]);
  }
  double t0 = wall_s();
  bh_run(&s.q);
  double t1 = wall_s();
  bh_free(&s.q);
  free(c);
  return (double)holds / (t1 - t0);
}

int main(void) {
  static const struct {
    size_t pending;
    uint64_t holds;
  } sizes[] = {
      {1000, 30000000},
      {100000, 10000000},
      {1000000, 4000000},
  };
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t n = sizes[i].pending;
    uint64_t m = sizes[i].holds;
    printf("pending=%zu events_per_s=%.0f\n", n, bench_engine_hold(n, m));
    printf("baseline=binary-heap pending=%zu events_per_s=%.0f\n", n,
           bench_baseline_hold(n, m));
    printf("cancel_churn pending=%zu events_per_s=%.0f\n", n,
           bench_engine_churn(n, m / 2));
    printf("baseline=binary-heap cancel_churn pending=%zu events_per_s=%.0f\n",
           n, bench_baseline_churn(n, m / 2));
    fflush(stdout);
  }
  return 0;
}
