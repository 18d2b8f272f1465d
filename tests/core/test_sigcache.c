/* The shared cache of verified signatures. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "fixture.h"
#include "p2p/sigcache.h"

static void key_of(uint8_t b, p2p_privkey *k) {
  uint8_t seed[P2P_ED25519_SEED_LEN];
  memset(seed, b, sizeof seed);
  ck_assert_int_eq(p2p_key_from_seed(seed, k), 0);
}

static void sign(const p2p_privkey *k, const char *msg, uint8_t sig[64]) {
  ck_assert_int_eq(p2p_privkey_sign(k, (const uint8_t *)msg, strlen(msg), sig),
                   0);
}

START_TEST(test_sigcache_answers_repeats_and_never_caches_failures) {
  p2p_sigcache *c;
  ck_assert_int_eq(p2p_sigcache_new(100, &c), 0);
  p2p_privkey k, other;
  key_of(1, &k);
  key_of(2, &other);
  uint8_t sig[64];
  const char *m = "hello gossip";
  sign(&k, m, sig);
  uint64_t hits, misses;
  for (int i = 0; i < 3; i++)
    ck_assert_int_eq(
        p2p_sigcache_verify(c, &k.pub, (const uint8_t *)m, strlen(m), sig, 64),
        0);
  p2p_sigcache_stats(c, &hits, &misses);
  ck_assert_uint_eq(hits, 2);
  ck_assert_uint_eq(misses, 1);
  /* The same signature under another key, or over another message, is
   * still refused; so is a forged one, every time. */
  ck_assert_int_ne(p2p_sigcache_verify(c, &other.pub, (const uint8_t *)m,
                                       strlen(m), sig, 64),
                   0);
  ck_assert_int_ne(p2p_sigcache_verify(
                       c, &k.pub, (const uint8_t *)"hello gossiP", 12, sig, 64),
                   0);
  sig[5] ^= 1;
  for (int i = 0; i < 2; i++)
    ck_assert_int_ne(
        p2p_sigcache_verify(c, &k.pub, (const uint8_t *)m, strlen(m), sig, 64),
        0);
  p2p_sigcache_stats(c, &hits, &misses);
  ck_assert_uint_eq(hits, 2);
  ck_assert_uint_eq(misses, 5);
  p2p_sigcache_del(c);
}
END_TEST

START_TEST(test_sigcache_forgets_oldest_when_full) {
  p2p_sigcache *c;
  ck_assert_int_eq(p2p_sigcache_new(64, &c), 0);
  p2p_privkey k;
  key_of(3, &k);
  uint8_t sigs[200][64];
  char msgs[200][16];
  for (int i = 0; i < 200; i++) {
    snprintf(msgs[i], sizeof msgs[i], "m%d", i);
    sign(&k, msgs[i], sigs[i]);
    ck_assert_int_eq(p2p_sigcache_verify(c, &k.pub, (const uint8_t *)msgs[i],
                                         strlen(msgs[i]), sigs[i], 64),
                     0);
  }
  uint64_t hits, misses;
  /* The newest 64 are remembered, the first ones are not. */
  ck_assert_int_eq(p2p_sigcache_verify(c, &k.pub, (const uint8_t *)msgs[199],
                                       strlen(msgs[199]), sigs[199], 64),
                   0);
  p2p_sigcache_stats(c, &hits, &misses);
  ck_assert_uint_eq(hits, 1);
  ck_assert_int_eq(p2p_sigcache_verify(c, &k.pub, (const uint8_t *)msgs[0],
                                       strlen(msgs[0]), sigs[0], 64),
                   0);
  p2p_sigcache_stats(c, &hits, &misses);
  ck_assert_uint_eq(hits, 1);
  ck_assert_uint_eq(misses, 201);
  /* Every entry still findable after evictions moved probe runs. */
  for (int i = 137; i < 200; i++)
    ck_assert_int_eq(p2p_sigcache_verify(c, &k.pub, (const uint8_t *)msgs[i],
                                         strlen(msgs[i]), sigs[i], 64),
                     0);
  p2p_sigcache_stats(c, &hits, &misses);
  ck_assert_uint_eq(misses, 201);
  p2p_sigcache_del(c);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("sigcache");
  TCase *tc = tcase_create("sigcache");
  tcase_add_test(tc, test_sigcache_answers_repeats_and_never_caches_failures);
  tcase_add_test(tc, test_sigcache_forgets_oldest_when_full);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(suite());
}
