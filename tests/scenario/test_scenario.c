/*
 * tests/scenario/test_scenario.c - the scenario loader: good files with
 * every field checked, overrides and sweeps, the unit parsers, and every
 * malformed file under tests/scenario/bad/ (each names the position and a
 * part of the message it must produce in its first line).
 */
#include <check.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture.h"
#include "sim/scenario/scenario.h"

#define MS 1000000ull
#define S 1000000000ull
#define ERR_MAX 2048

/* Writes `text` to a new temporary file; the caller unlinks and frees the
 * returned path. */
static char *write_temp(const char *text) {
  char *path = strdup("/tmp/p2plab-test-scenario-XXXXXX");
  ck_assert_ptr_nonnull(path);
  int fd = mkstemp(path);
  ck_assert_int_ge(fd, 0);
  size_t len = strlen(text);
  ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
  close(fd);
  return path;
}

/* Loads `text` with overrides; on success returns the scenario, else NULL
 * with rc and the message in err. */
static sim_scenario *load_text(const char *text, const sim_scn_override *ov,
                               size_t n_ov, int *rc, char *err) {
  char *path = write_temp(text);
  sim_scenario *s = NULL;
  *rc = sim_scenario_load(path, ov, n_ov, &s, err, ERR_MAX);
  unlink(path);
  free(path);
  if (*rc != 0)
    ck_assert_ptr_null(s);
  return s;
}

static sim_scenario *load_ok(const char *text, const sim_scn_override *ov,
                             size_t n_ov) {
  char err[ERR_MAX];
  int rc;
  sim_scenario *s = load_text(text, ov, n_ov, &rc, err);
  ck_assert_msg(rc == 0, "load failed: %s", err);
  return s;
}

/* Loads `text`, expects failure and returns the message after the file
 * name ("LINE:COL: error: ..."). */
static const char *load_bad(const char *text, const sim_scn_override *ov,
                            size_t n_ov, char *err) {
  int rc;
  sim_scenario *s = load_text(text, ov, n_ov, &rc, err);
  ck_assert_msg(rc == P2P_ERR_INVALID, "expected an error, rc %d", rc);
  ck_assert_ptr_null(s);
  const char *p = strstr(err, ".yaml:");
  if (!p)
    p = strchr(err, ':');
  else
    p += strlen(".yaml");
  ck_assert_ptr_nonnull(p);
  return p + 1;
}

static const char full_text[] =
    "# every section, explicit values\n"
    "name: two-peers.v1\n"
    "description: two peers behind NATs\n"
    "seed: 7\n"
    "duration: 1.5m\n"
    "backend: ns3\n"
    "network:\n"
    "  latency: 30ms\n"
    "  jitter: 2ms\n"
    "  loss: 0.5%\n"
    "  access: {latency: 10ms, jitter: 1ms, loss: 1%, bandwidth: 20Mbit/s,\n"
    "           queue: 128KiB}\n"
    "  latency_overrides:\n"
    "    - {between: [a, b], latency: 100ms}\n"
    "    - between: [b, b]\n"
    "      latency: 1s\n"
    "nats:\n"
    "  home:\n"
    "    mapping: address-dependent\n"
    "    filtering: address-and-port-dependent\n"
    "    port_allocation: sequential\n"
    "    udp_timeout: 30s\n"
    "    tcp_established_timeout: 1h\n"
    "    tcp_transitory_timeout: 2m\n"
    "    hairpin: true\n"
    "    udp_blocked: false\n"
    "    inbound_refresh: true\n"
    "    port_range: [2000, 3000]\n"
    "  hard: {preset: symmetric, udp_timeout: 60s, port_allocation: "
    "preserve}\n"
    "  none: {preset: open}\n"
    "  carrier: {preset: cgnat}\n"
    "hosts:\n"
    "  - name: stun\n"
    "    role: stun\n"
    "  - name: a\n"
    "    role: node\n"
    "    count: 3\n"
    "    nat: home\n"
    "    cgnat: carrier\n"
    "    access: {queue: 1MiB, latency: 0}\n"
    "  - name: b\n"
    "    role: node\n"
    "    nat: none\n"
    "workload:\n"
    "  - holepunch: {a: a, b: b, stun: stun, start: 2s, interval: 10ms,\n"
    "                timeout: 10s, probe_interval: 20ms, signal_delay: 5ms}\n"
    "  - holepunch: {a: b, b: b, stun: stun}\n"
    "expect:\n"
    "  holepunch.success_rate: \">= 99%\"\n"
    "  holepunch.time_to_direct_ms.p50: \"<= 1.5s\"\n"
    "  holepunch.attempts: \"==3\"\n"
    "  gossip.latency_ms.p99: \" < 250\"\n"
    "  nat.drops|filtered: \"> -1.5\"\n"
    "sweep:\n"
    "  nats.hard.preset: [full-cone, symmetric, udp-blocked]\n"
    "  hosts.a.count: [1, 2]\n"
    "  network.loss: [0%, 1%]\n"
    "  seeds: 5\n";

START_TEST(test_scenario_full_file_every_field) {
  sim_scenario *s = load_ok(full_text, NULL, 0);
  ck_assert_str_eq(s->name, "two-peers.v1");
  ck_assert_str_eq(s->description, "two peers behind NATs");
  ck_assert_str_eq(s->backend, "ns3");
  ck_assert_ptr_nonnull(strstr(s->file, "p2plab-test-scenario-"));
  ck_assert_uint_eq(s->seed, 7);
  ck_assert_uint_eq(s->duration_ns, 90 * S);
  ck_assert_uint_eq(s->core_latency_ns, 30 * MS);
  ck_assert_uint_eq(s->core_jitter_ns, 2 * MS);
  ck_assert_uint_eq(s->core_loss_ppm, 5000);
  ck_assert_uint_eq(s->access_default.latency_ns, 10 * MS);
  ck_assert_uint_eq(s->access_default.jitter_ns, 1 * MS);
  ck_assert_uint_eq(s->access_default.loss_ppm, 10000);
  ck_assert_uint_eq(s->access_default.rate_bps, 20000000);
  ck_assert_uint_eq(s->access_default.queue_bytes, 128 * 1024);

  ck_assert_uint_eq(s->n_latencies, 2);
  ck_assert_int_eq(s->latencies[0].a, 1);
  ck_assert_int_eq(s->latencies[0].b, 2);
  ck_assert_uint_eq(s->latencies[0].latency_ns, 100 * MS);
  ck_assert_int_eq(s->latencies[1].a, 2);
  ck_assert_int_eq(s->latencies[1].b, 2);
  ck_assert_uint_eq(s->latencies[1].latency_ns, 1 * S);

  ck_assert_uint_eq(s->n_nats, 4);
  const sim_scn_nat *home = &s->nats[0];
  ck_assert_str_eq(home->name, "home");
  ck_assert_ptr_null(home->preset);
  ck_assert(home->cfg.enabled);
  ck_assert_int_eq(home->cfg.mapping, SIM_NAT_AD);
  ck_assert_int_eq(home->cfg.filtering, SIM_NAT_APD);
  ck_assert_int_eq(home->cfg.port_alloc, SIM_NAT_PORT_SEQUENTIAL);
  ck_assert_uint_eq(home->cfg.udp_timeout_ns, 30 * S);
  ck_assert_uint_eq(home->cfg.tcp_established_timeout_ns, 3600 * S);
  ck_assert_uint_eq(home->cfg.tcp_transitory_timeout_ns, 120 * S);
  ck_assert(home->cfg.hairpin);
  ck_assert(!home->cfg.udp_blocked);
  ck_assert(home->cfg.inbound_refresh);
  ck_assert_uint_eq(home->cfg.port_min, 2000);
  ck_assert_uint_eq(home->cfg.port_max, 3000);
  /* A preset with fields on top: the fields win, the rest is the preset. */
  const sim_scn_nat *hard = &s->nats[1];
  sim_nat_config sym;
  ck_assert_int_eq(sim_nat_preset("symmetric", &sym), 0);
  ck_assert_str_eq(hard->name, "hard");
  ck_assert_str_eq(hard->preset, "symmetric");
  ck_assert_int_eq(hard->cfg.mapping, SIM_NAT_APD);
  ck_assert_int_eq(hard->cfg.filtering, SIM_NAT_APD);
  ck_assert_int_eq(hard->cfg.port_alloc, SIM_NAT_PORT_PRESERVE);
  ck_assert_uint_eq(hard->cfg.udp_timeout_ns, 60 * S);
  ck_assert_uint_eq(hard->cfg.tcp_established_timeout_ns,
                    sym.tcp_established_timeout_ns);
  ck_assert_str_eq(s->nats[2].preset, "open");
  ck_assert(!s->nats[2].cfg.enabled);
  sim_nat_config cg;
  ck_assert_int_eq(sim_nat_preset("cgnat", &cg), 0);
  ck_assert_mem_eq(&s->nats[3].cfg, &cg, sizeof cg);

  ck_assert_uint_eq(s->n_hosts, 3);
  const sim_scn_host *h = s->hosts;
  ck_assert_str_eq(h[0].name, "stun");
  ck_assert_int_eq(h[0].role, SIM_SCN_ROLE_STUN);
  ck_assert_uint_eq(h[0].count, 1);
  ck_assert_int_eq(h[0].nat, SIM_SCN_NONE);
  ck_assert_int_eq(h[0].cgnat, SIM_SCN_NONE);
  ck_assert_mem_eq(&h[0].up, &s->access_default, sizeof h[0].up);
  ck_assert_mem_eq(&h[0].down, &s->access_default, sizeof h[0].down);
  ck_assert_str_eq(h[1].name, "a");
  ck_assert_int_eq(h[1].role, SIM_SCN_ROLE_NODE);
  ck_assert_uint_eq(h[1].count, 3);
  ck_assert_int_eq(h[1].nat, 0);
  ck_assert_int_eq(h[1].cgnat, 3);
  /* access fields override network.access one by one */
  ck_assert_uint_eq(h[1].up.queue_bytes, 1024 * 1024);
  ck_assert_uint_eq(h[1].up.latency_ns, 0);
  ck_assert_uint_eq(h[1].up.jitter_ns, 1 * MS);
  ck_assert_uint_eq(h[1].up.rate_bps, 20000000);
  ck_assert_uint_eq(h[1].up.loss_ppm, 10000);
  ck_assert_mem_eq(&h[1].down, &h[1].up, sizeof h[1].up);
  ck_assert_str_eq(h[2].name, "b");
  ck_assert_int_eq(h[2].nat, 2);

  ck_assert_uint_eq(s->n_workloads, 2);
  const sim_scn_workload *w = s->workloads;
  ck_assert_int_eq(w[0].kind, SIM_SCN_WL_HOLEPUNCH);
  ck_assert_int_eq(w[0].a, 1);
  ck_assert_int_eq(w[0].b, 2);
  ck_assert_int_eq(w[0].stun, 0);
  ck_assert_uint_eq(w[0].start_ns, 2 * S);
  ck_assert_uint_eq(w[0].interval_ns, 10 * MS);
  ck_assert_uint_eq(w[0].timeout_ns, 10 * S);
  ck_assert_uint_eq(w[0].probe_interval_ns, 20 * MS);
  ck_assert_uint_eq(w[0].signal_delay_ns, 5 * MS);
  ck_assert_int_eq(w[1].a, 2);
  ck_assert_int_eq(w[1].b, 2);
  ck_assert_uint_eq(w[1].start_ns, 1 * S);
  ck_assert_uint_eq(w[1].interval_ns, 0);
  ck_assert_uint_eq(w[1].timeout_ns, 5 * S);
  ck_assert_uint_eq(w[1].probe_interval_ns, 50 * MS);
  ck_assert_uint_eq(w[1].signal_delay_ns, 0);

  ck_assert_uint_eq(s->n_expects, 5);
  const sim_scn_expect *e = s->expects;
  ck_assert_str_eq(e[0].field, "holepunch.success_rate");
  ck_assert_str_eq(e[0].text, ">= 99%");
  ck_assert_int_eq(e[0].op, SIM_SCN_OP_GE);
  ck_assert_double_eq_tol(e[0].value, 0.99, 1e-12);
  ck_assert_str_eq(e[1].field, "holepunch.time_to_direct_ms.p50");
  ck_assert_int_eq(e[1].op, SIM_SCN_OP_LE);
  ck_assert_double_eq_tol(e[1].value, 1500.0, 1e-9);
  ck_assert_int_eq(e[2].op, SIM_SCN_OP_EQ);
  ck_assert_double_eq_tol(e[2].value, 3.0, 1e-12);
  ck_assert_str_eq(e[2].text, "==3");
  ck_assert_int_eq(e[3].op, SIM_SCN_OP_LT);
  ck_assert_double_eq_tol(e[3].value, 250.0, 1e-12);
  ck_assert_str_eq(e[4].field, "nat.drops|filtered");
  ck_assert_int_eq(e[4].op, SIM_SCN_OP_GT);
  ck_assert_double_eq_tol(e[4].value, -1.5, 1e-12);

  ck_assert_uint_eq(s->sweep_seeds, 5);
  ck_assert_uint_eq(s->n_axes, 3);
  ck_assert_str_eq(s->axes[0].path, "nats.hard.preset");
  ck_assert_uint_eq(s->axes[0].n_values, 3);
  ck_assert_str_eq(s->axes[0].values[0], "full-cone");
  ck_assert_str_eq(s->axes[0].values[2], "udp-blocked");
  ck_assert_str_eq(s->axes[1].path, "hosts.a.count");
  ck_assert_uint_eq(s->axes[1].n_values, 2);
  ck_assert_str_eq(s->axes[1].values[1], "2");
  ck_assert_str_eq(s->axes[2].path, "network.loss");
  ck_assert_str_eq(s->axes[2].values[1], "1%");
  sim_scenario_free(s);
}
END_TEST

static const char minimal_text[] = "name: min\n"
                                   "duration: 10s\n"
                                   "hosts:\n"
                                   "  - {name: peer, role: node}\n";

START_TEST(test_scenario_minimal_file_gets_defaults) {
  sim_scenario *s = load_ok(minimal_text, NULL, 0);
  ck_assert_str_eq(s->name, "min");
  ck_assert_ptr_null(s->description);
  ck_assert_uint_eq(s->seed, 1);
  ck_assert_uint_eq(s->duration_ns, 10 * S);
  ck_assert_str_eq(s->backend, "netsim");
  ck_assert_uint_eq(s->core_latency_ns, 20 * MS);
  ck_assert_uint_eq(s->core_jitter_ns, 0);
  ck_assert_uint_eq(s->core_loss_ppm, 0);
  ck_assert_uint_eq(s->access_default.latency_ns, 5 * MS);
  ck_assert_uint_eq(s->access_default.jitter_ns, 0);
  ck_assert_uint_eq(s->access_default.loss_ppm, 0);
  ck_assert_uint_eq(s->access_default.rate_bps, 100000000);
  ck_assert_uint_eq(s->access_default.queue_bytes, 64 * 1024);
  ck_assert_uint_eq(s->n_nats, 0);
  ck_assert_uint_eq(s->n_latencies, 0);
  ck_assert_uint_eq(s->n_hosts, 1);
  ck_assert_uint_eq(s->hosts[0].count, 1);
  ck_assert_int_eq(s->hosts[0].nat, SIM_SCN_NONE);
  ck_assert_int_eq(s->hosts[0].cgnat, SIM_SCN_NONE);
  ck_assert_mem_eq(&s->hosts[0].up, &s->access_default,
                   sizeof s->access_default);
  ck_assert_uint_eq(s->n_workloads, 0);
  ck_assert_uint_eq(s->n_expects, 0);
  ck_assert_uint_eq(s->n_axes, 0);
  ck_assert_uint_eq(s->sweep_seeds, 1);
  sim_scenario_free(s);
}
END_TEST

START_TEST(test_scenario_profile_without_preset_starts_full_cone) {
  sim_scenario *s = load_ok("name: n\nduration: 1s\n"
                            "nats:\n  x: {hairpin: true}\n  y: {}\n"
                            "hosts: [{name: p, role: node, nat: x}]\n",
                            NULL, 0);
  sim_nat_config fc;
  ck_assert_int_eq(sim_nat_preset("full-cone", &fc), 0);
  fc.hairpin = true;
  ck_assert_mem_eq(&s->nats[0].cfg, &fc, sizeof fc);
  ck_assert_ptr_null(s->nats[0].preset);
  fc.hairpin = false;
  ck_assert_mem_eq(&s->nats[1].cfg, &fc, sizeof fc);
  sim_scenario_free(s);
}
END_TEST

static const char override_text[] =
    "name: ov\n"
    "duration: 10s\n"
    "network:\n"
    "  latency: 20ms\n"
    "  access: {latency: 5ms}\n"
    "nats:\n"
    "  home: {preset: full-cone, port_range: [1000, 2000]}\n"
    "hosts:\n"
    "  - name: stun\n"
    "    role: stun\n"
    "  - name: browser\n"
    "    role: node\n"
    "    nat: home\n"
    "workload:\n"
    "  - holepunch: {a: browser, b: browser, stun: stun}\n"
    "expect:\n"
    "  holepunch.success_rate: \">= 0.5\"\n";

START_TEST(test_scenario_overrides_by_dotted_path) {
  const sim_scn_override ov[] = {
      {"hosts.browser.count", "4"},
      {"nats.home.preset", "symmetric"},
      {"nats.home.port_range.1", "3000"},
      {"network.jitter", "3ms"}, /* created: missing in network */
      {"seed", "42"},            /* created at the top */
      {"network.access.queue", "1KiB"},
      {"workload.0.holepunch.start", "7s"},
      {"workload.0.holepunch.timeout", "9s"}, /* created */
      {"expect.holepunch.success_rate", ">= 0.75"},
      {"expect.holepunch.time_to_direct_ms.p99", "< 2s"},
      {"duration", "20s"},
  };
  sim_scenario *s = load_ok(override_text, ov, sizeof ov / sizeof ov[0]);
  ck_assert_uint_eq(s->hosts[1].count, 4);
  ck_assert_str_eq(s->nats[0].preset, "symmetric");
  ck_assert_int_eq(s->nats[0].cfg.mapping, SIM_NAT_APD);
  ck_assert_uint_eq(s->nats[0].cfg.port_min, 1000);
  ck_assert_uint_eq(s->nats[0].cfg.port_max, 3000);
  ck_assert_uint_eq(s->core_jitter_ns, 3 * MS);
  ck_assert_uint_eq(s->seed, 42);
  ck_assert_uint_eq(s->access_default.queue_bytes, 1024);
  ck_assert_uint_eq(s->access_default.latency_ns, 5 * MS);
  ck_assert_uint_eq(s->hosts[1].up.queue_bytes, 1024);
  ck_assert_uint_eq(s->workloads[0].start_ns, 7 * S);
  ck_assert_uint_eq(s->workloads[0].timeout_ns, 9 * S);
  ck_assert_uint_eq(s->duration_ns, 20 * S);
  ck_assert_uint_eq(s->n_expects, 2);
  ck_assert_str_eq(s->expects[0].text, ">= 0.75");
  ck_assert_double_eq_tol(s->expects[0].value, 0.75, 1e-12);
  ck_assert_str_eq(s->expects[1].field, "holepunch.time_to_direct_ms.p99");
  ck_assert_double_eq_tol(s->expects[1].value, 2000.0, 1e-9);
  sim_scenario_free(s);
}
END_TEST

START_TEST(test_scenario_override_to_unknown_setting_fails) {
  char err[ERR_MAX];
  static const struct {
    sim_scn_override ov;
    const char *want;
  } cases[] = {
      {{"hosts.nobody.count", "2"},
       "9:3: error: override hosts.nobody.count=2: no such setting: no host "
       "group 'nobody' (expected one of: stun, browser)"},
      {{"nats.office.preset", "open"},
       "7:3: error: override nats.office.preset=open: no such setting: no "
       "key 'office'"},
      {{"network.bogus", "1"},
       "4:3: error: override network.bogus=1: no such setting: no key "
       "'bogus' here (expected one of: latency, jitter"},
      {{"workload.1.holepunch.start", "1s"},
       "15:3: error: override workload.1.holepunch.start=1s: no such "
       "setting: no item '1' in this list (expected an index from 0 to 0)"},
      {{"workload.0.gossip.start", "1s"},
       "15:5: error: override workload.0.gossip.start=1s: no such setting"},
      {{"seed.x", "1"}, "1:1: error: override seed.x=1: no such setting"},
      {{"name.x", "1"},
       "1:7: error: override name.x=1: no such setting: 'x' is inside a "
       "single value"},
      {{"", "1"},
       "error: override =1: no such setting: a part of the path "
       "is empty"},
      {{"hosts..count", "1"}, "no such setting: a part of the path is empty"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const char *msg = load_bad(override_text, &cases[i].ov, 1, err);
    ck_assert_msg(strstr(msg, cases[i].want) == msg ||
                      (cases[i].want[0] < '0' || cases[i].want[0] > '9'),
                  "case %zu: got '%s'", i, err);
    ck_assert_msg(strstr(err, cases[i].want), "case %zu: got '%s'", i, err);
  }
}
END_TEST

START_TEST(test_scenario_bad_override_value_names_the_override) {
  char err[ERR_MAX];
  sim_scn_override ov = {"hosts.browser.count", "0"};
  const char *msg = load_bad(override_text, &ov, 1, err);
  /* At the node the override replaced (the group's mapping: it had no
   * count, so the value sits where the mapping starts). */
  ck_assert_msg(strncmp(msg,
                        "11:5: error: hosts.browser.count must be at "
                        "least 1, not 0",
                        strlen("11:5: error: hosts.browser.count must be at "
                               "least 1, not 0")) == 0,
                "%s", err);
  ck_assert_ptr_nonnull(strstr(err, "(from override hosts.browser.count)"));

  sim_scn_override ov2 = {"nats.home.preset", "foo"};
  msg = load_bad(override_text, &ov2, 1, err);
  ck_assert_msg(strncmp(msg,
                        "7:18: error: nats.home.preset: unknown preset "
                        "'foo'",
                        strlen("7:18: error: nats.home.preset: unknown "
                               "preset 'foo'")) == 0,
                "%s", err);
  ck_assert_ptr_nonnull(strstr(err, "(from override nats.home.preset)"));
}
END_TEST

START_TEST(test_scenario_sweep_values_are_checked_as_overrides) {
  char err[ERR_MAX];
  const char *text = "name: sw\n"
                     "duration: 10s\n"
                     "nats:\n"
                     "  home: {preset: full-cone}\n"
                     "hosts:\n"
                     "  - {name: peer, role: node, nat: home}\n"
                     "sweep:\n"
                     "  nats.home.preset: [symmetric, foo]\n";
  const char *msg = load_bad(text, NULL, 0, err);
  ck_assert_msg(strncmp(msg,
                        "8:33: error: sweep nats.home.preset: unknown preset "
                        "'foo' (expected one of: open, full-cone",
                        60) == 0,
                "%s", err);
  /* A user override that breaks a sweep value is reported too: the sweep is
   * checked against the overridden document. */
  const char *ok = "name: sw\n"
                   "duration: 10s\n"
                   "hosts:\n"
                   "  - {name: peer, role: node}\n"
                   "sweep:\n"
                   "  hosts.peer.count: [1, 2]\n";
  sim_scenario *s = load_ok(ok, NULL, 0);
  ck_assert_uint_eq(s->n_axes, 1);
  ck_assert_uint_eq(s->sweep_seeds, 1);
  sim_scenario_free(s);
  sim_scn_override ov = {"sweep.seeds", "3"};
  s = load_ok(ok, &ov, 1);
  ck_assert_uint_eq(s->sweep_seeds, 3);
  sim_scenario_free(s);
}
END_TEST

START_TEST(test_scenario_unreadable_file_is_io_error) {
  sim_scenario *s = (sim_scenario *)1;
  char err[ERR_MAX];
  int rc = sim_scenario_load("/nonexistent/p2plab.yaml", NULL, 0, &s, err,
                             sizeof err);
  ck_assert_int_eq(rc, P2P_ERR_IO);
  ck_assert_ptr_null(s);
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/p2plab.yaml:1:1: error: "));
  /* A tiny error buffer is cut, not overrun. */
  char tiny[8];
  rc = sim_scenario_load("/nonexistent/p2plab.yaml", NULL, 0, &s, tiny,
                         sizeof tiny);
  ck_assert_int_eq(rc, P2P_ERR_IO);
  ck_assert_uint_eq(strlen(tiny), sizeof tiny - 1);
}
END_TEST

START_TEST(test_scenario_file_over_1mib_is_rejected) {
  size_t len = 1024 * 1024 + 1;
  char *text = malloc(len + 1);
  ck_assert_ptr_nonnull(text);
  memset(text, '#', len);
  text[len] = 0;
  char err[ERR_MAX];
  const char *msg = load_bad(text, NULL, 0, err);
  ck_assert_msg(strncmp(msg, "1:1: error: the file is larger than 1 MiB", 40) ==
                    0,
                "%s", err);
  free(text);
}
END_TEST

/* ---- unit parsers ------------------------------------------------------ */

START_TEST(test_scenario_parse_duration_table) {
  static const struct {
    const char *s;
    uint64_t ns;
  } good[] = {{"0", 0},
              {"0s", 0},
              {"20ms", 20 * MS},
              {"1.5s", 1500 * MS},
              {"2m", 120 * S},
              {"500us", 500000},
              {"100ns", 100},
              {"1h", 3600 * S},
              {"0.000000001s", 1},
              {"1.25ms", 1250000},
              {"18446744073709551615ns", UINT64_MAX}};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    uint64_t v = 1;
    ck_assert_msg(sim_parse_duration(good[i].s, &v) == 0, "%s", good[i].s);
    ck_assert_msg(v == good[i].ns, "%s: %llu", good[i].s,
                  (unsigned long long)v);
  }
  static const char *const bad[] = {"",           "10",
                                    "20 parsecs", "5ms5",
                                    "-1s",        "1.5ns",
                                    "1.s",        ".5s",
                                    "1e3s",       "20 ms",
                                    "20MS",       "+1s",
                                    "1sec",       "0x10s",
                                    "1..2s",      "18446744073709551616ns",
                                    "5124096h",   "1.0000000001s",
                                    "s"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    uint64_t v = 7;
    ck_assert_msg(sim_parse_duration(bad[i], &v) == P2P_ERR_INVALID,
                  "'%s' accepted", bad[i]);
    ck_assert_uint_eq(v, 7);
  }
  ck_assert_int_eq(sim_parse_duration(NULL, &(uint64_t){0}), P2P_ERR_INVALID);
  ck_assert_int_eq(sim_parse_duration("1s", NULL), P2P_ERR_INVALID);
}
END_TEST

START_TEST(test_scenario_parse_size_rate_percent_tables) {
  static const struct {
    const char *s;
    uint64_t v;
  } sizes[] = {{"128B", 128},     {"64KiB", 65536},
               {"1MiB", 1048576}, {"1.5GiB", 1610612736ull},
               {"0.5KiB", 512},   {"0", 0}},
    rates[] = {{"100Mbit", 100000000},
               {"20Mbit/s", 20000000},
               {"1Gbit", 1000000000},
               {"500Kbit", 500000},
               {"9600bit", 9600},
               {"1.5Kbit/s", 1500},
               {"0", 0}};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    uint64_t v;
    ck_assert_msg(sim_parse_size(sizes[i].s, &v) == 0, "%s", sizes[i].s);
    ck_assert_uint_eq(v, sizes[i].v);
  }
  for (size_t i = 0; i < sizeof rates / sizeof rates[0]; i++) {
    uint64_t v;
    ck_assert_msg(sim_parse_rate(rates[i].s, &v) == 0, "%s", rates[i].s);
    ck_assert_uint_eq(v, rates[i].v);
  }
  static const char *const bad_sizes[] = {"64KB", "1MB", "10", "1.1B",
                                          "-1B",  "1 B", "B",  "1KiB/s"};
  for (size_t i = 0; i < sizeof bad_sizes / sizeof bad_sizes[0]; i++)
    ck_assert_msg(sim_parse_size(bad_sizes[i], &(uint64_t){0}) != 0,
                  "'%s' accepted", bad_sizes[i]);
  static const char *const bad_rates[] = {"100Mbps", "1MB/s", "10",    "1Mbit/",
                                          "1Mbit/h", "-1bit", "0.5bit"};
  for (size_t i = 0; i < sizeof bad_rates / sizeof bad_rates[0]; i++)
    ck_assert_msg(sim_parse_rate(bad_rates[i], &(uint64_t){0}) != 0,
                  "'%s' accepted", bad_rates[i]);

  static const struct {
    const char *s;
    uint32_t ppm;
  } pct[] = {{"0%", 0},
             {"0", 0},
             {"0.5%", 5000},
             {"100%", 1000000},
             {"12.3456%", 123456},
             {"1%", 10000}};
  for (size_t i = 0; i < sizeof pct / sizeof pct[0]; i++) {
    uint32_t v;
    ck_assert_msg(sim_parse_percent(pct[i].s, &v) == 0, "%s", pct[i].s);
    ck_assert_uint_eq(v, pct[i].ppm);
  }
  static const char *const bad_pct[] = {"200%", "100.0001%", "5", "-1%",
                                        "1 %",  "0.00001%",  "%", "1%%"};
  for (size_t i = 0; i < sizeof bad_pct / sizeof bad_pct[0]; i++)
    ck_assert_msg(sim_parse_percent(bad_pct[i], &(uint32_t){0}) != 0,
                  "'%s' accepted", bad_pct[i]);
}
END_TEST

START_TEST(test_scenario_role_names) {
  ck_assert_str_eq(sim_scn_role_name(SIM_SCN_ROLE_NODE), "node");
  ck_assert_str_eq(sim_scn_role_name(SIM_SCN_ROLE_STUN), "stun");
  ck_assert_str_eq(sim_scn_role_name(SIM_SCN_ROLE_RELAY), "relay");
  ck_assert_str_eq(sim_scn_role_name(SIM_SCN_ROLE_BROWSER), "browser");
  ck_assert_str_eq(sim_scn_role_name((sim_scn_role)99), "unknown");
}
END_TEST

/* ---- relays, browsers and GossipSub ------------------------------------ */

static const char p2p_text[] =
    "name: relay-browsers\n"
    "duration: 60s\n"
    "nats:\n"
    "  home: {preset: port-restricted-cone}\n"
    "hosts:\n"
    "  - name: browser\n" /* before the relay it names */
    "    role: browser\n"
    "    count: 20\n"
    "    nat: home\n"
    "    transports: [circuit, ws]\n"
    "    listen: [/p2p-circuit]\n"
    "    bootstrap: [relay, peer]\n"
    "    pubsub: {topics: [chat, _peer-discovery._p2p._pubsub]}\n"
    "    discovery:\n"
    "      pubsub: {topic: browser-peer-discovery, interval: 5s}\n"
    "      max_connections: 8\n"
    "  - name: relay\n"
    "    role: relay\n"
    "    nat: home\n"
    "    listen: [/ip4/0.0.0.0/tcp/443/ws, /ip4/0.0.0.0/tcp/4001, "
    "/p2p-circuit]\n"
    "    relay: {reservations: 64, reservations_per_ip: 2, circuits: 512,\n"
    "            reservation_ttl: 30m, circuit_duration: 10m,\n"
    "            circuit_data: 64MiB}\n"
    "    bootstrap: [relay]\n"
    "    pubsub: {topics: [browser-peer-discovery]}\n"
    "  - name: peer\n"
    "    role: node\n"
    "    transports: [ws]\n"
    "    listen: [/ip4/0.0.0.0/tcp/8080/ws]\n"
    "    pubsub: {topics: []}\n"
    "  - {name: stun, role: stun}\n"
    "workload:\n"
    "  - gossip: {topic: chat, publishers: browser, rate: 2/s, size: 1KiB,\n"
    "             start: 20s, stop: 50s, messages: 25}\n"
    "  - gossip: {topic: news, publishers: peer}\n"
    "expect:\n"
    "  gossip.published: \">= 1\"\n"
    "  gossip.expected_deliveries: \">= 1\"\n"
    "  gossip.delivered: \">= 1\"\n"
    "  gossip.delivery_ratio: \">= 99.9%\"\n"
    "  gossip.duplicates: \"<= 1000\"\n"
    "  gossip.latency_ms.p50: \"<= 200ms\"\n"
    "  gossip.latency_ms.p90: \"<= 0.5s\"\n"
    "  gossip.latency_ms.p99: \"<= 1s\"\n"
    "  gossip.latency_ms.max: \"< 2000\"\n"
    "  connections.direct: \">= 0\"\n"
    "  connections.relayed: \">= 20\"\n"
    "  relay.reservations: \"== 20\"\n"
    "  relay.circuits: \">= 1\"\n";

START_TEST(test_scenario_relay_browser_node_every_field) {
  sim_scenario *s = load_ok(p2p_text, NULL, 0);
  ck_assert_uint_eq(s->n_hosts, 4);
  const sim_scn_host *b = &s->hosts[0], *r = &s->hosts[1], *p = &s->hosts[2];

  ck_assert_int_eq(b->role, SIM_SCN_ROLE_BROWSER);
  ck_assert_uint_eq(b->count, 20);
  ck_assert_int_eq(b->nat, 0);
  ck_assert_uint_eq(b->transports,
                    SIM_SCN_TRANSPORT_WS | SIM_SCN_TRANSPORT_CIRCUIT);
  ck_assert_uint_eq(b->n_listen, 1);
  ck_assert_int_eq(b->listen[0].kind, SIM_SCN_LISTEN_CIRCUIT);
  ck_assert_uint_eq(b->listen[0].port, 0);
  /* Resolved after every group is read: the relay comes later. */
  ck_assert_uint_eq(b->n_bootstrap, 2);
  ck_assert_int_eq(b->bootstrap[0], 1);
  ck_assert_int_eq(b->bootstrap[1], 2);
  ck_assert_uint_eq(b->n_topics, 2);
  ck_assert_str_eq(b->topics[0], "chat");
  ck_assert_str_eq(b->topics[1], "_peer-discovery._p2p._pubsub");
  ck_assert_str_eq(b->discovery_topic, "browser-peer-discovery");
  ck_assert_uint_eq(b->discovery_interval_ns, 5 * S);
  ck_assert_uint_eq(b->max_conns, 8);
  ck_assert(!b->has_relay);

  ck_assert_int_eq(r->role, SIM_SCN_ROLE_RELAY);
  ck_assert_int_eq(r->nat, 0); /* allowed, no warning */
  ck_assert_uint_eq(r->transports, SIM_SCN_TRANSPORT_TCP |
                                       SIM_SCN_TRANSPORT_WS |
                                       SIM_SCN_TRANSPORT_CIRCUIT);
  ck_assert_uint_eq(r->n_listen, 3);
  ck_assert_int_eq(r->listen[0].kind, SIM_SCN_LISTEN_WS);
  ck_assert_uint_eq(r->listen[0].port, 443);
  ck_assert_int_eq(r->listen[1].kind, SIM_SCN_LISTEN_TCP);
  ck_assert_uint_eq(r->listen[1].port, 4001);
  ck_assert_int_eq(r->listen[2].kind, SIM_SCN_LISTEN_CIRCUIT);
  ck_assert(r->has_relay);
  ck_assert_uint_eq(r->relay.reservations, 64);
  ck_assert_uint_eq(r->relay.reservations_per_ip, 2);
  ck_assert_uint_eq(r->relay.circuits, 512);
  ck_assert_uint_eq(r->relay.reservation_ttl_ns, 1800 * S);
  ck_assert_uint_eq(r->relay.circuit_duration_ns, 600 * S);
  ck_assert_uint_eq(r->relay.circuit_data, 64ull * 1024 * 1024);
  ck_assert_uint_eq(r->n_bootstrap, 1); /* itself: legal */
  ck_assert_int_eq(r->bootstrap[0], 1);
  ck_assert_uint_eq(r->n_topics, 1);
  ck_assert_str_eq(r->topics[0], "browser-peer-discovery");
  ck_assert_ptr_null(r->discovery_topic);

  ck_assert_int_eq(p->role, SIM_SCN_ROLE_NODE);
  ck_assert_uint_eq(p->transports, SIM_SCN_TRANSPORT_WS);
  ck_assert_uint_eq(p->n_listen, 1);
  ck_assert_int_eq(p->listen[0].kind, SIM_SCN_LISTEN_WS);
  ck_assert_uint_eq(p->listen[0].port, 8080);
  ck_assert_uint_eq(p->n_topics, 0);

  ck_assert_uint_eq(s->n_workloads, 2);
  const sim_scn_workload *w = &s->workloads[0];
  ck_assert_int_eq(w->kind, SIM_SCN_WL_GOSSIP);
  ck_assert_str_eq(w->topic, "chat");
  ck_assert_int_eq(w->publishers, 0);
  ck_assert_uint_eq(w->msg_interval_ns, 500 * MS);
  ck_assert_uint_eq(w->msg_size, 1024);
  ck_assert_uint_eq(w->start_ns, 20 * S);
  ck_assert_uint_eq(w->stop_ns, 50 * S);
  ck_assert_uint_eq(w->messages, 25);
  ck_assert_int_eq(w->a, SIM_SCN_NONE);
  ck_assert_int_eq(w->stun, SIM_SCN_NONE);
  /* Defaults; the topic need not be subscribed by the publishers (fanout). */
  w = &s->workloads[1];
  ck_assert_str_eq(w->topic, "news");
  ck_assert_int_eq(w->publishers, 2);
  ck_assert_uint_eq(w->msg_interval_ns, 1 * S);
  ck_assert_uint_eq(w->msg_size, 128);
  ck_assert_uint_eq(w->start_ns, 1 * S);
  ck_assert_uint_eq(w->stop_ns, 55 * S);
  ck_assert_uint_eq(w->messages, 0);

  ck_assert_uint_eq(s->n_expects, 13);
  ck_assert_str_eq(s->expects[3].field, "gossip.delivery_ratio");
  ck_assert_double_eq_tol(s->expects[3].value, 0.999, 1e-12);
  ck_assert_str_eq(s->expects[5].field, "gossip.latency_ms.p50");
  ck_assert_double_eq_tol(s->expects[5].value, 200.0, 1e-9);
  ck_assert_double_eq_tol(s->expects[6].value, 500.0, 1e-9);
  ck_assert_double_eq_tol(s->expects[7].value, 1000.0, 1e-9);
  ck_assert_double_eq_tol(s->expects[8].value, 2000.0, 1e-9);
  ck_assert_str_eq(s->expects[12].field, "relay.circuits");
  sim_scenario_free(s);
}
END_TEST

START_TEST(test_scenario_libp2p_defaults_by_role) {
  sim_scenario *s = load_ok("name: d\n"
                            "duration: 3s\n"
                            "hosts:\n"
                            "  - {name: relay, role: relay}\n"
                            "  - {name: browser, role: browser}\n"
                            "  - {name: peer, role: node}\n"
                            "  - {name: stun, role: stun}\n"
                            "  - {name: wsrelay, role: relay, transports: "
                            "[ws]}\n"
                            "  - {name: plain, role: browser, transports: "
                            "[ws]}\n",
                            NULL, 0);
  const sim_scn_host *h = s->hosts;
  const uint32_t all =
      SIM_SCN_TRANSPORT_TCP | SIM_SCN_TRANSPORT_WS | SIM_SCN_TRANSPORT_CIRCUIT;
  /* relay: ws 9001 and tcp 9002, the hop limits of scenario.h */
  ck_assert_uint_eq(h[0].transports, all);
  ck_assert_uint_eq(h[0].n_listen, 2);
  ck_assert_int_eq(h[0].listen[0].kind, SIM_SCN_LISTEN_WS);
  ck_assert_uint_eq(h[0].listen[0].port, 9001);
  ck_assert_int_eq(h[0].listen[1].kind, SIM_SCN_LISTEN_TCP);
  ck_assert_uint_eq(h[0].listen[1].port, 9002);
  ck_assert(!h[0].has_relay);
  ck_assert_uint_eq(h[0].relay.reservations, 128);
  ck_assert_uint_eq(h[0].relay.reservations_per_ip, 8);
  ck_assert_uint_eq(h[0].relay.circuits, 16);
  ck_assert_uint_eq(h[0].relay.reservation_ttl_ns, 3600 * S);
  ck_assert_uint_eq(h[0].relay.circuit_duration_ns, 120 * S);
  ck_assert_uint_eq(h[0].relay.circuit_data, 128 * 1024);
  /* browser: ws and circuit, listens on /p2p-circuit */
  ck_assert_uint_eq(h[1].transports,
                    SIM_SCN_TRANSPORT_WS | SIM_SCN_TRANSPORT_CIRCUIT);
  ck_assert_uint_eq(h[1].n_listen, 1);
  ck_assert_int_eq(h[1].listen[0].kind, SIM_SCN_LISTEN_CIRCUIT);
  /* node: every transport, no listen address */
  ck_assert_uint_eq(h[2].transports, all);
  ck_assert_uint_eq(h[2].n_listen, 0);
  ck_assert_ptr_null(h[2].listen);
  ck_assert_uint_eq(h[2].relay.reservations, 0);
  for (size_t i = 0; i < 3; i++) {
    ck_assert_uint_eq(h[i].n_bootstrap, 0);
    ck_assert_uint_eq(h[i].n_topics, 0);
    ck_assert_ptr_null(h[i].discovery_topic);
    ck_assert_uint_eq(h[i].discovery_interval_ns, 10 * S);
    ck_assert_uint_eq(h[i].max_conns, 0);
  }
  /* stun: no libp2p at all */
  ck_assert_uint_eq(h[3].transports, 0);
  ck_assert_uint_eq(h[3].n_listen, 0);
  /* The default listen addresses follow the transports. */
  ck_assert_uint_eq(h[4].n_listen, 1);
  ck_assert_int_eq(h[4].listen[0].kind, SIM_SCN_LISTEN_WS);
  ck_assert_uint_eq(h[4].listen[0].port, 9001);
  ck_assert_uint_eq(h[5].n_listen, 0);
  sim_scenario_free(s);
}
END_TEST

START_TEST(test_scenario_gossip_rate_forms) {
  static const struct {
    const char *rate;
    uint64_t interval_ns;
  } cases[] = {{"1/s", 1 * S},
               {"0.5/s", 2 * S},
               {"2/m", 30 * S},
               {"1/h", 3600 * S},
               {"3/s", 333333333},
               {"7/s", 142857143},
               {"1000000/s", 1000},
               {"60/m", 1 * S},
               {"0.25/m", 240 * S},
               {"3600000000/h", 1000},
               {"0.000277778/s", 3599997120002ull}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sim_scn_override ov = {"workload.0.gossip.rate", cases[i].rate};
    sim_scenario *s = load_ok("name: g\nduration: 10s\n"
                              "hosts: [{name: n, role: node}]\n"
                              "workload:\n"
                              "  - gossip: {topic: t, publishers: n}\n",
                              &ov, 1);
    ck_assert_msg(s->workloads[0].msg_interval_ns == cases[i].interval_ns,
                  "%s: %llu", cases[i].rate,
                  (unsigned long long)s->workloads[0].msg_interval_ns);
    sim_scenario_free(s);
  }
  static const char *const bad[] = {"1",     "1/d",       "/s",    "-1/s",
                                    "0/s",   "1/ s",      "1e3/s", "0.0002/s",
                                    "1/s/s", "2000000/s", "1.5",   "1 /s"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char err[ERR_MAX];
    sim_scn_override ov = {"workload.0.gossip.rate", bad[i]};
    const char *msg = load_bad("name: g\nduration: 10s\n"
                               "hosts: [{name: n, role: node}]\n"
                               "workload:\n"
                               "  - gossip: {topic: t, publishers: n}\n",
                               &ov, 1, err);
    ck_assert_msg(strstr(msg, "workload.0.gossip.rate: ") &&
                      strstr(msg, "(from override workload.0.gossip.rate)"),
                  "%s: %s", bad[i], err);
  }
}
END_TEST

START_TEST(test_scenario_overrides_reach_libp2p_keys) {
  const sim_scn_override ov[] = {
      {"hosts.browser.count", "10"},
      {"hosts.relay.relay.circuits", "32"},
      {"hosts.relay.relay.circuit_data", "1MiB"},
      {"hosts.relay.relay.reservation_ttl", "5m"}, /* created */
      {"hosts.browser.discovery.pubsub.interval", "2s"},
      {"hosts.browser.discovery.pubsub.topic", "disc"},
      {"hosts.browser.discovery.max_connections", "4"}, /* created */
      {"hosts.browser.listen.0", "/p2p-circuit"},
      {"hosts.browser.pubsub.topics.1", "other"},
      {"workload.0.gossip.rate", "4/s"},
      {"workload.0.gossip.size", "256B"},
      {"workload.0.gossip.messages", "7"},
      {"workload.0.gossip.stop", "40s"},
      {"workload.0.gossip.publishers", "relay"},
  };
  sim_scenario *s = load_ok(p2p_text, ov, sizeof ov / sizeof ov[0]);
  const sim_scn_host *b = &s->hosts[0], *r = &s->hosts[1];
  ck_assert_uint_eq(b->count, 10);
  ck_assert_uint_eq(r->relay.circuits, 32);
  ck_assert_uint_eq(r->relay.circuit_data, 1024 * 1024);
  ck_assert_uint_eq(r->relay.reservation_ttl_ns, 300 * S);
  ck_assert_uint_eq(b->discovery_interval_ns, 2 * S);
  ck_assert_str_eq(b->discovery_topic, "disc");
  ck_assert_uint_eq(b->max_conns, 4);
  ck_assert_str_eq(b->topics[1], "other");
  const sim_scn_workload *w = &s->workloads[0];
  ck_assert_uint_eq(w->msg_interval_ns, 250 * MS);
  ck_assert_uint_eq(w->msg_size, 256);
  ck_assert_uint_eq(w->messages, 7);
  ck_assert_uint_eq(w->stop_ns, 40 * S);
  ck_assert_int_eq(w->publishers, 1);
  sim_scenario_free(s);

  /* A bad value names its override; a bad path says what exists. */
  char err[ERR_MAX];
  sim_scn_override bad = {"hosts.relay.relay.circuits", "0"};
  const char *msg = load_bad(p2p_text, &bad, 1, err);
  ck_assert_msg(strstr(msg, "hosts.relay.relay.circuits must be at least 1, "
                            "not 0") &&
                    strstr(msg, "(from override hosts.relay.relay.circuits)"),
                "%s", err);
  sim_scn_override bad2 = {"hosts.relay.relay.hops", "1"};
  msg = load_bad(p2p_text, &bad2, 1, err);
  ck_assert_msg(strstr(msg, "no such setting: no key 'hops' here (expected "
                            "one of: reservations, reservations_per_ip"),
                "%s", err);
  sim_scn_override bad3 = {"hosts.browser.transports.0", "tcp"};
  msg = load_bad(p2p_text, &bad3, 1, err);
  ck_assert_msg(strstr(msg, "a browser cannot use tcp") &&
                    strstr(msg, "(from override hosts.browser.transports.0)"),
                "%s", err);
  /* A stop the duration no longer covers. */
  sim_scn_override bad4 = {"duration", "45s"};
  msg = load_bad(p2p_text, &bad4, 1, err);
  ck_assert_msg(strstr(msg, "workload.0.gossip.stop: 50s is after the end of "
                            "the run (expected at most the duration, 45s)"),
                "%s", err);
}
END_TEST

START_TEST(test_scenario_sweep_over_relay_limits_is_checked) {
  char err[ERR_MAX];
  const char *text = "name: sw\n"
                     "duration: 10s\n"
                     "hosts:\n"
                     "  - {name: relay, role: relay, relay: {circuits: 4}}\n"
                     "sweep:\n"
                     "  hosts.relay.relay.circuits: [8, 0]\n";
  const char *msg = load_bad(text, NULL, 0, err);
  ck_assert_msg(strncmp(msg,
                        "6:35: error: sweep hosts.relay.relay.circuits: must "
                        "be at least 1, not 0",
                        70) == 0,
                "%s", err);
}
END_TEST

/* ---- malformed files --------------------------------------------------- */

static void bad_dir(char *buf, size_t cap) {
#ifdef P2PLAB_SOURCE_DIR
  snprintf(buf, cap, "%s/tests/scenario/bad", P2PLAB_SOURCE_DIR);
#else
  const char *file = __FILE__;
  const char *slash = strrchr(file, '/');
  if (slash)
    snprintf(buf, cap, "%.*s/bad", (int)(slash - file), file);
  else
    snprintf(buf, cap, "bad");
#endif
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

START_TEST(test_scenario_malformed_files_fail_at_their_position) {
  char dir[1024];
  bad_dir(dir, sizeof dir);
  DIR *d = opendir(dir);
  ck_assert_msg(d != NULL, "cannot open %s", dir);
  char *names[256];
  size_t n = 0;
  struct dirent *ent;
  while ((ent = readdir(d)) != NULL) {
    size_t len = strlen(ent->d_name);
    if (len > 5 && strcmp(ent->d_name + len - 5, ".yaml") == 0) {
      ck_assert_uint_lt(n, 256);
      names[n++] = strdup(ent->d_name);
    }
  }
  closedir(d);
  qsort(names, n, sizeof names[0], name_cmp);
  ck_assert_uint_ge(n, 100);
  char report[3000] = "";
  size_t failures = 0;
  for (size_t i = 0; i < n; i++) {
    char path[1400], head[512], want[1600], err[ERR_MAX];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    ck_assert_ptr_nonnull(fgets(head, sizeof head, f));
    fclose(f);
    head[strcspn(head, "\n")] = 0;
    unsigned line, col;
    int off = 0;
    ck_assert_msg(sscanf(head, "# expect: %u:%u: %n", &line, &col, &off) == 2 &&
                      off > 0,
                  "%s: first line is not '# expect: LINE:COL: TEXT'", names[i]);
    const char *sub = head + off;
    snprintf(want, sizeof want, "%s:%u:%u: error: ", path, line, col);
    sim_scenario *s = NULL;
    int rc = sim_scenario_load(path, NULL, 0, &s, err, sizeof err);
    bool ok = rc == P2P_ERR_INVALID && s == NULL &&
              strncmp(err, want, strlen(want)) == 0 && strstr(err, sub);
    if (!ok) {
      failures++;
      size_t used = strlen(report);
      snprintf(report + used, sizeof report - used,
               "\n%s: want '%u:%u: ...%s', got rc %d '%s'", names[i], line, col,
               sub, rc, err);
    }
    sim_scenario_free(s);
    free(names[i]);
  }
  ck_assert_msg(failures == 0, "%zu of %zu malformed files:%s", failures, n,
                report);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("scenario");
  TCase *tc = tcase_create("scenario");
  tcase_add_test(tc, test_scenario_full_file_every_field);
  tcase_add_test(tc, test_scenario_minimal_file_gets_defaults);
  tcase_add_test(tc, test_scenario_profile_without_preset_starts_full_cone);
  tcase_add_test(tc, test_scenario_overrides_by_dotted_path);
  tcase_add_test(tc, test_scenario_override_to_unknown_setting_fails);
  tcase_add_test(tc, test_scenario_bad_override_value_names_the_override);
  tcase_add_test(tc, test_scenario_sweep_values_are_checked_as_overrides);
  tcase_add_test(tc, test_scenario_unreadable_file_is_io_error);
  tcase_add_test(tc, test_scenario_file_over_1mib_is_rejected);
  tcase_add_test(tc, test_scenario_parse_duration_table);
  tcase_add_test(tc, test_scenario_parse_size_rate_percent_tables);
  tcase_add_test(tc, test_scenario_role_names);
  tcase_add_test(tc, test_scenario_relay_browser_node_every_field);
  tcase_add_test(tc, test_scenario_libp2p_defaults_by_role);
  tcase_add_test(tc, test_scenario_gossip_rate_forms);
  tcase_add_test(tc, test_scenario_overrides_reach_libp2p_keys);
  tcase_add_test(tc, test_scenario_sweep_over_relay_limits_is_checked);
  tcase_add_test(tc, test_scenario_malformed_files_fail_at_their_position);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(suite());
}
