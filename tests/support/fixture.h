/* Shared pieces of the Check suites: the netsim backend loaded through the
 * plugin loader, and the suite runner every test binary ends with. */
#ifndef P2PLAB_TEST_FIXTURE_H
#define P2PLAB_TEST_FIXTURE_H

#include <check.h>

#include "plugins/loader.h"

/* The netsim backend's table, valid between fx_netsim_setup and
 * fx_netsim_teardown (a checked fixture: runs in each test's process). */
extern const p2plab_backend_api *fx_api;
void fx_netsim_setup(void);
void fx_netsim_teardown(void);

/* Runs every test of `s` (fork mode as configured by CK_FORK) and returns
 * the process exit status: EXIT_SUCCESS when none failed. */
int fx_run_suite(Suite *s);

#endif
