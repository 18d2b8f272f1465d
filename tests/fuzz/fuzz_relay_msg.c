/*
 * fuzz_relay_msg.c - libFuzzer target for the Circuit Relay v2 reader,
 * message decoders and voucher opener. The first input byte picks the
 * message kind (bit 0: hop or stop), whether the rest is also opened as a
 * voucher (bit 1), and a chunk size (bits 2-7); the rest is the peer's
 * stream. Nothing may crash or leak, and every accepted message must encode
 * and decode again to the same fields.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/relay_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void same_addrs(const p2p_multiaddr *a, size_t na,
                       const p2p_multiaddr *b, size_t nb) {
  size_t i;
  if (na != nb)
    abort();
  for (i = 0; i < na; i++)
    if (a[i].len != b[i].len || memcmp(a[i].bytes, b[i].bytes, a[i].len) != 0)
      abort();
}

static void same_peer(const p2p_relay_peer *a, const p2p_relay_peer *b) {
  if (!p2p_peerid_equal(&a->id, &b->id) || b->nskipped_addrs != 0)
    abort();
  same_addrs(a->addrs, a->naddrs, b->addrs, b->naddrs);
}

static void same_limit(const p2p_relay_limit *a, const p2p_relay_limit *b) {
  if (a->has_duration != b->has_duration || a->has_data != b->has_data ||
      (a->has_duration && a->duration_s != b->duration_s) ||
      (a->has_data && a->data_bytes != b->data_bytes))
    abort();
}

/* Re-encodes an accepted HopMessage and checks that it decodes the same. */
static void check_hop(const p2p_relay_hop_msg *m) {
  static uint8_t buf[P2P_RELAY_MAX_MSG_LEN + P2P_RELAY_MAX_PREFIX_LEN];
  p2p_relay_hop_msg back;
  size_t off;
  ssize_t n = p2p_relay_hop_encode(m, buf, sizeof(buf));
  if (n == P2P_ERR_NOMEM)
    return;
  /* Dropped addresses and unknown fields only make it shorter. */
  if (n <= 0)
    abort();
  off = (buf[0] & 0x80) ? 2 : 1;
  if (p2p_relay_hop_decode(buf + off, (size_t)n - off, &back) != 0)
    abort();
  if (back.type != m->type || back.has_peer != m->has_peer ||
      back.has_reservation != m->has_reservation ||
      back.has_limit != m->has_limit || back.has_status != m->has_status ||
      (m->has_status && back.status != m->status))
    abort();
  if (m->has_peer)
    same_peer(&m->peer, &back.peer);
  if (m->has_limit)
    same_limit(&m->limit, &back.limit);
  if (m->has_reservation) {
    const p2p_relay_reservation *a = &m->reservation, *b = &back.reservation;
    if (a->has_expire != b->has_expire ||
        (a->has_expire && a->expire_unix_s != b->expire_unix_s) ||
        a->has_voucher != b->has_voucher || a->voucher_len != b->voucher_len ||
        (a->voucher_len && memcmp(a->voucher, b->voucher, a->voucher_len)))
      abort();
    same_addrs(a->addrs, a->naddrs, b->addrs, b->naddrs);
  }
  p2p_relay_hop_msg_free(&back);
}

/* Re-encodes an accepted StopMessage and checks that it decodes the same. */
static void check_stop(const p2p_relay_stop_msg *m) {
  static uint8_t buf[P2P_RELAY_MAX_MSG_LEN + P2P_RELAY_MAX_PREFIX_LEN];
  p2p_relay_stop_msg back;
  size_t off;
  ssize_t n = p2p_relay_stop_encode(m, buf, sizeof(buf));
  if (n == P2P_ERR_NOMEM)
    return;
  if (n <= 0)
    abort();
  off = (buf[0] & 0x80) ? 2 : 1;
  if (p2p_relay_stop_decode(buf + off, (size_t)n - off, &back) != 0)
    abort();
  if (back.type != m->type || back.has_peer != m->has_peer ||
      back.has_limit != m->has_limit || back.has_status != m->has_status ||
      (m->has_status && back.status != m->status))
    abort();
  if (m->has_peer)
    same_peer(&m->peer, &back.peer);
  if (m->has_limit)
    same_limit(&m->limit, &back.limit);
  p2p_relay_stop_msg_free(&back);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  p2p_relay_reader r;
  size_t off = 1, chunk;
  int hop, msgs = 0;
  if (size < 1)
    return 0;
  hop = (data[0] & 1) == 0;
  chunk = (size_t)(data[0] >> 2) + 1;
  if (data[0] & 2) {
    p2p_relay_voucher v;
    if (p2p_relay_voucher_open(data + 1, size - 1, NULL, &v) == 0 &&
        (v.relay.len == 0 || v.peer.len == 0))
      abort();
  }
  p2p_relay_reader_init(&r);
  while (off < size && msgs < 64) {
    size_t n = size - off < chunk ? size - off : chunk;
    ssize_t used = p2p_relay_reader_recv(&r, data + off, n);
    if (used < 0)
      return 0;
    if ((size_t)used > n)
      abort();
    off += (size_t)used;
    if (p2p_relay_reader_done(&r)) {
      msgs++;
      if (hop) {
        p2p_relay_hop_msg m;
        if (p2p_relay_reader_take_hop(&r, &m) != 0)
          return 0;
        check_hop(&m);
        p2p_relay_hop_msg_free(&m);
      } else {
        p2p_relay_stop_msg m;
        if (p2p_relay_reader_take_stop(&r, &m) != 0)
          return 0;
        check_stop(&m);
        p2p_relay_stop_msg_free(&m);
      }
    } else if (used == 0) {
      abort(); /* no progress while not done */
    }
  }
  (void)p2p_relay_reader_recv_eof(&r);
  return 0;
}
