/*
 * tests/fuzz/fuzz_tcp.c - libFuzzer target for the TCP segment model.
 *
 * Input layout: byte 0 picks the starting state (connect, accept, or
 * established through a scripted handshake) and, in its upper bits, the
 * MSS and receive window; then a stream of operations, each one opcode byte
 * followed by its arguments:
 *   segment: flags, seq mode + delta, ack mode + delta, window, length,
 *            payload (taken from the input)
 *   time:    advance the clock, then fire the timer if due (or early)
 *   send, shutdown, abort, connect (reuse once closed)
 * Sequence and acknowledgment numbers are mostly chosen relative to what
 * the connection has emitted (its rcv_nxt and snd_max), so that segments
 * land in the window and reach deep states.
 *
 * Invariants checked: nothing is emitted after `closed` or after abort
 * returns, `closed` is called at most once per opening, emitted segments are
 * well formed (payload at most one MSS, never a RST answered), the state is
 * in range and CLOSED has no deadline.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/net/tcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_ctx {
  sim_tcp_conn *c;
  uint32_t mss;
  bool ended; /* closed was called, or abort returned */
  int closed_n;
  uint32_t last_ack; /* our rcv_nxt, from the last segment with ACK */
  uint32_t snd_top;  /* highest seq + len emitted */
  bool have_ack;
  uint64_t emitted;
} fuzz_ctx;

typedef struct reader {
  const uint8_t *p;
  size_t left;
} reader;

static uint8_t rd_u8(reader *r) {
  uint8_t v = 0;

  if (r->left > 0) {
    v = *r->p++;
    r->left--;
  }
  return v;
}

static uint16_t rd_u16(reader *r) {
  uint16_t hi = rd_u8(r);
  return (uint16_t)((hi << 8) | rd_u8(r));
}

static uint32_t rd_u32(reader *r) {
  uint32_t hi = rd_u16(r);
  return (hi << 16) | rd_u16(r);
}

static void on_emit(void *ctx, const sim_tcp_seg *seg, uint64_t now) {
  fuzz_ctx *f = ctx;
  uint32_t end;

  (void)now;
  if (f->ended)
    abort(); /* emitted after closed or abort */
  if (seg->len > f->mss)
    abort();
  if (seg->len > 0 && seg->data == NULL)
    abort();
  if ((seg->flags & SIM_TCP_RST) && seg->len > 0)
    abort();
  f->emitted++;
  if (seg->flags & SIM_TCP_ACK) {
    f->last_ack = seg->ack;
    f->have_ack = true;
  }
  end = seg->seq + seg->len + ((seg->flags & SIM_TCP_SYN) ? 1u : 0u);
  if ((int32_t)(end - f->snd_top) > 0)
    f->snd_top = end;
  /* Touch the payload so ASan sees a bad pointer. */
  if (seg->len > 0) {
    volatile uint8_t sink = seg->data[0] ^ seg->data[seg->len - 1];
    (void)sink;
  }
}

static void on_connected(void *ctx, uint64_t now) {
  (void)ctx;
  (void)now;
}

static void on_data(void *ctx, const uint8_t *buf, size_t len, uint64_t now) {
  fuzz_ctx *f = ctx;
  volatile uint8_t sink;

  (void)now;
  if (len == 0 || buf == NULL)
    abort();
  sink = buf[0] ^ buf[len - 1];
  (void)sink;
  /* Re-enter from a callback, as owners may. */
  if (buf[0] == 0x5a) {
    int rv = sim_tcp_send(f->c, buf, len, now);
    (void)rv;
  }
}

static void on_eof(void *ctx, uint64_t now) {
  fuzz_ctx *f = ctx;
  int rv = sim_tcp_shutdown(f->c, now);
  (void)rv;
}

static void on_closed(void *ctx, int err, uint64_t now) {
  fuzz_ctx *f = ctx;

  (void)now;
  if (f->ended)
    abort();
  if (err != 0 && err != P2P_ERR_RESET && err != P2P_ERR_REFUSED &&
      err != P2P_ERR_TIMEOUT)
    abort();
  f->closed_n++;
  f->ended = true;
  if (sim_tcp_get_state(f->c) != SIM_TCP_CLOSED)
    abort();
}

static const sim_tcp_ops fuzz_ops = {on_emit, on_connected, on_data, on_eof,
                                     on_closed};

static void check(const fuzz_ctx *f, uint64_t now) {
  sim_tcp_state st = sim_tcp_get_state(f->c);

  (void)now;
  if ((int)st < (int)SIM_TCP_CLOSED || (int)st > (int)SIM_TCP_TIME_WAIT)
    abort();
  if (st == SIM_TCP_CLOSED && sim_tcp_expiry(f->c) != UINT64_MAX)
    abort();
  if (st != SIM_TCP_CLOSED && f->ended)
    abort();
  (void)sim_tcp_state_name(st);
}

static uint32_t pick_num(reader *r, uint32_t base, uint8_t mode) {
  switch (mode & 3) {
  case 0: return base;
  case 1: return base + (uint32_t)(int32_t)(int16_t)rd_u16(r);
  case 2: return base + rd_u8(r);
  default: return rd_u32(r);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const uint32_t mss_opts[4] = {1460, 1, 100, 536};
  static const uint32_t wnd_opts[4] = {1u << 20, 0, 3000, 65535};
  static uint8_t payload[65536];
  reader r = {data, size};
  sim_tcp_config cfg;
  fuzz_ctx f;
  uint8_t mode;
  uint64_t now = 0;
  uint32_t iss = 0x10000000u, peer_iss = 0xfffffff0u;
  int steps = 0;

  if (size < 1)
    return 0;
  mode = rd_u8(&r);
  sim_tcp_config_default(&cfg);
  cfg.mss = mss_opts[(mode >> 2) & 3];
  cfg.rcv_wnd = wnd_opts[(mode >> 4) & 3];
  if (mode & 0x40)
    cfg.time_wait_ns = 1000000ull;
  if (mode & 0x80) {
    cfg.syn_retries = 2;
    cfg.data_retries = 3;
  }
  memset(&f, 0, sizeof(f));
  f.mss = cfg.mss;
  f.snd_top = iss;
  if (sim_tcp_new(&cfg, &fuzz_ops, &f, iss, &f.c) != 0)
    return 0;

  switch (mode % 3) {
  case 0:
    if (sim_tcp_connect(f.c, now) != 0)
      abort();
    break;
  case 1: {
    sim_tcp_seg syn = {peer_iss, 0, 65535, SIM_TCP_SYN, 0, NULL};
    if (sim_tcp_accept(f.c, &syn, now) != 0)
      abort();
    break;
  }
  default: {
    sim_tcp_seg synack = {peer_iss, iss + 1, 65535, SIM_TCP_SYN | SIM_TCP_ACK,
                          0,        NULL};
    if (sim_tcp_connect(f.c, now) != 0)
      abort();
    sim_tcp_input(f.c, &synack, now);
    if (sim_tcp_get_state(f.c) != SIM_TCP_ESTABLISHED)
      abort();
    break;
  }
  }
  check(&f, now);

  while (r.left > 0 && steps++ < 4096) {
    uint8_t op = rd_u8(&r);

    switch (op & 7) {
    case 0:
    case 1:
    case 2:
    case 3: {
      sim_tcp_seg s;
      uint8_t modes = rd_u8(&r);
      uint32_t rcv = f.have_ack ? f.last_ack : peer_iss + 1;
      uint32_t len;

      s.flags =
          rd_u8(&r) & (SIM_TCP_SYN | SIM_TCP_ACK | SIM_TCP_FIN | SIM_TCP_RST);
      s.seq = pick_num(&r, rcv, modes);
      s.ack = pick_num(&r, f.snd_top, (uint8_t)(modes >> 2));
      s.wnd = (modes & 0x10) ? rd_u16(&r) : 65535u;
      len = (modes & 0x20) ? rd_u16(&r) : (modes & 0x40) ? rd_u8(&r) : 0;
      if (len > r.left) {
        /* Not enough input: pad from the static buffer. */
        memset(payload, 0x5a, len);
        memcpy(payload, r.p, r.left);
      } else {
        memcpy(payload, r.p, len);
      }
      {
        size_t used = len < r.left ? len : r.left;
        r.p += used;
        r.left -= used;
      }
      s.len = len;
      s.data = len > 0 ? payload : NULL;
      sim_tcp_input(f.c, &s, now);
      break;
    }
    case 4: {
      uint16_t dt = rd_u16(&r);
      now += (uint64_t)dt * ((op & 0x80) ? 100000000ull : 1000000ull);
      if (op & 0x40)
        sim_tcp_on_expiry(f.c, now); /* maybe early */
      else if (sim_tcp_expiry(f.c) != UINT64_MAX) {
        uint64_t t = sim_tcp_expiry(f.c);
        if (t > now)
          now = t;
        sim_tcp_on_expiry(f.c, now);
      }
      break;
    }
    case 5: {
      uint16_t n = rd_u16(&r);
      int rv;
      memset(payload, (int)(op >> 3), n);
      rv = sim_tcp_send(f.c, payload, n, now);
      if (rv != 0 && rv != P2P_ERR_STATE)
        abort();
      break;
    }
    case 6: {
      int rv = sim_tcp_shutdown(f.c, now);
      if (rv != 0 && rv != P2P_ERR_STATE)
        abort();
      if (rv == P2P_ERR_STATE && sim_tcp_get_state(f.c) != SIM_TCP_CLOSED)
        abort();
      break;
    }
    default:
      if (op & 0x80) {
        if (!f.ended) {
          sim_tcp_abort(f.c, now);
          f.ended = true;
        }
      } else if (sim_tcp_get_state(f.c) == SIM_TCP_CLOSED) {
        /* Reopen the same connection. */
        f.ended = false;
        f.have_ack = false;
        f.snd_top = iss;
        if (sim_tcp_connect(f.c, now) != 0)
          abort();
      }
      break;
    }
    check(&f, now);
  }
  sim_tcp_del(f.c);
  return 0;
}
