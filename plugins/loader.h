/*
 * plugins/loader.h - finds a backend by name and loads it with dlopen.
 *
 * A backend named NAME lives in `p2plab-backend-NAME.so`. The loader looks
 * in, in order: each directory of $P2PLAB_PLUGIN_PATH (colon-separated), the
 * build tree's plugin directory, and the install directory. It takes the
 * first file that exists; a file that exists but fails to load, lacks the
 * entry point or has another ABI version is an error (it does not go on
 * searching, so a stale plugin is never silently shadowed).
 */
#ifndef P2PLAB_LOADER_H
#define P2PLAB_LOADER_H

#include <stddef.h>

#include "p2p/error.h"
#include "plugins/backend.h"

typedef struct p2plab_plugin p2plab_plugin;

/* Loads backend `name`. On success *out holds the plugin (free it with
 * p2plab_plugin_unload) and 0 is returned. On failure returns
 * P2P_ERR_NOTFOUND (no file; err names the plugin and every path searched),
 * P2P_ERR_VERSION (ABI mismatch; err names the plugin, its path, both
 * versions), P2P_ERR_INVALID (bad name), P2P_ERR_IO (dlopen or dlsym failed)
 * or P2P_ERR_NOMEM, with a message in err (always NUL-terminated, truncated
 * to errlen). */
P2P_WUR int p2plab_plugin_load(const char *name, p2plab_plugin **out, char *err,
                               size_t errlen);

/* The backend's function table. */
const p2plab_backend_api *p2plab_plugin_api(const p2plab_plugin *p);

/* The file it was loaded from. */
const char *p2plab_plugin_path(const p2plab_plugin *p);

/* Unloads it. Every backend instance created from it must be destroyed
 * first. NULL is allowed. */
void p2plab_plugin_unload(p2plab_plugin *p);

#endif /* P2PLAB_LOADER_H */
