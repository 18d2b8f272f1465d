/* libFuzzer target for the yamux session parser.
 *
 * Byte 0 picks the role (bit 0: client) and the input split size (bits
 * 1-7); the rest is fed as peer input in pieces of that size. The
 * application side reacts like a real one: it writes to, consumes from,
 * half-closes or resets the streams it hears about, so the send path runs
 * too. Output is drained after every piece. */
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include "p2p/yamux.h"

static unsigned counter;

static void on_open(p2p_yamux *y, uint32_t id, void *u) {
  (void)u;
  (void)!p2p_yamux_stream_write(y, id, (const uint8_t *)"hello", 5);
  if (++counter % 7 == 0)
    (void)!p2p_yamux_stream_reset(y, id);
}

static void on_data(p2p_yamux *y, uint32_t id, const uint8_t *d, size_t n,
                    void *u) {
  (void)u;
  (void)!p2p_yamux_stream_write(y, id, d, n > 64 ? 64 : n);
  (void)!p2p_yamux_stream_consume(y, id, n);
  if (++counter % 5 == 0)
    (void)!p2p_yamux_stream_close(y, id);
}

static void on_fin(p2p_yamux *y, uint32_t id, void *u) {
  (void)u;
  (void)!p2p_yamux_stream_close(y, id);
}

static void drain(p2p_yamux *y) {
  uint8_t out[1024];
  for (int i = 0; i < 4096; i++)
    if (p2p_yamux_send(y, out, sizeof(out), 0) <= 0)
      return;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  p2p_yamux_config cfg;
  p2p_yamux_config_default(&cfg, data[0] & 1);
  cfg.max_inbound_streams = 8;
  cfg.max_stream_queued_bytes = 4096;
  cfg.max_frame_data_bytes = 512;
  p2p_yamux_callbacks cb = {0};
  cb.on_stream_open = on_open;
  cb.on_data = on_data;
  cb.on_stream_fin = on_fin;
  p2p_yamux *y;
  if (p2p_yamux_new(&cfg, &cb, NULL, &y) != 0)
    return 0;
  counter = 0;
  uint32_t id;
  if (p2p_yamux_stream_open(y, &id) == 0)
    (void)!p2p_yamux_stream_write(y, id, (const uint8_t *)"x", 1);
  (void)!p2p_yamux_ping(y, 1);
  size_t step = (size_t)(data[0] >> 1) + 1;
  data++;
  size--;
  while (size > 0) {
    size_t n = size < step ? size : step;
    int rv = p2p_yamux_recv(y, data, n, 0);
    drain(y);
    if (rv < 0)
      break;
    data += n;
    size -= n;
  }
  p2p_yamux_del(y);
  return 0;
}
