/*
 * sim/engine/rng.c - xoshiro256** seeded through SplitMix64.
 */
#include "sim/engine/rng.h"

#define SPLITMIX_GAMMA 0x9e3779b97f4a7c15ull

/* The SplitMix64 output function: a bijection of 64-bit words whose outputs
 * for neighbouring inputs look unrelated. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static uint64_t splitmix_next(uint64_t *state) {
  *state += SPLITMIX_GAMMA;
  return mix64(*state);
}

static inline uint64_t rotl(uint64_t x, int k) {
  return (x << k) | (x >> (64 - k));
}

void sim_rng_init(sim_rng *r, uint64_t seed, uint64_t stream) {
  /* The seed and the stream go through separate mixing rounds, and the
   * result becomes the SplitMix64 state. For a fixed seed the map from stream
   * to state is a bijection, so two streams never share a state, and the
   * mixing scatters neighbouring streams (0, 1, 2 ...) across the whole state
   * space, so their SplitMix64 sequences do not overlap in practice. */
  uint64_t x = mix64(seed ^ 0x6a09e667f3bcc908ull);
  x = mix64(x ^ mix64(stream + 0xbb67ae8584caa73bull));
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix_next(&x);
  /* xoshiro's one forbidden state; SplitMix64 cannot produce four zero words
   * in a row, but the guard costs nothing. */
  if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0)
    r->s[0] = SPLITMIX_GAMMA;
}

uint64_t sim_rng_u64(sim_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

uint64_t sim_rng_below(sim_rng *r, uint64_t bound) {
  /* Lemire, "Fast random integer generation in an interval" (2019): the high
   * word of x * bound is uniform once the few low words below
   * 2^64 mod bound are rejected. The division runs only when a rejection is
   * possible at all. */
  __extension__ typedef unsigned __int128 u128;
  u128 m = (u128)sim_rng_u64(r) * bound;
  uint64_t low = (uint64_t)m;
  if (low < bound) {
    uint64_t threshold = (0 - bound) % bound;
    while (low < threshold) {
      m = (u128)sim_rng_u64(r) * bound;
      low = (uint64_t)m;
    }
  }
  return (uint64_t)(m >> 64);
}

double sim_rng_double(sim_rng *r) {
  return (double)(sim_rng_u64(r) >> 11) * 0x1.0p-53;
}

bool sim_rng_chance_ppm(sim_rng *r, uint32_t ppm) {
  /* The certain cases draw nothing, so a model with loss_ppm = 0 leaves its
   * stream untouched. */
  if (ppm == 0)
    return false;
  if (ppm >= 1000000u)
    return true;
  return sim_rng_below(r, 1000000u) < ppm;
}

void sim_rng_fill(sim_rng *r, void *buf, size_t len) {
  unsigned char *p = buf;
  while (len > 0) {
    uint64_t x = sim_rng_u64(r);
    size_t n = len < 8 ? len : 8;
    for (size_t i = 0; i < n; i++)
      p[i] = (unsigned char)(x >> (8 * i));
    p += n;
    len -= n;
  }
}
