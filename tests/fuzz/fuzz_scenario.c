/*
 * tests/fuzz/fuzz_scenario.c - libFuzzer target for the scenario loader.
 *
 * The input is a scenario file. When it starts with "#!", its first line
 * (after the "#!") is one override PATH=VALUE and the rest is the file. The
 * loader takes a path, so the input goes into one temporary file per
 * process (created once, rewritten for every input, removed at exit).
 * Every outcome is checked: a loaded scenario is consistent (indices in
 * range, strings present), a failure has exactly the documented message
 * shape, and nothing leaks (ASan).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sim/scenario/scenario.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OVERRIDE_MAX 256

static char tmp_path[] = "/tmp/p2plab-fuzz-scenario-XXXXXX";
static int tmp_fd = -1;

static void check(int ok) {
  if (!ok)
    abort();
}

static void remove_tmp(void) {
  if (tmp_fd >= 0) {
    close(tmp_fd);
    unlink(tmp_path);
  }
}

static void write_input(const uint8_t *d, size_t n) {
  if (tmp_fd < 0) {
    tmp_fd = mkstemp(tmp_path);
    check(tmp_fd >= 0);
    atexit(remove_tmp);
  }
  check(ftruncate(tmp_fd, 0) == 0);
  size_t done = 0;
  while (done < n) {
    ssize_t w = pwrite(tmp_fd, d + done, n - done, (off_t)done);
    check(w > 0);
    done += (size_t)w;
  }
}

static int index_ok(int i, size_t n, int none_ok) {
  return (none_ok && i == SIM_SCN_NONE) || (i >= 0 && (size_t)i < n);
}

static void check_scenario(const sim_scenario *s) {
  check(s->file && s->name && s->backend && s->duration_ns > 0);
  check(s->n_hosts >= 1 && s->sweep_seeds >= 1);
  for (size_t i = 0; i < s->n_nats; i++)
    check(s->nats[i].name != NULL);
  for (size_t i = 0; i < s->n_hosts; i++) {
    const sim_scn_host *h = &s->hosts[i];
    check(h->name && h->count >= 1);
    check(h->role == SIM_SCN_ROLE_NODE || h->role == SIM_SCN_ROLE_STUN ||
          h->role == SIM_SCN_ROLE_RELAY || h->role == SIM_SCN_ROLE_BROWSER);
    check(index_ok(h->nat, s->n_nats, 1) && index_ok(h->cgnat, s->n_nats, 1));
    for (size_t k = 0; k < h->n_bootstrap; k++) {
      /* Bootstrap targets can be dialled: never a browser or a stun. */
      check(index_ok(h->bootstrap[k], s->n_hosts, 0));
      sim_scn_role r = s->hosts[h->bootstrap[k]].role;
      check(r != SIM_SCN_ROLE_BROWSER && r != SIM_SCN_ROLE_STUN);
    }
    for (size_t k = 0; k < h->n_listen; k++) {
      const sim_scn_listen *l = &h->listen[k];
      /* Browsers cannot listen on TCP or WebSocket. */
      check(h->role != SIM_SCN_ROLE_BROWSER ||
            l->kind == SIM_SCN_LISTEN_CIRCUIT);
    }
    check(h->role != SIM_SCN_ROLE_BROWSER ||
          !(h->transports & SIM_SCN_TRANSPORT_TCP));
    for (size_t k = 0; k < h->n_topics; k++)
      check(h->topics[k] != NULL && h->topics[k][0] != '\0');
    if (h->cgnat != SIM_SCN_NONE)
      check(s->nats[h->cgnat].cfg.enabled);
  }
  for (size_t i = 0; i < s->n_latencies; i++)
    check(index_ok(s->latencies[i].a, s->n_hosts, 0) &&
          index_ok(s->latencies[i].b, s->n_hosts, 0));
  for (size_t i = 0; i < s->n_workloads; i++) {
    const sim_scn_workload *w = &s->workloads[i];
    check(w->kind == SIM_SCN_WL_HOLEPUNCH || w->kind == SIM_SCN_WL_GOSSIP);
    if (w->kind == SIM_SCN_WL_GOSSIP) {
      check(w->topic != NULL && index_ok(w->publishers, s->n_hosts, 0));
      check(w->msg_interval_ns > 0 && w->msg_size > 0);
      check(w->start_ns < w->stop_ns && w->stop_ns <= s->duration_ns);
      continue;
    }
    check(index_ok(w->a, s->n_hosts, 0) && index_ok(w->b, s->n_hosts, 0) &&
          index_ok(w->stun, s->n_hosts, 0));
    check(s->hosts[w->stun].role == SIM_SCN_ROLE_STUN);
    check(w->timeout_ns > 0 && w->probe_interval_ns > 0);
  }
  for (size_t i = 0; i < s->n_expects; i++)
    check(s->expects[i].field && s->expects[i].text &&
          s->expects[i].op >= SIM_SCN_OP_GE &&
          s->expects[i].op <= SIM_SCN_OP_GT);
  for (size_t i = 0; i < s->n_axes; i++) {
    check(s->axes[i].path && s->axes[i].n_values >= 1);
    for (size_t j = 0; j < s->axes[i].n_values; j++)
      check(s->axes[i].values[j] != NULL);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char path[OVERRIDE_MAX], *value = NULL;
  sim_scn_override ov;
  size_t n_ov = 0;
  if (size >= 2 && data[0] == '#' && data[1] == '!') {
    const uint8_t *nl = memchr(data, '\n', size);
    size_t len = nl ? (size_t)(nl - data) - 2 : size - 2;
    if (len >= sizeof path || memchr(data + 2, 0, len))
      return 0;
    memcpy(path, data + 2, len);
    path[len] = 0;
    value = strchr(path, '=');
    if (value) {
      *value++ = 0;
      ov.path = path;
      ov.value = value;
      n_ov = 1;
    }
    /* The override line stays in the file as a comment. */
  }
  write_input(data, size);

  sim_scenario *s = NULL;
  char err[512];
  int rc = sim_scenario_load(tmp_path, &ov, n_ov, &s, err, sizeof err);
  if (rc == 0) {
    check(s != NULL);
    check_scenario(s);
    sim_scenario_free(s);
    return 0;
  }
  check(s == NULL);
  check(rc == P2P_ERR_INVALID || rc == P2P_ERR_NOMEM || rc == P2P_ERR_IO);
  size_t plen = strlen(tmp_path);
  check(strncmp(err, tmp_path, plen) == 0 && err[plen] == ':');
  check(strstr(err + plen, ": error: ") != NULL);
  return 0;
}
