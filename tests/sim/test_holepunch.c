/* Tests for the raw UDP hole punch workload (sim/workload/holepunch.c) on
 * netsim: every pair of NAT presets, against outcomes derived from the
 * NATs' RFC 4787 behaviours. */
#include "fixture.h"
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/loader.h"
#include "sim/workload/holepunch.h"

#define api fx_api

/*
 * What the hole punch must do for a pair of NATs, derived from their
 * behaviours rather than from their names. The workload: each peer learns
 * its mapped address M from the reflector, both probe the other's M, answer
 * every probe to its source, and probe any new source they see (a triggered
 * check on a peer-reflexive address).
 *
 *  - UDP blocked on either side: the reflector is never reached, there is
 *    no mapped address: fail with "no-mapped-address".
 *  - No NAT behaves like endpoint-independent mapping and filtering.
 *  - Both mappings endpoint-independent: each peer's probes leave from the
 *    very address the other learned (M). Once both have sent, each NAT has
 *    a session towards exactly the other's M, so the retried probes pass
 *    whatever the filtering: success.
 *  - One endpoint-independent side E and one endpoint-dependent side D
 *    (address- or address-and-port-dependent mapping): D's probes to E
 *    leave from a fresh port that E never learned. They get through E's NAT
 *    only when E filters endpoint-independently, or by address only (E has
 *    sent to D's IP address). Once one is in, E answers it and probes that
 *    peer-reflexive address from its single mapping, which D's NAT lets in
 *    because D has sent to exactly that endpoint: success. With
 *    address-and-port filtering at E, D's fresh port is refused, and E's
 *    probes to D's M are refused by D (that mapping only ever talked to the
 *    reflector, and D's presets filter by address and port): fail.
 *  - Both endpoint-dependent (the presets' symmetric NATs also filter by
 *    address and port): each side's probes come from fresh ports and go to
 *    mappings that only know the reflector: fail.
 * Failures other than udp-blocked end in "timeout".
 */
static int mapping_ei(const sim_nat_config *c) {
  return !c->enabled || c->mapping == SIM_NAT_EI;
}

static int filtering_lets_new_port_of_contacted_host(const sim_nat_config *c) {
  return !c->enabled || c->filtering == SIM_NAT_EI ||
         c->filtering == SIM_NAT_AD;
}

static int blocked(const sim_nat_config *c) {
  return c->enabled && c->udp_blocked;
}

static int expect_success(const sim_nat_config *a, const sim_nat_config *b,
                          const char **reason) {
  if (blocked(a) || blocked(b)) {
    *reason = "no-mapped-address";
    return 0;
  }
  *reason = "timeout";
  if (mapping_ei(a) && mapping_ei(b))
    return 1;
  if (mapping_ei(a) != mapping_ei(b)) {
    const sim_nat_config *e = mapping_ei(a) ? a : b;
    return filtering_lets_new_port_of_contacted_host(e);
  }
  /* Both endpoint-dependent: the reasoning above assumes they also filter by
   * address and port, as every preset does. */
  ck_assert(a->filtering == SIM_NAT_APD && b->filtering == SIM_NAT_APD);
  return 0;
}

static void run_pair(const char *na, const char *nb, uint64_t seed,
                     sim_holepunch_result *res) {
  sim_nat_config ca, cb;
  ck_assert_int_eq(sim_nat_preset(na, &ca), 0);
  ck_assert_int_eq(sim_nat_preset(nb, &cb), 0);
  sim_holepunch_world w;
  sim_holepunch_world_default(&w);
  w.seed = seed;
  w.nat_a = &ca;
  w.nat_b = &cb;
  ck_assert_int_eq(sim_holepunch_run_world(api, &w, NULL, NULL, NULL, res), 0);
}

START_TEST(test_holepunch_every_preset_pair_matches_nat_behaviour) {
  const char *const *names = sim_nat_preset_names();
  int successes = 0, failures = 0;
  for (size_t i = 0; names[i]; i++) {
    for (size_t j = 0; names[j]; j++) {
      sim_nat_config ca, cb;
      ck_assert_int_eq(sim_nat_preset(names[i], &ca), 0);
      ck_assert_int_eq(sim_nat_preset(names[j], &cb), 0);
      const char *why;
      int want = expect_success(&ca, &cb, &why);
      sim_holepunch_result res;
      run_pair(names[i], names[j], 1, &res);
      if (want) {
        ck_assert_msg(res.state == SIM_HOLEPUNCH_SUCCESS,
                      "%s x %s: expected success, got failure '%s'", names[i],
                      names[j], res.reason);
        successes++;
      } else {
        ck_assert_msg(res.state == SIM_HOLEPUNCH_FAILED,
                      "%s x %s: expected failure, got success", names[i],
                      names[j]);
        ck_assert_msg(strcmp(res.reason, why) == 0,
                      "%s x %s: expected reason '%s', got '%s'", names[i],
                      names[j], why, res.reason);
        failures++;
      }
    }
  }
  /* The table is not degenerate: both outcomes occur. */
  ck_assert_int_gt(successes, 10);
  ck_assert_int_gt(failures, 10);
}
END_TEST

START_TEST(test_holepunch_time_to_direct_is_one_path_rtt_for_open_peers) {
  /* Public peers: both start probing at the same instant; a probe takes the
   * one-way path (5 ms + 20 ms + 5 ms plus serialisation of 38 bytes at
   * 20 Mbit/s on two links) and its acknowledgement the same back. */
  sim_holepunch_result res;
  run_pair("open", "open", 1, &res);
  ck_assert_int_eq(res.state, SIM_HOLEPUNCH_SUCCESS);
  uint64_t ser = 38ull * 8 * 1000000000ull / 20000000ull;
  ck_assert_uint_eq(res.time_to_direct_ns, 2 * (30000000ull + 2 * ser));
}
END_TEST

START_TEST(test_holepunch_symmetric_peer_is_reached_through_peer_reflexive) {
  sim_holepunch_result res;
  run_pair("full-cone", "symmetric", 1, &res);
  ck_assert_int_eq(res.state, SIM_HOLEPUNCH_SUCCESS);
  /* The symmetric side's reflector mapping differs from the port its probes
   * use, so it took a triggered check: more than one path round trip. */
  ck_assert_uint_gt(res.time_to_direct_ns, 60000000ull);
  ck_assert_uint_gt(res.probes_received, 0);
}
END_TEST

START_TEST(test_holepunch_peers_behind_one_cgnat_punch_through_hairpin) {
  /* Two home NATs (port-restricted cone) behind one CGNAT with hairpinning:
   * the peers' mapped addresses are on the CGNAT, and their probes turn
   * around inside it. */
  sim_nat_config home, cg;
  ck_assert_int_eq(sim_nat_preset("port-restricted-cone", &home), 0);
  ck_assert_int_eq(sim_nat_preset("cgnat", &cg), 0);
  sim_holepunch_world w;
  sim_holepunch_world_default(&w);
  w.nat_a = w.nat_b = &home;
  w.cgnat_a = &cg;
  w.same_cgnat = true;
  sim_holepunch_result res;
  ck_assert_int_eq(sim_holepunch_run_world(api, &w, NULL, NULL, NULL, &res), 0);
  ck_assert_int_eq(res.state, SIM_HOLEPUNCH_SUCCESS);
  ck_assert_uint_eq(res.mapped_a.ip.v4, res.mapped_b.ip.v4);
  /* The CGNAT sits after the access links, so both first probes reach it
   * at the same instant: the first one processed is filtered (the other
   * mapping knows only the reflector) and opens its own mapping, which lets
   * the second one through; that side answers, but the peer whose probe was
   * dropped is through only after its next probe, one interval later. A
   * path here is two 5 ms access links without the core: time to direct is
   * 50 ms + one round trip of (10 ms + serialisation of 38 bytes on two
   * 20 Mbit/s links). */
  uint64_t ser = 38ull * 8 * 1000000000ull / 20000000ull;
  ck_assert_uint_eq(res.time_to_direct_ns,
                    50000000ull + 2 * (10000000ull + 2 * ser));

  /* The same without hairpinning fails. */
  cg.hairpin = false;
  ck_assert_int_eq(sim_holepunch_run_world(api, &w, NULL, NULL, NULL, &res), 0);
  ck_assert_int_eq(res.state, SIM_HOLEPUNCH_FAILED);
  ck_assert_str_eq(res.reason, "timeout");
}
END_TEST

START_TEST(test_holepunch_outcomes_do_not_depend_on_seed) {
  /* Random port allocation changes the ports, never whether it works. */
  const char *const *names = sim_nat_preset_names();
  for (size_t i = 0; names[i]; i++) {
    for (size_t j = 0; names[j]; j++) {
      sim_holepunch_result r1, r2;
      run_pair(names[i], names[j], 1, &r1);
      run_pair(names[i], names[j], 99, &r2);
      ck_assert_msg(r1.state == r2.state, "%s x %s differs by seed", names[i],
                    names[j]);
    }
  }
}
END_TEST

static int traces;
static void count_trace(void *ctx, uint64_t now, p2plab_host_id h,
                        const char *ev, const char *detail) {
  (void)ctx;
  (void)now;
  (void)h;
  (void)ev;
  (void)detail;
  traces++;
}

START_TEST(test_holepunch_reports_milestones) {
  sim_nat_config ca;
  ck_assert_int_eq(sim_nat_preset("restricted-cone", &ca), 0);
  sim_holepunch_world w;
  sim_holepunch_world_default(&w);
  w.nat_a = w.nat_b = &ca;
  sim_holepunch_result res;
  traces = 0;
  ck_assert_int_eq(
      sim_holepunch_run_world(api, &w, NULL, count_trace, NULL, &res), 0);
  ck_assert_int_eq(res.state, SIM_HOLEPUNCH_SUCCESS);
  /* 2 bind-request, 2 mapped, 2 probe-start, 2 through, 1 direct */
  ck_assert_int_ge(traces, 9);
  ck_assert_uint_eq(res.malformed, 0);
}
END_TEST

static Suite *holepunch_suite(void) {
  Suite *s = suite_create("holepunch");
  TCase *tc = tcase_create("holepunch");
  tcase_add_checked_fixture(tc, fx_netsim_setup, fx_netsim_teardown);
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_holepunch_every_preset_pair_matches_nat_behaviour);
  tcase_add_test(tc,
                 test_holepunch_time_to_direct_is_one_path_rtt_for_open_peers);
  tcase_add_test(
      tc, test_holepunch_symmetric_peer_is_reached_through_peer_reflexive);
  tcase_add_test(tc,
                 test_holepunch_peers_behind_one_cgnat_punch_through_hairpin);
  tcase_add_test(tc, test_holepunch_outcomes_do_not_depend_on_seed);
  tcase_add_test(tc, test_holepunch_reports_milestones);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(holepunch_suite());
}
