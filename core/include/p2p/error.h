/*
 * p2p/error.h - error codes shared by the core, the simulator and backends.
 *
 * Every fallible function returns 0 (or a non-negative count) on success and
 * one of the negative P2P_ERR_* codes on failure. Codes at or below
 * P2P_ERR_FATAL mean the object that returned them must be dropped.
 */
#ifndef P2P_ERROR_H
#define P2P_ERROR_H

#if defined(__GNUC__) || defined(__clang__)
#define P2P_WUR __attribute__((warn_unused_result))
#else
#define P2P_WUR
#endif

enum {
  P2P_OK = 0,
  P2P_ERR_INVALID = -1,      /* an argument is out of its domain */
  P2P_ERR_NOMEM = -2,        /* an allocation failed */
  P2P_ERR_NOTFOUND = -3,     /* no such object, name or entry */
  P2P_ERR_EXISTS = -4,       /* the object or name is already there */
  P2P_ERR_UNSUPPORTED = -5,  /* the operation is not offered here */
  P2P_ERR_STATE = -6,        /* not allowed in the object's current state */
  P2P_ERR_LIMIT = -7,        /* a configured limit is reached */
  P2P_ERR_ADDRINUSE = -8,    /* the local address or port is taken */
  P2P_ERR_VERSION = -9,      /* incompatible version (ABI, protocol) */
  P2P_ERR_IO = -10,          /* an operating-system call failed */
  P2P_ERR_PROTO = -11,       /* the peer violated the protocol */
  P2P_ERR_RESET = -12,       /* the peer reset the connection */
  P2P_ERR_TIMEOUT = -13,     /* the peer stopped answering */
  P2P_ERR_REFUSED = -14,     /* the peer refused the connection */
  P2P_ERR_UNREACHABLE = -15, /* no route to the destination */
  P2P_ERR_FATAL = -100,      /* codes at or below this are fatal */
  P2P_ERR_INTERNAL = -101    /* a broken invariant: a bug */
};

/* Returns a static, human-readable description of an error code. Never NULL;
 * unknown codes give "unknown error". */
const char *p2p_strerror(int err);

#endif /* P2P_ERROR_H */
