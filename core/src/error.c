#include "p2p/error.h"

const char *p2p_strerror(int err) {
  switch (err) {
  case P2P_OK: return "success";
  case P2P_ERR_INVALID: return "invalid argument";
  case P2P_ERR_NOMEM: return "out of memory";
  case P2P_ERR_NOTFOUND: return "not found";
  case P2P_ERR_EXISTS: return "already exists";
  case P2P_ERR_UNSUPPORTED: return "operation not supported";
  case P2P_ERR_STATE: return "operation not allowed in this state";
  case P2P_ERR_LIMIT: return "limit reached";
  case P2P_ERR_ADDRINUSE: return "address in use";
  case P2P_ERR_VERSION: return "incompatible version";
  case P2P_ERR_IO: return "input/output error";
  case P2P_ERR_PROTO: return "protocol violation";
  case P2P_ERR_RESET: return "connection reset by peer";
  case P2P_ERR_TIMEOUT: return "timed out";
  case P2P_ERR_REFUSED: return "connection refused";
  case P2P_ERR_UNREACHABLE: return "destination unreachable";
  case P2P_ERR_FATAL: return "fatal error";
  case P2P_ERR_INTERNAL: return "internal error";
  default: return "unknown error";
  }
}
