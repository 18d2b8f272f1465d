/*
 * sim/metrics/summary.h - summary.json of a run, computed from its events,
 * and the evaluation of expect: clauses.
 *
 * The summary has every field DESIGN.md lists; fields of features that do
 * not exist yet are present and zero:
 *   scenario, seed, backend, sim_time_s, wall_time_s, events_processed,
 *   hosts: {<role>: count},
 *   holepunch: {attempts, successes, success_rate,
 *               time_to_direct_ms: {p50, p90, p99},
 *               by_nat_pair: {"<natA>|<natB>": {attempts, successes}},
 *               failures: {<reason>: count}},
 *   gossip: {published, expected_deliveries, delivered, delivery_ratio,
 *            duplicates, latency_ms: {p50, p90, p99, max}},
 *   connections: {direct, relayed},
 *   trace_sha256,
 *   expect: [{clause, value, ok}], ok
 * Percentiles use the nearest-rank method on the successful attempts
 * (0 when there are none). success_rate is successes / attempts (0 when no
 * attempt). An attempt without a direct or failed event by the end of the
 * run counts as failed with reason "unfinished".
 */
#ifndef SIM_SUMMARY_H
#define SIM_SUMMARY_H

#include <stddef.h>
#include <stdint.h>

#include "sim/metrics/evlog.h"
#include "sim/metrics/json.h"
#include "sim/scenario/scenario.h"

/* What the runner knows that the events do not say. */
typedef struct sim_run_info {
  const char *scenario;
  uint64_t seed;
  const char *backend;
  uint64_t sim_time_ns;
  double wall_time_s;
  uint64_t events_processed;
  const char *const *role_names; /* one per host, its role's name */
  size_t n_hosts;
  const uint8_t *trace_sha256; /* 32 bytes */
} sim_run_info;

/* Builds the summary tree from the events and the run info. Returns 0 or
 * P2P_ERR_NOMEM. */
P2P_WUR int sim_summary_compute(const sim_evlog *events,
                                const sim_run_info *info, sim_json **out);

/* The times to direct connection of the run's successful hole punches, in
 * ms, sorted ascending: what the percentiles and the CDF plot are drawn
 * from. *out_ms is malloc'd and the caller's to free (NULL when *n is 0).
 * Returns 0 or P2P_ERR_NOMEM. */
P2P_WUR int sim_summary_time_to_direct(const sim_evlog *events, double **out_ms,
                                       size_t *n);

/* The gossip delivery latencies of the run (gossip.deliver events), in ms,
 * sorted ascending: the latency percentiles and CDF graph are drawn from
 * them. As sim_summary_time_to_direct. */
P2P_WUR int sim_summary_gossip_latency(const sim_evlog *events, double **out_ms,
                                       size_t *n);

/* Evaluates the scenario's expect: clauses against the summary, adds the
 * "expect" array and "ok" to it, and sets *all_ok. A clause naming a field
 * that the summary does not have is an error: returns P2P_ERR_INVALID with
 * the field in err. */
P2P_WUR int sim_summary_expect(sim_json *summary, const sim_scn_expect *expects,
                               size_t n, int *all_ok, char *err, size_t errlen);

/* Draws the run's graphs into dir with gnuplot (PNG): time_to_direct_cdf.png
 * when there is at least one successful hole punch, gossip_latency_cdf.png
 * when a gossip message was delivered. Data files go beside them (*.dat).
 * Returns the number of graphs written, or P2P_ERR_IO when gnuplot failed
 * (message in err), or P2P_ERR_NOTFOUND when gnuplot is not installed. */
int sim_plot_run(const sim_evlog *events, const char *dir, char *err,
                 size_t errlen);

/* Runs `gnuplot SCRIPT` inside dir (so a script names its files relative to
 * dir and stays valid when the folder moves). Returns 0, P2P_ERR_NOTFOUND
 * (no gnuplot on PATH) or P2P_ERR_IO (it failed: the tail of its stderr is
 * in err). */
P2P_WUR int sim_gnuplot(const char *dir, const char *script, char *err,
                        size_t errlen);

#endif /* SIM_SUMMARY_H */
