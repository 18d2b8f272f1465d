/*
 * tests/sim/test_tcp.c - the TCP segment model (sim/net/tcp.c).
 *
 * Two connections, A and B, are joined by a tiny in-test wire: each emitted
 * segment is copied into a queue with a fixed one-way delay, and the test
 * loop jumps a virtual clock to the next arrival or the next connection
 * deadline (as picoquic's tests do). Segments can be dropped by index, by a
 * seeded random loss rate or by a predicate, and delayed individually to
 * reorder them.
 */
#include "fixture.h"
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "sim/net/tcp.h"

#define MS(x) ((uint64_t)(x)*1000000ull)
#define SEC(x) ((uint64_t)(x)*1000000000ull)
#define NEVER UINT64_MAX
#define ONE_WAY MS(50)
#define RTT (2 * ONE_WAY)
#define MAX_DROPS 8
#define MAX_STEPS 20000000ull

/* A small seeded generator (xorshift64*), so every run is the same. */
static uint64_t prng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* Byte i of the stream sent in direction dir. */
static uint8_t pattern(int dir, uint64_t i) {
  uint64_t x = (i + 1) * 0x9E3779B97F4A7C15ull + (uint64_t)dir * 0x51ull;
  x ^= x >> 29;
  return (uint8_t)(x ^ (x >> 17));
}

typedef struct wire wire;

typedef struct endpoint {
  wire *w;
  int id; /* 0 = A, 1 = B */
  sim_tcp_conn *c;
  /* Events seen. */
  uint64_t connected_at, eof_at, closed_at;
  int connected_n, eof_n, closed_n;
  int closed_err;
  uint64_t rx, rx_bad;
  uint64_t emitted;
  uint64_t emit_after_end; /* emits after closed or abort: must stay 0 */
  bool aborted;
  /* Behaviour. */
  uint64_t tx_total;      /* bytes to send once connected */
  bool shutdown_after_tx; /* shutdown right after queueing tx_total */
  bool shutdown_on_eof;   /* shutdown when the peer's FIN arrives */
  uint64_t tx_on_eof;     /* bytes to send when the peer's FIN arrives */
  uint64_t tx_sent;
} endpoint;

typedef struct pkt {
  uint64_t at, order;
  int to;
  sim_tcp_seg seg;
  uint8_t *data;
} pkt;

typedef bool (*drop_fn)(wire *w, int from, const sim_tcp_seg *seg,
                        uint64_t idx);

struct wire {
  uint64_t now;
  endpoint ep[2];
  pkt *q;
  size_t nq, capq;
  uint64_t order;
  /* Loss and reordering. */
  uint64_t drop_idx[2][MAX_DROPS];
  int n_drop[2];
  uint32_t loss_ppm;
  uint64_t rng;
  drop_fn drop;
  bool drop_all[2];
  uint64_t delay_idx[2]; /* this segment index gets delay_extra */
  uint64_t delay_extra;
  uint64_t swap_idx[2]; /* this segment is held and goes after the next */
  pkt held;
  bool holding;
  uint64_t dropped;
  /* B accepts the first SYN; or B does not exist and the wire answers
   * with sim_tcp_make_rst. */
  bool b_listens;
  bool b_absent;
  /* Bookkeeping for retransmission checks. */
  uint32_t max_end[2];
  bool have_max[2];
  uint64_t first_rtx_at[2];
  uint64_t dup_acks_sent[2];
  uint64_t rst_sent[2];
};

static void wire_push(wire *w, int to, const sim_tcp_seg *seg, uint64_t at) {
  pkt *p;

  if (w->nq == w->capq) {
    w->capq = w->capq ? 2 * w->capq : 256;
    w->q = realloc(w->q, w->capq * sizeof(*w->q));
    ck_assert_ptr_nonnull(w->q);
  }
  p = &w->q[w->nq++];
  p->at = at;
  p->order = w->order++;
  p->to = to;
  p->seg = *seg;
  p->data = NULL;
  if (seg->len > 0) {
    p->data = malloc(seg->len);
    ck_assert_ptr_nonnull(p->data);
    memcpy(p->data, seg->data, seg->len);
  }
  p->seg.data = p->data;
}

static bool wire_should_drop(wire *w, int from, const sim_tcp_seg *seg,
                             uint64_t idx) {
  int i;

  if (w->drop_all[from])
    return true;
  for (i = 0; i < w->n_drop[from]; i++)
    if (w->drop_idx[from][i] == idx)
      return true;
  if (w->drop != NULL && w->drop(w, from, seg, idx))
    return true;
  if (w->loss_ppm > 0 && prng_next(&w->rng) % 1000000u < w->loss_ppm)
    return true;
  return false;
}

static void on_emit(void *ctx, const sim_tcp_seg *seg, uint64_t now) {
  endpoint *e = ctx;
  wire *w = e->w;
  uint64_t idx = e->emitted++;
  uint32_t end = seg->seq + seg->len + ((seg->flags & SIM_TCP_SYN) ? 1u : 0u) +
                 ((seg->flags & SIM_TCP_FIN) ? 1u : 0u);
  uint64_t at = now + ONE_WAY;

  ck_assert_uint_eq(now, w->now);
  if (e->closed_n > 0 || e->aborted)
    e->emit_after_end++;
  if (seg->flags & SIM_TCP_RST)
    w->rst_sent[e->id]++;
  if (end != seg->seq) {
    if (w->have_max[e->id] && (int32_t)(seg->seq - w->max_end[e->id]) < 0 &&
        w->first_rtx_at[e->id] == NEVER)
      w->first_rtx_at[e->id] = now;
    if (!w->have_max[e->id] || (int32_t)(end - w->max_end[e->id]) > 0) {
      w->max_end[e->id] = end;
      w->have_max[e->id] = true;
    }
  } else if (seg->flags == SIM_TCP_ACK) {
    w->dup_acks_sent[e->id]++; /* counts every pure ACK */
  }
  if (wire_should_drop(w, e->id, seg, idx)) {
    w->dropped++;
    return;
  }
  if (idx == w->delay_idx[e->id])
    at += w->delay_extra;
  if (idx == w->swap_idx[e->id]) {
    w->held.seg = *seg;
    w->held.data = NULL;
    if (seg->len > 0) {
      w->held.data = malloc(seg->len);
      ck_assert_ptr_nonnull(w->held.data);
      memcpy(w->held.data, seg->data, seg->len);
    }
    w->held.seg.data = w->held.data;
    w->holding = true;
    return;
  }
  wire_push(w, 1 - e->id, seg, at);
  if (w->holding) {
    w->holding = false;
    wire_push(w, 1 - e->id, &w->held.seg, at);
    free(w->held.data);
  }
}

/* Queues n pattern bytes in one call (no Nagle: each call's tail may leave
 * as a short segment, so tests that count segments send in one go). */
static void send_pattern(endpoint *e, uint64_t n) {
  uint8_t *buf = malloc(n);
  uint64_t i;

  ck_assert_ptr_nonnull(buf);
  for (i = 0; i < n; i++)
    buf[i] = pattern(e->id, e->tx_sent + i);
  ck_assert_int_eq(sim_tcp_send(e->c, buf, (size_t)n, e->w->now), 0);
  e->tx_sent += n;
  free(buf);
}

static void on_connected(void *ctx, uint64_t now) {
  endpoint *e = ctx;

  e->connected_n++;
  e->connected_at = now;
  if (e->tx_total > 0)
    send_pattern(e, e->tx_total);
  if (e->shutdown_after_tx)
    ck_assert_int_eq(sim_tcp_shutdown(e->c, now), 0);
}

static void on_data(void *ctx, const uint8_t *buf, size_t len, uint64_t now) {
  endpoint *e = ctx;
  size_t i;

  (void)now;
  ck_assert_uint_gt(len, 0);
  for (i = 0; i < len; i++)
    if (buf[i] != pattern(1 - e->id, e->rx + i))
      e->rx_bad++;
  e->rx += len;
}

static void on_eof(void *ctx, uint64_t now) {
  endpoint *e = ctx;

  e->eof_n++;
  e->eof_at = now;
  if (e->tx_on_eof > 0)
    send_pattern(e, e->tx_on_eof);
  if (e->shutdown_on_eof)
    ck_assert_int_eq(sim_tcp_shutdown(e->c, now), 0);
}

static void on_closed(void *ctx, int err, uint64_t now) {
  endpoint *e = ctx;

  e->closed_n++;
  e->closed_err = err;
  e->closed_at = now;
}

static const sim_tcp_ops test_ops = {on_emit, on_connected, on_data, on_eof,
                                     on_closed};

static void wire_init(wire *w, const sim_tcp_config *cfg) {
  int i;

  memset(w, 0, sizeof(*w));
  w->rng = 0x1234567887654321ull;
  w->delay_idx[0] = w->delay_idx[1] = NEVER;
  w->swap_idx[0] = w->swap_idx[1] = NEVER;
  for (i = 0; i < 2; i++) {
    endpoint *e = &w->ep[i];
    e->w = w;
    e->id = i;
    e->closed_err = 1; /* not a valid code: "not closed" */
    w->first_rtx_at[i] = NEVER;
    ck_assert_int_eq(
        sim_tcp_new(cfg, &test_ops, e, i == 0 ? 1000u : 0xfffff000u, &e->c), 0);
  }
}

static void wire_free(wire *w) {
  size_t i;

  for (i = 0; i < w->nq; i++)
    free(w->q[i].data);
  free(w->q);
  if (w->holding)
    free(w->held.data);
  sim_tcp_del(w->ep[0].c);
  sim_tcp_del(w->ep[1].c);
  ck_assert_uint_eq(w->ep[0].emit_after_end, 0);
  ck_assert_uint_eq(w->ep[1].emit_after_end, 0);
  ck_assert_int_le(w->ep[0].closed_n, 1);
  ck_assert_int_le(w->ep[1].closed_n, 1);
}

static void deliver_pkt(wire *w, pkt *p) {
  endpoint *e = &w->ep[p->to];

  if (p->to == 1 && w->b_absent) {
    sim_tcp_seg rst;
    if (sim_tcp_make_rst(&p->seg, &rst))
      wire_push(w, 0, &rst, w->now + ONE_WAY);
    return;
  }
  if (p->to == 1 && w->b_listens && sim_tcp_get_state(e->c) == SIM_TCP_CLOSED &&
      (p->seg.flags & (SIM_TCP_SYN | SIM_TCP_ACK)) == SIM_TCP_SYN) {
    w->b_listens = false;
    ck_assert_int_eq(sim_tcp_accept(e->c, &p->seg, w->now), 0);
    return;
  }
  sim_tcp_input(e->c, &p->seg, w->now);
}

/* Runs one event: the earliest arrival, or the earliest connection deadline
 * (arrivals first on ties). Returns false when nothing is left before
 * `until`. */
static bool wire_step(wire *w, uint64_t until) {
  size_t i, best = SIZE_MAX;
  uint64_t tq = NEVER, t0 = sim_tcp_expiry(w->ep[0].c),
           t1 = sim_tcp_expiry(w->ep[1].c);

  for (i = 0; i < w->nq; i++)
    if (best == SIZE_MAX || w->q[i].at < w->q[best].at ||
        (w->q[i].at == w->q[best].at && w->q[i].order < w->q[best].order))
      best = i;
  if (best != SIZE_MAX)
    tq = w->q[best].at;
  if (tq <= t0 && tq <= t1 && tq != NEVER) {
    pkt p;
    if (tq > until)
      return false;
    p = w->q[best];
    w->q[best] = w->q[--w->nq];
    ck_assert_uint_ge(tq, w->now);
    w->now = tq;
    deliver_pkt(w, &p);
    free(p.data);
    return true;
  }
  if (t0 == NEVER && t1 == NEVER)
    return false;
  {
    int k = t0 <= t1 ? 0 : 1;
    uint64_t t = k == 0 ? t0 : t1;
    if (t > until)
      return false;
    ck_assert_uint_ge(t, w->now);
    w->now = t;
    sim_tcp_on_expiry(w->ep[k].c, t);
  }
  return true;
}

static void wire_run(wire *w, uint64_t until) {
  uint64_t steps = 0;

  while (wire_step(w, until))
    ck_assert_uint_lt(++steps, MAX_STEPS);
  if (until != NEVER && w->now < until)
    w->now = until;
}

/* A connects at t = 0; B listens. */
static void wire_handshake(wire *w) {
  w->b_listens = true;
  ck_assert_int_eq(sim_tcp_connect(w->ep[0].c, w->now), 0);
}

static void wire_establish(wire *w) {
  wire_handshake(w);
  wire_run(w, w->now + 3 * ONE_WAY);
  ck_assert_int_eq(sim_tcp_get_state(w->ep[0].c), SIM_TCP_ESTABLISHED);
  ck_assert_int_eq(sim_tcp_get_state(w->ep[1].c), SIM_TCP_ESTABLISHED);
}

/* --- handshake ----------------------------------------------------------- */

START_TEST(test_tcp_handshake_establishes_both_at_one_and_a_half_rtt) {
  wire w;

  wire_init(&w, NULL);
  wire_handshake(&w);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_SYN_SENT);
  wire_run(&w, NEVER);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_ESTABLISHED);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[1].c), SIM_TCP_ESTABLISHED);
  ck_assert_int_eq(w.ep[0].connected_n, 1);
  ck_assert_int_eq(w.ep[1].connected_n, 1);
  ck_assert_uint_eq(w.ep[0].connected_at, RTT);
  ck_assert_uint_eq(w.ep[1].connected_at, RTT + ONE_WAY);
  ck_assert_uint_eq(sim_tcp_srtt(w.ep[0].c), RTT);
  ck_assert_uint_eq(sim_tcp_srtt(w.ep[1].c), RTT);
  /* SYN, ACK from A; SYN-ACK from B; nothing else. */
  ck_assert_uint_eq(w.ep[0].emitted, 2);
  ck_assert_uint_eq(w.ep[1].emitted, 1);
  ck_assert_uint_eq(sim_tcp_expiry(w.ep[0].c), NEVER);
  ck_assert_uint_eq(sim_tcp_expiry(w.ep[1].c), NEVER);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_simultaneous_open_establishes_both) {
  wire w;

  wire_init(&w, NULL);
  ck_assert_int_eq(sim_tcp_connect(w.ep[0].c, 0), 0);
  ck_assert_int_eq(sim_tcp_connect(w.ep[1].c, 0), 0);
  wire_run(&w, ONE_WAY);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_SYN_RECEIVED);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[1].c), SIM_TCP_SYN_RECEIVED);
  wire_run(&w, NEVER);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_ESTABLISHED);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[1].c), SIM_TCP_ESTABLISHED);
  ck_assert_uint_eq(w.ep[0].connected_at, RTT);
  ck_assert_uint_eq(w.ep[1].connected_at, RTT);
  ck_assert_uint_eq(sim_tcp_retransmits(w.ep[0].c), 0);
  /* Data flows both ways afterwards. */
  send_pattern(&w.ep[0], 5000);
  send_pattern(&w.ep[1], 7000);
  wire_run(&w, NEVER);
  ck_assert_uint_eq(w.ep[1].rx, 5000);
  ck_assert_uint_eq(w.ep[0].rx, 7000);
  ck_assert_uint_eq(w.ep[0].rx_bad + w.ep[1].rx_bad, 0);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_lost_syn_is_resent_after_initial_rto) {
  wire w;

  wire_init(&w, NULL);
  w.drop_idx[0][w.n_drop[0]++] = 0; /* A's first SYN */
  wire_handshake(&w);
  ck_assert_uint_eq(sim_tcp_expiry(w.ep[0].c), SEC(1));
  wire_run(&w, NEVER);
  ck_assert_int_eq(w.ep[0].connected_n, 1);
  ck_assert_uint_eq(w.ep[0].connected_at, SEC(1) + RTT);
  ck_assert_uint_eq(w.ep[1].connected_at, SEC(1) + RTT + ONE_WAY);
  ck_assert_uint_eq(sim_tcp_retransmits(w.ep[0].c), 1);
  /* Karn: no sample from the resent SYN. */
  ck_assert_uint_eq(sim_tcp_srtt(w.ep[0].c), 0);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_syn_to_nothing_times_out_after_retry_schedule) {
  wire w;
  sim_tcp_config cfg;
  uint64_t expect = 0, rto;
  uint32_t i;

  sim_tcp_config_default(&cfg);
  wire_init(&w, &cfg);
  w.drop_all[0] = true;
  ck_assert_int_eq(sim_tcp_connect(w.ep[0].c, 0), 0);
  wire_run(&w, NEVER);
  /* One timeout per try: 1, 2, 4, ... s, each capped at rto_max. */
  rto = cfg.rto_initial_ns;
  for (i = 0; i <= cfg.syn_retries; i++) {
    expect += rto;
    rto = rto * 2 > cfg.rto_max_ns ? cfg.rto_max_ns : rto * 2;
  }
  ck_assert_uint_eq(expect, SEC(123)); /* 1+2+4+8+16+32+60 */
  ck_assert_int_eq(w.ep[0].closed_n, 1);
  ck_assert_int_eq(w.ep[0].closed_err, P2P_ERR_TIMEOUT);
  ck_assert_uint_eq(w.ep[0].closed_at, expect);
  ck_assert_uint_eq(w.ep[0].emitted, 1 + cfg.syn_retries);
  ck_assert_uint_eq(sim_tcp_retransmits(w.ep[0].c), cfg.syn_retries);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_CLOSED);
  ck_assert_uint_eq(sim_tcp_expiry(w.ep[0].c), NEVER);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_lost_syn_ack_is_resent_and_completes) {
  wire w;

  wire_init(&w, NULL);
  w.drop_idx[1][w.n_drop[1]++] = 0; /* B's first SYN-ACK */
  wire_handshake(&w);
  wire_run(&w, NEVER);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_ESTABLISHED);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[1].c), SIM_TCP_ESTABLISHED);
  ck_assert_uint_ge(sim_tcp_retransmits(w.ep[1].c), 1);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_rst_answering_syn_is_refused) {
  wire w;

  wire_init(&w, NULL);
  w.b_absent = true;
  ck_assert_int_eq(sim_tcp_connect(w.ep[0].c, 0), 0);
  wire_run(&w, NEVER);
  ck_assert_int_eq(w.ep[0].closed_n, 1);
  ck_assert_int_eq(w.ep[0].closed_err, P2P_ERR_REFUSED);
  ck_assert_uint_eq(w.ep[0].closed_at, RTT);
  ck_assert_int_eq(w.ep[0].connected_n, 0);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_CLOSED);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_rst_with_wrong_ack_in_syn_sent_is_ignored) {
  wire w;
  sim_tcp_seg rst = {0};

  wire_init(&w, NULL);
  ck_assert_int_eq(sim_tcp_connect(w.ep[0].c, 0), 0);
  rst.flags = SIM_TCP_RST | SIM_TCP_ACK;
  rst.ack = 1000 + 7; /* not iss + 1 */
  sim_tcp_input(w.ep[0].c, &rst, 0);
  rst.flags = SIM_TCP_RST; /* no ACK: ignored too */
  sim_tcp_input(w.ep[0].c, &rst, 0);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_SYN_SENT);
  ck_assert_int_eq(w.ep[0].closed_n, 0);
  wire_free(&w);
}
END_TEST

/* --- data transfer ------------------------------------------------------- */

static void transfer_both_ways(uint32_t loss_ppm, uint64_t seed) {
  wire w;
  const uint64_t n = 1u << 20;
  int i;

  wire_init(&w, NULL);
  w.loss_ppm = loss_ppm;
  w.rng = seed;
  for (i = 0; i < 2; i++) {
    w.ep[i].tx_total = n;
    w.ep[i].shutdown_after_tx = true;
  }
  wire_handshake(&w);
  wire_run(&w, NEVER);
  for (i = 0; i < 2; i++) {
    ck_assert_uint_eq(w.ep[i].rx, n);
    ck_assert_uint_eq(w.ep[i].rx_bad, 0);
    ck_assert_int_eq(w.ep[i].eof_n, 1);
    ck_assert_int_eq(w.ep[i].closed_n, 1);
    ck_assert_int_eq(w.ep[i].closed_err, 0);
    ck_assert_uint_eq(sim_tcp_unacked(w.ep[i].c), 0);
    if (loss_ppm > 0)
      ck_assert_uint_gt(sim_tcp_retransmits(w.ep[i].c), 0);
    else
      ck_assert_uint_eq(sim_tcp_retransmits(w.ep[i].c), 0);
  }
  if (loss_ppm > 0)
    ck_assert_uint_gt(w.dropped, 0);
  wire_free(&w);
}

START_TEST(test_tcp_megabyte_each_way_is_byte_exact_without_loss) {
  transfer_both_ways(0, 1);
}
END_TEST

START_TEST(test_tcp_megabyte_each_way_is_byte_exact_with_1pct_loss) {
  transfer_both_ways(10000, 0x9e3779b97f4a7c15ull);
}
END_TEST

START_TEST(test_tcp_megabyte_each_way_is_byte_exact_with_5pct_loss) {
  transfer_both_ways(50000, 0xdeadbeefcafef00dull);
}
END_TEST

START_TEST(test_tcp_slow_start_grows_from_initial_window) {
  wire w;

  wire_init(&w, NULL);
  wire_establish(&w);
  send_pattern(&w.ep[0], 100 * 1460);
  /* The initial window lets exactly ten segments out at once. */
  ck_assert_uint_eq(w.ep[0].emitted, 2 + 10);
  wire_run(&w, w.now + RTT);
  /* Each ACK grew cwnd by one MSS: twenty more after one round trip. */
  ck_assert_uint_eq(w.ep[0].emitted, 2 + 10 + 20);
  wire_run(&w, NEVER);
  ck_assert_uint_eq(w.ep[1].rx, 100 * 1460);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_srtt_matches_configured_rtt_after_transfer) {
  wire w;
  uint64_t srtt;

  wire_init(&w, NULL);
  w.ep[0].tx_total = 512 * 1024;
  wire_handshake(&w);
  wire_run(&w, NEVER);
  ck_assert_uint_eq(w.ep[1].rx, 512 * 1024);
  srtt = sim_tcp_srtt(w.ep[0].c);
  ck_assert_uint_ge(srtt, RTT - RTT / 100);
  ck_assert_uint_le(srtt, RTT + RTT / 100);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_reordered_segments_are_delivered_in_order) {
  wire w;

  wire_init(&w, NULL);
  wire_establish(&w);
  /* A's third and fourth data segments swap places on the wire. */
  w.swap_idx[0] = w.ep[0].emitted + 2;
  send_pattern(&w.ep[0], 8 * 1460);
  wire_run(&w, NEVER);
  ck_assert_uint_eq(w.ep[1].rx, 8 * 1460);
  ck_assert_uint_eq(w.ep[1].rx_bad, 0);
  ck_assert_uint_eq(sim_tcp_retransmits(w.ep[0].c), 0);
  ck_assert_uint_eq(sim_tcp_unacked(w.ep[0].c), 0);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_segment_overtaken_by_many_is_still_delivered_in_order) {
  wire w;

  wire_init(&w, NULL);
  wire_establish(&w);
  /* The third data segment arrives 1 ms after the seven others. */
  w.delay_idx[0] = w.ep[0].emitted + 2;
  w.delay_extra = MS(1);
  send_pattern(&w.ep[0], 10 * 1460);
  wire_run(&w, NEVER);
  ck_assert_uint_eq(w.ep[1].rx, 10 * 1460);
  ck_assert_uint_eq(w.ep[1].rx_bad, 0);
  /* Seven duplicate ACKs look like a loss: one spurious fast retransmit. */
  ck_assert_uint_eq(sim_tcp_retransmits(w.ep[0].c), 1);
  ck_assert_uint_eq(sim_tcp_unacked(w.ep[0].c), 0);
  wire_free(&w);
}
END_TEST

/* Holes opened late in a long transfer, when the window is large, leave
 * hundreds of kilobytes beyond them: the reassembly ring grows with that
 * span (moving what it holds), is released once the hole fills, and is
 * built again for the next hole. Every byte still arrives in order. */
START_TEST(test_tcp_large_holes_late_in_a_transfer_are_reassembled) {
  wire w;
  const uint64_t n = 4u << 20;

  wire_init(&w, NULL);
  wire_establish(&w);
  w.drop_idx[0][w.n_drop[0]++] = w.ep[0].emitted + 700;
  w.drop_idx[0][w.n_drop[0]++] = w.ep[0].emitted + 1500;
  w.drop_idx[0][w.n_drop[0]++] = w.ep[0].emitted + 1501;
  w.drop_idx[0][w.n_drop[0]++] = w.ep[0].emitted + 2400;
  send_pattern(&w.ep[0], n);
  wire_run(&w, NEVER);
  ck_assert_uint_eq(w.dropped, 4);
  ck_assert_uint_eq(w.ep[1].rx, n);
  ck_assert_uint_eq(w.ep[1].rx_bad, 0);
  ck_assert_uint_eq(sim_tcp_unacked(w.ep[0].c), 0);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_out_of_order_data_is_answered_with_dup_acks) {
  wire w;
  uint64_t acks0;

  wire_init(&w, NULL);
  wire_establish(&w);
  acks0 = w.dup_acks_sent[1];
  w.drop_idx[0][w.n_drop[0]++] = w.ep[0].emitted; /* first data segment */
  send_pattern(&w.ep[0], 5 * 1460);
  wire_run(&w, w.now + ONE_WAY);
  /* Four segments beyond the hole: four duplicate ACKs, nothing delivered. */
  ck_assert_uint_eq(w.dup_acks_sent[1] - acks0, 4);
  ck_assert_uint_eq(w.ep[1].rx, 0);
  wire_run(&w, NEVER);
  ck_assert_uint_eq(w.ep[1].rx, 5 * 1460);
  ck_assert_uint_eq(w.ep[1].rx_bad, 0);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_fast_retransmit_resends_before_rto) {
  wire w;
  uint64_t t0, lost_at;

  wire_init(&w, NULL);
  wire_establish(&w);
  t0 = w.now;
  /* Drop one data segment in the middle of a long transfer. */
  w.drop_idx[0][w.n_drop[0]++] = w.ep[0].emitted + 40;
  send_pattern(&w.ep[0], 400 * 1460);
  wire_run(&w, NEVER);
  ck_assert_uint_eq(w.ep[1].rx, 400 * 1460);
  ck_assert_uint_eq(w.ep[1].rx_bad, 0);
  ck_assert_uint_eq(sim_tcp_retransmits(w.ep[0].c), 1);
  /* Segment 40 left in the third flight (10 + 20 + 40), two RTTs after the
   * first; its resend follows one RTT later, far sooner than the RTO. */
  lost_at = t0 + 2 * RTT;
  ck_assert_uint_ne(w.first_rtx_at[0], NEVER);
  ck_assert_uint_gt(w.first_rtx_at[0], lost_at);
  ck_assert_uint_le(w.first_rtx_at[0], lost_at + RTT + MS(1));
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_newreno_recovers_two_losses_in_one_window) {
  wire w;

  wire_init(&w, NULL);
  wire_establish(&w);
  w.drop_idx[0][w.n_drop[0]++] = w.ep[0].emitted + 40;
  w.drop_idx[0][w.n_drop[0]++] = w.ep[0].emitted + 45;
  send_pattern(&w.ep[0], 300 * 1460);
  wire_run(&w, NEVER);
  ck_assert_uint_eq(w.ep[1].rx, 300 * 1460);
  ck_assert_uint_eq(w.ep[1].rx_bad, 0);
  /* Both holes are filled by fast retransmit and a partial ACK. */
  ck_assert_uint_eq(sim_tcp_retransmits(w.ep[0].c), 2);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_data_retries_exhausted_times_out) {
  wire w;
  sim_tcp_config cfg;
  uint64_t t0, expect, rto;
  uint32_t i;

  sim_tcp_config_default(&cfg);
  wire_init(&w, &cfg);
  wire_establish(&w);
  w.drop_all[0] = true; /* the peer vanishes */
  t0 = w.now;
  send_pattern(&w.ep[0], 3000);
  wire_run(&w, NEVER);
  ck_assert_int_eq(w.ep[0].closed_n, 1);
  ck_assert_int_eq(w.ep[0].closed_err, P2P_ERR_TIMEOUT);
  ck_assert_uint_eq(sim_tcp_retransmits(w.ep[0].c), cfg.data_retries);
  /* RTO after one 100 ms sample: srtt + 4 * rttvar = 300 ms, doubling. */
  rto = MS(300);
  expect = t0;
  for (i = 0; i <= cfg.data_retries; i++) {
    expect += rto;
    rto = rto * 2 > cfg.rto_max_ns ? cfg.rto_max_ns : rto * 2;
  }
  ck_assert_uint_eq(w.ep[0].closed_at, expect);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_zero_window_peer_is_probed) {
  wire w;
  sim_tcp_seg s = {0};

  wire_init(&w, NULL);
  wire_establish(&w);
  /* A fake window update from B closes A's send window. */
  s.seq = 0xfffff001u;
  s.ack = 1001;
  s.wnd = 0;
  s.flags = SIM_TCP_ACK;
  sim_tcp_input(w.ep[0].c, &s, w.now);
  send_pattern(&w.ep[0], 4000);
  /* Only a one-byte probe may leave. */
  ck_assert_uint_eq(w.ep[0].emitted, 3);
  wire_run(&w, NEVER);
  /* B's real window reopens it; everything arrives. */
  ck_assert_uint_eq(w.ep[1].rx, 4000);
  ck_assert_uint_eq(w.ep[1].rx_bad, 0);
  wire_free(&w);
}
END_TEST

/* --- close --------------------------------------------------------------- */

START_TEST(test_tcp_active_close_goes_through_time_wait_then_closes) {
  wire w;
  uint64_t t0;

  wire_init(&w, NULL);
  wire_establish(&w);
  t0 = w.now;
  w.ep[1].shutdown_on_eof = true;
  ck_assert_int_eq(sim_tcp_shutdown(w.ep[0].c, t0), 0);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_FIN_WAIT_1);
  ck_assert_int_eq(sim_tcp_shutdown(w.ep[0].c, t0), 0); /* idempotent */
  wire_run(&w, t0 + ONE_WAY);
  ck_assert_int_eq(w.ep[1].eof_n, 1);
  ck_assert_uint_eq(w.ep[1].eof_at, t0 + ONE_WAY);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[1].c), SIM_TCP_LAST_ACK);
  wire_run(&w, t0 + RTT);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_TIME_WAIT);
  ck_assert_int_eq(w.ep[0].eof_n, 1);
  ck_assert_uint_eq(sim_tcp_expiry(w.ep[0].c), t0 + RTT + SEC(60));
  wire_run(&w, NEVER);
  ck_assert_int_eq(w.ep[0].closed_n, 1);
  ck_assert_int_eq(w.ep[0].closed_err, 0);
  ck_assert_uint_eq(w.ep[0].closed_at, t0 + RTT + SEC(60));
  ck_assert_int_eq(w.ep[1].closed_n, 1);
  ck_assert_int_eq(w.ep[1].closed_err, 0);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_passive_close_goes_through_last_ack_then_closes) {
  wire w;
  uint64_t t0;

  wire_init(&w, NULL);
  wire_establish(&w);
  t0 = w.now;
  /* B closes first this time; A is the passive side. */
  ck_assert_int_eq(sim_tcp_shutdown(w.ep[1].c, t0), 0);
  wire_run(&w, t0 + ONE_WAY);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_CLOSE_WAIT);
  ck_assert_int_eq(w.ep[0].eof_n, 1);
  wire_run(&w, t0 + RTT);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[1].c), SIM_TCP_FIN_WAIT_2);
  ck_assert_int_eq(sim_tcp_shutdown(w.ep[0].c, w.now), 0);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_LAST_ACK);
  wire_run(&w, t0 + RTT + RTT);
  ck_assert_int_eq(w.ep[0].closed_n, 1);
  ck_assert_int_eq(w.ep[0].closed_err, 0);
  ck_assert_uint_eq(w.ep[0].closed_at, t0 + 2 * RTT);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[1].c), SIM_TCP_TIME_WAIT);
  wire_run(&w, NEVER);
  ck_assert_int_eq(w.ep[1].closed_err, 0);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_lost_fin_is_retransmitted) {
  wire w;

  wire_init(&w, NULL);
  wire_establish(&w);
  w.ep[1].shutdown_on_eof = true;
  w.drop_idx[0][w.n_drop[0]++] = w.ep[0].emitted; /* A's FIN */
  ck_assert_int_eq(sim_tcp_shutdown(w.ep[0].c, w.now), 0);
  wire_run(&w, NEVER);
  ck_assert_uint_eq(sim_tcp_retransmits(w.ep[0].c), 1);
  ck_assert_int_eq(w.ep[0].closed_err, 0);
  ck_assert_int_eq(w.ep[1].closed_err, 0);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_half_close_lets_peer_keep_sending) {
  wire w;

  wire_init(&w, NULL);
  wire_establish(&w);
  w.ep[1].tx_on_eof = 200000;
  w.ep[1].shutdown_on_eof = false;
  send_pattern(&w.ep[0], 3000);
  ck_assert_int_eq(sim_tcp_shutdown(w.ep[0].c, w.now), 0);
  ck_assert_int_eq(sim_tcp_send(w.ep[0].c, (const uint8_t *)"x", 1, w.now),
                   P2P_ERR_STATE);
  wire_run(&w, NEVER);
  ck_assert_uint_eq(w.ep[1].rx, 3000);
  ck_assert_uint_eq(w.ep[0].rx, 200000);
  ck_assert_uint_eq(w.ep[0].rx_bad + w.ep[1].rx_bad, 0);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_FIN_WAIT_2);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[1].c), SIM_TCP_CLOSE_WAIT);
  ck_assert_int_eq(sim_tcp_shutdown(w.ep[1].c, w.now), 0);
  wire_run(&w, NEVER);
  ck_assert_int_eq(w.ep[0].eof_n, 1);
  ck_assert_int_eq(w.ep[0].closed_err, 0);
  ck_assert_int_eq(w.ep[1].closed_err, 0);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_simultaneous_close_goes_through_closing) {
  wire w;
  uint64_t t0;

  wire_init(&w, NULL);
  wire_establish(&w);
  t0 = w.now;
  ck_assert_int_eq(sim_tcp_shutdown(w.ep[0].c, t0), 0);
  ck_assert_int_eq(sim_tcp_shutdown(w.ep[1].c, t0), 0);
  wire_run(&w, t0 + ONE_WAY);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_CLOSING);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[1].c), SIM_TCP_CLOSING);
  wire_run(&w, t0 + RTT);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_TIME_WAIT);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[1].c), SIM_TCP_TIME_WAIT);
  wire_run(&w, NEVER);
  ck_assert_uint_eq(w.ep[0].closed_at, t0 + RTT + SEC(60));
  ck_assert_uint_eq(w.ep[1].closed_at, t0 + RTT + SEC(60));
  ck_assert_int_eq(w.ep[0].closed_err, 0);
  ck_assert_int_eq(w.ep[1].closed_err, 0);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_shutdown_during_handshake_sends_fin_once_established) {
  wire w;

  wire_init(&w, NULL);
  w.ep[1].shutdown_on_eof = true;
  wire_handshake(&w);
  send_pattern(&w.ep[0], 1000);
  ck_assert_int_eq(sim_tcp_shutdown(w.ep[0].c, 0), 0);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_SYN_SENT);
  wire_run(&w, NEVER);
  ck_assert_uint_eq(w.ep[1].rx, 1000);
  ck_assert_int_eq(w.ep[1].eof_n, 1);
  ck_assert_int_eq(w.ep[0].closed_err, 0);
  ck_assert_int_eq(w.ep[1].closed_err, 0);
  wire_free(&w);
}
END_TEST

/* --- reset --------------------------------------------------------------- */

START_TEST(test_tcp_rst_received_closes_with_reset) {
  wire w;
  uint64_t emitted;

  wire_init(&w, NULL);
  wire_establish(&w);
  emitted = w.ep[1].emitted;
  sim_tcp_abort(w.ep[1].c, w.now);
  w.ep[1].aborted = true;
  ck_assert_uint_eq(w.ep[1].emitted, emitted + 1);
  ck_assert_uint_eq(w.rst_sent[1], 1);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[1].c), SIM_TCP_CLOSED);
  ck_assert_uint_eq(sim_tcp_expiry(w.ep[1].c), NEVER);
  wire_run(&w, NEVER);
  ck_assert_int_eq(w.ep[0].closed_n, 1);
  ck_assert_int_eq(w.ep[0].closed_err, P2P_ERR_RESET);
  ck_assert_int_eq(w.ep[1].closed_n, 0);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_abort_emits_rst_and_no_callback) {
  wire w;

  wire_init(&w, NULL);
  wire_establish(&w);
  send_pattern(&w.ep[0], 20000);
  sim_tcp_abort(w.ep[0].c, w.now);
  w.ep[0].aborted = true;
  ck_assert_uint_eq(w.rst_sent[0], 1);
  ck_assert_int_eq(w.ep[0].closed_n, 0);
  ck_assert_int_eq(sim_tcp_send(w.ep[0].c, (const uint8_t *)"x", 1, w.now),
                   P2P_ERR_STATE);
  ck_assert_int_eq(sim_tcp_shutdown(w.ep[0].c, w.now), P2P_ERR_STATE);
  wire_run(&w, NEVER);
  ck_assert_int_eq(w.ep[0].closed_n, 0);
  ck_assert_int_eq(w.ep[1].closed_err, P2P_ERR_RESET);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_abort_in_syn_sent_emits_nothing) {
  wire w;

  wire_init(&w, NULL);
  ck_assert_int_eq(sim_tcp_connect(w.ep[0].c, 0), 0);
  sim_tcp_abort(w.ep[0].c, 0);
  w.ep[0].aborted = true;
  ck_assert_uint_eq(w.ep[0].emitted, 1);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_CLOSED);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_rst_outside_window_is_ignored) {
  wire w;
  sim_tcp_seg s = {0};

  wire_init(&w, NULL);
  wire_establish(&w);
  s.seq = 0xfffff001u + (1u << 24); /* far outside A's window */
  s.flags = SIM_TCP_RST;
  sim_tcp_input(w.ep[0].c, &s, w.now);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_ESTABLISHED);
  s.seq = 0xfffff001u; /* rcv_nxt */
  sim_tcp_input(w.ep[0].c, &s, w.now);
  ck_assert_int_eq(w.ep[0].closed_err, P2P_ERR_RESET);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_make_rst_answers_ack_with_its_ack) {
  sim_tcp_seg in = {0}, out;

  in.seq = 5;
  in.ack = 0x80000001u;
  in.flags = SIM_TCP_ACK;
  in.len = 100;
  ck_assert(sim_tcp_make_rst(&in, &out));
  ck_assert_uint_eq(out.seq, 0x80000001u);
  ck_assert_uint_eq(out.flags, SIM_TCP_RST);
  ck_assert_uint_eq(out.len, 0);
}
END_TEST

START_TEST(test_tcp_make_rst_answers_syn_with_rst_ack) {
  sim_tcp_seg in = {0}, out;

  in.seq = 0xffffffffu;
  in.flags = SIM_TCP_SYN;
  ck_assert(sim_tcp_make_rst(&in, &out));
  ck_assert_uint_eq(out.seq, 0);
  ck_assert_uint_eq(out.ack, 0); /* wraps */
  ck_assert_uint_eq(out.flags, SIM_TCP_RST | SIM_TCP_ACK);
  in.seq = 10;
  in.len = 20;
  in.flags = SIM_TCP_FIN;
  ck_assert(sim_tcp_make_rst(&in, &out));
  ck_assert_uint_eq(out.ack, 31);
  in.flags = SIM_TCP_SYN | SIM_TCP_FIN;
  ck_assert(sim_tcp_make_rst(&in, &out));
  ck_assert_uint_eq(out.ack, 32);
}
END_TEST

START_TEST(test_tcp_make_rst_never_answers_rst) {
  sim_tcp_seg in = {0}, out;

  memset(&out, 0xab, sizeof(out));
  in.flags = SIM_TCP_RST;
  ck_assert(!sim_tcp_make_rst(&in, &out));
  in.flags = SIM_TCP_RST | SIM_TCP_ACK;
  ck_assert(!sim_tcp_make_rst(&in, &out));
  ck_assert_uint_eq(out.seq, 0xababababu); /* untouched */
}
END_TEST

/* --- API and robustness -------------------------------------------------- */

START_TEST(test_tcp_api_rejects_calls_in_wrong_state) {
  wire w;
  sim_tcp_seg s = {0};

  wire_init(&w, NULL);
  ck_assert_int_eq(sim_tcp_send(w.ep[0].c, (const uint8_t *)"x", 1, 0),
                   P2P_ERR_STATE);
  ck_assert_int_eq(sim_tcp_shutdown(w.ep[0].c, 0), P2P_ERR_STATE);
  s.flags = SIM_TCP_SYN | SIM_TCP_ACK;
  ck_assert_int_eq(sim_tcp_accept(w.ep[1].c, &s, 0), P2P_ERR_INVALID);
  s.flags = SIM_TCP_ACK;
  ck_assert_int_eq(sim_tcp_accept(w.ep[1].c, &s, 0), P2P_ERR_INVALID);
  ck_assert_int_eq(sim_tcp_connect(w.ep[0].c, 0), 0);
  ck_assert_int_eq(sim_tcp_connect(w.ep[0].c, 0), P2P_ERR_STATE);
  s.flags = SIM_TCP_SYN;
  ck_assert_int_eq(sim_tcp_accept(w.ep[0].c, &s, 0), P2P_ERR_STATE);
  ck_assert_str_eq(sim_tcp_state_name(SIM_TCP_TIME_WAIT), "TIME_WAIT");
  ck_assert_uint_eq(sim_tcp_expiry(w.ep[1].c), NEVER);
  /* Input to a CLOSED connection is ignored and answers nothing. */
  s.flags = SIM_TCP_ACK;
  s.len = 3;
  s.data = (const uint8_t *)"abc";
  sim_tcp_input(w.ep[1].c, &s, 0);
  ck_assert_uint_eq(w.ep[1].emitted, 0);
  wire_free(&w);
}
END_TEST

START_TEST(test_tcp_syn_in_established_gets_challenge_ack) {
  wire w;
  sim_tcp_seg s = {0};
  uint64_t emitted;

  wire_init(&w, NULL);
  wire_establish(&w);
  emitted = w.ep[0].emitted;
  s.seq = 0xfffff001u + 10;
  s.flags = SIM_TCP_SYN;
  sim_tcp_input(w.ep[0].c, &s, w.now);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_ESTABLISHED);
  ck_assert_uint_eq(w.ep[0].emitted, emitted + 1);
  /* An ACK of data never sent is answered with an ACK and dropped. */
  s.flags = SIM_TCP_ACK;
  s.seq = 0xfffff001u;
  s.ack = 1001 + 5000;
  s.wnd = 1000;
  sim_tcp_input(w.ep[0].c, &s, w.now);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_ESTABLISHED);
  ck_assert_uint_eq(w.ep[0].emitted, emitted + 2);
  wire_run(&w, NEVER);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[0].c), SIM_TCP_ESTABLISHED);
  ck_assert_int_eq(sim_tcp_get_state(w.ep[1].c), SIM_TCP_ESTABLISHED);
  wire_free(&w);
}
END_TEST

/* Random, mostly nonsensical segments into an established connection: no
 * crash, no emit after close, and the connection stays consistent. When one
 * closes (a RST hits the window), a fresh pair is set up. */
START_TEST(test_tcp_random_segments_never_corrupt_state) {
  uint64_t rng = 0x0123456789abcdefull;
  uint8_t payload[2048];
  wire w;
  int i, fresh = 1;

  for (i = 0; i < (int)sizeof(payload); i++)
    payload[i] = (uint8_t)i;
  for (i = 0; i < 10000; i++) {
    sim_tcp_seg s;
    uint64_t r = prng_next(&rng), r2 = prng_next(&rng);
    sim_tcp_state st;
    endpoint *a;

    if (fresh) {
      wire_init(&w, NULL);
      wire_establish(&w);
      fresh = 0;
    }
    a = &w.ep[0];
    /* Near the expected numbers half of the time, anywhere otherwise. */
    s.seq = (r & 1) ? 0xfffff001u + (uint32_t)(r2 % 4000) - 2000
                    : (uint32_t)(r2 >> 32);
    s.ack =
        (r & 2) ? 1001u + (uint32_t)((r2 >> 16) % 6000) - 1000 : (uint32_t)r2;
    s.wnd = (r & 4) ? (uint32_t)(r >> 40) : 65535;
    s.flags = (uint8_t)(r >> 8) & (SIM_TCP_SYN | SIM_TCP_ACK | SIM_TCP_FIN);
    if ((r >> 16) % 64 == 0)
      s.flags |= SIM_TCP_RST;
    s.len = (r & 8) ? (uint32_t)((r >> 20) % sizeof(payload)) : 0;
    s.data = payload;
    if ((r >> 30) % 1000 == 0) {
      s.len = 65535 + (uint32_t)(r >> 50); /* absurd length: ignored */
      s.data = NULL;
    }
    sim_tcp_input(a->c, &s, w.now);
    if ((r >> 36) % 8 == 0)
      ck_assert_int_eq(sim_tcp_send(a->c, payload, (r >> 40) % sizeof(payload),
                                    w.now) == 0 ||
                           sim_tcp_get_state(a->c) != SIM_TCP_ESTABLISHED,
                       1);
    if ((r >> 44) % 16 == 0) {
      w.now += (r >> 48) % MS(500);
      sim_tcp_on_expiry(a->c, w.now);
      sim_tcp_on_expiry(w.ep[1].c, w.now);
    }
    st = sim_tcp_get_state(a->c);
    ck_assert_int_ge(st, SIM_TCP_CLOSED);
    ck_assert_int_le(st, SIM_TCP_TIME_WAIT);
    ck_assert_int_le(a->closed_n, 1);
    ck_assert_uint_eq(a->emit_after_end, 0);
    if (st == SIM_TCP_CLOSED)
      ck_assert_uint_eq(sim_tcp_expiry(a->c), NEVER);
    if (st == SIM_TCP_CLOSED || (r >> 56) == 0) {
      /* Drop what is queued on the wire and start again. */
      wire_free(&w);
      fresh = 1;
    } else if (w.nq > 4096) {
      size_t k;
      for (k = 0; k < w.nq; k++)
        free(w.q[k].data);
      w.nq = 0;
    }
  }
  if (!fresh)
    wire_free(&w);
}
END_TEST

static Suite *tcp_suite(void) {
  Suite *s = suite_create("tcp");
  TCase *tc = tcase_create("core");

  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_tcp_handshake_establishes_both_at_one_and_a_half_rtt);
  tcase_add_test(tc, test_tcp_simultaneous_open_establishes_both);
  tcase_add_test(tc, test_tcp_lost_syn_is_resent_after_initial_rto);
  tcase_add_test(tc, test_tcp_syn_to_nothing_times_out_after_retry_schedule);
  tcase_add_test(tc, test_tcp_lost_syn_ack_is_resent_and_completes);
  tcase_add_test(tc, test_tcp_rst_answering_syn_is_refused);
  tcase_add_test(tc, test_tcp_rst_with_wrong_ack_in_syn_sent_is_ignored);
  tcase_add_test(tc, test_tcp_megabyte_each_way_is_byte_exact_without_loss);
  tcase_add_test(tc, test_tcp_megabyte_each_way_is_byte_exact_with_1pct_loss);
  tcase_add_test(tc, test_tcp_megabyte_each_way_is_byte_exact_with_5pct_loss);
  tcase_add_test(tc, test_tcp_slow_start_grows_from_initial_window);
  tcase_add_test(tc, test_tcp_srtt_matches_configured_rtt_after_transfer);
  tcase_add_test(tc, test_tcp_reordered_segments_are_delivered_in_order);
  tcase_add_test(
      tc, test_tcp_segment_overtaken_by_many_is_still_delivered_in_order);
  tcase_add_test(tc, test_tcp_out_of_order_data_is_answered_with_dup_acks);
  tcase_add_test(tc, test_tcp_large_holes_late_in_a_transfer_are_reassembled);
  tcase_add_test(tc, test_tcp_fast_retransmit_resends_before_rto);
  tcase_add_test(tc, test_tcp_newreno_recovers_two_losses_in_one_window);
  tcase_add_test(tc, test_tcp_data_retries_exhausted_times_out);
  tcase_add_test(tc, test_tcp_zero_window_peer_is_probed);
  tcase_add_test(tc, test_tcp_active_close_goes_through_time_wait_then_closes);
  tcase_add_test(tc, test_tcp_passive_close_goes_through_last_ack_then_closes);
  tcase_add_test(tc, test_tcp_lost_fin_is_retransmitted);
  tcase_add_test(tc, test_tcp_half_close_lets_peer_keep_sending);
  tcase_add_test(tc, test_tcp_simultaneous_close_goes_through_closing);
  tcase_add_test(tc,
                 test_tcp_shutdown_during_handshake_sends_fin_once_established);
  tcase_add_test(tc, test_tcp_rst_received_closes_with_reset);
  tcase_add_test(tc, test_tcp_abort_emits_rst_and_no_callback);
  tcase_add_test(tc, test_tcp_abort_in_syn_sent_emits_nothing);
  tcase_add_test(tc, test_tcp_rst_outside_window_is_ignored);
  tcase_add_test(tc, test_tcp_make_rst_answers_ack_with_its_ack);
  tcase_add_test(tc, test_tcp_make_rst_answers_syn_with_rst_ack);
  tcase_add_test(tc, test_tcp_make_rst_never_answers_rst);
  tcase_add_test(tc, test_tcp_api_rejects_calls_in_wrong_state);
  tcase_add_test(tc, test_tcp_syn_in_established_gets_challenge_ack);
  tcase_add_test(tc, test_tcp_random_segments_never_corrupt_state);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(tcp_suite());
}
