/*
 * p2plab sweep: runs every point of a scenario's sweep (the product of its
 * axes, each combination with seeds 1..N) as parallel processes, then merges
 * the points' summaries.
 *
 * OUT/points/NNNNN/   each point's summary.json and events.csv
 * OUT/sweep.json      {scenario, axes, seeds, points: [{point, seed, values,
 *                     summary}], by_axis, by_nat_pair}; wall_time_s is 0 in
 *                     it so that the file depends only on (scenario, axis
 *                     values, seeds), whatever --jobs was
 * OUT/sweep.csv       one row per point: axis values and summary fields
 * OUT/<graph>.png     success rate vs each axis (95% Wilson intervals) and,
 *                     when the points report NAT pairs, a NAT x NAT heatmap
 *
 * Every point is a fresh process that loads the scenario with the point's
 * overrides, so a point's results are the same as `p2plab run --set ...`.
 *
 * Built with P2PLAB_WITH_MPI and started under mpirun with more than one
 * rank, point p runs on rank p mod size (in that rank's process, one after
 * the other), and rank 0 merges once every rank is done. The output folder
 * must be on a file system all ranks share.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#ifdef P2PLAB_MPI
#include <mpi.h>
#endif

#include "sim/cli/cli.h"
#include "sim/metrics/json.h"
#include "sim/metrics/summary.h"
#include "sim/runner/runner.h"

typedef struct sweep {
  const char *path;
  sim_scenario *s;
  cli_common c;
  char out[1024];
  size_t n_points;
  size_t combos; /* product of axis sizes */
} sweep;

static void sweep_help(FILE *f) {
  fprintf(f,
          "usage: p2plab sweep SCENARIO [--jobs N] [--out DIR] [--backend "
          "NAME] [--quiet]\n"
          "\n"
          "Runs every point of the scenario's sweep: section (the product of\n"
          "its axes, each with seeds 1..seeds) as up to N parallel processes\n"
          "(default: the number of cores), then writes sweep.json, sweep.csv\n"
          "and graphs into DIR (default results/runs/NAME-sweep).\n");
}

/* The axis values and seed of point `p`: the first axis varies slowest,
 * seeds fastest. */
static void point_of(const sweep *w, size_t p, size_t *vals, uint64_t *seed) {
  uint32_t seeds = w->s->sweep_seeds ? w->s->sweep_seeds : 1;
  *seed = 1 + p % seeds;
  size_t rest = p / seeds;
  for (size_t i = w->s->n_axes; i-- > 0;) {
    vals[i] = rest % w->s->axes[i].n_values;
    rest /= w->s->axes[i].n_values;
  }
}

static void point_dir(const sweep *w, size_t p, char *buf, size_t len) {
  snprintf(buf, len, "%s/points/%05zu", w->out, p);
}

/* Runs one point inside a child process; returns its exit status. */
static int run_point(const sweep *w, size_t p) {
  size_t vals[64];
  uint64_t seed;
  point_of(w, p, vals, &seed);
  sim_scn_override ov[CLI_MAX_OVERRIDES + 66];
  size_t n = 0;
  for (size_t i = 0; i < w->c.n_ov; i++)
    ov[n++] = w->c.ov[i];
  for (size_t i = 0; i < w->s->n_axes; i++)
    ov[n++] =
        (sim_scn_override){w->s->axes[i].path, w->s->axes[i].values[vals[i]]};
  char seed_buf[32];
  snprintf(seed_buf, sizeof seed_buf, "%llu", (unsigned long long)seed);
  ov[n++] = (sim_scn_override){"seed", seed_buf};

  char err[2048], dir[1200];
  sim_scenario *s = NULL;
  int rc = sim_scenario_load(w->path, ov, n, &s, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "%s\n", err);
    return cli_status(rc);
  }
  point_dir(w, p, dir, sizeof dir);
  sim_run_opts o = {.out_dir = dir, .progress = false, .plots = false};
  sim_run_result res;
  rc = sim_run(s, &o, &res, err, sizeof err);
  sim_scenario_free(s);
  if (rc < 0) {
    fprintf(stderr, "p2plab sweep: point %zu: %s\n", p, err);
    return cli_status(rc);
  }
  sim_json_free(res.summary);
  return CLI_OK;
}

/* Runs all points with at most `jobs` children at a time. Returns the worst
 * exit status of any point. */
static int run_points(const sweep *w, unsigned jobs, bool progress) {
  size_t next = 0, done = 0;
  unsigned running = 0;
  int worst = CLI_OK;
  fflush(NULL);
  while (done < w->n_points) {
    while (running < jobs && next < w->n_points && worst < CLI_BAD_INPUT) {
      pid_t pid = fork();
      if (pid < 0) {
        fprintf(stderr, "p2plab sweep: fork: %s\n", strerror(errno));
        worst = CLI_INTERNAL;
        break;
      }
      if (pid == 0)
        _exit(run_point(w, next));
      next++;
      running++;
    }
    if (running == 0)
      break;
    int st;
    pid_t pid = wait(&st);
    if (pid < 0) {
      if (errno == EINTR)
        continue;
      worst = CLI_INTERNAL;
      break;
    }
    running--;
    done++;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : CLI_INTERNAL;
    if (code > worst)
      worst = code;
    if (progress) {
      fprintf(stderr, "\rsweep %s: %zu/%zu points", w->s->name, done,
              w->n_points);
      fflush(stderr);
    }
  }
  if (progress)
    fprintf(stderr, "\n");
  return worst;
}

/* 95% Wilson score interval of s successes in n trials. */
static void wilson(double s, double n, double *lo, double *hi) {
  if (n <= 0) {
    *lo = 0;
    *hi = 0;
    return;
  }
  const double z = 1.959963984540054;
  double p = s / n, z2 = z * z;
  double den = 1 + z2 / n;
  double centre = (p + z2 / (2 * n)) / den;
  double half = z * sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / den;
  *lo = centre - half < 0 ? 0 : centre - half;
  *hi = centre + half > 1 ? 1 : centre + half;
}

static int add_counts(sim_json *obj, const char *key, double att, double succ) {
  sim_json *e = sim_json_get(obj, key);
  if (e == NULL) {
    e = sim_json_object();
    if (e == NULL || sim_json_set(e, "attempts", sim_json_number(0)) < 0 ||
        sim_json_set(e, "successes", sim_json_number(0)) < 0 ||
        sim_json_set(obj, key, e) < 0)
      return P2P_ERR_NOMEM;
  }
  double a = sim_json_num(sim_json_get(e, "attempts")) + att;
  double s = sim_json_num(sim_json_get(e, "successes")) + succ;
  if (sim_json_set(e, "attempts", sim_json_number(a)) < 0 ||
      sim_json_set(e, "successes", sim_json_number(s)) < 0)
    return P2P_ERR_NOMEM;
  return 0;
}

static int finish_rates(sim_json *obj) {
  for (size_t i = 0; i < sim_json_len(obj); i++) {
    sim_json *e = sim_json_value_at(obj, i);
    double a = sim_json_num(sim_json_get(e, "attempts"));
    double s = sim_json_num(sim_json_get(e, "successes"));
    double lo, hi;
    wilson(s, a, &lo, &hi);
    if (sim_json_set(e, "success_rate", sim_json_number(a ? s / a : 0)) < 0 ||
        sim_json_set(e, "ci95_low", sim_json_number(lo)) < 0 ||
        sim_json_set(e, "ci95_high", sim_json_number(hi)) < 0)
      return P2P_ERR_NOMEM;
  }
  return 0;
}

static void csv_num(FILE *f, const sim_json *sum, const char *path) {
  fprintf(f, ",%.17g", sim_json_num(sim_json_path(sum, path)));
}

static const char *const csv_fields[] = {"holepunch.attempts",
                                         "holepunch.successes",
                                         "holepunch.success_rate",
                                         "holepunch.time_to_direct_ms.p50",
                                         "holepunch.time_to_direct_ms.p90",
                                         "holepunch.time_to_direct_ms.p99",
                                         "gossip.delivery_ratio",
                                         "gossip.latency_ms.p50",
                                         "gossip.latency_ms.p99",
                                         "connections.direct",
                                         "connections.relayed",
                                         NULL};

/* success_rate_vs_<axis>.png for each axis with its Wilson intervals. */
static int plot_axes(const sweep *w, const sim_json *by_axis, int *graphs,
                     char *err, size_t errlen) {
  for (size_t i = 0; i < sim_json_len(by_axis); i++) {
    const char *axis = sim_json_key_at(by_axis, i);
    const sim_json *vals = sim_json_value_at(by_axis, i);
    char name[300], dat[1400], gp[1400];
    snprintf(name, sizeof name, "success_rate_vs_%s", axis);
    snprintf(dat, sizeof dat, "%s/%s.dat", w->out, name);
    snprintf(gp, sizeof gp, "%s/%s.gp", w->out, name);
    FILE *f = fopen(dat, "w");
    if (f == NULL)
      return P2P_ERR_IO;
    fprintf(f, "# index value success_rate ci95_low ci95_high attempts\n");
    for (size_t j = 0; j < sim_json_len(vals); j++) {
      const sim_json *e = sim_json_value_at(vals, j);
      fprintf(f, "%zu \"%s\" %.6f %.6f %.6f %.0f\n", j,
              sim_json_key_at(vals, j),
              sim_json_num(sim_json_get(e, "success_rate")),
              sim_json_num(sim_json_get(e, "ci95_low")),
              sim_json_num(sim_json_get(e, "ci95_high")),
              sim_json_num(sim_json_get(e, "attempts")));
    }
    fclose(f);
    f = fopen(gp, "w");
    if (f == NULL)
      return P2P_ERR_IO;
    fprintf(f,
            "set terminal png size 900,520\n"
            "set output '%s.png'\n"
            "set title \"%s: hole-punch success rate vs %s (95%% Wilson "
            "intervals)\"\n"
            "set xlabel \"%s\"\n"
            "set ylabel \"success rate (fraction of attempts)\"\n"
            "set yrange [0:1.05]\nset grid ytics\nset xtics rotate by -30\n"
            "set offsets 0.5,0.5,0,0\nunset key\n"
            "plot '%s.dat' using 1:3:4:5:xtic(2) with yerrorbars pt 7 ps 1.2 "
            "lw 2\n",
            name, w->s->name, axis, axis, name);
    fclose(f);
    snprintf(gp, sizeof gp, "%s.gp", name);
    int rc = sim_gnuplot(w->out, gp, err, errlen);
    if (rc < 0)
      return rc;
    (*graphs)++;
  }
  return 0;
}

/* holepunch_heatmap.png: success rate per NAT pair (row: first peer's NAT,
 * column: second's), when the points report NAT pairs. */
static int plot_heatmap(const sweep *w, const sim_json *pairs, int *graphs,
                        char *err, size_t errlen) {
  if (sim_json_len(pairs) == 0)
    return 0;
  /* The NAT labels in first-seen order, rows and columns alike. */
  char *labels[64];
  size_t n = 0;
  for (size_t i = 0; i < sim_json_len(pairs); i++) {
    char key[200];
    snprintf(key, sizeof key, "%s", sim_json_key_at(pairs, i));
    char *bar = strchr(key, '|');
    if (bar == NULL)
      continue;
    *bar = '\0';
    const char *parts[2] = {key, bar + 1};
    for (int k = 0; k < 2; k++) {
      size_t j = 0;
      while (j < n && strcmp(labels[j], parts[k]) != 0)
        j++;
      if (j == n && n < 64)
        labels[n++] = strdup(parts[k]);
    }
  }
  char dat[1300], gp[1300];
  snprintf(dat, sizeof dat, "%s/holepunch_heatmap.dat", w->out);
  snprintf(gp, sizeof gp, "%s/holepunch_heatmap.gp", w->out);
  FILE *f = fopen(dat, "w");
  int rc = f ? 0 : P2P_ERR_IO;
  for (size_t r = 0; rc == 0 && r < n; r++) {
    for (size_t c = 0; c < n; c++) {
      char key[300];
      snprintf(key, sizeof key, "%s|%s", labels[r], labels[c]);
      const sim_json *e = sim_json_get(pairs, key);
      double a = sim_json_num(sim_json_get(e, "attempts"));
      double s = sim_json_num(sim_json_get(e, "successes"));
      /* -1 marks a pair the sweep did not run: drawn blank. */
      fprintf(f, "%zu %zu %.6f\n", c, r, a > 0 ? s / a : -1.0);
    }
    fprintf(f, "\n");
  }
  if (f)
    fclose(f);
  if (rc == 0 && (f = fopen(gp, "w")) == NULL)
    rc = P2P_ERR_IO;
  if (rc == 0) {
    fprintf(f,
            "set terminal png size 960,800\n"
            "set output 'holepunch_heatmap.png'\n"
            "set title \"%s: hole-punch success rate per NAT pair\"\n"
            "set xlabel \"second peer's NAT\"\nset ylabel \"first peer's "
            "NAT\"\n"
            "set cblabel \"success rate\"\nset cbrange [0:1]\n"
            "set palette defined (0 '#b2182b', 0.5 '#f7f7f7', 1 '#2166ac')\n"
            "set xrange [-0.5:%zu.5]\nset yrange [%zu.5:-0.5]\n",
            w->s->name, n - 1, n - 1);
    fprintf(f, "set xtics rotate by -30 left (");
    for (size_t i = 0; i < n; i++)
      fprintf(f, "%s\"%s\" %zu", i ? ", " : "", labels[i], i);
    fprintf(f, ")\nset ytics (");
    for (size_t i = 0; i < n; i++)
      fprintf(f, "%s\"%s\" %zu", i ? ", " : "", labels[i], i);
    fprintf(f, ")\nplot 'holepunch_heatmap.dat' using 1:2:($3 < 0 ? NaN : $3) "
               "with image notitle, 'holepunch_heatmap.dat' using "
               "1:2:($3 < 0 ? \"\" : sprintf(\"%%.2f\", $3)) with labels "
               "notitle\n");
    fclose(f);
    rc = sim_gnuplot(w->out, "holepunch_heatmap.gp", err, errlen);
    if (rc == 0)
      (*graphs)++;
  }
  for (size_t i = 0; i < n; i++)
    free(labels[i]);
  return rc;
}

/* Reads every point's summary and writes sweep.json, sweep.csv and the
 * graphs. */
static int merge(const sweep *w, int *graphs, char *err, size_t errlen) {
  const sim_scenario *s = w->s;
  char path[1300];
  int rc = 0;
  sim_json *root = sim_json_object(), *axes = sim_json_array(),
           *points = sim_json_array(), *by_axis = sim_json_object(),
           *by_pair = sim_json_object();
  if (!root || !axes || !points || !by_axis || !by_pair) {
    sim_json_free(root);
    sim_json_free(axes);
    sim_json_free(points);
    sim_json_free(by_axis);
    sim_json_free(by_pair);
    return P2P_ERR_NOMEM;
  }
  for (size_t i = 0; i < s->n_axes && rc == 0; i++) {
    rc = sim_json_push(axes, sim_json_string(s->axes[i].path));
    sim_json *vals = sim_json_object();
    if (rc == 0)
      rc = sim_json_set(by_axis, s->axes[i].path, vals);
    for (size_t j = 0; rc == 0 && j < s->axes[i].n_values; j++)
      rc = add_counts(vals, s->axes[i].values[j], 0, 0);
  }
  if (rc == 0)
    rc = sim_json_set(root, "scenario", sim_json_string(s->name));
  if (rc == 0)
    rc = sim_json_set(root, "axes", axes);
  else
    sim_json_free(axes);
  if (rc == 0)
    rc = sim_json_set(root, "seeds",
                      sim_json_number(s->sweep_seeds ? s->sweep_seeds : 1));

  snprintf(path, sizeof path, "%s/sweep.csv", w->out);
  FILE *csv = rc == 0 ? fopen(path, "w") : NULL;
  if (rc == 0 && csv == NULL)
    rc = P2P_ERR_IO;
  if (rc == 0) {
    fprintf(csv, "point,seed");
    for (size_t i = 0; i < s->n_axes; i++)
      fprintf(csv, ",%s", s->axes[i].path);
    for (size_t i = 0; csv_fields[i]; i++)
      fprintf(csv, ",%s", csv_fields[i]);
    fprintf(csv, ",trace_sha256\n");
  }
  for (size_t p = 0; rc == 0 && p < w->n_points; p++) {
    size_t vals[64];
    uint64_t seed;
    point_of(w, p, vals, &seed);
    char dir[1200];
    point_dir(w, p, dir, sizeof dir);
    snprintf(path, sizeof path, "%s/summary.json", dir);
    sim_json *sum = NULL;
    rc = sim_json_read_file(path, &sum, err, errlen);
    if (rc < 0)
      break;
    /* Wall time is the one field that differs between identical runs. */
    rc = sim_json_set(sum, "wall_time_s", sim_json_number(0));
    double att = sim_json_num(sim_json_path(sum, "holepunch.attempts"));
    double succ = sim_json_num(sim_json_path(sum, "holepunch.successes"));
    fprintf(csv, "%zu,%llu", p, (unsigned long long)seed);
    sim_json *pv = sim_json_object();
    for (size_t i = 0; rc == 0 && i < s->n_axes; i++) {
      const char *v = s->axes[i].values[vals[i]];
      fprintf(csv, ",%s", v);
      rc = sim_json_set(pv, s->axes[i].path, sim_json_string(v));
      if (rc == 0)
        rc = add_counts(sim_json_get(by_axis, s->axes[i].path), v, att, succ);
    }
    for (size_t i = 0; csv_fields[i]; i++)
      csv_num(csv, sum, csv_fields[i]);
    fprintf(csv, ",%s\n",
            sim_json_str(sim_json_get(sum, "trace_sha256"))
                ? sim_json_str(sim_json_get(sum, "trace_sha256"))
                : "");
    const sim_json *pairs = sim_json_path(sum, "holepunch.by_nat_pair");
    for (size_t i = 0; rc == 0 && i < sim_json_len(pairs); i++) {
      const sim_json *e = sim_json_value_at(pairs, i);
      rc = add_counts(by_pair, sim_json_key_at(pairs, i),
                      sim_json_num(sim_json_get(e, "attempts")),
                      sim_json_num(sim_json_get(e, "successes")));
    }
    sim_json *pt = sim_json_object();
    if (rc == 0 && pt == NULL)
      rc = P2P_ERR_NOMEM;
    if (rc == 0)
      rc = sim_json_set(pt, "point", sim_json_number((double)p));
    if (rc == 0)
      rc = sim_json_set(pt, "seed", sim_json_number((double)seed));
    if (rc == 0) {
      rc = sim_json_set(pt, "values", pv);
      pv = NULL;
    }
    if (rc == 0) {
      rc = sim_json_set(pt, "summary", sum);
      sum = NULL;
    }
    if (rc == 0) {
      rc = sim_json_push(points, pt);
      pt = NULL;
    }
    sim_json_free(pv);
    sim_json_free(sum);
    sim_json_free(pt);
  }
  if (csv && fclose(csv) != 0 && rc == 0)
    rc = P2P_ERR_IO;
  for (size_t i = 0; rc == 0 && i < sim_json_len(by_axis); i++)
    rc = finish_rates(sim_json_value_at(by_axis, i));
  if (rc == 0)
    rc = finish_rates(by_pair);
  if (rc == 0) {
    rc = sim_json_set(root, "points", points);
    points = NULL;
  }
  if (rc == 0) {
    rc = sim_json_set(root, "by_axis", by_axis);
    by_axis = NULL;
  }
  if (rc == 0) {
    rc = sim_json_set(root, "by_nat_pair", by_pair);
    by_pair = NULL;
  }
  sim_json_free(points);
  sim_json_free(by_axis);
  sim_json_free(by_pair);
  if (rc == 0) {
    snprintf(path, sizeof path, "%s/sweep.json", w->out);
    FILE *f = fopen(path, "w");
    rc = f ? sim_json_write(root, f) : P2P_ERR_IO;
    if (f && fclose(f) != 0 && rc == 0)
      rc = P2P_ERR_IO;
  }
  if (rc == 0)
    rc = plot_axes(w, sim_json_get(root, "by_axis"), graphs, err, errlen);
  if (rc == 0)
    rc =
        plot_heatmap(w, sim_json_get(root, "by_nat_pair"), graphs, err, errlen);
  if (rc < 0 && err[0] == '\0')
    snprintf(err, errlen, "cannot write the sweep results in %s: %s", w->out,
             p2p_strerror(rc));
  sim_json_free(root);
  return rc;
}

int cli_sweep(int argc, char **argv) {
  sweep w = {0};
  long jobs = sysconf(_SC_NPROCESSORS_ONLN);
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0) {
      sweep_help(stdout);
      return CLI_OK;
    } else if (strcmp(a, "--quiet") == 0) {
      w.c.quiet = true;
    } else if (strcmp(a, "--jobs") == 0 || strcmp(a, "--out") == 0 ||
               strcmp(a, "--backend") == 0) {
      if (v == NULL) {
        fprintf(stderr, "p2plab sweep: %s needs a value\n", a);
        return CLI_BAD_INPUT;
      }
      i++;
      if (strcmp(a, "--jobs") == 0) {
        char *end;
        jobs = strtol(v, &end, 10);
        if (*end != '\0' || jobs < 1 || jobs > 1024) {
          fprintf(stderr, "p2plab sweep: --jobs needs 1..1024, not '%s'\n", v);
          return CLI_BAD_INPUT;
        }
      } else if (strcmp(a, "--out") == 0) {
        w.c.out_dir = v;
      } else {
        w.c.ov[w.c.n_ov++] = (sim_scn_override){"backend", v};
      }
    } else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "p2plab sweep: unknown option '%s'\n", a);
      sweep_help(stderr);
      return CLI_BAD_INPUT;
    } else if (w.path == NULL) {
      w.path = a;
    } else {
      fprintf(stderr, "p2plab sweep: takes one scenario\n");
      return CLI_BAD_INPUT;
    }
  }
  if (w.path == NULL) {
    fprintf(stderr, "p2plab sweep: needs a scenario file\n");
    sweep_help(stderr);
    return CLI_BAD_INPUT;
  }
  char err[2048] = "";
  int rc = sim_scenario_load(w.path, w.c.ov, w.c.n_ov, &w.s, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "%s\n", err);
    return cli_status(rc);
  }
  if (w.s->n_axes == 0 && w.s->sweep_seeds <= 1) {
    fprintf(stderr,
            "%s: error: the scenario has no sweep: section (expected "
            "axes or seeds to sweep)\n",
            w.path);
    sim_scenario_free(w.s);
    return CLI_BAD_INPUT;
  }
  if (w.s->n_axes > 64) {
    fprintf(stderr, "%s: error: more than 64 sweep axes\n", w.path);
    sim_scenario_free(w.s);
    return CLI_BAD_INPUT;
  }
  w.n_points = w.s->sweep_seeds ? w.s->sweep_seeds : 1;
  for (size_t i = 0; i < w.s->n_axes; i++)
    w.n_points *= w.s->axes[i].n_values;
  if (w.c.out_dir)
    snprintf(w.out, sizeof w.out, "%s", w.c.out_dir);
  else
    snprintf(w.out, sizeof w.out, "results/runs/%s-sweep", w.s->name);

  bool progress = !w.c.quiet && isatty(STDERR_FILENO);
  int status, rank = 0;
#ifdef P2PLAB_MPI
  int size = 1, mpi = getenv("OMPI_COMM_WORLD_SIZE") != NULL ||
                      getenv("PMI_SIZE") != NULL;
  if (mpi) {
    MPI_Init(NULL, NULL);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  }
  if (mpi && size > 1) {
    int mine = CLI_OK;
    for (size_t p = (size_t)rank; p < w.n_points; p += (size_t)size) {
      int st = run_point(&w, p);
      if (st > mine)
        mine = st;
    }
    MPI_Allreduce(&mine, &status, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  } else {
    status = run_points(&w, (unsigned)jobs, progress);
  }
#else
  status = run_points(&w, (unsigned)jobs, progress);
#endif
  int graphs = 0;
  if (rank == 0 && status < CLI_BAD_INPUT) {
    rc = merge(&w, &graphs, err, sizeof err);
    if (rc < 0) {
      fprintf(stderr, "p2plab sweep: %s\n", err);
      status = CLI_INTERNAL;
    }
  }
  if (rank == 0 && status < CLI_BAD_INPUT)
    printf("sweep %s: %zu points (%zu axes x %u seeds) in %s/ (sweep.json, "
           "sweep.csv, %d graphs)\n",
           w.s->name, w.n_points, w.s->n_axes,
           w.s->sweep_seeds ? w.s->sweep_seeds : 1, w.out, graphs);
  sim_scenario_free(w.s);
#ifdef P2PLAB_MPI
  if (mpi) {
    MPI_Bcast(&status, 1, MPI_INT, 0, MPI_COMM_WORLD);
    MPI_Finalize();
  }
#endif
  return status == CLI_EXPECT_FAILED ? CLI_OK : status;
}
