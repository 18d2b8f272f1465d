/*
 * sim/runner/runner.h - runs one scenario: builds the world on the chosen
 * backend, starts the hosts' workloads, runs to `duration`, and writes the
 * results (events.csv, summary.json, graphs) into an output folder.
 */
#ifndef SIM_RUNNER_H
#define SIM_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sim/metrics/json.h"
#include "sim/scenario/scenario.h"

typedef struct sim_run_opts {
  const char *out_dir; /* NULL: results/runs/<name>-<seed> */
  bool progress;       /* one progress line on stderr while running */
  bool plots;          /* draw graphs (gnuplot) */
} sim_run_opts;

typedef struct sim_run_result {
  sim_json *summary; /* owned by the caller: sim_json_free */
  int all_ok;        /* every expect: clause held */
  char out_dir[1024];
  int plots; /* graphs written */
} sim_run_result;

/* Runs `s` (its seed and backend as loaded: apply --seed/--backend as
 * overrides when loading). Returns 0, P2P_ERR_INVALID (the scenario asks
 * for something the backend or a workload refuses, e.g. an expect: field
 * the summary does not have; message in err), P2P_ERR_NOTFOUND (no such
 * backend), P2P_ERR_IO (results could not be written), or another negative
 * code for internal errors. */
P2P_WUR int sim_run(const sim_scenario *s, const sim_run_opts *opts,
                    sim_run_result *res, char *err, size_t errlen);

#endif /* SIM_RUNNER_H */
