/*
 * sim/workload/holepunch.h - the raw UDP hole punch (no libp2p).
 *
 * Three hosts: a reflector with a public address (a STUN-like server) and
 * two peers, usually behind NATs. The sequence is the one every UDP hole
 * punch uses, ICE included:
 *
 *  1. each peer binds one UDP socket and asks the reflector for its mapped
 *     address (the address its NATs show to the internet), retrying every
 *     bind_retry_ns up to bind_tries times;
 *  2. the two mapped addresses are exchanged out of band (a signaling
 *     channel, modelled as a fixed signal_delay_ns after both are known);
 *  3. both peers send probes to the other's mapped address every
 *     probe_interval_ns. A peer answers every probe with an acknowledgement
 *     to the probe's source address, and when a probe arrives from an
 *     address it did not know (a peer-reflexive address, as when the other
 *     side's NAT allocated a fresh port), it starts probing that address too
 *     (a triggered check);
 *  4. a peer is through when it receives an acknowledgement; the hole punch
 *     succeeds when both are through before timeout_ns after probing
 *     started. Time to direct is from the start of probing until the second
 *     peer is through.
 *
 * The wire format is this workload's own (documented in holepunch.c); it is
 * a model of the flow, not STUN. Every message is checked on receipt and a
 * malformed one is ignored and counted.
 */
#ifndef SIM_HOLEPUNCH_H
#define SIM_HOLEPUNCH_H

#include <stdbool.h>
#include <stdint.h>

#include "plugins/backend.h"

typedef struct sim_holepunch_config {
  p2plab_host_id reflector, a, b;
  uint16_t reflector_port;    /* default 3478 */
  uint16_t peer_port;         /* default 4001 on both peers */
  uint64_t start_ns;          /* when the peers ask the reflector */
  uint64_t bind_retry_ns;     /* default 500 ms */
  uint32_t bind_tries;        /* default 4 */
  uint64_t signal_delay_ns;   /* default 0 */
  uint64_t probe_interval_ns; /* default 50 ms (ICE's Ta) */
  uint64_t timeout_ns;        /* default 5 s */
  /* Optional trace sink: one call per milestone (event names:
   * "bind-request", "mapped", "probe-start", "peer-reflexive",
   * "through", "direct", "failed"). `host` is the host id. */
  void (*trace)(void *ctx, uint64_t now, p2plab_host_id host, const char *event,
                const char *detail);
  void *trace_ctx;
} sim_holepunch_config;

/* Fills cfg with the defaults above (host ids 0, 1, 2). */
void sim_holepunch_config_default(sim_holepunch_config *cfg);

typedef enum sim_holepunch_state {
  SIM_HOLEPUNCH_RUNNING = 0,
  SIM_HOLEPUNCH_SUCCESS,
  SIM_HOLEPUNCH_FAILED
} sim_holepunch_state;

typedef struct sim_holepunch_result {
  sim_holepunch_state state;
  /* "", or the failure reason: "no-mapped-address" (the reflector never
   * answered a peer) or "timeout" (probing never got through both ways). */
  const char *reason;
  uint64_t probe_start_ns;    /* 0 when probing never started */
  uint64_t time_to_direct_ns; /* valid on success */
  p2plab_addr mapped_a, mapped_b;
  uint32_t probes_sent, probes_received, acks_received, malformed;
} sim_holepunch_result;

typedef struct sim_holepunch sim_holepunch;

/* Sets up the workload on a backend instance whose hosts exist: binds the
 * sockets and schedules the start. Nothing happens until the backend runs.
 * Returns 0 or a negative P2P_ERR_* (a port in use, no such host, ...). */
P2P_WUR int sim_holepunch_new(const p2plab_backend_api *api, p2plab_backend *b,
                              const sim_holepunch_config *cfg,
                              sim_holepunch **out);

/* The outcome so far. */
void sim_holepunch_get_result(const sim_holepunch *hp,
                              sim_holepunch_result *out);

/* The time by which the outcome is certainly known (start + bind retries +
 * signal delay + timeout), for run_until. */
uint64_t sim_holepunch_deadline(const sim_holepunch *hp);

/* Closes the sockets and cancels the timers. NULL is allowed. */
void sim_holepunch_del(sim_holepunch *hp);

/* A ready-made world for one hole punch: a public reflector and two peers,
 * each behind its own NAT (or none), optionally also behind a shared
 * carrier-grade NAT. Used by `p2plab demo` and the tests. */
typedef struct sim_holepunch_world {
  uint64_t seed;
  const sim_nat_config *nat_a, *nat_b;     /* NULL or !enabled: public peer */
  const sim_nat_config *cgnat_a, *cgnat_b; /* shared NAT in front, or NULL */
  bool same_cgnat;           /* a and b behind one shared cgnat_a */
  p2plab_link_config access; /* both directions of every access link */
  uint64_t core_latency_ns;
} sim_holepunch_world;

/* Fills w with: seed 1, no NATs, access links 5 ms / 20 Mbit/s / 64 KiB
 * queue, core latency 20 ms. */
void sim_holepunch_world_default(sim_holepunch_world *w);

/* Builds the world on a new instance of `api`, runs one hole punch with
 * cfg's timings (cfg may be NULL for the defaults; its host ids and trace
 * are set here, trace from `trace`/`trace_ctx`), and fills *out. Returns 0
 * or a negative P2P_ERR_*. */
P2P_WUR int sim_holepunch_run_world(
    const p2plab_backend_api *api, const sim_holepunch_world *w,
    const sim_holepunch_config *cfg,
    void (*trace_fn)(void *ctx, uint64_t now, p2plab_host_id host,
                     const char *event, const char *detail),
    void *trace_ctx, sim_holepunch_result *out);

#endif /* SIM_HOLEPUNCH_H */
