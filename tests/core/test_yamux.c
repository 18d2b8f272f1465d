/* Tests for core/src/yamux.c: wire bytes, two sessions wired through an
 * in-test pipe, flow control, limits, and malformed input. */
#include <stdlib.h>
#include <string.h>

#include "fixture.h"
#include "p2p/yamux.h"

#define MAX_IDS 64

/* Everything one session's callbacks saw. */
typedef struct peer {
  p2p_yamux *y;
  uint32_t opened[MAX_IDS];
  size_t n_opened;
  uint32_t acked[MAX_IDS];
  size_t n_acked;
  uint32_t fins[MAX_IDS];
  size_t n_fins;
  uint32_t resets[MAX_IDS];
  size_t n_resets;
  uint32_t closed[MAX_IDS];
  size_t n_closed;
  uint32_t ping_acks[8];
  size_t n_ping_acks;
  uint32_t go_away_code;
  int n_go_away;
  /* Received bytes per stream id (ids < MAX_IDS), grown on demand. */
  uint8_t *rx[MAX_IDS];
  size_t rx_len[MAX_IDS], rx_cap[MAX_IDS];
  size_t rx_total;       /* bytes over all streams */
  size_t early_limit;    /* count per-stream bytes while below this */
  size_t early[MAX_IDS]; /* bytes each stream got in that prefix */
  int auto_consume;
} peer;

static void cb_open(p2p_yamux *y, uint32_t id, void *u) {
  (void)y;
  peer *p = u;
  if (p->n_opened < MAX_IDS)
    p->opened[p->n_opened++] = id;
}

static void cb_ack(p2p_yamux *y, uint32_t id, void *u) {
  (void)y;
  peer *p = u;
  if (p->n_acked < MAX_IDS)
    p->acked[p->n_acked++] = id;
}

static void cb_data(p2p_yamux *y, uint32_t id, const uint8_t *d, size_t n,
                    void *u) {
  peer *p = u;
  ck_assert_uint_lt(id, MAX_IDS);
  if (p->rx_total < p->early_limit) {
    size_t k = p->early_limit - p->rx_total;
    p->early[id] += n < k ? n : k;
  }
  p->rx_total += n;
  if (p->rx_len[id] + n > p->rx_cap[id]) {
    size_t c = p->rx_cap[id] ? p->rx_cap[id] : 1024;
    while (c < p->rx_len[id] + n)
      c *= 2;
    p->rx[id] = realloc(p->rx[id], c);
    ck_assert_ptr_nonnull(p->rx[id]);
    p->rx_cap[id] = c;
  }
  memcpy(p->rx[id] + p->rx_len[id], d, n);
  p->rx_len[id] += n;
  if (p->auto_consume)
    ck_assert_int_eq(p2p_yamux_stream_consume(y, id, n), 0);
}

static void cb_fin(p2p_yamux *y, uint32_t id, void *u) {
  (void)y;
  peer *p = u;
  if (p->n_fins < MAX_IDS)
    p->fins[p->n_fins++] = id;
}

static void cb_reset(p2p_yamux *y, uint32_t id, void *u) {
  (void)y;
  peer *p = u;
  if (p->n_resets < MAX_IDS)
    p->resets[p->n_resets++] = id;
}

static void cb_closed(p2p_yamux *y, uint32_t id, void *u) {
  (void)y;
  peer *p = u;
  if (p->n_closed < MAX_IDS)
    p->closed[p->n_closed++] = id;
}

static void cb_ping_ack(p2p_yamux *y, uint32_t v, void *u) {
  (void)y;
  peer *p = u;
  if (p->n_ping_acks < 8)
    p->ping_acks[p->n_ping_acks++] = v;
}

static void cb_go_away(p2p_yamux *y, uint32_t code, void *u) {
  (void)y;
  peer *p = u;
  p->go_away_code = code;
  p->n_go_away++;
}

static const p2p_yamux_callbacks callbacks = {cb_open,     cb_ack,    cb_data,
                                              cb_fin,      cb_reset,  cb_closed,
                                              cb_ping_ack, cb_go_away};

static void peer_init(peer *p, const p2p_yamux_config *cfg) {
  memset(p, 0, sizeof(*p));
  ck_assert_int_eq(p2p_yamux_new(cfg, &callbacks, p, &p->y), 0);
}

static void peer_free(peer *p) {
  p2p_yamux_del(p->y);
  for (size_t i = 0; i < MAX_IDS; i++)
    free(p->rx[i]);
}

static void pair_init(peer *c, peer *s) {
  p2p_yamux_config cfg;
  p2p_yamux_config_default(&cfg, 1);
  peer_init(c, &cfg);
  p2p_yamux_config_default(&cfg, 0);
  peer_init(s, &cfg);
}

/* Moves bytes from a to b, `chunk` at a time. Returns bytes moved. */
static size_t flow(peer *a, peer *b, size_t chunk) {
  uint8_t buf[4096];
  size_t total = 0;
  if (chunk > sizeof(buf))
    chunk = sizeof(buf);
  for (;;) {
    ssize_t n = p2p_yamux_send(a->y, buf, chunk, 0);
    ck_assert_int_ge(n, 0);
    if (n == 0)
      return total;
    ck_assert_int_eq(p2p_yamux_recv(b->y, buf, (size_t)n, 0), 0);
    total += (size_t)n;
  }
}

/* Runs the pipe both ways until it is quiet. */
static void pump(peer *a, peer *b, size_t chunk) {
  while (flow(a, b, chunk) + flow(b, a, chunk) > 0)
    ;
}

static uint8_t pattern(size_t i) {
  return (uint8_t)(i * 131u + (i >> 9) + (i >> 17));
}

static size_t min_chunk(size_t n) {
  return n > 65536 ? 65536 : n;
}

static p2p_yamux_stream_info info_of(peer *p, uint32_t id) {
  p2p_yamux_stream_info info;
  ck_assert_int_eq(p2p_yamux_stream_get_info(p->y, id, &info), 0);
  return info;
}

START_TEST(test_yamux_open_sends_syn_window_update_bytes) {
  peer c;
  p2p_yamux_config cfg;
  p2p_yamux_config_default(&cfg, 1);
  peer_init(&c, &cfg);
  uint32_t id = 0;
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &id), 0);
  ck_assert_uint_eq(id, 1);
  uint8_t buf[64];
  ck_assert_int_eq(p2p_yamux_send(c.y, buf, sizeof(buf), 0), 12);
  static const uint8_t syn[12] = {0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0};
  ck_assert_mem_eq(buf, syn, 12);
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, id, (const uint8_t *)"hi", 2),
                   2);
  ck_assert_int_eq(p2p_yamux_send(c.y, buf, sizeof(buf), 0), 14);
  static const uint8_t data[14] = {0, 0, 0, 0, 0, 0,   0,
                                   1, 0, 0, 0, 2, 'h', 'i'};
  ck_assert_mem_eq(buf, data, 14);
  ck_assert_int_eq(p2p_yamux_send(c.y, buf, sizeof(buf), 0), 0);
  peer_free(&c);
}
END_TEST

START_TEST(test_yamux_first_data_frame_carries_syn_and_ack_answers) {
  peer c, s;
  pair_init(&c, &s);
  uint32_t id;
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &id), 0);
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, id, (const uint8_t *)"abc", 3),
                   3);
  uint8_t buf[64];
  ck_assert_int_eq(p2p_yamux_send(c.y, buf, sizeof(buf), 0), 15);
  static const uint8_t data[15] = {0, 0, 0, 1, 0,   0,   0,  1,
                                   0, 0, 0, 3, 'a', 'b', 'c'};
  ck_assert_mem_eq(buf, data, 15);
  ck_assert_int_eq(p2p_yamux_recv(s.y, buf, 15, 0), 0);
  ck_assert_uint_eq(s.n_opened, 1);
  ck_assert_uint_eq(s.opened[0], 1);
  ck_assert_uint_eq(s.rx_len[1], 3);
  ck_assert_int_eq(p2p_yamux_send(s.y, buf, sizeof(buf), 0), 12);
  static const uint8_t ack[12] = {0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 0};
  ck_assert_mem_eq(buf, ack, 12);
  ck_assert_int_eq(p2p_yamux_recv(c.y, buf, 12, 0), 0);
  ck_assert_uint_eq(c.n_acked, 1);
  peer_free(&c);
  peer_free(&s);
}
END_TEST

START_TEST(test_yamux_fin_follows_data_in_a_frame_of_its_own) {
  /* js-libp2p's yamux may close a stream's readable end before it delivers
   * the payload of a data frame that carries FIN, so the FIN must come in a
   * separate window update after the data, as go-yamux sends it. */
  peer c, s;
  pair_init(&c, &s);
  uint32_t id;
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &id), 0);
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, id, (const uint8_t *)"abc", 3),
                   3);
  ck_assert_int_eq(p2p_yamux_stream_close(c.y, id), 0);
  uint8_t buf[64];
  ck_assert_int_eq(p2p_yamux_send(c.y, buf, sizeof(buf), 0), 27);
  static const uint8_t want[27] = {
      0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 3, 'a', 'b', 'c', /* data, SYN */
      0, 1, 0, 4, 0, 0, 0, 1, 0, 0, 0, 0};               /* update, FIN */
  ck_assert_mem_eq(buf, want, 27);
  peer_free(&c);
  peer_free(&s);
}
END_TEST

START_TEST(test_yamux_larger_max_window_is_announced_with_syn) {
  peer c;
  p2p_yamux_config cfg;
  p2p_yamux_config_default(&cfg, 1);
  cfg.max_window_bytes = 1024 * 1024;
  peer_init(&c, &cfg);
  uint32_t id;
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &id), 0);
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, id, (const uint8_t *)"x", 1), 1);
  uint8_t buf[64];
  ck_assert_int_eq(p2p_yamux_send(c.y, buf, sizeof(buf), 0), 25);
  /* delta = 1 MiB - 256 KiB = 0x000c0000 */
  static const uint8_t syn[12] = {0, 1, 0, 1, 0, 0, 0, 1, 0, 0x0c, 0, 0};
  ck_assert_mem_eq(buf, syn, 12);
  ck_assert_uint_eq(buf[13], 0); /* data frame without flags */
  ck_assert_uint_eq(info_of(&c, id).recv_window_bytes, 1024 * 1024);
  peer_free(&c);
}
END_TEST

START_TEST(test_yamux_both_ways_half_close_then_write_refused) {
  peer c, s;
  pair_init(&c, &s);
  uint32_t id;
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &id), 0);
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, id, (const uint8_t *)"ping", 4),
                   4);
  pump(&c, &s, 7);
  ck_assert_uint_eq(s.rx_len[id], 4);
  ck_assert_mem_eq(s.rx[id], "ping", 4);
  ck_assert_int_eq(p2p_yamux_stream_write(s.y, id, (const uint8_t *)"pong!", 5),
                   5);
  ck_assert_int_eq(p2p_yamux_stream_close(c.y, id), 0);
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, id, (const uint8_t *)"x", 1),
                   P2P_ERR_STATE);
  pump(&c, &s, 5);
  ck_assert_uint_eq(c.rx_len[id], 5);
  ck_assert_mem_eq(c.rx[id], "pong!", 5);
  ck_assert_uint_eq(s.n_fins, 1);
  ck_assert_int_eq(info_of(&s, id).remote_closed, 1);
  /* Server can still write after the client's FIN. */
  ck_assert_int_eq(p2p_yamux_stream_write(s.y, id, (const uint8_t *)"more", 4),
                   4);
  ck_assert_int_eq(p2p_yamux_stream_close(s.y, id), 0);
  pump(&c, &s, 64);
  ck_assert_uint_eq(c.rx_len[id], 9);
  ck_assert_uint_eq(c.n_fins, 1);
  ck_assert_uint_eq(c.n_closed, 1);
  ck_assert_uint_eq(s.n_closed, 1);
  ck_assert_uint_eq(p2p_yamux_stream_count(c.y), 0);
  ck_assert_uint_eq(p2p_yamux_stream_count(s.y), 0);
  ck_assert_int_eq(p2p_yamux_stream_write(s.y, id, (const uint8_t *)"x", 1),
                   P2P_ERR_NOTFOUND);
  peer_free(&c);
  peer_free(&s);
}
END_TEST

START_TEST(test_yamux_writer_stops_at_window_until_reader_consumes) {
  peer c, s;
  pair_init(&c, &s);
  size_t total = 300 * 1024;
  uint8_t *src = malloc(total);
  ck_assert_ptr_nonnull(src);
  for (size_t i = 0; i < total; i++)
    src[i] = pattern(i);
  uint32_t id;
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &id), 0);
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, id, src, total), (ssize_t)total);
  pump(&c, &s, 4096);
  ck_assert_uint_eq(s.rx_len[id], 256 * 1024);
  ck_assert_uint_eq(info_of(&c, id).send_window_bytes, 0);
  ck_assert_uint_eq(info_of(&c, id).queued_bytes, 44 * 1024);
  ck_assert_uint_eq(info_of(&s, id).recv_window_bytes, 0);
  /* Less than half a window consumed: no update yet. */
  ck_assert_int_eq(p2p_yamux_stream_consume(s.y, id, 128 * 1024 - 1), 0);
  pump(&c, &s, 4096);
  ck_assert_uint_eq(s.rx_len[id], 256 * 1024);
  ck_assert_uint_eq(info_of(&c, id).send_window_bytes, 0);
  ck_assert_int_eq(p2p_yamux_stream_consume(s.y, id, 1), 0);
  pump(&c, &s, 4096);
  ck_assert_uint_eq(s.rx_len[id], total);
  ck_assert_mem_eq(s.rx[id], src, total);
  ck_assert_uint_eq(info_of(&c, id).send_window_bytes, 128 * 1024 - 44 * 1024);
  ck_assert_int_eq(p2p_yamux_stream_consume(s.y, id, 256 * 1024),
                   P2P_ERR_INVALID); /* more than was delivered */
  free(src);
  peer_free(&c);
  peer_free(&s);
}
END_TEST

START_TEST(test_yamux_ten_megabytes_arrive_byte_exact_with_small_reads) {
  peer c, s;
  pair_init(&c, &s);
  const size_t total = 10u * 1000u * 1000u;
  uint8_t *src = malloc(total);
  ck_assert_ptr_nonnull(src);
  for (size_t i = 0; i < total; i++)
    src[i] = pattern(i);
  uint32_t id;
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &id), 0);
  size_t sent = 0, consumed = 0;
  int closed = 0;
  while (s.n_fins == 0) {
    if (sent < total) {
      ssize_t n =
          p2p_yamux_stream_write(c.y, id, src + sent, min_chunk(total - sent));
      if (n > 0)
        sent += (size_t)n;
      else
        ck_assert_int_eq(n, P2P_ERR_LIMIT);
    } else if (!closed) {
      ck_assert_int_eq(p2p_yamux_stream_close(c.y, id), 0);
      closed = 1;
    }
    pump(&c, &s, 1500);
    /* The application reads in small pieces. */
    while (consumed < s.rx_len[id]) {
      size_t n = s.rx_len[id] - consumed;
      if (n > 1000)
        n = 1000;
      ck_assert_int_eq(p2p_yamux_stream_consume(s.y, id, n), 0);
      consumed += n;
    }
  }
  ck_assert_uint_eq(s.rx_len[id], total);
  ck_assert_int_eq(memcmp(s.rx[id], src, total), 0);
  free(src);
  peer_free(&c);
  peer_free(&s);
}
END_TEST

/* Send queues and the frame staging buffer are given back when they drain
 * and allocated again for the next burst: bursts of any size, separated by
 * idle gaps and pings, arrive byte-exact on both streams. */
START_TEST(test_yamux_bursts_after_idle_gaps_arrive_byte_exact) {
  static const size_t sizes[] = {100000, 5, 70000, 300, 1, 65536, 4097};
  peer c, s;
  pair_init(&c, &s);
  s.auto_consume = 1;
  c.auto_consume = 1;
  uint8_t *src = malloc(100000);
  ck_assert_ptr_nonnull(src);
  for (size_t i = 0; i < 100000; i++)
    src[i] = pattern(i);
  uint32_t a, b;
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &a), 0);
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &b), 0);
  size_t want = 0;
  for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
    ck_assert_int_eq(p2p_yamux_stream_write(c.y, a, src, sizes[k]),
                     (ssize_t)sizes[k]);
    ck_assert_int_eq(p2p_yamux_stream_write(c.y, b, src + 1, sizes[k] - 1),
                     (ssize_t)(sizes[k] - 1));
    ck_assert_int_eq(p2p_yamux_ping(c.y, (uint32_t)k), 0);
    pump(&c, &s, k % 2 ? 1500 : 100000);
    ck_assert_uint_eq(s.rx_len[a], want + sizes[k]);
    ck_assert_int_eq(memcmp(s.rx[a] + want, src, sizes[k]), 0);
    ck_assert_int_eq(memcmp(s.rx[b] + want - k, src + 1, sizes[k] - 1), 0);
    want += sizes[k];
  }
  ck_assert_uint_eq(c.n_ping_acks, sizeof(sizes) / sizeof(sizes[0]));
  free(src);
  peer_free(&c);
  peer_free(&s);
}
END_TEST

START_TEST(test_yamux_many_streams_interleave_and_stay_separate) {
  peer c, s;
  p2p_yamux_config cfg;
  p2p_yamux_config_default(&cfg, 1);
  cfg.max_frame_data_bytes = 1024;
  peer_init(&c, &cfg);
  p2p_yamux_config_default(&cfg, 0);
  peer_init(&s, &cfg);
  s.auto_consume = 1;
  s.early_limit = 20 * 1024;
  enum { NS = 20, PER = 20000 };
  uint32_t ids[NS];
  uint8_t *buf = malloc(PER);
  ck_assert_ptr_nonnull(buf);
  for (int k = 0; k < NS; k++) {
    ck_assert_int_eq(p2p_yamux_stream_open(c.y, &ids[k]), 0);
    for (size_t i = 0; i < PER; i++)
      buf[i] = (uint8_t)(pattern(i) ^ (uint8_t)k);
    ck_assert_int_eq(p2p_yamux_stream_write(c.y, ids[k], buf, PER), PER);
    ck_assert_int_eq(p2p_yamux_stream_close(c.y, ids[k]), 0);
  }
  pump(&c, &s, 3000);
  ck_assert_uint_eq(s.n_opened, NS);
  ck_assert_uint_eq(s.n_fins, NS);
  for (int k = 0; k < NS; k++) {
    ck_assert_uint_lt(ids[k], MAX_IDS);
    ck_assert_uint_eq(s.rx_len[ids[k]], PER);
    for (size_t i = 0; i < PER; i++)
      ck_assert_uint_eq(s.rx[ids[k]][i], (uint8_t)(pattern(i) ^ (uint8_t)k));
  }
  /* Round robin: the first NS data frames (1 KiB each) come from NS
   * different streams. */
  for (int k = 0; k < NS; k++)
    ck_assert_uint_eq(s.early[ids[k]], 1024);
  free(buf);
  peer_free(&c);
  peer_free(&s);
}
END_TEST

START_TEST(test_yamux_inbound_stream_limit_refuses_extra_with_rst) {
  peer c, s;
  p2p_yamux_config cfg;
  p2p_yamux_config_default(&cfg, 1);
  peer_init(&c, &cfg);
  p2p_yamux_config_default(&cfg, 0);
  cfg.max_inbound_streams = 2;
  peer_init(&s, &cfg);
  uint32_t a, b, x;
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &a), 0);
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &b), 0);
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &x), 0);
  pump(&c, &s, 4096);
  ck_assert_uint_eq(s.n_opened, 2);
  ck_assert_uint_eq(p2p_yamux_stream_count(s.y), 2);
  ck_assert_uint_eq(c.n_resets, 1);
  ck_assert_uint_eq(c.resets[0], x);
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, x, (const uint8_t *)"x", 1),
                   P2P_ERR_NOTFOUND);
  /* Freeing a slot lets the next stream in. */
  ck_assert_int_eq(p2p_yamux_stream_reset(s.y, a), 0);
  pump(&c, &s, 4096);
  ck_assert_uint_eq(p2p_yamux_stream_count(s.y), 1);
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &x), 0);
  pump(&c, &s, 4096);
  ck_assert_uint_eq(s.n_opened, 3);
  ck_assert_uint_eq(c.n_resets, 2);
  peer_free(&c);
  peer_free(&s);
}
END_TEST

START_TEST(test_yamux_reset_drops_queue_and_reports_to_peer) {
  peer c, s;
  pair_init(&c, &s);
  uint32_t id;
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &id), 0);
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, id, (const uint8_t *)"a", 1), 1);
  pump(&c, &s, 4096);
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, id, (const uint8_t *)"lost", 4),
                   4);
  ck_assert_int_eq(p2p_yamux_stream_reset(c.y, id), 0);
  ck_assert_int_eq(p2p_yamux_stream_reset(c.y, id), P2P_ERR_STATE);
  uint8_t buf[64];
  ck_assert_int_eq(p2p_yamux_send(c.y, buf, sizeof(buf), 0), 12);
  static const uint8_t rst[12] = {0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0};
  ck_assert_mem_eq(buf, rst, 12);
  ck_assert_uint_eq(c.n_closed, 1);
  ck_assert_int_eq(p2p_yamux_recv(s.y, buf, 12, 0), 0);
  ck_assert_uint_eq(s.n_resets, 1);
  ck_assert_uint_eq(s.n_closed, 1);
  ck_assert_uint_eq(s.rx_len[id], 1);
  ck_assert_uint_eq(p2p_yamux_stream_count(s.y), 0);
  /* A late frame for the reset stream is dropped, not an error. */
  static const uint8_t late[13] = {0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 'z'};
  ck_assert_int_eq(p2p_yamux_recv(s.y, late, sizeof(late), 0), 0);
  ck_assert_ptr_null(p2p_yamux_error_reason(s.y));
  peer_free(&c);
  peer_free(&s);
}
END_TEST

START_TEST(test_yamux_ping_is_answered_with_its_opaque_value) {
  peer c, s;
  pair_init(&c, &s);
  ck_assert_int_eq(p2p_yamux_ping(c.y, 0xdeadbeefu), 0);
  uint8_t buf[64];
  ck_assert_int_eq(p2p_yamux_send(c.y, buf, sizeof(buf), 0), 12);
  static const uint8_t ping[12] = {0, 2, 0,    1,    0,    0,
                                   0, 0, 0xde, 0xad, 0xbe, 0xef};
  ck_assert_mem_eq(buf, ping, 12);
  ck_assert_int_eq(p2p_yamux_recv(s.y, buf, 12, 0), 0);
  ck_assert_int_eq(p2p_yamux_send(s.y, buf, sizeof(buf), 0), 12);
  static const uint8_t pong[12] = {0, 2, 0,    2,    0,    0,
                                   0, 0, 0xde, 0xad, 0xbe, 0xef};
  ck_assert_mem_eq(buf, pong, 12);
  ck_assert_int_eq(p2p_yamux_recv(c.y, buf, 12, 0), 0);
  ck_assert_uint_eq(c.n_ping_acks, 1);
  ck_assert_uint_eq(c.ping_acks[0], 0xdeadbeefu);
  ck_assert_uint_eq(s.n_ping_acks, 0);
  peer_free(&c);
  peer_free(&s);
}
END_TEST

/* Control frames queue in order up to 64 (the first few in the session,
 * the rest in a spill ring that is given back when drained); the 65th is
 * refused, and the queue works again after draining. */
START_TEST(test_yamux_control_queue_keeps_order_and_limit_of_64) {
  peer c, s;
  pair_init(&c, &s);
  for (int round = 0; round < 2; round++) {
    for (uint32_t i = 0; i < 64; i++)
      ck_assert_int_eq(p2p_yamux_ping(c.y, 1000u * (uint32_t)round + i), 0);
    ck_assert_int_eq(p2p_yamux_ping(c.y, 99), P2P_ERR_LIMIT);
    uint8_t buf[64 * 12 + 1];
    ck_assert_int_eq(p2p_yamux_send(c.y, buf, sizeof(buf), 0), 64 * 12);
    for (uint32_t i = 0; i < 64; i++) {
      const uint8_t *f = buf + 12 * i;
      uint32_t v = ((uint32_t)f[8] << 24) | ((uint32_t)f[9] << 16) |
                   ((uint32_t)f[10] << 8) | f[11];
      ck_assert_int_eq(f[1], P2P_YAMUX_PING);
      ck_assert_uint_eq(v, 1000u * (uint32_t)round + i);
    }
  }
  peer_free(&c);
  peer_free(&s);
}
END_TEST

START_TEST(test_yamux_go_away_prevents_new_streams) {
  peer c, s;
  pair_init(&c, &s);
  uint32_t id, id2;
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &id), 0);
  pump(&c, &s, 4096);
  ck_assert_int_eq(p2p_yamux_go_away(s.y, P2P_YAMUX_GO_AWAY_NORMAL), 0);
  ck_assert_int_eq(p2p_yamux_go_away(s.y, P2P_YAMUX_GO_AWAY_NORMAL),
                   P2P_ERR_STATE);
  uint8_t buf[64];
  ck_assert_int_eq(p2p_yamux_send(s.y, buf, sizeof(buf), 0), 12);
  static const uint8_t ga[12] = {0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  ck_assert_mem_eq(buf, ga, 12);
  ck_assert_int_eq(p2p_yamux_recv(c.y, buf, 12, 0), 0);
  ck_assert_int_eq(c.n_go_away, 1);
  ck_assert_uint_eq(c.go_away_code, 0);
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &id2), P2P_ERR_STATE);
  ck_assert_int_eq(p2p_yamux_stream_open(s.y, &id2), P2P_ERR_STATE);
  /* A SYN arriving after our GoAway is refused. */
  static const uint8_t syn[12] = {0, 1, 0, 1, 0, 0, 0, 3, 0, 0, 0, 0};
  ck_assert_int_eq(p2p_yamux_recv(s.y, syn, 12, 0), 0);
  ck_assert_uint_eq(s.n_opened, 1);
  ck_assert_int_eq(p2p_yamux_send(s.y, buf, sizeof(buf), 0), 12);
  static const uint8_t rst[12] = {0, 1, 0, 8, 0, 0, 0, 3, 0, 0, 0, 0};
  ck_assert_mem_eq(buf, rst, 12);
  /* The open stream goes on. */
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, id, (const uint8_t *)"still", 5),
                   5);
  pump(&c, &s, 4096);
  ck_assert_uint_eq(s.rx_len[id], 5);
  peer_free(&c);
  peer_free(&s);
}
END_TEST

/* Malformed input, fed to a server that already has client stream 1 open
 * (half-closed by the client) and 256 KiB - 10 bytes of its window used. */
typedef struct bad_case {
  const char *name;
  uint8_t bytes[24];
  size_t len;
} bad_case;

#define H(t, f, id, l)                                                         \
  0, t, 0, f, 0, 0, 0, id, (uint8_t)((l) >> 24), (uint8_t)((l) >> 16),         \
      (uint8_t)((l) >> 8), (uint8_t)(l)

static const bad_case bad_cases[] = {
    {"bad version", {1, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0}, 12},
    {"unknown type", {H(4, 0, 3, 0)}, 12},
    {"data beyond window", {H(0, 0, 3, 11)}, 12},
    {"length too big", {H(0, 0, 3, 0x7fffffffu)}, 12},
    {"SYN on existing id", {H(1, 1, 3, 0)}, 12},
    {"SYN with server parity", {H(1, 1, 4, 0)}, 12},
    {"data after FIN", {H(0, 0, 1, 1), 'x'}, 13},
    {"data on session id 0", {H(0, 0, 0, 1), 'x'}, 13},
    {"ping on stream id", {H(2, 1, 3, 1)}, 12},
    {"go away on stream id", {H(3, 0, 3, 0)}, 12},
    {"never opened stream", {H(0, 0, 99, 1), 'x'}, 13},
    {"window overflow", {H(1, 0, 3, 0xffffffffu)}, 12},
    {"FIN twice", {H(1, 4, 1, 0)}, 12},
    {"ping without flags", {H(2, 0, 0, 7)}, 12},
    {"window update on session id 0", {H(1, 0, 0, 0)}, 12},
};

START_TEST(test_yamux_malformed_frame_sends_go_away_protocol_error) {
  const bad_case *bc = &bad_cases[_i];
  peer s;
  p2p_yamux_config cfg;
  p2p_yamux_config_default(&cfg, 0);
  peer_init(&s, &cfg);
  s.auto_consume = 0;
  /* Setup: stream 1 opened and FINed; stream 3 opened with most of its
   * window used. */
  static const uint8_t setup1[12] = {H(1, 5, 1, 0)};
  ck_assert_int_eq(p2p_yamux_recv(s.y, setup1, 12, 0), 0);
  uint8_t *big = calloc(1, 12 + 256 * 1024);
  ck_assert_ptr_nonnull(big);
  uint32_t l = 256 * 1024 - 10;
  const uint8_t h3[12] = {H(0, 1, 3, l)};
  memcpy(big, h3, 12);
  ck_assert_int_eq(p2p_yamux_recv(s.y, big, 12 + l, 0), 0);
  free(big);
  uint8_t out[4096];
  ck_assert_int_ge(p2p_yamux_send(s.y, out, sizeof(out), 0), 0);
  ck_assert_ptr_null(p2p_yamux_error_reason(s.y));

  ck_assert_msg(p2p_yamux_recv(s.y, bc->bytes, bc->len, 0) == P2P_ERR_PROTO,
                "%s accepted", bc->name);
  ck_assert_ptr_nonnull(p2p_yamux_error_reason(s.y));
  ck_assert_int_eq(p2p_yamux_send(s.y, out, sizeof(out), 0), 12);
  static const uint8_t ga[12] = {0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  ck_assert_mem_eq(out, ga, 12);
  ck_assert_int_eq(p2p_yamux_send(s.y, out, sizeof(out), 0), 0);
  /* The session stays failed. */
  ck_assert_int_eq(p2p_yamux_recv(s.y, setup1, 12, 0), P2P_ERR_PROTO);
  uint32_t id;
  ck_assert_int_eq(p2p_yamux_stream_open(s.y, &id), P2P_ERR_STATE);
  peer_free(&s);
}
END_TEST

START_TEST(test_yamux_byte_at_a_time_delivery_works) {
  peer c, s;
  pair_init(&c, &s);
  s.auto_consume = 1;
  uint32_t id;
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &id), 0);
  uint8_t msg[3000];
  for (size_t i = 0; i < sizeof(msg); i++)
    msg[i] = pattern(i);
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, id, msg, sizeof(msg)),
                   (ssize_t)sizeof(msg));
  ck_assert_int_eq(p2p_yamux_stream_close(c.y, id), 0);
  ck_assert_int_eq(p2p_yamux_ping(c.y, 42), 0);
  pump(&c, &s, 1);
  ck_assert_uint_eq(s.rx_len[id], sizeof(msg));
  ck_assert_mem_eq(s.rx[id], msg, sizeof(msg));
  ck_assert_uint_eq(s.n_fins, 1);
  ck_assert_uint_eq(c.n_ping_acks, 1);
  ck_assert_uint_eq(c.ping_acks[0], 42);
  ck_assert_uint_eq(c.n_acked, 1);
  peer_free(&c);
  peer_free(&s);
}
END_TEST

START_TEST(test_yamux_bad_config_is_rejected) {
  p2p_yamux_config cfg;
  p2p_yamux *y = NULL;
  p2p_yamux_config_default(&cfg, 1);
  cfg.max_window_bytes = 1000;
  ck_assert_int_eq(p2p_yamux_new(&cfg, NULL, NULL, &y), P2P_ERR_INVALID);
  ck_assert_ptr_null(y);
  p2p_yamux_config_default(&cfg, 1);
  cfg.max_frame_data_bytes = 0;
  ck_assert_int_eq(p2p_yamux_new(&cfg, NULL, NULL, &y), P2P_ERR_INVALID);
}
END_TEST

START_TEST(test_yamux_write_queue_limit_gives_short_write) {
  peer c;
  p2p_yamux_config cfg;
  p2p_yamux_config_default(&cfg, 1);
  cfg.max_stream_queued_bytes = 100;
  peer_init(&c, &cfg);
  uint32_t id;
  ck_assert_int_eq(p2p_yamux_stream_open(c.y, &id), 0);
  uint8_t buf[150] = {0};
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, id, buf, 150), 100);
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, id, buf, 1), P2P_ERR_LIMIT);
  uint8_t out[256];
  ck_assert_int_eq(p2p_yamux_send(c.y, out, sizeof(out), 0), 12 + 100);
  ck_assert_int_eq(p2p_yamux_stream_write(c.y, id, buf, 150), 100);
  peer_free(&c);
}
END_TEST

static Suite *suite(void) {
  Suite *s = suite_create("yamux");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_yamux_open_sends_syn_window_update_bytes);
  tcase_add_test(tc, test_yamux_first_data_frame_carries_syn_and_ack_answers);
  tcase_add_test(tc, test_yamux_fin_follows_data_in_a_frame_of_its_own);
  tcase_add_test(tc, test_yamux_larger_max_window_is_announced_with_syn);
  tcase_add_test(tc, test_yamux_both_ways_half_close_then_write_refused);
  tcase_add_test(tc, test_yamux_writer_stops_at_window_until_reader_consumes);
  tcase_add_test(tc,
                 test_yamux_ten_megabytes_arrive_byte_exact_with_small_reads);
  tcase_add_test(tc, test_yamux_many_streams_interleave_and_stay_separate);
  tcase_add_test(tc, test_yamux_bursts_after_idle_gaps_arrive_byte_exact);
  tcase_add_test(tc, test_yamux_inbound_stream_limit_refuses_extra_with_rst);
  tcase_add_test(tc, test_yamux_reset_drops_queue_and_reports_to_peer);
  tcase_add_test(tc, test_yamux_ping_is_answered_with_its_opaque_value);
  tcase_add_test(tc, test_yamux_control_queue_keeps_order_and_limit_of_64);
  tcase_add_test(tc, test_yamux_go_away_prevents_new_streams);
  tcase_add_loop_test(tc,
                      test_yamux_malformed_frame_sends_go_away_protocol_error,
                      0, (int)(sizeof(bad_cases) / sizeof(bad_cases[0])));
  tcase_add_test(tc, test_yamux_byte_at_a_time_delivery_works);
  tcase_add_test(tc, test_yamux_bad_config_is_rejected);
  tcase_add_test(tc, test_yamux_write_queue_limit_gives_short_write);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(suite());
}
