#include "plugins/loader.h"

#include "sim/util/errbuf.h"

#include <dlfcn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef P2PLAB_PLUGIN_DIR
#define P2PLAB_PLUGIN_DIR ""
#endif
#ifndef P2PLAB_PLUGIN_INSTALL_DIR
#define P2PLAB_PLUGIN_INSTALL_DIR "/usr/local/lib/p2plab"
#endif

struct p2plab_plugin {
  void *handle;
  const p2plab_backend_api *api;
  char path[];
};

/* Backend names are short identifiers; anything else could walk out of the
 * plugin directories. */
static int name_ok(const char *name) {
  size_t n = 0;
  for (const char *c = name; *c; c++, n++) {
    if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' ||
          *c == '-'))
      return 0;
  }
  return n > 0 && n <= 32;
}

/* Appends one candidate directory to the search list (a colon-separated
 * string kept for the error message) and checks whether the plugin file is
 * there. Returns 1 and fills `path` when it is. */
static int try_dir(const char *dir, size_t dirlen, const char *name, char *path,
                   size_t pathlen, char *searched, size_t searchedlen) {
  if (dirlen == 0)
    return 0;
  int n = snprintf(path, pathlen, "%.*s/p2plab-backend-%s.so", (int)dirlen, dir,
                   name);
  if (n < 0 || (size_t)n >= pathlen)
    return 0;
  size_t used = strlen(searched);
  if (used < searchedlen)
    snprintf(searched + used, searchedlen - used, "%s%s", used ? ", " : "",
             path);
  return access(path, F_OK) == 0;
}

int p2plab_plugin_load(const char *name, p2plab_plugin **out, char *err,
                       size_t errlen) {
  char path[4096];
  char searched[8192] = "";
  int found = 0;

  *out = NULL;
  if (name == NULL || !name_ok(name)) {
    sim_errf(err, errlen,
             "backend name '%s' is not valid (expected lower-case letters, "
             "digits, '-' or '_')",
             name ? name : "(null)");
    return P2P_ERR_INVALID;
  }

  const char *env = getenv("P2PLAB_PLUGIN_PATH");
  if (env != NULL) {
    const char *p = env;
    while (!found) {
      const char *colon = strchr(p, ':');
      size_t len = colon ? (size_t)(colon - p) : strlen(p);
      found =
          try_dir(p, len, name, path, sizeof path, searched, sizeof searched);
      if (colon == NULL)
        break;
      p = colon + 1;
    }
  }
  const char *defaults[] = {P2PLAB_PLUGIN_DIR, P2PLAB_PLUGIN_INSTALL_DIR};
  for (size_t i = 0; !found && i < sizeof defaults / sizeof *defaults; i++)
    found = try_dir(defaults[i], strlen(defaults[i]), name, path, sizeof path,
                    searched, sizeof searched);
  if (!found) {
    sim_errf(err, errlen,
             "backend '%s' not found: no p2plab-backend-%s.so in %s (set "
             "P2PLAB_PLUGIN_PATH to add directories)",
             name, name, searched[0] ? searched : "(no directories)");
    return P2P_ERR_NOTFOUND;
  }

  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (h == NULL) {
    sim_errf(err, errlen, "backend '%s': cannot load %s: %s", name, path,
             dlerror());
    return P2P_ERR_IO;
  }
  /* POSIX guarantees a function pointer survives the round trip through
   * void * for dlsym results; the union keeps -Wpedantic quiet. */
  union {
    void *obj;
    p2plab_backend_entry_fn fn;
  } entry;
  dlerror();
  entry.obj = dlsym(h, P2PLAB_BACKEND_ENTRY);
  if (entry.obj == NULL) {
    sim_errf(err, errlen, "backend '%s': %s has no %s() entry point", name,
             path, P2PLAB_BACKEND_ENTRY);
    dlclose(h);
    return P2P_ERR_IO;
  }
  const p2plab_backend_api *api = entry.fn();
  if (api == NULL || api->abi_version != P2PLAB_BACKEND_ABI_VERSION) {
    sim_errf(err, errlen,
             "backend '%s': %s has backend ABI version %u, but this p2plab "
             "needs version %u (rebuild the plugin)",
             name, path, api ? api->abi_version : 0u,
             P2PLAB_BACKEND_ABI_VERSION);
    dlclose(h);
    return P2P_ERR_VERSION;
  }

  size_t plen = strlen(path) + 1;
  p2plab_plugin *p = malloc(sizeof *p + plen);
  if (p == NULL) {
    dlclose(h);
    sim_errf(err, errlen, "out of memory");
    return P2P_ERR_NOMEM;
  }
  p->handle = h;
  p->api = api;
  memcpy(p->path, path, plen);
  *out = p;
  return 0;
}

const p2plab_backend_api *p2plab_plugin_api(const p2plab_plugin *p) {
  return p->api;
}

const char *p2plab_plugin_path(const p2plab_plugin *p) {
  return p->path;
}

void p2plab_plugin_unload(p2plab_plugin *p) {
  if (p == NULL)
    return;
  dlclose(p->handle);
  free(p);
}
