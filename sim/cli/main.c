/*
 * p2plab - the command line.
 *
 * Exit status (DESIGN.md): 0 success, 1 an expectation failed, 2 bad input
 * (arguments, scenario), 3 internal error.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/loader.h"
#include "sim/net/nat.h"
#include "sim/workload/holepunch.h"

#ifndef P2PLAB_VERSION
#define P2PLAB_VERSION "0.0.0"
#endif

enum { EXIT_OK = 0, EXIT_EXPECT = 1, EXIT_INPUT = 2, EXIT_INTERNAL = 3 };

static void usage(FILE *f) {
  fprintf(f, "usage: p2plab COMMAND [OPTIONS]\n"
             "\n"
             "commands:\n"
             "  demo      UDP hole punch between every pair of NAT presets\n"
             "\n"
             "options:\n"
             "  --help     this text (also after a command)\n"
             "  --version  print the version\n");
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

/* A column label of at most 11 characters for a preset name. */
static const char *short_name(const char *preset) {
  if (strcmp(preset, "restricted-cone") == 0)
    return "restricted";
  if (strcmp(preset, "port-restricted-cone") == 0)
    return "port-restr";
  return preset;
}

static int parse_u64(const char *s, unsigned long long *out) {
  char *end;
  if (s == NULL || *s == '\0' || *s == '-')
    return -1;
  errno = 0;
  *out = strtoull(s, &end, 10);
  return errno != 0 || *end != '\0' ? -1 : 0;
}

static int cmd_demo(int argc, char **argv) {
  unsigned long long seed = 1;
  const char *backend = "netsim";
  int quiet = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0) {
      demo_usage(stdout);
      return EXIT_OK;
    } else if (strcmp(argv[i], "--seed") == 0) {
      if (i + 1 >= argc || parse_u64(argv[i + 1], &seed) < 0) {
        fprintf(stderr, "p2plab demo: --seed needs a non-negative integer\n");
        return EXIT_INPUT;
      }
      i++;
    } else if (strcmp(argv[i], "--backend") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "p2plab demo: --backend needs a name\n");
        return EXIT_INPUT;
      }
      backend = argv[++i];
    } else if (strcmp(argv[i], "--quiet") == 0) {
      quiet = 1;
    } else {
      fprintf(stderr, "p2plab demo: unknown option '%s'\n", argv[i]);
      demo_usage(stderr);
      return EXIT_INPUT;
    }
  }

  char err[1024];
  p2plab_plugin *plugin = NULL;
  int rc = p2plab_plugin_load(backend, &plugin, err, sizeof err);
  if (rc < 0) {
    fprintf(stderr, "p2plab demo: %s\n", err);
    return rc == P2P_ERR_NOTFOUND || rc == P2P_ERR_INVALID ? EXIT_INPUT
                                                           : EXIT_INTERNAL;
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
    return EXIT_INTERNAL;
  }
  printf("%s%u of %u NAT pairs punched through (backend %s, seed %llu)\n",
         quiet ? "" : "\n", ok, total, api->name, seed);
  p2plab_plugin_unload(plugin);
  return EXIT_OK;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return EXIT_INPUT;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--version") == 0) {
    printf("p2plab %s\n", P2PLAB_VERSION);
    return EXIT_OK;
  }
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "help") == 0) {
    usage(stdout);
    return EXIT_OK;
  }
  if (strcmp(cmd, "demo") == 0)
    return cmd_demo(argc - 2, argv + 2);
  fprintf(stderr, "p2plab: unknown command '%s'\n", cmd);
  usage(stderr);
  return EXIT_INPUT;
}
