/*
 * memnet.h - tests: N core hosts (p2p/host.h) wired together in memory in
 * virtual time, for multi-host protocol tests (relay, GossipSub,
 * discovery) without a backend. Every host listens on
 * /ip4/10.0.0.<i+1>/tcp/4001 and can dial every other one through
 * p2p_host_dial (config.dial); bytes take `latency_ns` one way and are
 * never lost. memnet_run() jumps the clock to the next delivery or host
 * deadline, like the simulator.
 */
#ifndef MEMNET_H
#define MEMNET_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/host.h"

typedef struct memnet memnet;

/* latency_ns: one-way delay of every byte chunk. */
memnet *memnet_new(uint64_t latency_ns);
/* Frees every host (services must be deleted by the test first). */
void memnet_del(memnet *m);

/* Adds host i (i = number of hosts before the call) with an Ed25519 key
 * derived from `seed` and its own deterministic randomness. Returns the
 * host, or NULL on failure. */
p2p_host *memnet_add(memnet *m, uint64_t seed);
p2p_host *memnet_host(memnet *m, size_t i);
size_t memnet_count(const memnet *m);
/* /ip4/10.0.0.<i+1>/tcp/4001/p2p/<peer ID of host i> (owned by memnet). */
const p2p_multiaddr *memnet_addr(memnet *m, size_t i);
/* Dials host j from host i (p2p_host_dial with memnet_addr(j)). */
int memnet_dial(memnet *m, size_t i, size_t j);

/* Refuses connections to and from host i from now on when `down` (open
 * connections are cut as if the link failed: both sides get EOF). */
void memnet_set_down(memnet *m, size_t i, int down);

/* Observes every host event (after the host's services): i is the host. */
void memnet_on_event(memnet *m,
                     void (*fn)(void *ctx, size_t i, const p2p_host_event *ev),
                     void *ctx);

uint64_t memnet_now(const memnet *m);
/* Runs deliveries and host deadlines in time order until `until` (ns,
 * absolute); the clock then reads `until`. */
void memnet_run(memnet *m, uint64_t until);

/* Counts of host log lines containing `needle` so far (all hosts). */
size_t memnet_log_count(const memnet *m, const char *needle);

#endif /* MEMNET_H */
