/*
 * sim/metrics/summary.c - summary.json of a run from its events, and the
 * evaluation of expect: clauses.
 */
#include "sim/metrics/summary.h"

#include "sim/util/hmap.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ID_MAX 32     /* longer attempt ids are not matched */
#define VALUE_MAX 128 /* longest nat_pair or reason kept */

enum { RUNNING = 0, DIRECT, FAILED };

/* One hole-punch attempt, from its holepunch.start event. */
typedef struct attempt {
  char id[ID_MAX];
  size_t start; /* index of the start event */
  size_t end;   /* index of the direct or failed event */
  int state;
  uint64_t ttd_ns;
} attempt;

/* The attempts in start order, with an index by id (open addressing over
 * positions + 1, at most half full). */
typedef struct attempts {
  attempt *a;
  size_t n, cap;
  size_t *slot;
  size_t mask;
} attempts;

static uint64_t hash_str(const char *s) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
  for (; *s != '\0'; s++)
    h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
  return h;
}

/* The slot where id is, or where it would go. */
static size_t slot_of(const attempts *t, const char *id) {
  size_t i = (size_t)hash_str(id) & t->mask;
  while (t->slot[i] != 0 && strcmp(t->a[t->slot[i] - 1].id, id) != 0)
    i = (i + 1) & t->mask;
  return i;
}

static attempt *find_attempt(const attempts *t, const char *id) {
  if (t->slot == NULL)
    return NULL;
  size_t i = slot_of(t, id);
  return t->slot[i] == 0 ? NULL : &t->a[t->slot[i] - 1];
}

static int grow(attempts *t) {
  size_t ncap = t->cap == 0 ? 64 : t->cap * 2;
  /* The index first: a failure leaves the table as it was. */
  size_t *ns = calloc(ncap * 2, sizeof *ns);
  if (ns == NULL)
    return P2P_ERR_NOMEM;
  attempt *na = realloc(t->a, ncap * sizeof *na);
  if (na == NULL) {
    free(ns);
    return P2P_ERR_NOMEM;
  }
  t->a = na;
  t->cap = ncap;
  free(t->slot);
  t->slot = ns;
  t->mask = ncap * 2 - 1;
  for (size_t k = 0; k < t->n; k++)
    t->slot[slot_of(t, t->a[k].id)] = k + 1;
  return 0;
}

static attempt *add_attempt(attempts *t, const char *id) {
  if (t->n == t->cap && grow(t) != 0)
    return NULL;
  attempt *a = &t->a[t->n];
  memset(a, 0, sizeof *a);
  snprintf(a->id, sizeof a->id, "%s", id);
  t->slot[slot_of(t, id)] = ++t->n;
  return a;
}

static void attempts_free(attempts *t) {
  free(t->a);
  free(t->slot);
}

/* Matches the holepunch.start/direct/failed events by id. The first start
 * of an id opens the attempt and its first direct or failed event closes
 * it; events of unknown or closed attempts are ignored. */
static int collect(const sim_evlog *events, attempts *t) {
  char id[ID_MAX], val[32];
  memset(t, 0, sizeof *t);
  size_t count = sim_evlog_count(events);
  for (size_t i = 0; i < count; i++) {
    const sim_event *e = sim_evlog_get(events, i);
    if (strncmp(e->name, "holepunch.", 10) != 0 ||
        sim_event_field(e, "id", id, sizeof id) == NULL)
      continue;
    const char *kind = e->name + 10;
    attempt *a = find_attempt(t, id);
    if (strcmp(kind, "start") == 0) {
      if (a != NULL)
        continue;
      a = add_attempt(t, id);
      if (a == NULL) {
        attempts_free(t);
        return P2P_ERR_NOMEM;
      }
      a->start = i;
      continue;
    }
    if (a == NULL || a->state != RUNNING)
      continue;
    if (strcmp(kind, "direct") == 0) {
      a->state = DIRECT;
      a->end = i;
      const sim_event *s = sim_evlog_get(events, a->start);
      if (sim_event_field(e, "time_to_direct_ns", val, sizeof val) != NULL &&
          val[0] >= '0' && val[0] <= '9')
        a->ttd_ns = strtoull(val, NULL, 10);
      else
        a->ttd_ns = e->t_ns >= s->t_ns ? e->t_ns - s->t_ns : 0;
    } else if (strcmp(kind, "failed") == 0) {
      a->state = FAILED;
      a->end = i;
    }
  }
  return 0;
}

static int cmp_double(const void *x, const void *y) {
  double a = *(const double *)x, b = *(const double *)y;
  return (a > b) - (a < b);
}

/* The successes' times to direct in ms, sorted. */
static int ttd_ms(const attempts *t, double **out, size_t *n) {
  size_t ns = 0;
  *out = NULL;
  *n = 0;
  for (size_t k = 0; k < t->n; k++)
    ns += t->a[k].state == DIRECT;
  if (ns == 0)
    return 0;
  double *v = malloc(ns * sizeof *v);
  if (v == NULL)
    return P2P_ERR_NOMEM;
  size_t j = 0;
  for (size_t k = 0; k < t->n; k++)
    if (t->a[k].state == DIRECT)
      v[j++] = (double)t->a[k].ttd_ns / 1e6;
  qsort(v, ns, sizeof *v, cmp_double);
  *out = v;
  *n = ns;
  return 0;
}

int sim_summary_time_to_direct(const sim_evlog *events, double **out_ms,
                               size_t *n) {
  attempts t;
  int rc = collect(events, &t);
  if (rc != 0)
    return rc;
  rc = ttd_ms(&t, out_ms, n);
  attempts_free(&t);
  return rc;
}

/* Nearest rank: the ceil(p/100 * n)-th smallest of n sorted values. */
static double percentile(const double *v, size_t n, unsigned p) {
  if (n == 0)
    return 0;
  size_t rank = (p * n + 99) / 100;
  return v[rank == 0 ? 0 : rank - 1];
}

/* Tree building with a sticky error: a NULL value (a failed constructor)
 * or a failed set records P2P_ERR_NOMEM and later puts do nothing. */
static void put(sim_json *o, const char *key, sim_json *v, int *rc) {
  if (*rc != 0) {
    sim_json_free(v);
    return;
  }
  if (v == NULL) {
    *rc = P2P_ERR_NOMEM;
    return;
  }
  int r = sim_json_set(o, key, v);
  if (r != 0)
    *rc = r;
}

static void put_num(sim_json *o, const char *key, double v, int *rc) {
  put(o, key, sim_json_number(v), rc);
}

/* Adds 1 to o[key], which must be a number or absent. */
static void count(sim_json *o, const char *key, int *rc) {
  put_num(o, key, sim_json_num(sim_json_get(o, key)) + 1, rc);
}

static sim_json *percentiles(const double *v, size_t n, bool with_max,
                             int *rc) {
  sim_json *o = sim_json_object();
  if (o == NULL) {
    *rc = P2P_ERR_NOMEM;
    return NULL;
  }
  put_num(o, "p50", percentile(v, n, 50), rc);
  put_num(o, "p90", percentile(v, n, 90), rc);
  put_num(o, "p99", percentile(v, n, 99), rc);
  if (with_max)
    put_num(o, "max", n == 0 ? 0 : v[n - 1], rc);
  return o;
}

static sim_json *hosts_object(const sim_run_info *info, int *rc) {
  sim_json *o = sim_json_object();
  if (o == NULL) {
    *rc = P2P_ERR_NOMEM;
    return NULL;
  }
  for (size_t i = 0; i < info->n_hosts && info->role_names != NULL; i++)
    if (info->role_names[i] != NULL)
      count(o, info->role_names[i], rc);
  return o;
}

static sim_json *holepunch_object(const sim_evlog *events, const attempts *t,
                                  int *rc) {
  char val[VALUE_MAX];
  sim_json *hp = sim_json_object();
  sim_json *by = sim_json_object();
  sim_json *fail = sim_json_object();
  double *ms = NULL;
  size_t n_ok = 0;
  if (hp == NULL || by == NULL || fail == NULL) {
    *rc = P2P_ERR_NOMEM;
    goto done;
  }
  *rc = ttd_ms(t, &ms, &n_ok);
  for (size_t k = 0; k < t->n && *rc == 0; k++) {
    const attempt *a = &t->a[k];
    const char *pair = sim_event_field(sim_evlog_get(events, a->start),
                                       "nat_pair", val, sizeof val);
    if (pair == NULL)
      pair = "unknown";
    sim_json *p = sim_json_get(by, pair);
    if (p == NULL) {
      p = sim_json_object();
      if (p == NULL) {
        *rc = P2P_ERR_NOMEM;
        break;
      }
      put_num(p, "attempts", 0, rc);
      put_num(p, "successes", 0, rc);
      put(by, pair, p, rc);
      if (*rc != 0)
        break;
    }
    count(p, "attempts", rc);
    if (a->state == DIRECT)
      count(p, "successes", rc);
  }
  /* Failure reasons in the order they first occur in the log. */
  size_t n_events = sim_evlog_count(events);
  for (size_t i = 0; i < n_events && *rc == 0; i++) {
    const sim_event *e = sim_evlog_get(events, i);
    char id[ID_MAX];
    if (strcmp(e->name, "holepunch.failed") != 0 ||
        sim_event_field(e, "id", id, sizeof id) == NULL)
      continue;
    const attempt *a = find_attempt(t, id);
    if (a == NULL || a->end != i)
      continue;
    const char *reason = sim_event_field(e, "reason", val, sizeof val);
    count(fail, reason == NULL ? "unknown" : reason, rc);
  }
  for (size_t k = 0; k < t->n && *rc == 0; k++)
    if (t->a[k].state == RUNNING)
      count(fail, "unfinished", rc);

  put_num(hp, "attempts", (double)t->n, rc);
  put_num(hp, "successes", (double)n_ok, rc);
  put_num(hp, "success_rate", t->n == 0 ? 0 : (double)n_ok / (double)t->n, rc);
  put(hp, "time_to_direct_ms", percentiles(ms, n_ok, false, rc), rc);
  put(hp, "by_nat_pair", by, rc);
  by = NULL;
  put(hp, "failures", fail, rc);
  fail = NULL;
done:
  free(ms);
  sim_json_free(by);
  sim_json_free(fail);
  return hp;
}

int sim_summary_gossip_latency(const sim_evlog *events, double **out_ms,
                               size_t *n) {
  double *v = NULL;
  size_t k = 0, cap = 0;
  *out_ms = NULL;
  *n = 0;
  for (size_t i = 0; i < sim_evlog_count(events); i++) {
    const sim_event *e = sim_evlog_get(events, i);
    char buf[32];
    const char *lat;
    if (strcmp(e->name, "gossip.deliver") != 0 ||
        (lat = sim_event_field(e, "latency_ns", buf, sizeof buf)) == NULL)
      continue;
    if (k == cap) {
      size_t nc = cap ? cap * 2 : 1024;
      double *nv = realloc(v, nc * sizeof *nv);
      if (nv == NULL) {
        free(v);
        return P2P_ERR_NOMEM;
      }
      v = nv;
      cap = nc;
    }
    v[k++] = strtod(lat, NULL) / 1e6;
  }
  if (k)
    qsort(v, k, sizeof *v, cmp_double);
  *out_ms = v;
  *n = k;
  return 0;
}

/* One published workload message: what the summary needs of it. */
typedef struct gmsg {
  uint32_t expected, delivered;
} gmsg;

static int parse_id(const sim_event *e, uint64_t *p, uint64_t *q) {
  char buf[64];
  const char *v = sim_event_field(e, "id", buf, sizeof buf);
  unsigned long long a, b;
  if (v == NULL || sscanf(v, "%llu.%llu", &a, &b) != 2)
    return -1;
  *p = a;
  *q = b;
  return 0;
}

static double field_num(const sim_event *e, const char *key) {
  char buf[64];
  const char *v = sim_event_field(e, key, buf, sizeof buf);
  return v ? strtod(v, NULL) : 0;
}

/* gossip: from gossip.publish (id, expected), gossip.deliver (id,
 * latency_ns) and gossip.totals (duplicates). A message's deliveries count
 * up to its expected number: a host that got a message without being
 * counted at publish time (it joined the mesh while the message travelled)
 * does not make up for one that missed it. */
static sim_json *gossip_object(const sim_evlog *events, int *rc) {
  sim_json *g = sim_json_object();
  if (g == NULL) {
    *rc = P2P_ERR_NOMEM;
    return NULL;
  }
  sim_hmap msgs;
  sim_hmap_init(&msgs);
  double published = 0, expected = 0, delivered = 0, dups = 0;
  for (size_t i = 0; *rc == 0 && i < sim_evlog_count(events); i++) {
    const sim_event *e = sim_evlog_get(events, i);
    uint64_t p, q;
    if (strcmp(e->name, "gossip.publish") == 0 && parse_id(e, &p, &q) == 0) {
      gmsg *m = calloc(1, sizeof *m);
      if (m == NULL || sim_hmap_put(&msgs, p, q, m) < 0) {
        free(m);
        *rc = P2P_ERR_NOMEM;
        break;
      }
      m->expected = (uint32_t)field_num(e, "expected");
      published++;
      expected += m->expected;
    } else if (strcmp(e->name, "gossip.deliver") == 0 &&
               parse_id(e, &p, &q) == 0) {
      gmsg *m = sim_hmap_get(&msgs, p, q);
      if (m == NULL)
        continue;
      if (m->delivered < m->expected) {
        m->delivered++;
        delivered++;
      }
    } else if (strcmp(e->name, "gossip.totals") == 0) {
      dups += field_num(e, "duplicates");
    }
  }
  sim_hmap_entry *he;
  for (size_t pos = 0; (pos = sim_hmap_next(&msgs, pos, &he)) != 0;)
    free(he->val);
  sim_hmap_free(&msgs);
  double *lat = NULL;
  size_t nlat = 0;
  if (*rc == 0 && sim_summary_gossip_latency(events, &lat, &nlat) != 0)
    *rc = P2P_ERR_NOMEM;
  put_num(g, "published", published, rc);
  put_num(g, "expected_deliveries", expected, rc);
  put_num(g, "delivered", delivered, rc);
  put_num(g, "delivery_ratio", expected > 0 ? delivered / expected : 0, rc);
  put_num(g, "duplicates", dups, rc);
  put(g, "latency_ms", percentiles(lat, nlat, true, rc), rc);
  free(lat);
  return g;
}

/* How many connections of each kind were opened (conn.open events). */
static void count_conns(const sim_evlog *events, double *direct,
                        double *relayed) {
  for (size_t i = 0; i < sim_evlog_count(events); i++) {
    const sim_event *e = sim_evlog_get(events, i);
    if (strcmp(e->name, "conn.open") != 0)
      continue;
    char buf[16];
    const char *k = sim_event_field(e, "kind", buf, sizeof buf);
    if (k && strcmp(k, "relayed") == 0)
      (*relayed)++;
    else if (k)
      (*direct)++;
  }
}

int sim_summary_compute(const sim_evlog *events, const sim_run_info *info,
                        sim_json **out) {
  if (events == NULL || info == NULL || out == NULL)
    return P2P_ERR_INVALID;
  attempts t;
  int rc = collect(events, &t);
  if (rc != 0)
    return rc;
  sim_json *s = sim_json_object();
  if (s == NULL) {
    attempts_free(&t);
    return P2P_ERR_NOMEM;
  }
  put(s, "scenario", sim_json_string(info->scenario ? info->scenario : ""),
      &rc);
  put_num(s, "seed", (double)info->seed, &rc);
  put(s, "backend", sim_json_string(info->backend ? info->backend : ""), &rc);
  put_num(s, "sim_time_s", (double)info->sim_time_ns / 1e9, &rc);
  put_num(s, "wall_time_s", info->wall_time_s, &rc);
  put_num(s, "events_processed", (double)info->events_processed, &rc);
  put(s, "hosts", hosts_object(info, &rc), &rc);
  put(s, "holepunch", holepunch_object(events, &t, &rc), &rc);
  put(s, "gossip", gossip_object(events, &rc), &rc);

  size_t successes = 0;
  for (size_t k = 0; k < t.n; k++)
    successes += t.a[k].state == DIRECT;
  sim_json *conn = sim_json_object();
  if (conn != NULL) {
    /* A successful hole punch is a direct connection too. */
    double direct = (double)successes, relayed = 0;
    count_conns(events, &direct, &relayed);
    put_num(conn, "direct", direct, &rc);
    put_num(conn, "relayed", relayed, &rc);
  }
  put(s, "connections", conn, &rc);

  char hex[65] = "";
  if (info->trace_sha256 != NULL) {
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < 32; i++) {
      hex[2 * i] = digits[info->trace_sha256[i] >> 4];
      hex[2 * i + 1] = digits[info->trace_sha256[i] & 15];
    }
    hex[64] = '\0';
  }
  put(s, "trace_sha256", sim_json_string(hex), &rc);
  attempts_free(&t);
  if (rc != 0) {
    sim_json_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

static const char *op_text(sim_scn_op op) {
  switch (op) {
  case SIM_SCN_OP_GE: return ">=";
  case SIM_SCN_OP_LE: return "<=";
  case SIM_SCN_OP_EQ: return "==";
  case SIM_SCN_OP_LT: return "<";
  case SIM_SCN_OP_GT: return ">";
  }
  return "?";
}

static bool holds(double v, sim_scn_op op, double want) {
  switch (op) {
  case SIM_SCN_OP_GE: return v >= want;
  case SIM_SCN_OP_LE: return v <= want;
  case SIM_SCN_OP_EQ: return v == want;
  case SIM_SCN_OP_LT: return v < want;
  case SIM_SCN_OP_GT: return v > want;
  }
  return false;
}

/* "FIELD TEXT", e.g. "holepunch.success_rate >= 0.99"; malloc'd. */
static char *clause_text(const sim_scn_expect *x) {
  char rhs[64];
  const char *text = x->text;
  if (text == NULL) {
    snprintf(rhs, sizeof rhs, "%s %.17g", op_text(x->op), x->value);
    text = rhs;
  }
  size_t len = strlen(x->field) + 1 + strlen(text) + 1;
  char *s = malloc(len);
  if (s != NULL)
    snprintf(s, len, "%s %s", x->field, text);
  return s;
}

int sim_summary_expect(sim_json *summary, const sim_scn_expect *expects,
                       size_t n, int *all_ok, char *err, size_t errlen) {
  if (summary == NULL || all_ok == NULL || (expects == NULL && n > 0))
    return P2P_ERR_INVALID;
  /* Every field is checked before the summary changes. */
  for (size_t i = 0; i < n; i++) {
    const sim_json *v = sim_json_path(summary, expects[i].field);
    if (v == NULL || sim_json_type_of(v) != SIM_JSON_NUMBER) {
      if (err != NULL && errlen > 0)
        snprintf(err, errlen,
                 v == NULL ? "expect: the summary has no field '%s'"
                           : "expect: summary field '%s' is not a number",
                 expects[i].field);
      return P2P_ERR_INVALID;
    }
  }
  sim_json *arr = sim_json_array();
  if (arr == NULL)
    return P2P_ERR_NOMEM;
  int rc = 0;
  bool ok = true;
  for (size_t i = 0; i < n && rc == 0; i++) {
    const sim_scn_expect *x = &expects[i];
    double v = sim_json_num(sim_json_path(summary, x->field));
    bool pass = holds(v, x->op, x->value);
    ok = ok && pass;
    char *clause = clause_text(x);
    sim_json *c = sim_json_object();
    if (c == NULL || clause == NULL) {
      free(clause);
      sim_json_free(c);
      rc = P2P_ERR_NOMEM;
      break;
    }
    put(c, "clause", sim_json_string(clause), &rc);
    free(clause);
    put_num(c, "value", v, &rc);
    put(c, "ok", sim_json_bool(pass), &rc);
    if (rc != 0) {
      sim_json_free(c);
      break;
    }
    rc = sim_json_push(arr, c);
  }
  if (rc != 0) {
    sim_json_free(arr);
    return rc;
  }
  put(summary, "expect", arr, &rc);
  put(summary, "ok", sim_json_bool(ok), &rc);
  if (rc != 0)
    return rc;
  *all_ok = ok;
  return 0;
}
