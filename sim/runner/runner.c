/*
 * The scenario runner (see runner.h).
 *
 * Host naming: a group of count 1 is one host named after the group; a
 * larger group's hosts are NAME-1 .. NAME-n. Host ids on the backend follow
 * file order, so a run is reproducible from (scenario, overrides, seed).
 *
 * The raw UDP hole punch workload: every pair of the workload gets its own
 * reflector port and peer ports (20000 + k on the reflector, 30000 + k on
 * both peers for the k-th pair of the run), so pairs never share sockets
 * and a host can take part in many pairs.
 */
#include "sim/runner/runner.h"

#include "sim/util/errbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "plugins/loader.h"
#include "sim/metrics/evlog.h"
#include "sim/metrics/summary.h"
#include "sim/workload/holepunch.h"

#define MAX_PAIRS 20000

typedef struct run_host {
  p2plab_host_id id;
  char name[80];
  int group;
} run_host;

typedef struct attempt {
  struct runner *r;
  uint32_t id;
  int a, b; /* run_host indices */
  sim_holepunch *hp;
  char nat_pair[96];
} attempt;

typedef struct runner {
  const sim_scenario *s;
  const p2plab_backend_api *api;
  p2plab_backend *b;
  sim_evlog *log;
  run_host *hosts;
  size_t n_hosts;
  size_t *group_first; /* first run_host index of each group */
  attempt *attempts;
  size_t n_attempts;
  int log_err; /* first error while logging (reported at the end) */
} runner;

static double wall_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int mkdir_p(const char *path) {
  char buf[1024];
  size_t n = strlen(path);
  if (n == 0 || n >= sizeof buf)
    return P2P_ERR_INVALID;
  memcpy(buf, path, n + 1);
  for (size_t i = 1; i <= n; i++) {
    if (buf[i] == '/' || buf[i] == '\0') {
      char c = buf[i];
      buf[i] = '\0';
      if (mkdir(buf, 0755) != 0 && errno != EEXIST)
        return P2P_ERR_IO;
      buf[i] = c;
    }
  }
  return 0;
}

/* The label of a NAT profile in by_nat_pair: its preset, else its name. */
static const char *nat_label(const sim_scenario *s, int nat) {
  if (nat == SIM_SCN_NONE)
    return "open";
  return s->nats[nat].preset ? s->nats[nat].preset : s->nats[nat].name;
}

static void log_event(runner *r, uint64_t t, const char *host, const char *name,
                      const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void log_event(runner *r, uint64_t t, const char *host, const char *name,
                      const char *fmt, ...) {
  char fields[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(fields, sizeof fields, fmt, ap);
  va_end(ap);
  int rc = sim_evlog_add(r->log, t, host, name, fields);
  if (rc < 0 && r->log_err == 0)
    r->log_err = rc;
}

static void attempt_start(void *ctx, uint64_t now) {
  attempt *at = ctx;
  runner *r = at->r;
  log_event(r, now, r->hosts[at->a].name, "holepunch.start",
            "id=%u peer=%s transport=udp nat_pair=%s", at->id,
            r->hosts[at->b].name, at->nat_pair);
}

static void attempt_trace(void *ctx, uint64_t now, p2plab_host_id host,
                          const char *event, const char *detail) {
  attempt *at = ctx;
  runner *r = at->r;
  const char *hname = r->hosts[host].name;
  if (strcmp(event, "direct") == 0) {
    /* detail is "time_to_direct_ns=N" */
    log_event(r, now, hname, "holepunch.direct", "id=%u %s", at->id, detail);
  } else if (strcmp(event, "failed") == 0) {
    log_event(r, now, hname, "holepunch.failed", "id=%u reason=%s", at->id,
              detail);
  } else {
    /* bind-request, mapped, probe-start, peer-reflexive, through */
    log_event(r, now, hname, "holepunch.step", "id=%u step=%s%s%s", at->id,
              event, detail[0] ? " addr=" : "", detail);
  }
}

static int build_world(runner *r, char *err, size_t errlen) {
  const sim_scenario *s = r->s;
  const p2plab_backend_api *api = r->api;
  int rc;
  size_t total = 0;
  for (size_t g = 0; g < s->n_hosts; g++)
    total += s->hosts[g].count;
  r->hosts = calloc(total ? total : 1, sizeof *r->hosts);
  r->group_first = calloc(s->n_hosts ? s->n_hosts : 1, sizeof(size_t));
  if (r->hosts == NULL || r->group_first == NULL)
    return P2P_ERR_NOMEM;
  for (size_t g = 0; g < s->n_hosts; g++) {
    const sim_scn_host *hg = &s->hosts[g];
    int32_t shared = P2PLAB_NO_NAT;
    if (hg->cgnat != SIM_SCN_NONE) {
      rc = api->nat_add(r->b, &s->nats[hg->cgnat].cfg, P2PLAB_NO_NAT, &shared);
      if (rc < 0) {
        sim_errf(err, errlen, "%s: host group '%s': cannot add its cgnat: %s",
                 s->file, hg->name, p2p_strerror(rc));
        return rc;
      }
    }
    const sim_nat_config *home =
        hg->nat != SIM_SCN_NONE && s->nats[hg->nat].cfg.enabled
            ? &s->nats[hg->nat].cfg
            : NULL;
    r->group_first[g] = r->n_hosts;
    for (uint32_t i = 0; i < hg->count; i++) {
      run_host *h = &r->hosts[r->n_hosts];
      if (hg->count == 1)
        snprintf(h->name, sizeof h->name, "%s", hg->name);
      else
        snprintf(h->name, sizeof h->name, "%s-%u", hg->name, i + 1);
      h->group = (int)g;
      p2plab_host_config hc = {.name = h->name,
                               .up = hg->up,
                               .down = hg->down,
                               .home_nat = home,
                               .behind_nat = shared};
      rc = api->host_add(r->b, &hc, &h->id);
      if (rc < 0) {
        sim_errf(err, errlen, "%s: host '%s': %s", s->file, h->name,
                 p2p_strerror(rc));
        return rc;
      }
      if (h->id != r->n_hosts) {
        sim_errf(err, errlen, "backend %s numbers hosts unexpectedly",
                 api->name);
        return P2P_ERR_INTERNAL;
      }
      r->n_hosts++;
    }
  }
  for (size_t i = 0; i < s->n_latencies; i++) {
    const sim_scn_latency *l = &s->latencies[i];
    for (uint32_t x = 0; x < s->hosts[l->a].count; x++) {
      for (uint32_t y = 0; y < s->hosts[l->b].count; y++) {
        p2plab_host_id ha = r->hosts[r->group_first[l->a] + x].id;
        p2plab_host_id hb = r->hosts[r->group_first[l->b] + y].id;
        if (ha == hb)
          continue;
        rc = api->core_latency_set(r->b, ha, hb, l->latency_ns);
        if (rc < 0) {
          sim_errf(err, errlen, "%s: latency override: %s", s->file,
                   p2p_strerror(rc));
          return rc;
        }
      }
    }
  }
  return 0;
}

static int add_attempt(runner *r, const sim_scn_workload *w, size_t a, size_t b,
                       uint64_t start, char *err, size_t errlen) {
  const sim_scenario *s = r->s;
  if (r->n_attempts >= MAX_PAIRS) {
    sim_errf(err, errlen,
             "%s: the hole-punch workloads make more than %d pairs", s->file,
             MAX_PAIRS);
    return P2P_ERR_LIMIT;
  }
  attempt *at = &r->attempts[r->n_attempts];
  at->r = r;
  at->id = (uint32_t)r->n_attempts + 1;
  at->a = (int)a;
  at->b = (int)b;
  snprintf(at->nat_pair, sizeof at->nat_pair, "%s|%s",
           nat_label(s, s->hosts[r->hosts[a].group].nat),
           nat_label(s, s->hosts[r->hosts[b].group].nat));
  sim_holepunch_config hc;
  sim_holepunch_config_default(&hc);
  hc.reflector = r->hosts[r->group_first[w->stun]].id;
  hc.a = r->hosts[a].id;
  hc.b = r->hosts[b].id;
  hc.reflector_port = (uint16_t)(20000 + r->n_attempts);
  hc.peer_port = (uint16_t)(30000 + r->n_attempts);
  hc.start_ns = start;
  hc.timeout_ns = w->timeout_ns;
  hc.probe_interval_ns = w->probe_interval_ns;
  hc.signal_delay_ns = w->signal_delay_ns;
  hc.trace = attempt_trace;
  hc.trace_ctx = at;
  int rc = r->api->timer_start(r->b, start, attempt_start, at, NULL);
  if (rc == 0)
    rc = sim_holepunch_new(r->api, r->b, &hc, &at->hp);
  if (rc < 0) {
    sim_errf(err, errlen, "%s: hole punch %s x %s: %s", s->file,
             r->hosts[a].name, r->hosts[b].name, p2p_strerror(rc));
    return rc;
  }
  r->n_attempts++;
  return 0;
}

static int start_workloads(runner *r, char *err, size_t errlen) {
  const sim_scenario *s = r->s;
  r->attempts = calloc(MAX_PAIRS, sizeof *r->attempts);
  if (r->attempts == NULL)
    return P2P_ERR_NOMEM;
  for (size_t i = 0; i < s->n_workloads; i++) {
    const sim_scn_workload *w = &s->workloads[i];
    if (w->kind != SIM_SCN_WL_HOLEPUNCH)
      continue;
    size_t a0 = r->group_first[w->a], b0 = r->group_first[w->b];
    uint32_t na = s->hosts[w->a].count, nb = s->hosts[w->b].count;
    uint64_t start = w->start_ns;
    for (uint32_t x = 0; x < na; x++) {
      for (uint32_t y = w->a == w->b ? x + 1 : 0; y < nb; y++) {
        int rc = add_attempt(r, w, a0 + x, b0 + y, start, err, errlen);
        if (rc < 0)
          return rc;
        start += w->interval_ns;
      }
    }
  }
  return 0;
}

static void progress_line(const sim_scenario *s, uint64_t now, double t0,
                          uint64_t events) {
  double wall = wall_now() - t0;
  double frac = (double)now / (double)s->duration_ns;
  double eta = frac > 0 ? wall / frac - wall : 0;
  fprintf(stderr,
          "\r%s: sim %.1f s / %.1f s (%3.0f%%), %.2f M events/s, ETA %.0f s  ",
          s->name, (double)now / 1e9, (double)s->duration_ns / 1e9, frac * 100,
          wall > 0 ? (double)events / wall / 1e6 : 0.0, eta);
  fflush(stderr);
}

static void free_runner(runner *r) {
  for (size_t i = 0; i < r->n_attempts; i++)
    sim_holepunch_del(r->attempts[i].hp);
  free(r->attempts);
  if (r->b)
    r->api->destroy(r->b);
  free(r->hosts);
  free(r->group_first);
  sim_evlog_del(r->log);
}

static int write_results(runner *r, const sim_run_opts *opts,
                         sim_run_result *res, double wall_s, uint64_t events,
                         char *err, size_t errlen) {
  const sim_scenario *s = r->s;
  char path[1200];
  int rc = mkdir_p(res->out_dir);
  if (rc < 0) {
    sim_errf(err, errlen, "cannot create %s: %s", res->out_dir,
             strerror(errno));
    return P2P_ERR_IO;
  }
  uint8_t sha[32];
  snprintf(path, sizeof path, "%s/events.csv", res->out_dir);
  FILE *f = fopen(path, "w");
  if (f == NULL) {
    sim_errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return P2P_ERR_IO;
  }
  rc = sim_evlog_write_csv(r->log, f, sha);
  if (fclose(f) != 0 && rc == 0)
    rc = P2P_ERR_IO;
  if (rc < 0) {
    sim_errf(err, errlen, "cannot write %s", path);
    return rc;
  }

  const char **roles = calloc(r->n_hosts ? r->n_hosts : 1, sizeof *roles);
  if (roles == NULL)
    return P2P_ERR_NOMEM;
  for (size_t i = 0; i < r->n_hosts; i++)
    roles[i] = sim_scn_role_name(s->hosts[r->hosts[i].group].role);
  sim_run_info info = {.scenario = s->name,
                       .seed = s->seed,
                       .backend = r->api->name,
                       .sim_time_ns = s->duration_ns,
                       .wall_time_s = wall_s,
                       .events_processed = events,
                       .role_names = roles,
                       .n_hosts = r->n_hosts,
                       .trace_sha256 = sha};
  rc = sim_summary_compute(r->log, &info, &res->summary);
  free(roles);
  if (rc < 0) {
    sim_errf(err, errlen, "cannot compute the summary: %s", p2p_strerror(rc));
    return rc;
  }
  rc = sim_summary_expect(res->summary, s->expects, s->n_expects, &res->all_ok,
                          err, errlen);
  if (rc < 0)
    return rc;

  snprintf(path, sizeof path, "%s/summary.json", res->out_dir);
  f = fopen(path, "w");
  if (f == NULL) {
    sim_errf(err, errlen, "cannot write %s: %s", path, strerror(errno));
    return P2P_ERR_IO;
  }
  rc = sim_json_write(res->summary, f);
  if (fclose(f) != 0 && rc == 0)
    rc = P2P_ERR_IO;
  if (rc < 0) {
    sim_errf(err, errlen, "cannot write %s", path);
    return rc;
  }
  if (opts->plots) {
    char perr[512] = "";
    int n = sim_plot_run(r->log, res->out_dir, perr, sizeof perr);
    if (n < 0) {
      sim_errf(err, errlen, "graphs: %s", perr);
      return n;
    }
    res->plots = n;
  }
  return 0;
}

int sim_run(const sim_scenario *s, const sim_run_opts *opts,
            sim_run_result *res, char *err, size_t errlen) {
  memset(res, 0, sizeof *res);
  if (opts->out_dir)
    snprintf(res->out_dir, sizeof res->out_dir, "%s", opts->out_dir);
  else
    snprintf(res->out_dir, sizeof res->out_dir, "results/runs/%s-%llu", s->name,
             (unsigned long long)s->seed);

  p2plab_plugin *plugin = NULL;
  int rc = p2plab_plugin_load(s->backend, &plugin, err, errlen);
  if (rc < 0)
    return rc;
  runner r = {.s = s, .api = p2plab_plugin_api(plugin)};
  p2plab_backend_config bc = {.seed = s->seed,
                              .core_latency_ns = s->core_latency_ns,
                              .core_jitter_ns = s->core_jitter_ns,
                              .core_loss_ppm = s->core_loss_ppm};
  rc = sim_evlog_new(&r.log);
  if (rc == 0)
    rc = r.api->create(&bc, &r.b);
  if (rc < 0) {
    sim_errf(err, errlen, "backend %s: %s", r.api->name, p2p_strerror(rc));
    goto out;
  }
  rc = build_world(&r, err, errlen);
  if (rc == 0)
    rc = start_workloads(&r, err, errlen);
  if (rc < 0)
    goto out;

  double t0 = wall_now();
  uint64_t ev0 = r.api->events_processed(r.b);
  uint64_t slice = s->duration_ns / 100 ? s->duration_ns / 100 : 1;
  double last_print = 0;
  for (uint64_t now = 0; now < s->duration_ns;) {
    uint64_t next = now + slice < s->duration_ns ? now + slice : s->duration_ns;
    int64_t n = r.api->run_until(r.b, next);
    if (n < 0) {
      rc = (int)n;
      sim_errf(err, errlen, "backend %s failed: %s", r.api->name,
               p2p_strerror(rc));
      goto out;
    }
    now = next;
    if (opts->progress && wall_now() - last_print > 0.2) {
      last_print = wall_now();
      progress_line(s, now, t0, r.api->events_processed(r.b) - ev0);
    }
  }
  double wall_s = wall_now() - t0;
  if (opts->progress)
    fprintf(stderr, "\r%*s\r", 100, "");
  /* Attempts still running at the end stay without an outcome in the
   * events: the summary counts them as "unfinished". */
  uint64_t events = r.api->events_processed(r.b) - ev0;
  if (r.log_err) {
    rc = r.log_err;
    sim_errf(err, errlen, "event log: %s", p2p_strerror(rc));
    goto out;
  }
  rc = write_results(&r, opts, res, wall_s, events, err, errlen);
out:
  free_runner(&r);
  p2plab_plugin_unload(plugin);
  if (rc < 0) {
    sim_json_free(res->summary);
    res->summary = NULL;
  }
  return rc;
}
