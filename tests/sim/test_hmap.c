/* Tests for sim/util/hmap.c against a plain reference model. */
#include "fixture.h"
#include <check.h>
#include <stdlib.h>

#include "sim/engine/rng.h"
#include "sim/util/hmap.h"

#define V(x) ((void *)(uintptr_t)(x))

START_TEST(test_hmap_put_get_replace_delete) {
  sim_hmap m;
  sim_hmap_init(&m);
  ck_assert_ptr_null(sim_hmap_get(&m, 1, 2));
  ck_assert_ptr_null(sim_hmap_del(&m, 1, 2));
  ck_assert_int_eq(sim_hmap_put(&m, 1, 2, V(10)), 0);
  ck_assert_int_eq(sim_hmap_put(&m, 2, 1, V(20)), 0);
  ck_assert_ptr_eq(sim_hmap_get(&m, 1, 2), V(10));
  ck_assert_ptr_eq(sim_hmap_get(&m, 2, 1), V(20));
  ck_assert_int_eq(sim_hmap_put(&m, 1, 2, V(11)), 0);
  ck_assert_uint_eq(sim_hmap_len(&m), 2);
  ck_assert_ptr_eq(sim_hmap_get(&m, 1, 2), V(11));
  ck_assert_ptr_eq(sim_hmap_del(&m, 1, 2), V(11));
  ck_assert_ptr_null(sim_hmap_get(&m, 1, 2));
  ck_assert_uint_eq(sim_hmap_len(&m), 1);
  ck_assert_int_eq(sim_hmap_put(&m, 3, 3, NULL), P2P_ERR_INVALID);
  sim_hmap_free(&m);
}
END_TEST

START_TEST(test_hmap_random_operations_match_reference) {
  /* Keys from a small space so that probe runs collide, wrap around and
   * are cut by deletions often. */
  enum { SPACE = 4096, OPS = 200000 };
  static uintptr_t ref[SPACE];
  sim_hmap m;
  sim_hmap_init(&m);
  sim_rng r;
  sim_rng_init(&r, 7, 0);
  size_t live = 0;
  for (int i = 0; i < OPS; i++) {
    uint64_t k = sim_rng_below(&r, SPACE);
    uint64_t a = k >> 6, b = k & 63;
    if (sim_rng_below(&r, 3) == 0) {
      void *old = sim_hmap_del(&m, a, b);
      if ((uintptr_t)old != ref[k])
        ck_abort_msg("del %llu: map %p, reference %lu", (unsigned long long)k,
                     old, (unsigned long)ref[k]);
      live -= ref[k] != 0;
      ref[k] = 0;
    } else {
      uintptr_t v = (uintptr_t)i + 1;
      if (sim_hmap_put(&m, a, b, V(v)) != 0)
        ck_abort_msg("put failed");
      live += ref[k] == 0;
      ref[k] = v;
    }
    if (i % 1000 == 0) {
      for (uint64_t j = 0; j < SPACE; j++)
        if ((uintptr_t)sim_hmap_get(&m, j >> 6, j & 63) != ref[j])
          ck_abort_msg("get %llu after %d ops", (unsigned long long)j, i);
    }
  }
  ck_assert_uint_eq(sim_hmap_len(&m), live);
  size_t seen = 0;
  sim_hmap_entry *e;
  for (size_t pos = 0; (pos = sim_hmap_next(&m, pos, &e)) != 0;) {
    ck_assert_ptr_eq(e->val, V(ref[e->a << 6 | e->b]));
    seen++;
  }
  ck_assert_uint_eq(seen, live);
  sim_hmap_free(&m);
}
END_TEST

START_TEST(test_hmap_reserve_makes_later_puts_allocation_free) {
  sim_hmap m;
  sim_hmap_init(&m);
  ck_assert_int_eq(sim_hmap_reserve(&m, 1000), 0);
  sim_hmap_entry *slots = m.slots;
  for (uint64_t i = 0; i < 1000; i++)
    ck_assert_int_eq(sim_hmap_put(&m, i, i, V(i + 1)), 0);
  ck_assert_ptr_eq(m.slots, slots); /* never rehashed */
  for (uint64_t i = 0; i < 1000; i++)
    ck_assert_ptr_eq(sim_hmap_get(&m, i, i), V(i + 1));
  sim_hmap_free(&m);
}
END_TEST

int main(void) {
  Suite *s = suite_create("hmap");
  TCase *tc = tcase_create("hmap");
  tcase_add_test(tc, test_hmap_put_get_replace_delete);
  tcase_add_test(tc, test_hmap_random_operations_match_reference);
  tcase_add_test(tc, test_hmap_reserve_makes_later_puts_allocation_free);
  suite_add_tcase(s, tc);
  return fx_run_suite(s);
}
