/*
 * bench_scale - the relay/browser world at scale: wall time, events/s and
 * peak memory of a scenario run, and memory per idle browser host.
 *
 *   bench_scale [SCENARIO] [--browsers N]... [--duration S] [--idle]
 *               [--set PATH=VALUE]...
 *
 * SCENARIO defaults to scenarios/gossip-1k.yaml. Each --browsers N runs it
 * with N browsers in all (its 10 publishers and a `browser` group of
 * N - 10), relays scaled to N/250 (at least 4);
 * the default is 1000 and 10000. --idle also measures memory per idle
 * browser: two runs without gossip publishing (N and 2N browsers, every
 * browser joined, reserved, discovered and meshed) and the difference of
 * their peak RSS over N. Each run is a child process, so peak RSS is its
 * own. Prints figures, asserts nothing.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/metrics/json.h"
#include "sim/runner/runner.h"
#include "sim/scenario/scenario.h"

typedef struct result {
  double wall_s;
  double events;
  double delivery_ratio, p50, p99;
  long maxrss_kib;
  int ok;
} result;

static double json_path(const sim_json *o, const char *a, const char *b,
                        const char *c) {
  const sim_json *v = sim_json_get(o, a);
  if (v && b)
    v = sim_json_get(v, b);
  if (v && c)
    v = sim_json_get(v, c);
  return v ? sim_json_num(v) : 0;
}

/* Runs the scenario with the overrides in a child; fills r. */
static int run_child(const char *path, const sim_scn_override *ov, size_t n,
                     result *r) {
  int fd[2];
  if (pipe(fd) < 0)
    return -1;
  pid_t pid = fork();
  if (pid < 0)
    return -1;
  if (pid == 0) {
    close(fd[0]);
    result x = {0};
    char err[2048];
    sim_scenario *s = NULL;
    if (sim_scenario_load(path, ov, n, &s, err, sizeof err) == 0) {
      sim_run_opts o = {.out_dir = "/tmp/p2plab-bench-scale", .plots = false};
      sim_run_result res;
      if (sim_run(s, &o, &res, err, sizeof err) == 0) {
        x.ok = 1;
        x.wall_s = json_path(res.summary, "wall_time_s", NULL, NULL);
        x.events = json_path(res.summary, "events_processed", NULL, NULL);
        x.delivery_ratio =
            json_path(res.summary, "gossip", "delivery_ratio", NULL);
        x.p50 = json_path(res.summary, "gossip", "latency_ms", "p50");
        x.p99 = json_path(res.summary, "gossip", "latency_ms", "p99");
        sim_json_free(res.summary);
      } else {
        fprintf(stderr, "bench_scale: %s\n", err);
      }
      sim_scenario_free(s);
    } else {
      fprintf(stderr, "bench_scale: %s\n", err);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    x.maxrss_kib = ru.ru_maxrss;
    ssize_t w = write(fd[1], &x, sizeof x);
    _exit(w == (ssize_t)sizeof x ? 0 : 1);
  }
  close(fd[1]);
  ssize_t got = read(fd[0], r, sizeof *r);
  close(fd[0]);
  int st;
  waitpid(pid, &st, 0);
  return got == (ssize_t)sizeof *r && r->ok ? 0 : -1;
}

/* b browsers in all: the scenario's 10 publishers and b - 10 others. */
static void set_counts(sim_scn_override *ov, size_t *n, char *bufs, long b) {
  long relays = b / 250 < 4 ? 4 : b / 250;
  snprintf(bufs, 32, "%ld", b > 20 ? b - 10 : 10);
  snprintf(bufs + 32, 32, "%ld", relays);
  ov[(*n)++] = (sim_scn_override){"hosts.browser.count", bufs};
  ov[(*n)++] = (sim_scn_override){"hosts.relay.count", bufs + 32};
}

int main(int argc, char **argv) {
  const char *path = "scenarios/gossip-1k.yaml";
  long browsers[8];
  size_t nb = 0;
  const char *duration = NULL;
  int idle = 0;
  sim_scn_override extra[8];
  char extra_buf[8][256];
  size_t n_extra = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--browsers") == 0 && i + 1 < argc && nb < 8)
      browsers[nb++] = atol(argv[++i]);
    else if (strcmp(argv[i], "--duration") == 0 && i + 1 < argc)
      duration = argv[++i];
    else if (strcmp(argv[i], "--idle") == 0)
      idle = 1;
    else if (strcmp(argv[i], "--set") == 0 && i + 1 < argc && n_extra < 8) {
      snprintf(extra_buf[n_extra], sizeof extra_buf[n_extra], "%s", argv[++i]);
      char *eq = strchr(extra_buf[n_extra], '=');
      if (eq == NULL)
        return 2;
      *eq = '\0';
      extra[n_extra] = (sim_scn_override){extra_buf[n_extra], eq + 1};
      n_extra++;
    } else if (argv[i][0] != '-')
      path = argv[i];
    else {
      fprintf(stderr, "usage: bench_scale [SCENARIO] [--browsers N]... "
                      "[--duration S] [--idle] [--set PATH=VALUE]...\n");
      return 2;
    }
  }
  if (nb == 0) {
    browsers[nb++] = 1000;
    browsers[nb++] = 10000;
  }
  printf("%-10s %10s %12s %12s %10s %10s %10s %10s\n", "browsers", "wall_s",
         "events", "events/s", "peak_MiB", "delivery", "p50_ms", "p99_ms");
  for (size_t i = 0; i < nb; i++) {
    sim_scn_override ov[24];
    size_t n = 0;
    char bufs[64];
    set_counts(ov, &n, bufs, browsers[i]);
    if (duration)
      ov[n++] = (sim_scn_override){"duration", duration};
    for (size_t k = 0; k < n_extra; k++)
      ov[n++] = extra[k];
    result r;
    if (run_child(path, ov, n, &r) < 0) {
      printf("%-10ld run failed\n", browsers[i]);
      continue;
    }
    printf("%-10ld %10.1f %12.0f %12.0f %10.1f %10.4f %10.1f %10.1f\n",
           browsers[i], r.wall_s, r.events,
           r.wall_s > 0 ? r.events / r.wall_s : 0, r.maxrss_kib / 1024.0,
           r.delivery_ratio, r.p50, r.p99);
    fflush(stdout);
  }
  if (idle) {
    /* Joined and meshed, nothing published: one message at the very end
     * (the workload needs a start before its stop). */
    long base = browsers[0];
    long rss[2];
    for (int k = 0; k < 2; k++) {
      sim_scn_override ov[24];
      size_t n = 0;
      char bufs[64];
      set_counts(ov, &n, bufs, base * (k + 1));
      for (size_t e = 0; e < n_extra; e++)
        ov[n++] = extra[e];
      ov[n++] = (sim_scn_override){"duration", "45s"};
      ov[n++] = (sim_scn_override){"workload.0.gossip.start", "43s"};
      ov[n++] = (sim_scn_override){"workload.0.gossip.stop", "44s"};
      ov[n++] = (sim_scn_override){"workload.0.gossip.messages", "1"};
      result r;
      if (run_child(path, ov, n, &r) < 0) {
        printf("idle run with %ld browsers failed\n", base * (k + 1));
        return 1;
      }
      rss[k] = r.maxrss_kib;
    }
    printf("memory per idle browser host (relay connection, reservation, "
           "discovery, mesh): %.1f KiB (peak RSS %ld -> %ld KiB for %ld more "
           "browsers)\n",
           (double)(rss[1] - rss[0]) / (double)base, rss[0], rss[1], base);
  }
  return 0;
}
