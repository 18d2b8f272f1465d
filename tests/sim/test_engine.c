/*
 * tests/sim/test_engine.c - the discrete-event engine (sim/engine/engine.c).
 */
#include "fixture.h"
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine/engine.h"
#include "sim/engine/rng.h"

/* A log of fired events: each callback appends its tag and time. */
#define LOG_CAP 20000

typedef struct fire_log {
  sim_engine *e;
  size_t n;
  int tag[LOG_CAP];
  uint64_t at[LOG_CAP];
} fire_log;

typedef struct tagged {
  fire_log *log;
  int tag;
} tagged;

static void log_fire(void *ctx, uint64_t now) {
  tagged *t = ctx;
  ck_assert_uint_lt(t->log->n, LOG_CAP);
  t->log->tag[t->log->n] = t->tag;
  t->log->at[t->log->n] = now;
  t->log->n++;
}

static void noop(void *ctx, uint64_t now) {
  (void)ctx;
  (void)now;
}

static sim_engine *engine_new(void) {
  sim_engine *e = NULL;
  ck_assert_int_eq(sim_engine_new(&e), 0);
  ck_assert_ptr_nonnull(e);
  return e;
}

static fire_log *log_new(sim_engine *e) {
  fire_log *log = calloc(1, sizeof *log);
  ck_assert_ptr_nonnull(log);
  log->e = e;
  return log;
}

static sim_timer schedule_ok(sim_engine *e, uint64_t at, sim_event_fn fn,
                             void *ctx) {
  sim_timer t = 0;
  ck_assert_int_eq(sim_engine_schedule(e, at, fn, ctx, &t), 0);
  ck_assert_uint_ne(t, 0);
  return t;
}

START_TEST(test_engine_new_starts_at_zero_and_empty) {
  sim_engine *e = engine_new();
  ck_assert_uint_eq(sim_engine_now(e), 0);
  ck_assert_uint_eq(sim_engine_pending(e), 0);
  ck_assert_uint_eq(sim_engine_events_run(e), 0);
  ck_assert_uint_eq(sim_engine_next_time(e), SIM_TIME_NEVER);
  ck_assert_int_eq(sim_engine_run_next(e), 0);
  sim_engine_del(e);
  sim_engine_del(NULL);
}
END_TEST

START_TEST(test_engine_runs_events_in_time_order) {
  sim_engine *e = engine_new();
  fire_log *log = log_new(e);
  static const uint64_t times[] = {50, 10, 40, 20, 30, 5, 1000, 0};
  enum { N = sizeof times / sizeof times[0] };
  tagged t[N];
  for (int i = 0; i < N; i++) {
    t[i] = (tagged){log, i};
    schedule_ok(e, times[i], log_fire, &t[i]);
  }
  ck_assert_int_eq(sim_engine_run_until(e, SIM_TIME_NEVER), N);
  ck_assert_uint_eq(log->n, N);
  for (size_t i = 1; i < log->n; i++)
    ck_assert_uint_lt(log->at[i - 1], log->at[i]);
  for (size_t i = 0; i < log->n; i++)
    ck_assert_uint_eq(log->at[i], times[log->tag[i]]);
  free(log);
  sim_engine_del(e);
}
END_TEST

START_TEST(test_engine_runs_equal_time_events_in_insertion_order) {
  sim_engine *e = engine_new();
  fire_log *log = log_new(e);
  enum { N = 5000 };
  tagged *t = calloc(N, sizeof *t);
  /* Interleave a tie-heavy instant with earlier and later events so the ties
   * travel through many heap levels. */
  for (int i = 0; i < N; i++) {
    t[i] = (tagged){log, i};
    uint64_t at = i % 3 == 0 ? 100 : (i % 3 == 1 ? 50 + i % 7 : 200 + i % 5);
    schedule_ok(e, at, log_fire, &t[i]);
  }
  ck_assert_int_eq(sim_engine_run_until(e, SIM_TIME_NEVER), N);
  for (size_t i = 1; i < log->n; i++) {
    ck_assert_uint_le(log->at[i - 1], log->at[i]);
    if (log->at[i - 1] == log->at[i])
      ck_assert_int_lt(log->tag[i - 1], log->tag[i]);
  }
  free(t);
  free(log);
  sim_engine_del(e);
}
END_TEST

START_TEST(test_engine_cancel_prevents_event_from_running) {
  sim_engine *e = engine_new();
  fire_log *log = log_new(e);
  tagged a = {log, 1}, b = {log, 2}, c = {log, 3};
  schedule_ok(e, 10, log_fire, &a);
  sim_timer tb = schedule_ok(e, 20, log_fire, &b);
  schedule_ok(e, 30, log_fire, &c);
  ck_assert_int_eq(sim_engine_cancel(e, tb), 0);
  ck_assert_int_eq(sim_engine_run_until(e, 100), 2);
  ck_assert_uint_eq(log->n, 2);
  ck_assert_int_eq(log->tag[0], 1);
  ck_assert_int_eq(log->tag[1], 3);
  free(log);
  sim_engine_del(e);
}
END_TEST

START_TEST(test_engine_cancel_of_earliest_event_updates_next_time) {
  sim_engine *e = engine_new();
  sim_timer t1 = schedule_ok(e, 10, noop, NULL);
  schedule_ok(e, 20, noop, NULL);
  ck_assert_uint_eq(sim_engine_next_time(e), 10);
  ck_assert_int_eq(sim_engine_cancel(e, t1), 0);
  ck_assert_uint_eq(sim_engine_next_time(e), 20);
  sim_engine_del(e);
}
END_TEST

START_TEST(test_engine_cancel_of_fired_handle_returns_notfound) {
  sim_engine *e = engine_new();
  sim_timer t = schedule_ok(e, 5, noop, NULL);
  ck_assert_int_eq(sim_engine_run_next(e), 1);
  ck_assert_int_eq(sim_engine_cancel(e, t), P2P_ERR_NOTFOUND);
  sim_engine_del(e);
}
END_TEST

START_TEST(test_engine_cancel_twice_returns_notfound) {
  sim_engine *e = engine_new();
  sim_timer t = schedule_ok(e, 5, noop, NULL);
  ck_assert_int_eq(sim_engine_cancel(e, t), 0);
  ck_assert_int_eq(sim_engine_cancel(e, t), P2P_ERR_NOTFOUND);
  ck_assert_uint_eq(sim_engine_pending(e), 0);
  sim_engine_del(e);
}
END_TEST

START_TEST(test_engine_cancel_of_zero_or_unknown_handle_returns_notfound) {
  sim_engine *e = engine_new();
  sim_timer t = schedule_ok(e, 5, noop, NULL);
  ck_assert_int_eq(sim_engine_cancel(e, 0), P2P_ERR_NOTFOUND);
  ck_assert_int_eq(sim_engine_cancel(e, UINT64_MAX), P2P_ERR_NOTFOUND);
  ck_assert_int_eq(sim_engine_cancel(e, t + (1ull << 24)), P2P_ERR_NOTFOUND);
  ck_assert_int_eq(sim_engine_cancel(e, t ^ 1), P2P_ERR_NOTFOUND);
  ck_assert_uint_eq(sim_engine_pending(e), 1);
  ck_assert_int_eq(sim_engine_run_next(e), 1);
  sim_engine_del(e);
}
END_TEST

START_TEST(test_engine_stale_handle_never_cancels_newer_event_in_its_slot) {
  sim_engine *e = engine_new();
  fire_log *log = log_new(e);
  tagged a = {log, 1}, b = {log, 2}, c = {log, 3};
  /* Cancelled, then its slot reused. */
  sim_timer ta = schedule_ok(e, 10, log_fire, &a);
  ck_assert_int_eq(sim_engine_cancel(e, ta), 0);
  sim_timer tb = schedule_ok(e, 10, log_fire, &b);
  ck_assert_uint_eq(ta & 0xffffff, tb & 0xffffff); /* the slot is reused */
  ck_assert_int_eq(sim_engine_cancel(e, ta), P2P_ERR_NOTFOUND);
  /* Fired, then its slot reused. */
  ck_assert_int_eq(sim_engine_run_next(e), 1);
  sim_timer tc = schedule_ok(e, 20, log_fire, &c);
  ck_assert_uint_eq(tb & 0xffffff, tc & 0xffffff);
  ck_assert_int_eq(sim_engine_cancel(e, tb), P2P_ERR_NOTFOUND);
  ck_assert_int_eq(sim_engine_cancel(e, ta), P2P_ERR_NOTFOUND);
  ck_assert_int_eq(sim_engine_run_until(e, 100), 1);
  ck_assert_uint_eq(log->n, 2);
  ck_assert_int_eq(log->tag[0], 2);
  ck_assert_int_eq(log->tag[1], 3);
  free(log);
  sim_engine_del(e);
}
END_TEST

START_TEST(test_engine_schedule_in_past_or_without_fn_is_invalid) {
  sim_engine *e = engine_new();
  sim_engine_run_until(e, 1000);
  sim_timer t = 77;
  ck_assert_int_eq(sim_engine_schedule(e, 999, noop, NULL, &t),
                   P2P_ERR_INVALID);
  ck_assert_uint_eq(t, 77);
  ck_assert_int_eq(sim_engine_schedule(e, 1000, NULL, NULL, &t),
                   P2P_ERR_INVALID);
  ck_assert_uint_eq(sim_engine_pending(e), 0);
  ck_assert_int_eq(sim_engine_schedule(e, 1000, noop, NULL, NULL), 0);
  ck_assert_uint_eq(sim_engine_pending(e), 1);
  sim_engine_del(e);
}
END_TEST

START_TEST(test_engine_run_until_stops_at_bound_and_sets_clock) {
  sim_engine *e = engine_new();
  fire_log *log = log_new(e);
  tagged a = {log, 1}, b = {log, 2}, c = {log, 3};
  schedule_ok(e, 10, log_fire, &a);
  schedule_ok(e, 20, log_fire, &b);
  schedule_ok(e, 30, log_fire, &c);
  ck_assert_int_eq(sim_engine_run_until(e, 20), 2); /* the bound included */
  ck_assert_uint_eq(sim_engine_now(e), 20);
  ck_assert_int_eq(sim_engine_run_until(e, 25), 0);
  ck_assert_uint_eq(sim_engine_now(e), 25);
  ck_assert_uint_eq(sim_engine_pending(e), 1);
  ck_assert_int_eq(sim_engine_run_until(e, 1000), 1);
  ck_assert_uint_eq(sim_engine_now(e), 1000);
  ck_assert_uint_eq(log->at[2], 30);
  free(log);
  sim_engine_del(e);
}
END_TEST

START_TEST(test_engine_run_until_before_now_runs_nothing_and_keeps_clock) {
  sim_engine *e = engine_new();
  ck_assert_int_eq(sim_engine_run_until(e, 500), 0);
  schedule_ok(e, 500, noop, NULL);
  ck_assert_int_eq(sim_engine_run_until(e, 499), 0);
  ck_assert_uint_eq(sim_engine_now(e), 500);
  ck_assert_uint_eq(sim_engine_pending(e), 1);
  ck_assert_int_eq(sim_engine_run_until(e, 500), 1);
  sim_engine_del(e);
}
END_TEST

START_TEST(test_engine_run_until_never_drains_and_leaves_clock_at_last_event) {
  sim_engine *e = engine_new();
  schedule_ok(e, 10, noop, NULL);
  schedule_ok(e, SIM_S(3), noop, NULL);
  ck_assert_int_eq(sim_engine_run_until(e, SIM_TIME_NEVER), 2);
  ck_assert_uint_eq(sim_engine_now(e), SIM_S(3));
  schedule_ok(e, SIM_S(4), noop, NULL);
  sim_engine_del(e);
}
END_TEST

/* A chain of callbacks, each scheduling the next: at `now` after an odd
 * tag, 7 ns later after an even one. */
#define CHAIN_LEN 6

static void chain_fire(void *ctx, uint64_t now) {
  tagged *t = ctx;
  log_fire(ctx, now);
  if (t->tag + 1 < CHAIN_LEN) {
    uint64_t at = t->tag % 2 ? now : now + 7;
    ck_assert_int_eq(
        sim_engine_schedule(t->log->e, at, chain_fire, t + 1, NULL), 0);
  }
}

START_TEST(test_engine_events_scheduled_from_callbacks_run_in_same_call) {
  sim_engine *e = engine_new();
  fire_log *log = log_new(e);
  tagged chain[CHAIN_LEN];
  for (int i = 0; i < CHAIN_LEN; i++)
    chain[i] = (tagged){log, i};
  tagged other = {log, 100}, late = {log, 200};
  schedule_ok(e, 0, chain_fire, &chain[0]);
  schedule_ok(e, 7, log_fire, &other); /* queued before the chain's 7 */
  schedule_ok(e, 1000, log_fire, &late);
  ck_assert_int_eq(sim_engine_run_until(e, 100), 7);
  /* 0@0, 1@7 queued later than `other` so after it, 2@7 at now, 3@14,
   * 4@14, 5@21. */
  static const int want_tag[] = {0, 100, 1, 2, 3, 4, 5};
  static const uint64_t want_at[] = {0, 7, 7, 7, 14, 14, 21};
  ck_assert_uint_eq(log->n, 7);
  for (int i = 0; i < 7; i++) {
    ck_assert_int_eq(log->tag[i], want_tag[i]);
    ck_assert_uint_eq(log->at[i], want_at[i]);
  }
  ck_assert_uint_eq(sim_engine_now(e), 100);
  ck_assert_uint_eq(sim_engine_pending(e), 1);
  free(log);
  sim_engine_del(e);
}
END_TEST

static void stop_fire(void *ctx, uint64_t now) {
  tagged *t = ctx;
  log_fire(ctx, now);
  sim_engine_stop(t->log->e);
}

START_TEST(test_engine_stop_from_callback_returns_after_that_event) {
  sim_engine *e = engine_new();
  fire_log *log = log_new(e);
  tagged a = {log, 1}, b = {log, 2}, c = {log, 3}, d = {log, 4};
  schedule_ok(e, 10, log_fire, &a);
  schedule_ok(e, 20, stop_fire, &b);
  schedule_ok(e, 20, log_fire, &c);
  schedule_ok(e, 30, log_fire, &d);
  ck_assert_int_eq(sim_engine_run_until(e, 100), 2);
  ck_assert_uint_eq(sim_engine_now(e), 20);
  ck_assert_uint_eq(sim_engine_pending(e), 2);
  /* The stop request does not outlive the call it stopped. */
  ck_assert_int_eq(sim_engine_run_until(e, 100), 2);
  ck_assert_uint_eq(sim_engine_now(e), 100);
  ck_assert_uint_eq(log->n, 4);
  free(log);
  sim_engine_del(e);
}
END_TEST

/* Cancels the handle stored in its context, then records the result. */
typedef struct canceller {
  sim_engine *e;
  sim_timer target;
  int rc;
} canceller;

static void cancel_fire(void *ctx, uint64_t now) {
  canceller *c = ctx;
  (void)now;
  c->rc = sim_engine_cancel(c->e, c->target);
}

START_TEST(test_engine_callback_may_cancel_pending_event_but_not_itself) {
  sim_engine *e = engine_new();
  fire_log *log = log_new(e);
  tagged victim = {log, 1};
  canceller other = {e, 0, 1}, self = {e, 0, 1};
  other.target = schedule_ok(e, 20, log_fire, &victim);
  schedule_ok(e, 10, cancel_fire, &other);
  self.target = schedule_ok(e, 15, cancel_fire, &self);
  ck_assert_int_eq(sim_engine_run_until(e, 100), 2);
  ck_assert_int_eq(other.rc, 0);
  ck_assert_int_eq(self.rc, P2P_ERR_NOTFOUND);
  ck_assert_uint_eq(log->n, 0);
  free(log);
  sim_engine_del(e);
}
END_TEST

START_TEST(test_engine_pending_excludes_cancelled_and_run_events) {
  sim_engine *e = engine_new();
  sim_timer t[10];
  for (int i = 0; i < 10; i++)
    t[i] = schedule_ok(e, 100 + (uint64_t)i, noop, NULL);
  ck_assert_uint_eq(sim_engine_pending(e), 10);
  for (int i = 0; i < 10; i += 2)
    ck_assert_int_eq(sim_engine_cancel(e, t[i]), 0);
  ck_assert_uint_eq(sim_engine_pending(e), 5);
  ck_assert_int_eq(sim_engine_run_until(e, 104), 2);
  ck_assert_uint_eq(sim_engine_pending(e), 3);
  ck_assert_uint_eq(sim_engine_next_time(e), 105);
  sim_engine_del(e);
}
END_TEST

START_TEST(test_engine_events_run_counts_every_run_event) {
  sim_engine *e = engine_new();
  for (int i = 0; i < 100; i++)
    schedule_ok(e, (uint64_t)i, noop, NULL);
  sim_timer t = schedule_ok(e, 50, noop, NULL);
  ck_assert_int_eq(sim_engine_cancel(e, t), 0);
  ck_assert_int_eq(sim_engine_run_until(e, 49), 50);
  ck_assert_uint_eq(sim_engine_events_run(e), 50);
  ck_assert_int_eq(sim_engine_run_next(e), 1);
  ck_assert_uint_eq(sim_engine_now(e), 50);
  ck_assert_uint_eq(sim_engine_events_run(e), 51);
  ck_assert_int_eq(sim_engine_run_until(e, SIM_TIME_NEVER), 49);
  ck_assert_uint_eq(sim_engine_events_run(e), 100);
  sim_engine_del(e);
}
END_TEST

/* Many timers cancelled from inside a callback force a compaction while the
 * running event's own entry is still at the root. */
typedef struct mass_cancel {
  sim_engine *e;
  sim_timer *timers;
  int n;
  fire_log *log;
  tagged follow;
} mass_cancel;

static void mass_cancel_fire(void *ctx, uint64_t now) {
  mass_cancel *m = ctx;
  for (int i = 0; i < m->n; i++)
    ck_assert_int_eq(sim_engine_cancel(m->e, m->timers[i]), 0);
  ck_assert_int_eq(sim_engine_schedule(m->e, now, log_fire, &m->follow, NULL),
                   0);
}

START_TEST(test_engine_compaction_inside_callback_keeps_order) {
  sim_engine *e = engine_new();
  fire_log *log = log_new(e);
  enum { N = 3000, KEEP = 50 };
  sim_timer *timers = calloc(N, sizeof *timers);
  tagged *keep = calloc(KEEP, sizeof *keep);
  mass_cancel m = {e, timers, N, log, {log, -1}};
  schedule_ok(e, 10, mass_cancel_fire, &m);
  for (int i = 0; i < N; i++)
    timers[i] = schedule_ok(e, 11 + (uint64_t)(i % 97), noop, NULL);
  for (int i = 0; i < KEEP; i++) {
    keep[i] = (tagged){log, i};
    schedule_ok(e, 10 + (uint64_t)(i % 5), log_fire, &keep[i]);
  }
  ck_assert_uint_eq(sim_engine_pending(e), N + KEEP + 1);
  sim_engine_run_until(e, SIM_TIME_NEVER);
  ck_assert_uint_eq(sim_engine_pending(e), 0);
  ck_assert_uint_eq(log->n, KEEP + 1);
  /* The follow-up at 10 runs after the ten keepers already queued at 10. */
  for (int i = 0; i <= KEEP; i++) {
    int want = i < 10 ? i * 5 : (i == 10 ? -1 : 0);
    if (i <= 10)
      ck_assert_int_eq(log->tag[i], want);
    if (i > 0)
      ck_assert_uint_le(log->at[i - 1], log->at[i]);
  }
  free(keep);
  free(timers);
  free(log);
  sim_engine_del(e);
}
END_TEST

/* Check's assertions report progress to the parent process on every call,
 * which dominates a 100k-operation loop; these assert only on failure. */
#define FAST_EQ(a, b)                                                          \
  do {                                                                         \
    uint64_t fast_a = (uint64_t)(a), fast_b = (uint64_t)(b);                   \
    if (fast_a != fast_b)                                                      \
      ck_abort_msg("%s == %s failed: %llu != %llu", #a, #b,                    \
                   (unsigned long long)fast_a, (unsigned long long)fast_b);    \
  } while (0)

/* The randomised comparison against a reference model: a sorted array of
 * (time, id) with id in scheduling order. Callbacks check that they are the
 * model's earliest event and then run random operations themselves. */
#define MODEL_MAX_IDS 400000

typedef struct model_ev {
  struct model *m;
  uint32_t id;
} model_ev;

typedef struct model {
  sim_engine *e;
  sim_rng rng;
  uint64_t *sorted_time;
  uint32_t *sorted_id;
  size_t n;
  sim_timer *handle; /* by id */
  uint8_t *state;    /* by id: 0 pending, 1 run, 2 cancelled */
  model_ev *ev;      /* by id */
  uint32_t next_id;
  uint64_t fired;
  int phase; /* 0 grow, 1 churn, 2 drain */
} model;

static size_t model_find(const model *m, uint64_t t, uint32_t id) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    if (m->sorted_time[mid] < t ||
        (m->sorted_time[mid] == t && m->sorted_id[mid] < id))
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static void model_remove_at(model *m, size_t i) {
  memmove(&m->sorted_time[i], &m->sorted_time[i + 1],
          (m->n - i - 1) * sizeof *m->sorted_time);
  memmove(&m->sorted_id[i], &m->sorted_id[i + 1],
          (m->n - i - 1) * sizeof *m->sorted_id);
  m->n--;
}

static void model_fire(void *ctx, uint64_t now);

static void model_schedule(model *m) {
  if (m->next_id >= MODEL_MAX_IDS)
    return;
  uint64_t now = sim_engine_now(m->e);
  /* Near events with small offsets make many exact ties; far ones live long
   * enough to be cancelled and pile up as tombstones. */
  uint64_t span = sim_rng_below(&m->rng, 2) ? 300 : 100000;
  uint64_t at = now + sim_rng_below(&m->rng, span);
  uint32_t id = m->next_id++;
  m->ev[id] = (model_ev){m, id};
  FAST_EQ(sim_engine_schedule(m->e, at, model_fire, &m->ev[id], &m->handle[id]),
          0);
  size_t i = model_find(m, at, id);
  FAST_EQ(i == m->n || m->sorted_time[i] > at ||
              (m->sorted_time[i] == at && m->sorted_id[i] > id),
          1);
  memmove(&m->sorted_time[i + 1], &m->sorted_time[i],
          (m->n - i) * sizeof *m->sorted_time);
  memmove(&m->sorted_id[i + 1], &m->sorted_id[i],
          (m->n - i) * sizeof *m->sorted_id);
  m->sorted_time[i] = at;
  m->sorted_id[i] = id;
  m->n++;
}

static void model_cancel(model *m) {
  if (m->n > 0 && sim_rng_below(&m->rng, 5) != 0) {
    size_t i = sim_rng_below(&m->rng, m->n);
    uint32_t id = m->sorted_id[i];
    FAST_EQ(sim_engine_cancel(m->e, m->handle[id]), 0);
    m->state[id] = 2;
    model_remove_at(m, i);
    return;
  }
  /* Any handle ever issued: most have run or were cancelled. */
  if (m->next_id == 0)
    return;
  uint32_t id = (uint32_t)sim_rng_below(&m->rng, m->next_id);
  int rc = sim_engine_cancel(m->e, m->handle[id]);
  if (m->state[id] != 0) {
    FAST_EQ(rc, P2P_ERR_NOTFOUND);
    return;
  }
  FAST_EQ(rc, 0);
  m->state[id] = 2;
  for (size_t i = 0; i < m->n; i++) {
    if (m->sorted_id[i] == id) {
      model_remove_at(m, i);
      return;
    }
  }
  ck_abort_msg("cancelled id %u not in the model", id);
}

static void model_check(model *m) {
  FAST_EQ(sim_engine_pending(m->e), m->n);
  FAST_EQ(sim_engine_next_time(m->e),
          m->n ? m->sorted_time[0] : SIM_TIME_NEVER);
}

static void model_random_op(model *m, int in_callback) {
  uint64_t r = sim_rng_below(&m->rng, 100);
  /* Phase weights: schedule / cancel / run. */
  static const int sched_pct[] = {70, 45, 20};
  static const int cancel_pct[] = {15, 50, 20};
  int s = sched_pct[m->phase], c = cancel_pct[m->phase];
  if (r < (uint64_t)s) {
    model_schedule(m);
  } else if (r < (uint64_t)(s + c)) {
    model_cancel(m);
  } else if (!in_callback) {
    if (r % 2)
      sim_engine_run_next(m->e);
    else
      sim_engine_run_until(m->e,
                           sim_engine_now(m->e) + sim_rng_below(&m->rng, 40));
  }
}

static void model_fire(void *ctx, uint64_t now) {
  model_ev *ev = ctx;
  model *m = ev->m;
  FAST_EQ(m->n > 0, 1);
  FAST_EQ(m->sorted_id[0], ev->id);
  FAST_EQ(m->sorted_time[0], now);
  FAST_EQ(m->state[ev->id], 0);
  FAST_EQ(sim_engine_cancel(m->e, m->handle[ev->id]), P2P_ERR_NOTFOUND);
  m->state[ev->id] = 1;
  model_remove_at(m, 0);
  m->fired++;
  if (sim_rng_below(&m->rng, 4) == 0)
    model_random_op(m, 1);
}

START_TEST(test_engine_matches_reference_model_under_cancel_churn) {
  model *m = calloc(1, sizeof *m);
  m->e = engine_new();
  sim_rng_init(&m->rng, 20240601, SIM_RNG_STREAM(SIM_RNG_KIND_TEST, 1));
  m->sorted_time = calloc(MODEL_MAX_IDS, sizeof *m->sorted_time);
  m->sorted_id = calloc(MODEL_MAX_IDS, sizeof *m->sorted_id);
  m->handle = calloc(MODEL_MAX_IDS, sizeof *m->handle);
  m->state = calloc(MODEL_MAX_IDS, sizeof *m->state);
  m->ev = calloc(MODEL_MAX_IDS, sizeof *m->ev);
  for (int op = 0; op < 100000; op++) {
    /* Alternate growth and heavy cancellation so tombstones pile up past
     * the compaction threshold many times. */
    m->phase = (op / 5000) % 2;
    model_random_op(m, 0);
    model_check(m);
  }
  m->phase = 2;
  for (int op = 0; op < 20000; op++) {
    model_random_op(m, 0);
    model_check(m);
  }
  uint64_t before = sim_engine_events_run(m->e);
  size_t left = m->n;
  ck_assert_int_eq(sim_engine_run_until(m->e, SIM_TIME_NEVER),
                   (int64_t)(sim_engine_events_run(m->e) - before));
  ck_assert_uint_ge(sim_engine_events_run(m->e) - before, left);
  ck_assert_uint_eq(m->n, 0);
  ck_assert_uint_eq(sim_engine_events_run(m->e), m->fired);
  ck_assert_uint_gt(m->fired, 10000);
  sim_engine_del(m->e);
  free(m->sorted_time);
  free(m->sorted_id);
  free(m->handle);
  free(m->state);
  free(m->ev);
  free(m);
}
END_TEST

static Suite *engine_suite(void) {
  Suite *s = suite_create("engine");
  TCase *tc = tcase_create("engine");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_engine_new_starts_at_zero_and_empty);
  tcase_add_test(tc, test_engine_runs_events_in_time_order);
  tcase_add_test(tc, test_engine_runs_equal_time_events_in_insertion_order);
  tcase_add_test(tc, test_engine_cancel_prevents_event_from_running);
  tcase_add_test(tc, test_engine_cancel_of_earliest_event_updates_next_time);
  tcase_add_test(tc, test_engine_cancel_of_fired_handle_returns_notfound);
  tcase_add_test(tc, test_engine_cancel_twice_returns_notfound);
  tcase_add_test(tc,
                 test_engine_cancel_of_zero_or_unknown_handle_returns_notfound);
  tcase_add_test(
      tc, test_engine_stale_handle_never_cancels_newer_event_in_its_slot);
  tcase_add_test(tc, test_engine_schedule_in_past_or_without_fn_is_invalid);
  tcase_add_test(tc, test_engine_run_until_stops_at_bound_and_sets_clock);
  tcase_add_test(tc,
                 test_engine_run_until_before_now_runs_nothing_and_keeps_clock);
  tcase_add_test(
      tc, test_engine_run_until_never_drains_and_leaves_clock_at_last_event);
  tcase_add_test(tc,
                 test_engine_events_scheduled_from_callbacks_run_in_same_call);
  tcase_add_test(tc, test_engine_stop_from_callback_returns_after_that_event);
  tcase_add_test(tc,
                 test_engine_callback_may_cancel_pending_event_but_not_itself);
  tcase_add_test(tc, test_engine_pending_excludes_cancelled_and_run_events);
  tcase_add_test(tc, test_engine_events_run_counts_every_run_event);
  tcase_add_test(tc, test_engine_compaction_inside_callback_keeps_order);
  tcase_add_test(tc, test_engine_matches_reference_model_under_cancel_churn);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(engine_suite());
}
