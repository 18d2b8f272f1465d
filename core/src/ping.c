/*
 * ping.c - the ping protocol's dialer and listener state machines.
 */
#include "p2p/ping.h"

#include <string.h>

void p2p_ping_client_init(p2p_ping_client *c) {
  memset(c, 0, sizeof(*c));
}

ssize_t p2p_ping_client_start(p2p_ping_client *c, const p2p_rand *rnd,
                              uint64_t now, uint8_t *out, size_t cap) {
  if (c == NULL || rnd == NULL || rnd->fill == NULL || out == NULL)
    return P2P_ERR_INVALID;
  if (c->outstanding || c->failed)
    return P2P_ERR_STATE;
  if (cap < P2P_PING_PAYLOAD_LEN)
    return P2P_ERR_LIMIT;
  p2p_rand_fill(rnd, c->payload, sizeof(c->payload));
  memcpy(out, c->payload, sizeof(c->payload));
  c->echo_len = 0;
  c->start_ns = now;
  c->outstanding = 1;
  return P2P_PING_PAYLOAD_LEN;
}

int p2p_ping_client_recv(p2p_ping_client *c, const uint8_t *buf, size_t len,
                         uint64_t now, size_t *consumed, uint64_t *rtt_ns) {
  size_t take;
  if (consumed != NULL)
    *consumed = 0;
  if (c == NULL || (buf == NULL && len > 0))
    return P2P_ERR_INVALID;
  if (c->failed)
    return P2P_ERR_STATE;
  if (len == 0)
    return 0;
  if (!c->outstanding) {
    /* The listener only ever answers: bytes nobody asked for are a
     * protocol violation. */
    c->failed = 1;
    return P2P_ERR_PROTO;
  }
  take = P2P_PING_PAYLOAD_LEN - c->echo_len;
  if (take > len)
    take = len;
  memcpy(c->echo + c->echo_len, buf, take);
  c->echo_len += take;
  if (consumed != NULL)
    *consumed = take;
  if (c->echo_len < P2P_PING_PAYLOAD_LEN)
    return 0;
  c->outstanding = 0;
  if (memcmp(c->echo, c->payload, P2P_PING_PAYLOAD_LEN) != 0) {
    c->failed = 1;
    return P2P_ERR_PROTO;
  }
  if (rtt_ns != NULL)
    *rtt_ns = now >= c->start_ns ? now - c->start_ns : 0;
  return 1;
}

int p2p_ping_client_outstanding(const p2p_ping_client *c) {
  return c != NULL && c->outstanding;
}

void p2p_ping_server_init(p2p_ping_server *s) {
  memset(s, 0, sizeof(*s));
}

ssize_t p2p_ping_server_recv(p2p_ping_server *s, const uint8_t *buf, size_t len,
                             uint8_t *out, size_t cap, size_t *consumed) {
  size_t used = 0, written = 0;
  if (consumed != NULL)
    *consumed = 0;
  if (s == NULL || (buf == NULL && len > 0) || (out == NULL && cap > 0))
    return P2P_ERR_INVALID;
  while (used < len) {
    size_t take = P2P_PING_PAYLOAD_LEN - s->block_len;
    if (take > len - used)
      take = len - used;
    /* Completing a block needs room for its echo; otherwise take all but
     * its last byte and stop, so the host offers the rest again later. */
    if (s->block_len + take == P2P_PING_PAYLOAD_LEN &&
        cap - written < P2P_PING_PAYLOAD_LEN) {
      take = P2P_PING_PAYLOAD_LEN - 1 - s->block_len;
      memcpy(s->block + s->block_len, buf + used, take);
      s->block_len += take;
      used += take;
      break;
    }
    memcpy(s->block + s->block_len, buf + used, take);
    s->block_len += take;
    used += take;
    if (s->block_len == P2P_PING_PAYLOAD_LEN) {
      memcpy(out + written, s->block, P2P_PING_PAYLOAD_LEN);
      written += P2P_PING_PAYLOAD_LEN;
      s->block_len = 0;
    }
  }
  if (consumed != NULL)
    *consumed = used;
  return (ssize_t)written;
}

size_t p2p_ping_server_pending(const p2p_ping_server *s) {
  return s != NULL ? s->block_len : 0;
}
