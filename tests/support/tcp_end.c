#include "tcp_end.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

static const p2plab_backend_api *api;

void tcp_end_use(const p2plab_backend_api *a) {
  api = a;
}

static void end_data(void *ctx, p2plab_tcp *c, const uint8_t *buf, size_t len,
                     uint64_t now) {
  tcp_end *e = ctx;
  (void)now;
  if (e->rx_len + len > e->rx_cap) {
    e->rx_cap = (e->rx_len + len) * 2;
    e->rx = realloc(e->rx, e->rx_cap);
    ck_assert_ptr_nonnull(e->rx);
  }
  memcpy(e->rx + e->rx_len, buf, len);
  e->rx_len += len;
  if (e->abort_on_data) {
    api->tcp_abort(c);
    e->conn = NULL;
    e->closed = -1; /* done, without an on_close */
  }
}

static void end_start(tcp_end *e, p2plab_tcp *c, uint64_t now) {
  e->connected = 1;
  e->connected_at = now;
  e->conn = c;
  if (e->tx_len) {
    ck_assert_int_eq(api->tcp_send(c, e->tx, e->tx_len), 0);
    ck_assert_int_eq(api->tcp_shutdown(c), 0);
  }
  if (e->greet)
    ck_assert_int_eq(api->tcp_send(c, (const uint8_t *)"hi", 2), 0);
}

static void end_connect(void *ctx, p2plab_tcp *c, uint64_t now) {
  end_start(ctx, c, now);
}

static void end_eof(void *ctx, p2plab_tcp *c, uint64_t now) {
  tcp_end *e = ctx;
  (void)now;
  e->eof = 1;
  if (e->shut_on_eof) {
    if (e->reply)
      ck_assert_int_eq(
          api->tcp_send(c, (const uint8_t *)e->reply, strlen(e->reply)), 0);
    ck_assert_int_eq(api->tcp_shutdown(c), 0);
  }
}

static void end_close(void *ctx, p2plab_tcp *c, int err, uint64_t now) {
  tcp_end *e = ctx;
  (void)c;
  (void)now;
  e->closed++;
  e->close_err = err;
  e->conn = NULL;
}

const p2plab_tcp_callbacks tcp_end_cbs = {
    .on_connect = end_connect,
    .on_data = end_data,
    .on_eof = end_eof,
    .on_close = end_close,
};

void tcp_end_accept(void *ctx, p2plab_tcp_listener *l, p2plab_tcp *c,
                    const p2plab_addr *remote, const p2plab_tcp_callbacks **cbs,
                    void **cb_ctx, uint64_t now) {
  tcp_end *e = ctx;
  (void)l;
  e->remote = *remote;
  *cbs = &tcp_end_cbs;
  *cb_ctx = e;
  end_start(e, c, now);
}

uint8_t *tcp_end_pattern(size_t n, uint32_t seed) {
  uint8_t *p = malloc(n);
  ck_assert_ptr_nonnull(p);
  uint32_t x = seed;
  for (size_t i = 0; i < n; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (uint8_t)(x >> 16);
  }
  return p;
}
