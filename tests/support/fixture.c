#include "fixture.h"

#include <stdlib.h>

const p2plab_backend_api *fx_api;
static p2plab_plugin *fx_plugin;

void fx_netsim_setup(void) {
  char err[512];
  ck_assert_msg(p2plab_plugin_load("netsim", &fx_plugin, err, sizeof err) == 0,
                "%s", err);
  fx_api = p2plab_plugin_api(fx_plugin);
}

void fx_netsim_teardown(void) {
  p2plab_plugin_unload(fx_plugin);
  fx_plugin = NULL;
  fx_api = NULL;
}

int fx_run_suite(Suite *s) {
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
