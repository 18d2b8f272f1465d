/* One end of a TCP connection in the backend tests (netsim and posix):
 * records what arrives and runs a small script (send tx then shut down,
 * reply on EOF, greet, abort from inside on_data). */
#ifndef P2PLAB_TEST_TCP_END_H
#define P2PLAB_TEST_TCP_END_H

#include <stddef.h>
#include <stdint.h>

#include "plugins/backend.h"

typedef struct tcp_end {
  p2plab_tcp *conn;
  int connected, eof, closed, close_err;
  uint64_t connected_at;
  uint8_t *rx; /* everything received, malloc'd: free it */
  size_t rx_len, rx_cap;
  const uint8_t *tx; /* sent on connect (or accept), then shut down */
  size_t tx_len;
  int shut_on_eof;    /* when the peer's FIN comes: send `reply`, shut down */
  const char *reply;  /* may be NULL */
  int greet;          /* send "hi" on connect or accept */
  int abort_on_data;  /* tcp_abort from inside on_data */
  p2plab_addr remote; /* the peer, for accepted connections */
} tcp_end;

/* The backend the callbacks call into; set it in each test's setup. */
void tcp_end_use(const p2plab_backend_api *api);

/* Callbacks for tcp_connect with a tcp_end as context. */
extern const p2plab_tcp_callbacks tcp_end_cbs;

/* A tcp_listen accept function with a tcp_end as context. */
void tcp_end_accept(void *ctx, p2plab_tcp_listener *l, p2plab_tcp *c,
                    const p2plab_addr *remote, const p2plab_tcp_callbacks **cbs,
                    void **cb_ctx, uint64_t now);

/* n bytes of a seeded pattern, malloc'd. */
uint8_t *tcp_end_pattern(size_t n, uint32_t seed);

#endif
