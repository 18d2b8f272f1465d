/*
 * tests/fuzz/fuzz_websocket.c - WebSocket codec (core/src/websocket.c).
 *
 * Byte 0 picks the role (bit 0: server), whether a valid handshake is fed
 * first so the rest goes straight to the frame parser (bit 1) and the chunk
 * size the rest is fed in (bits 2-7, 1..64 bytes). Byte 1 picks small
 * limits (bit 0: 16-byte read buffer, bit 1: 64-byte message limit, bit 2:
 * 8-byte frames). The remaining bytes are what the peer sends. Besides the
 * sanitizers, the target checks the documented contract: recv never claims
 * more than it was given, only pauses with a full read buffer or pending
 * output, makes progress once both are drained, and a failure is sticky
 * and carries a reason.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/websocket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void counter_fill(void *ctx, uint8_t *buf, size_t len) {
  uint8_t *c = ctx;
  for (size_t i = 0; i < len; i++)
    buf[i] = (*c)++;
}

static void drain(p2p_ws *w) {
  uint8_t out[512];
  ssize_t n;
  do {
    n = p2p_ws_send(w, out, sizeof(out));
    if (n < 0 || (size_t)n > sizeof(out))
      abort();
  } while (n > 0);
  do {
    n = p2p_ws_read(w, out, sizeof(out));
    if (n < 0 || (size_t)n > sizeof(out))
      abort();
  } while (n > 0);
  if (p2p_ws_pending(w) != 0 || p2p_ws_readable(w) != 0)
    abort();
}

/* Completes a handshake with a matching peer so frames can be fuzzed. */
static void open_with_peer(p2p_ws *w, int role, const p2p_rand *r) {
  p2p_ws_config pc = {0};
  p2p_ws *peer = NULL;
  uint8_t buf[1024];
  pc.host = "h";
  pc.path = "/";
  if (p2p_ws_new(&peer, role == P2P_WS_SERVER ? P2P_WS_CLIENT : P2P_WS_SERVER,
                 &pc, r) != 0)
    abort();
  for (int round = 0; round < 2; round++) {
    p2p_ws *from = (role == P2P_WS_SERVER) == (round == 0) ? peer : w;
    p2p_ws *to = from == peer ? w : peer;
    ssize_t n = p2p_ws_send(from, buf, sizeof(buf));
    if (n < 0 || p2p_ws_recv(to, buf, (size_t)n) != n)
      abort();
  }
  if (p2p_ws_state(w) != P2P_WS_OPEN || p2p_ws_state(peer) != P2P_WS_OPEN)
    abort();
  p2p_ws_del(peer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t ctr = 0;
  p2p_rand rnd = {counter_fill, &ctr};
  p2p_ws_config cfg = {0};
  p2p_ws *w = NULL;
  uint8_t mode, lim;
  size_t chunk, off = 0;
  int role;
  if (size < 2)
    return 0;
  mode = data[0];
  lim = data[1];
  data += 2, size -= 2;
  chunk = (size_t)(mode >> 2) + 1;
  role = (mode & 1) ? P2P_WS_SERVER : P2P_WS_CLIENT;
  cfg.host = "example.com";
  cfg.path = "/";
  if (lim & 1)
    cfg.max_read_buffer = 16;
  if (lim & 2)
    cfg.max_message_len = 64;
  if (lim & 4)
    cfg.max_frame_len = 8;
  if (p2p_ws_new(&w, role, &cfg, &rnd) != 0)
    abort();
  if (mode & 2)
    open_with_peer(w, role, &rnd);
  drain(w);
  while (off < size) {
    size_t len = size - off < chunk ? size - off : chunk;
    ssize_t c = p2p_ws_recv(w, data + off, len);
    if (c < 0) {
      if (p2p_ws_state(w) != P2P_WS_FAILED || p2p_ws_error(w) != c ||
          p2p_ws_reason(w) == NULL)
        abort();
      if (p2p_ws_recv(w, data + off, len) != c)
        abort();
      drain(w);
      break;
    }
    if ((size_t)c > len)
      abort();
    if ((size_t)c < len && p2p_ws_pending(w) == 0 && p2p_ws_readable(w) == 0)
      abort(); /* paused with nothing to drain */
    if (c == 0 && len > 0) {
      drain(w);
      ssize_t again = p2p_ws_recv(w, data + off, len);
      if (again == 0)
        abort(); /* no progress after draining */
      if (again < 0)
        break;
      c = again;
    }
    off += (size_t)c;
    if (p2p_ws_state(w) == P2P_WS_OPEN && (off & 7) == 0) {
      if (p2p_ws_write(w, data, off < 40 ? off : 40) != 0)
        abort();
    }
    drain(w);
  }
  if (p2p_ws_state(w) == P2P_WS_OPEN) {
    if (p2p_ws_close(w, 1000) != 0 || p2p_ws_state(w) != P2P_WS_CLOSING)
      abort();
    drain(w);
  }
  p2p_ws_del(w);
  return 0;
}
