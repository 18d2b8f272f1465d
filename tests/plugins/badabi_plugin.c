/* A backend that claims a future ABI version, for the loader tests. */
#include "plugins/backend.h"

static const p2plab_backend_api bad = {.abi_version = 999, .name = "badabi"};

const p2plab_backend_api *p2plab_backend_entry(void);
__attribute__((visibility("default"))) const p2plab_backend_api *
p2plab_backend_entry(void) {
  return &bad;
}
