/*
 * sim/cli/cli.h - pieces shared by the p2plab subcommands.
 */
#ifndef P2PLAB_CLI_H
#define P2PLAB_CLI_H

#include <stdbool.h>
#include <stddef.h>

#include "sim/scenario/scenario.h"

/* Exit statuses (DESIGN.md). */
enum { CLI_OK = 0, CLI_EXPECT_FAILED = 1, CLI_BAD_INPUT = 2, CLI_INTERNAL = 3 };

#define CLI_MAX_OVERRIDES 64

/* Options common to run, check and sweep. */
typedef struct cli_common {
  const char *scenario;
  const char *out_dir;
  bool quiet;
  sim_scn_override ov[CLI_MAX_OVERRIDES];
  size_t n_ov;
  char seed_buf[32];
} cli_common;

/* Maps a loader or runner error code to an exit status. */
int cli_status(int rc);

/* `p2plab sweep`. */
int cli_sweep(int argc, char **argv);

/* `p2plab node`: one real libp2p node on the posix backend. */
int cli_node(int argc, char **argv);

/* `p2plab relay`: the guides' relay on the posix backend. */
int cli_relay(int argc, char **argv);

#endif /* P2PLAB_CLI_H */
