/*
 * sim/engine/rng.h - the seeded random generator of a run.
 *
 * xoshiro256** (Blackman and Vigna). Every random choice in a run comes from
 * a generator derived from the run's seed and a stream number, so that each
 * host, link and NAT has its own independent stream: adding a host or drawing
 * one more number in one stream never shifts the numbers of another stream,
 * and the same (seed, stream) always gives the same sequence.
 */
#ifndef SIM_RNG_H
#define SIM_RNG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct sim_rng {
  uint64_t s[4];
} sim_rng;

/* Stream-number namespaces, so components never share a stream by accident.
 * A component's stream is SIM_RNG_STREAM(kind, index). */
enum {
  SIM_RNG_KIND_HOST = 1, /* a host's protocol stack (keys, nonces, choices) */
  SIM_RNG_KIND_LINK = 2, /* an access link's loss and jitter */
  SIM_RNG_KIND_NAT = 3,  /* a NAT's port allocation */
  SIM_RNG_KIND_CORE = 4, /* the core network's loss and jitter */
  SIM_RNG_KIND_WORKLOAD = 5,
  SIM_RNG_KIND_TEST = 15
};
#define SIM_RNG_STREAM(kind, index)                                            \
  (((uint64_t)(kind) << 48) | ((uint64_t)(index)&0xffffffffffffull))

/* Seeds `r` for stream `stream` of run seed `seed`. The state is derived by
 * SplitMix64 from both numbers, so distinct streams are independent. */
void sim_rng_init(sim_rng *r, uint64_t seed, uint64_t stream);

/* The next 64 random bits. */
uint64_t sim_rng_u64(sim_rng *r);

/* A uniform integer in [0, bound). bound must be > 0. Unbiased (Lemire's
 * multiply-shift with rejection; almost always one draw). */
uint64_t sim_rng_below(sim_rng *r, uint64_t bound);

/* A uniform double in [0, 1) with 53 random bits. */
double sim_rng_double(sim_rng *r);

/* True with probability ppm / 1,000,000, exactly. ppm 0 (never) and
 * ppm >= 1,000,000 (always) draw nothing from the stream; any other value
 * draws at least one number. */
bool sim_rng_chance_ppm(sim_rng *r, uint32_t ppm);

/* Fills buf with len random bytes: each 64-bit output in little-endian byte
 * order, the unused bytes of the last output discarded. */
void sim_rng_fill(sim_rng *r, void *buf, size_t len);

#endif /* SIM_RNG_H */
