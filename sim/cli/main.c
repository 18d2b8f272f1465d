/*
 * p2plab - the command line.
 *
 * Exit status (DESIGN.md): 0 success, 1 an expectation failed (check), 2 bad
 * input (arguments, scenario), 3 internal error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plugins/loader.h"
#include "sim/cli/cli.h"
#include "sim/metrics/evlog.h"
#include "sim/metrics/summary.h"
#include "sim/net/nat.h"
#include "sim/runner/runner.h"
#include "sim/workload/holepunch.h"

#ifndef P2PLAB_VERSION
#define P2PLAB_VERSION "0.0.0"
#endif

static void usage(FILE *f) {
  fprintf(f, "usage: p2plab COMMAND [OPTIONS]\n"
             "\n"
             "commands:\n"
             "  run SCENARIO     run a scenario and write its results\n"
             "  check SCENARIO...  run scenarios; exit 1 when an expect: "
             "clause fails\n"
             "  sweep SCENARIO   run the scenario's sweep: axes x seeds\n"
             "  plot RUN_DIR     redraw the graphs of a run from its events\n"
             "  demo             UDP hole punch between every pair of NAT "
             "presets\n"
             "  node             a real libp2p node on 127.0.0.1 (posix)\n"
             "  relay            the guides' relay, for real, on 127.0.0.1\n"
             "\n"
             "  --help           this text; COMMAND --help for a command\n"
             "  --version        print the version\n"
             "\n"
             "exit status: 0 success, 1 an expectation failed, 2 bad input, "
             "3 internal error\n");
}

int cli_status(int rc) {
  switch (rc) {
  case 0: return CLI_OK;
  case P2P_ERR_INVALID:
  case P2P_ERR_NOTFOUND:
  case P2P_ERR_IO: return CLI_BAD_INPUT;
  default: return CLI_INTERNAL;
  }
}

static int parse_u64(const char *s, unsigned long long *out) {
  char *end;
  if (s == NULL || *s == '\0' || *s == '-')
    return -1;
  errno = 0;
  *out = strtoull(s, &end, 10);
  return errno != 0 || *end != '\0' ? -1 : 0;
}

/* Parses the options of run and check. Returns -1 after printing an error,
 * 1 when --help was printed, 0 otherwise; positional arguments are left in
 * pos[]. */
static int parse_common(const char *cmd, int argc, char **argv, cli_common *c,
                        const char **pos, int *n_pos, void (*help)(FILE *)) {
  *n_pos = 0;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--help") == 0) {
      help(stdout);
      return 1;
    } else if (strcmp(a, "--quiet") == 0) {
      c->quiet = true;
    } else if (strcmp(a, "--seed") == 0 || strcmp(a, "--backend") == 0 ||
               strcmp(a, "--out") == 0 || strcmp(a, "--set") == 0) {
      if (v == NULL) {
        fprintf(stderr, "p2plab %s: %s needs a value\n", cmd, a);
        return -1;
      }
      i++;
      if (c->n_ov == CLI_MAX_OVERRIDES) {
        fprintf(stderr, "p2plab %s: too many overrides\n", cmd);
        return -1;
      }
      if (strcmp(a, "--seed") == 0) {
        unsigned long long seed;
        if (parse_u64(v, &seed) < 0) {
          fprintf(stderr,
                  "p2plab %s: --seed needs a non-negative integer, "
                  "not '%s'\n",
                  cmd, v);
          return -1;
        }
        c->ov[c->n_ov++] = (sim_scn_override){"seed", v};
      } else if (strcmp(a, "--backend") == 0) {
        c->ov[c->n_ov++] = (sim_scn_override){"backend", v};
      } else if (strcmp(a, "--out") == 0) {
        c->out_dir = v;
      } else {
        const char *eq = strchr(v, '=');
        if (eq == NULL || eq == v) {
          fprintf(stderr, "p2plab %s: --set needs PATH=VALUE, not '%s'\n", cmd,
                  v);
          return -1;
        }
        /* The path is the part before '=': split in place. */
        argv[i][eq - v] = '\0';
        c->ov[c->n_ov++] = (sim_scn_override){argv[i], eq + 1};
      }
    } else if (a[0] == '-' && a[1] != '\0') {
      fprintf(stderr, "p2plab %s: unknown option '%s'\n", cmd, a);
      help(stderr);
      return -1;
    } else {
      pos[(*n_pos)++] = a;
    }
  }
  return 0;
}

static double jnum(const sim_json *root, const char *path) {
  return sim_json_num(sim_json_path(root, path));
}

static void print_summary(const sim_run_result *res, bool quiet) {
  const sim_json *s = res->summary;
  if (quiet) {
    printf("%s\n", res->out_dir);
    return;
  }
  printf("%s (seed %.0f, %s): %.1f s simulated in %.2f s, %.0f events\n",
         sim_json_str(sim_json_get(s, "scenario")), jnum(s, "seed"),
         sim_json_str(sim_json_get(s, "backend")), jnum(s, "sim_time_s"),
         jnum(s, "wall_time_s"), jnum(s, "events_processed"));
  double att = jnum(s, "holepunch.attempts");
  if (att > 0) {
    printf("hole punch: %.0f of %.0f attempts direct (%.1f%%)",
           jnum(s, "holepunch.successes"), att,
           100.0 * jnum(s, "holepunch.success_rate"));
    if (jnum(s, "holepunch.successes") > 0)
      printf(", time to direct p50 %.1f ms, p90 %.1f ms, p99 %.1f ms",
             jnum(s, "holepunch.time_to_direct_ms.p50"),
             jnum(s, "holepunch.time_to_direct_ms.p90"),
             jnum(s, "holepunch.time_to_direct_ms.p99"));
    printf("\n");
    const sim_json *fails = sim_json_path(s, "holepunch.failures");
    for (size_t i = 0; i < sim_json_len(fails); i++)
      printf("  failed: %s x %.0f\n", sim_json_key_at(fails, i),
             sim_json_num(sim_json_value_at(fails, i)));
  }
  const sim_json *ex = sim_json_get(s, "expect");
  for (size_t i = 0; i < sim_json_len(ex); i++) {
    const sim_json *e = sim_json_at(ex, i);
    printf("expect %-40s %-4s (value %g)\n",
           sim_json_str(sim_json_get(e, "clause")),
           sim_json_boolean(sim_json_get(e, "ok")) ? "ok" : "FAIL",
           sim_json_num(sim_json_get(e, "value")));
  }
  printf("results: %s/ (summary.json, events.csv%s)\n", res->out_dir,
         res->plots ? ", graphs" : "");
}

/* Loads and runs one scenario; prints errors. Returns an exit status. */
static int run_one(const char *cmd, const char *path, cli_common *c,
                   bool want_expect) {
  char err[2048] = "";
  sim_scenario *s = NULL;
  int rc = sim_scenario_load(path, c->ov, c->n_ov, &s, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "%s\n", err);
    return cli_status(rc);
  }
  sim_run_opts o = {.out_dir = c->out_dir,
                    .progress = !c->quiet && isatty(STDERR_FILENO),
                    .plots = true};
  sim_run_result res;
  rc = sim_run(s, &o, &res, err, sizeof err);
  sim_scenario_free(s);
  if (rc < 0) {
    fprintf(stderr, "p2plab %s: %s\n", cmd, err);
    return cli_status(rc);
  }
  print_summary(&res, c->quiet);
  int status = want_expect && !res.all_ok ? CLI_EXPECT_FAILED : CLI_OK;
  sim_json_free(res.summary);
  return status;
}

static void run_help(FILE *f) {
  fprintf(
      f, "usage: p2plab run SCENARIO [--seed N] [--backend NAME] [--out DIR]\n"
         "                  [--set PATH=VALUE]... [--quiet]\n"
         "\n"
         "Runs SCENARIO and writes summary.json, events.csv and graphs into\n"
         "DIR (default results/runs/NAME-SEED). --seed and --backend override\n"
         "the file; --set overrides any scalar by its dotted path, e.g.\n"
         "--set nats.home.preset=symmetric. Shows a progress line on a\n"
         "terminal unless --quiet; --quiet prints only the results folder.\n"
         "Exit status 0, or 2 for a bad scenario, 3 for an internal error.\n");
}

static void check_help(FILE *f) {
  fprintf(f,
          "usage: p2plab check SCENARIO... [--seed N] [--backend NAME]\n"
          "                    [--set PATH=VALUE]... [--quiet]\n"
          "\n"
          "Runs each SCENARIO like `run` and exits 1 when any expect: clause\n"
          "fails (2 for a bad scenario, 3 for an internal error). Results go\n"
          "to results/runs/NAME-SEED.\n");
}

static int cmd_run(int argc, char **argv, bool check) {
  cli_common c = {0};
  const char **pos = calloc((size_t)argc + 1, sizeof *pos);
  int n_pos;
  if (pos == NULL)
    return CLI_INTERNAL;
  const char *cmd = check ? "check" : "run";
  int p = parse_common(cmd, argc, argv, &c, pos, &n_pos,
                       check ? check_help : run_help);
  int status = CLI_OK;
  if (p != 0) {
    status = p > 0 ? CLI_OK : CLI_BAD_INPUT;
  } else if (n_pos == 0 || (!check && n_pos != 1)) {
    fprintf(stderr, "p2plab %s: %s\n", cmd,
            n_pos ? "takes one scenario" : "needs a scenario file");
    (check ? check_help : run_help)(stderr);
    status = CLI_BAD_INPUT;
  } else if (check && n_pos > 1 && c.out_dir) {
    fprintf(stderr, "p2plab check: --out takes one scenario\n");
    status = CLI_BAD_INPUT;
  } else {
    for (int i = 0; i < n_pos; i++) {
      int st = run_one(cmd, pos[i], &c, check);
      if (st > status)
        status = st;
    }
  }
  free(pos);
  return status;
}

static void plot_help(FILE *f) {
  fprintf(f,
          "usage: p2plab plot RUN_DIR\n"
          "\n"
          "Redraws the graphs of a run from RUN_DIR/events.csv (gnuplot).\n");
}

static int cmd_plot(int argc, char **argv) {
  if (argc == 1 && strcmp(argv[0], "--help") == 0) {
    plot_help(stdout);
    return CLI_OK;
  }
  if (argc != 1 || argv[0][0] == '-') {
    plot_help(stderr);
    return CLI_BAD_INPUT;
  }
  char path[1200], err[1024] = "";
  snprintf(path, sizeof path, "%s/events.csv", argv[0]);
  sim_evlog *log = NULL;
  int rc = sim_evlog_read_csv(path, &log, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "p2plab plot: %s\n", err[0] ? err : p2p_strerror(rc));
    return cli_status(rc);
  }
  int n = sim_plot_run(log, argv[0], err, sizeof err);
  sim_evlog_del(log);
  if (n < 0) {
    fprintf(stderr, "p2plab plot: %s\n", err);
    return CLI_INTERNAL;
  }
  printf("%d graph%s in %s\n", n, n == 1 ? "" : "s", argv[0]);
  return CLI_OK;
}

/* A column label of at most 11 characters for a preset name. */
static const char *short_name(const char *preset) {
  if (strcmp(preset, "restricted-cone") == 0)
    return "restricted";
  if (strcmp(preset, "port-restricted-cone") == 0)
    return "port-restr";
  return preset;
}

static void demo_usage(FILE *f) {
  fprintf(f,
          "usage: p2plab demo [--seed N] [--backend NAME] [--quiet]\n"
          "\n"
          "Runs the raw UDP hole punch (a STUN-like reflector, an out-of-band\n"
          "exchange of mapped addresses, simultaneous probes) between two\n"
          "peers for every pair of NAT presets, and prints the outcome and\n"
          "the time to a direct path. Access links 5 ms / 20 Mbit/s, core\n"
          "20 ms one way.\n"
          "\n"
          "  --seed N        run seed (default 1)\n"
          "  --backend NAME  network backend (default netsim)\n"
          "  --quiet         print only the summary line\n");
}

static int cmd_demo(int argc, char **argv) {
  unsigned long long seed = 1;
  const char *backend = "netsim";
  int quiet = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0) {
      demo_usage(stdout);
      return CLI_OK;
    } else if (strcmp(argv[i], "--seed") == 0) {
      if (i + 1 >= argc || parse_u64(argv[i + 1], &seed) < 0) {
        fprintf(stderr, "p2plab demo: --seed needs a non-negative integer\n");
        return CLI_BAD_INPUT;
      }
      i++;
    } else if (strcmp(argv[i], "--backend") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "p2plab demo: --backend needs a name\n");
        return CLI_BAD_INPUT;
      }
      backend = argv[++i];
    } else if (strcmp(argv[i], "--quiet") == 0) {
      quiet = 1;
    } else {
      fprintf(stderr, "p2plab demo: unknown option '%s'\n", argv[i]);
      demo_usage(stderr);
      return CLI_BAD_INPUT;
    }
  }

  char err[1024];
  p2plab_plugin *plugin = NULL;
  int rc = p2plab_plugin_load(backend, &plugin, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "p2plab demo: %s\n", err);
    return rc == P2P_ERR_NOTFOUND || rc == P2P_ERR_INVALID ? CLI_BAD_INPUT
                                                           : CLI_INTERNAL;
  }
  const p2plab_backend_api *api = p2plab_plugin_api(plugin);
  const char *const *names = sim_nat_preset_names();
  size_t n = 0;
  while (names[n])
    n++;

  if (!quiet) {
    printf("UDP hole punch on %s, seed %llu: row = peer A's NAT, column = "
           "peer B's NAT,\ncell = time to a direct path in ms, or -- when "
           "the punch failed\n(restricted = restricted-cone, port-restr = "
           "port-restricted-cone)\n\n%-22s",
           api->name, seed, "");
    for (size_t j = 0; j < n; j++)
      printf(" %11s", short_name(names[j]));
    printf("\n");
  }
  unsigned ok = 0, total = 0;
  for (size_t i = 0; i < n && rc == 0; i++) {
    if (!quiet)
      printf("%-22s", names[i]);
    for (size_t j = 0; j < n; j++) {
      sim_nat_config na, nb;
      sim_holepunch_world w;
      sim_holepunch_result res;
      sim_holepunch_world_default(&w);
      w.seed = seed;
      if (sim_nat_preset(names[i], &na) < 0 ||
          sim_nat_preset(names[j], &nb) < 0) {
        rc = P2P_ERR_INTERNAL;
        break;
      }
      w.nat_a = &na;
      w.nat_b = &nb;
      rc = sim_holepunch_run_world(api, &w, NULL, NULL, NULL, &res);
      if (rc < 0)
        break;
      total++;
      if (res.state == SIM_HOLEPUNCH_SUCCESS) {
        ok++;
        if (!quiet)
          printf(" %11.1f", (double)res.time_to_direct_ns / 1e6);
      } else if (!quiet) {
        printf(" %11s", "--");
      }
    }
    if (!quiet)
      printf("\n");
  }
  if (rc < 0) {
    fprintf(stderr, "\np2plab demo: %s\n", p2p_strerror(rc));
    p2plab_plugin_unload(plugin);
    return CLI_INTERNAL;
  }
  printf("%s%u of %u NAT pairs punched through (backend %s, seed %llu)\n",
         quiet ? "" : "\n", ok, total, api->name, seed);
  p2plab_plugin_unload(plugin);
  return CLI_OK;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return CLI_BAD_INPUT;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--version") == 0) {
    printf("p2plab %s\n", P2PLAB_VERSION);
    return CLI_OK;
  }
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    usage(stdout);
    return CLI_OK;
  }
  if (strcmp(cmd, "run") == 0)
    return cmd_run(argc - 2, argv + 2, false);
  if (strcmp(cmd, "check") == 0)
    return cmd_run(argc - 2, argv + 2, true);
  if (strcmp(cmd, "sweep") == 0)
    return cli_sweep(argc - 2, argv + 2);
  if (strcmp(cmd, "plot") == 0)
    return cmd_plot(argc - 2, argv + 2);
  if (strcmp(cmd, "demo") == 0)
    return cmd_demo(argc - 2, argv + 2);
  if (strcmp(cmd, "node") == 0)
    return cli_node(argc - 2, argv + 2);
  if (strcmp(cmd, "relay") == 0)
    return cli_relay(argc - 2, argv + 2);
  fprintf(stderr, "p2plab: unknown command '%s'\n", cmd);
  usage(stderr);
  return CLI_BAD_INPUT;
}
