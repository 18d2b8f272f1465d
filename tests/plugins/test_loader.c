/* Tests for plugins/loader.c: finding, loading and refusing backends. */
#include "fixture.h"
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/loader.h"

START_TEST(test_loader_loads_netsim_by_name) {
  char err[512] = "";
  p2plab_plugin *p = NULL;
  unsetenv("P2PLAB_PLUGIN_PATH");
  ck_assert_int_eq(p2plab_plugin_load("netsim", &p, err, sizeof err), 0);
  const p2plab_backend_api *api = p2plab_plugin_api(p);
  ck_assert_str_eq(api->name, "netsim");
  ck_assert_uint_eq(api->abi_version, P2PLAB_BACKEND_ABI_VERSION);
  ck_assert_ptr_nonnull(
      strstr(p2plab_plugin_path(p), "p2plab-backend-netsim.so"));
  p2plab_plugin_unload(p);
}
END_TEST

START_TEST(test_loader_missing_plugin_names_plugin_and_paths) {
  char err[1024] = "";
  p2plab_plugin *p = NULL;
  setenv("P2PLAB_PLUGIN_PATH", "/nonexistent/a:/nonexistent/b", 1);
  ck_assert_int_eq(p2plab_plugin_load("nosuch", &p, err, sizeof err),
                   P2P_ERR_NOTFOUND);
  ck_assert_ptr_null(p);
  ck_assert_ptr_nonnull(strstr(err, "backend 'nosuch' not found"));
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/a/p2plab-backend-nosuch.so"));
  ck_assert_ptr_nonnull(strstr(err, "/nonexistent/b/p2plab-backend-nosuch.so"));
  ck_assert_ptr_nonnull(
      strstr(err, P2PLAB_PLUGIN_DIR "/p2plab-backend-nosuch.so"));
}
END_TEST

START_TEST(test_loader_rejects_path_like_names) {
  char err[256] = "";
  p2plab_plugin *p = NULL;
  ck_assert_int_eq(p2plab_plugin_load("../etc/x", &p, err, sizeof err),
                   P2P_ERR_INVALID);
  ck_assert_int_eq(p2plab_plugin_load("", &p, err, sizeof err),
                   P2P_ERR_INVALID);
  ck_assert_ptr_nonnull(strstr(err, "not valid"));
}
END_TEST

START_TEST(test_loader_refuses_wrong_abi_version) {
  char err[1024] = "";
  p2plab_plugin *p = NULL;
  setenv("P2PLAB_PLUGIN_PATH", TEST_PLUGIN_DIR, 1);
  ck_assert_int_eq(p2plab_plugin_load("badabi", &p, err, sizeof err),
                   P2P_ERR_VERSION);
  ck_assert_ptr_null(p);
  ck_assert_ptr_nonnull(strstr(err, "backend 'badabi'"));
  ck_assert_ptr_nonnull(
      strstr(err, TEST_PLUGIN_DIR "/p2plab-backend-badabi.so"));
  ck_assert_ptr_nonnull(strstr(err, "ABI version 999"));
  char want[64];
  snprintf(want, sizeof want, "needs version %u", P2PLAB_BACKEND_ABI_VERSION);
  ck_assert_ptr_nonnull(strstr(err, want));
}
END_TEST

START_TEST(test_loader_refuses_plugin_without_entry_point) {
  char err[1024] = "";
  p2plab_plugin *p = NULL;
  setenv("P2PLAB_PLUGIN_PATH", TEST_PLUGIN_DIR, 1);
  ck_assert_int_eq(p2plab_plugin_load("noentry", &p, err, sizeof err),
                   P2P_ERR_IO);
  ck_assert_ptr_nonnull(strstr(err, "has no p2plab_backend_entry()"));
}
END_TEST

START_TEST(test_loader_env_path_comes_first) {
  /* A directory in P2PLAB_PLUGIN_PATH shadows the build tree: the bad-ABI
   * plugin installed there under the name "netsim" is found and refused,
   * not silently skipped for the good one. */
  char err[1024] = "";
  p2plab_plugin *p = NULL;
  setenv("P2PLAB_PLUGIN_PATH", TEST_PLUGIN_DIR "/shadow", 1);
  ck_assert_int_eq(p2plab_plugin_load("netsim", &p, err, sizeof err),
                   P2P_ERR_VERSION);
  ck_assert_ptr_nonnull(strstr(err, "/shadow/p2plab-backend-netsim.so"));
}
END_TEST

static Suite *loader_suite(void) {
  Suite *s = suite_create("loader");
  TCase *tc = tcase_create("loader");
  tcase_add_test(tc, test_loader_loads_netsim_by_name);
  tcase_add_test(tc, test_loader_missing_plugin_names_plugin_and_paths);
  tcase_add_test(tc, test_loader_rejects_path_like_names);
  tcase_add_test(tc, test_loader_refuses_wrong_abi_version);
  tcase_add_test(tc, test_loader_refuses_plugin_without_entry_point);
  tcase_add_test(tc, test_loader_env_path_comes_first);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(loader_suite());
}
