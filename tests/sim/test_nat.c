/*
 * tests/sim/test_nat.c - the NAT model (sim/net/nat.c) against RFC 4787 and
 * RFC 5382 behaviour.
 */
#include "fixture.h"
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/engine/rng.h"
#include "sim/net/nat.h"

#define IP4(a, b, c, d)                                                        \
  (((uint32_t)(a) << 24) | ((uint32_t)(b) << 16) | ((uint32_t)(c) << 8) |      \
   (uint32_t)(d))
#define SEC(x) ((uint64_t)(x)*1000000000ull)

#define EXT IP4(203, 0, 113, 1)
#define X_IP IP4(10, 0, 0, 2)
#define X_PORT 5000
#define A_IP IP4(198, 51, 100, 1)
#define B_IP IP4(198, 51, 100, 2)
#define C_IP IP4(198, 51, 100, 3)

static const uint16_t UDP = SIM_IPPROTO_UDP;
static const uint16_t TCP = SIM_IPPROTO_TCP;

static sim_nat_pkt pkt(uint16_t proto, uint8_t flags, uint32_t sip,
                       uint16_t sport, uint32_t dip, uint16_t dport) {
  sim_nat_pkt p;
  memset(&p, 0, sizeof(p));
  p.proto = (uint8_t)proto;
  p.tcp_flags = flags;
  p.src_ip = sip;
  p.src_port = sport;
  p.dst_ip = dip;
  p.dst_port = dport;
  return p;
}

/* A configuration with the given behaviours, sequential ports from 20000
 * (so that external ports are predictable) and the preset timeouts. */
static sim_nat_config cfg_of(sim_nat_behavior m, sim_nat_behavior f,
                             sim_nat_port_alloc a) {
  sim_nat_config c;
  ck_assert_int_eq(sim_nat_preset("full-cone", &c), 0);
  c.mapping = m;
  c.filtering = f;
  c.port_alloc = a;
  c.port_min = 20000;
  c.port_max = 29999;
  return c;
}

static sim_nat *nat_new(const sim_nat_config *c, uint32_t ext, uint64_t seed) {
  sim_nat *n = NULL;
  ck_assert_int_eq(sim_nat_new(c, ext, seed, &n), 0);
  ck_assert_ptr_nonnull(n);
  return n;
}

static sim_nat *nat_preset(const char *name, uint32_t ext, uint64_t seed) {
  sim_nat_config c;
  ck_assert_int_eq(sim_nat_preset(name, &c), 0);
  return nat_new(&c, ext, seed);
}

/* Sends X -> ip:port outbound and returns the external port, asserting a
 * PASS that rewrote only the source. */
static uint16_t out_port(sim_nat *n, uint16_t proto, uint8_t flags,
                         uint32_t sip, uint16_t sport, uint32_t dip,
                         uint16_t dport, uint64_t now) {
  sim_nat_pkt p = pkt(proto, flags, sip, sport, dip, dport);
  sim_nat_drop_reason why = SIM_NAT_DROP_REASON_COUNT;
  sim_nat_verdict v = sim_nat_outbound(n, &p, now, &why);
  ck_assert_msg(v == SIM_NAT_PASS, "outbound verdict %d reason %s", (int)v,
                sim_nat_drop_reason_name(why));
  ck_assert_int_eq(why, SIM_NAT_OK);
  ck_assert_uint_eq(p.src_ip, sim_nat_external_ip(n));
  ck_assert_uint_eq(p.dst_ip, dip);
  ck_assert_uint_eq(p.dst_port, dport);
  return p.src_port;
}

/* Sends ip:port -> EXT:eport inbound; returns the verdict and reason, and
 * on PASS asserts the rewrite to want_ip:want_port. */
static sim_nat_verdict in_check(sim_nat *n, uint16_t proto, uint8_t flags,
                                uint32_t sip, uint16_t sport, uint16_t eport,
                                uint64_t now, uint32_t want_ip,
                                uint16_t want_port, sim_nat_drop_reason *why) {
  sim_nat_pkt p = pkt(proto, flags, sip, sport, sim_nat_external_ip(n), eport);
  sim_nat_verdict v = sim_nat_inbound(n, &p, now, why);
  if (v == SIM_NAT_PASS) {
    ck_assert_uint_eq(p.dst_ip, want_ip);
    ck_assert_uint_eq(p.dst_port, want_port);
    ck_assert_uint_eq(p.src_ip, sip);
    ck_assert_uint_eq(p.src_port, sport);
  }
  return v;
}

#define ASSERT_IN_PASS(n, proto, flags, sip, sport, eport, now, wip, wport)    \
  do {                                                                         \
    sim_nat_drop_reason w_ = SIM_NAT_DROP_REASON_COUNT;                        \
    sim_nat_verdict v_ =                                                       \
        in_check(n, proto, flags, sip, sport, eport, now, wip, wport, &w_);    \
    ck_assert_msg(v_ == SIM_NAT_PASS, "inbound: verdict %d reason %s",         \
                  (int)v_, sim_nat_drop_reason_name(w_));                      \
    ck_assert_int_eq(w_, SIM_NAT_OK);                                          \
  } while (0)

#define ASSERT_IN_DROP(n, proto, flags, sip, sport, eport, now, reason)        \
  do {                                                                         \
    sim_nat_drop_reason w_ = SIM_NAT_OK;                                       \
    sim_nat_verdict v_ =                                                       \
        in_check(n, proto, flags, sip, sport, eport, now, 0, 0, &w_);          \
    ck_assert_msg(v_ == SIM_NAT_DROP, "inbound: verdict %d, want drop",        \
                  (int)v_);                                                    \
    ck_assert_msg(w_ == (reason), "inbound: reason %s, want %s",               \
                  sim_nat_drop_reason_name(w_),                                \
                  sim_nat_drop_reason_name(reason));                           \
  } while (0)

/* ---- RFC 4787 probes over all nine behaviour combinations -------------- */

START_TEST(test_nat_rfc4787_mapping_and_filtering_probes) {
  sim_nat_behavior mb = (sim_nat_behavior)(_i / 3);
  sim_nat_behavior fb = (sim_nat_behavior)(_i % 3);
  char combo[128];
  snprintf(combo, sizeof(combo), "mapping=%s filtering=%s",
           sim_nat_behavior_name(mb), sim_nat_behavior_name(fb));
  sim_nat_config c = cfg_of(mb, fb, SIM_NAT_PORT_SEQUENTIAL);
  sim_nat *n = nat_new(&c, EXT, 1);

  /* X talks to Y1 = (A, 3478), Y2 = (B, 3479) and Y3 = (A, 3479). */
  uint16_t p1 = out_port(n, UDP, 0, X_IP, X_PORT, A_IP, 3478, SEC(1));
  uint16_t p2 = out_port(n, UDP, 0, X_IP, X_PORT, B_IP, 3479, SEC(1));
  uint16_t p3 = out_port(n, UDP, 0, X_IP, X_PORT, A_IP, 3479, SEC(1));
  uint16_t want2 = mb == SIM_NAT_EI ? 20000 : 20001;
  uint16_t want3 =
      mb == SIM_NAT_EI ? 20000 : (mb == SIM_NAT_AD ? 20000 : 20002);
  ck_assert_msg(p1 == 20000, "%s: Y1 mapped to %u, want 20000", combo, p1);
  ck_assert_msg(p2 == want2, "%s: Y2 mapped to %u, want %u", combo, p2, want2);
  ck_assert_msg(p3 == want3, "%s: Y3 mapped to %u, want %u", combo, p3, want3);
  ck_assert_msg((p1 == p2) == (mb == SIM_NAT_EI),
                "%s: same mapping for a new address?", combo);
  ck_assert_msg((p1 == p3) == (mb != SIM_NAT_APD),
                "%s: same mapping for a new port?", combo);
  ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(1)),
                    mb == SIM_NAT_EI ? 1 : (mb == SIM_NAT_AD ? 2 : 3));

  struct probe {
    const char *what;
    uint32_t ip;
    uint16_t port;
    bool pass;
    sim_nat_drop_reason why;
  } probes[4] = {
      /* (a) an address never contacted */
      {"new address", C_IP, 3478, fb == SIM_NAT_EI,
       fb == SIM_NAT_EI ? SIM_NAT_OK : SIM_NAT_DROP_FILTERED},
      /* (b) a contacted address, a port never contacted */
      {"same address new port", A_IP, 4000, fb != SIM_NAT_APD,
       fb != SIM_NAT_APD ? SIM_NAT_OK : SIM_NAT_DROP_FILTERED},
      /* (c) exactly the endpoint the mapping was created for */
      {"exact endpoint", A_IP, 3478, true, SIM_NAT_OK},
      /* (d) Y2, contacted by X, but through the mapping p1 only with EIM */
      {"endpoint contacted via another mapping", B_IP, 3479,
       mb == SIM_NAT_EI || fb == SIM_NAT_EI,
       mb == SIM_NAT_EI || fb == SIM_NAT_EI ? SIM_NAT_OK
                                            : SIM_NAT_DROP_FILTERED},
  };
  for (int k = 0; k < 4; k++) {
    sim_nat_drop_reason why = SIM_NAT_DROP_REASON_COUNT;
    sim_nat_verdict v = in_check(n, UDP, 0, probes[k].ip, probes[k].port, p1,
                                 SEC(2), X_IP, X_PORT, &why);
    sim_nat_verdict want = probes[k].pass ? SIM_NAT_PASS : SIM_NAT_DROP;
    ck_assert_msg(v == want && why == probes[k].why,
                  "%s: inbound from %s: verdict %d reason %s, want %d %s",
                  combo, probes[k].what, (int)v, sim_nat_drop_reason_name(why),
                  (int)want, sim_nat_drop_reason_name(probes[k].why));
  }
  /* An unmapped external port is never let in, whatever the filter. */
  ASSERT_IN_DROP(n, UDP, 0, A_IP, 3478, 29999, SEC(2), SIM_NAT_DROP_NO_MAPPING);
  sim_nat_del(n);
}
END_TEST

/* ---- timeouts and refresh --------------------------------------------- */

START_TEST(test_nat_udp_mapping_expires_exactly_after_timeout) {
  sim_nat_config c = cfg_of(SIM_NAT_EI, SIM_NAT_APD, SIM_NAT_PORT_PRESERVE);
  sim_nat *lazy = nat_new(&c, EXT, 1);
  sim_nat *swept = nat_new(&c, EXT, 1);
  sim_nat *nats[2] = {lazy, swept};
  uint64_t t0 = SEC(5), end = t0 + c.udp_timeout_ns;
  for (int i = 0; i < 2; i++) {
    sim_nat *n = nats[i];
    ck_assert_uint_eq(out_port(n, UDP, 0, X_IP, 25000, A_IP, 3478, t0), 25000);
    if (n == swept)
      sim_nat_expire(n, end - 1);
    ck_assert_uint_eq(sim_nat_mapping_count(n, end - 1), 1);
    ASSERT_IN_PASS(n, UDP, 0, A_IP, 3478, 25000, end - 1, X_IP, 25000);
    if (n == swept)
      sim_nat_expire(n, end);
    ck_assert_uint_eq(sim_nat_mapping_count(n, end), 0);
    ASSERT_IN_DROP(n, UDP, 0, A_IP, 3478, 25000, end, SIM_NAT_DROP_NO_MAPPING);
    ck_assert_uint_eq(sim_nat_drops(n, SIM_NAT_DROP_NO_MAPPING), 1);
  }
  sim_nat_del(lazy);
  sim_nat_del(swept);
}
END_TEST

START_TEST(test_nat_outbound_traffic_refreshes_udp_mapping) {
  sim_nat_config c = cfg_of(SIM_NAT_EI, SIM_NAT_APD, SIM_NAT_PORT_PRESERVE);
  sim_nat *n = nat_new(&c, EXT, 1);
  ck_assert_uint_eq(out_port(n, UDP, 0, X_IP, 25000, A_IP, 3478, 0), 25000);
  ck_assert_uint_eq(out_port(n, UDP, 0, X_IP, 25000, A_IP, 3478, SEC(100)),
                    25000);
  ASSERT_IN_PASS(n, UDP, 0, A_IP, 3478, 25000, SEC(200), X_IP, 25000);
  ASSERT_IN_PASS(n, UDP, 0, A_IP, 3478, 25000, SEC(220) - 1, X_IP, 25000);
  ASSERT_IN_DROP(n, UDP, 0, A_IP, 3478, 25000, SEC(220),
                 SIM_NAT_DROP_NO_MAPPING);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_inbound_does_not_refresh_without_inbound_refresh) {
  sim_nat_config c = cfg_of(SIM_NAT_EI, SIM_NAT_EI, SIM_NAT_PORT_PRESERVE);
  sim_nat *n = nat_new(&c, EXT, 1);
  ck_assert_uint_eq(out_port(n, UDP, 0, X_IP, 25000, A_IP, 3478, 0), 25000);
  ASSERT_IN_PASS(n, UDP, 0, A_IP, 3478, 25000, SEC(100), X_IP, 25000);
  ASSERT_IN_PASS(n, UDP, 0, B_IP, 1, 25000, SEC(110), X_IP, 25000);
  ASSERT_IN_DROP(n, UDP, 0, A_IP, 3478, 25000, SEC(120),
                 SIM_NAT_DROP_NO_MAPPING);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_inbound_refreshes_with_inbound_refresh) {
  sim_nat_config c = cfg_of(SIM_NAT_EI, SIM_NAT_APD, SIM_NAT_PORT_PRESERVE);
  c.inbound_refresh = true;
  sim_nat *n = nat_new(&c, EXT, 1);
  ck_assert_uint_eq(out_port(n, UDP, 0, X_IP, 25000, A_IP, 3478, 0), 25000);
  ASSERT_IN_PASS(n, UDP, 0, A_IP, 3478, 25000, SEC(100), X_IP, 25000);
  ASSERT_IN_PASS(n, UDP, 0, A_IP, 3478, 25000, SEC(219), X_IP, 25000);
  ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(339) - 1), 1);
  ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(339)), 0);
  ASSERT_IN_DROP(n, UDP, 0, A_IP, 3478, 25000, SEC(339),
                 SIM_NAT_DROP_NO_MAPPING);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_adf_judges_each_remote_address_by_its_own_sessions) {
  /* One EIM mapping talks to A at 0 s and B at 60 s: at 130 s A's session is
   * dead while the mapping lives on through B's. */
  sim_nat_config c = cfg_of(SIM_NAT_EI, SIM_NAT_AD, SIM_NAT_PORT_PRESERVE);
  for (int sweep = 0; sweep < 2; sweep++) {
    sim_nat *n = nat_new(&c, EXT, 1);
    ck_assert_uint_eq(out_port(n, UDP, 0, X_IP, 25000, A_IP, 1, 0), 25000);
    ck_assert_uint_eq(out_port(n, UDP, 0, X_IP, 25000, A_IP, 2, SEC(10)),
                      25000);
    ck_assert_uint_eq(out_port(n, UDP, 0, X_IP, 25000, B_IP, 1, SEC(60)),
                      25000);
    if (sweep)
      sim_nat_expire(n, SEC(129));
    ASSERT_IN_PASS(n, UDP, 0, A_IP, 9, 25000, SEC(129), X_IP, 25000);
    if (sweep)
      sim_nat_expire(n, SEC(130));
    ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(130)), 1);
    ASSERT_IN_DROP(n, UDP, 0, A_IP, 9, 25000, SEC(130), SIM_NAT_DROP_FILTERED);
    ASSERT_IN_PASS(n, UDP, 0, B_IP, 9, 25000, SEC(130), X_IP, 25000);
    /* Talking to A again re-admits A. */
    ck_assert_uint_eq(out_port(n, UDP, 0, X_IP, 25000, A_IP, 1, SEC(131)),
                      25000);
    ASSERT_IN_PASS(n, UDP, 0, A_IP, 9, 25000, SEC(131), X_IP, 25000);
    sim_nat_del(n);
  }
}
END_TEST

START_TEST(test_nat_expired_port_is_reused) {
  sim_nat_config c = cfg_of(SIM_NAT_EI, SIM_NAT_EI, SIM_NAT_PORT_SEQUENTIAL);
  c.port_min = c.port_max = 40000;
  sim_nat *n = nat_new(&c, EXT, 1);
  uint32_t x2 = IP4(10, 0, 0, 3);
  ck_assert_uint_eq(out_port(n, UDP, 0, X_IP, 1111, A_IP, 3478, 0), 40000);
  sim_nat_pkt p = pkt(UDP, 0, x2, 2222, B_IP, 3478);
  sim_nat_drop_reason why;
  ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(120) - 1, &why), SIM_NAT_DROP);
  ck_assert_int_eq(why, SIM_NAT_DROP_PORTS_EXHAUSTED);
  ck_assert_uint_eq(out_port(n, UDP, 0, x2, 2222, B_IP, 3478, SEC(120)), 40000);
  /* The port now leads to the new owner, X's peer is a stranger to it. */
  ASSERT_IN_PASS(n, UDP, 0, A_IP, 3478, 40000, SEC(121), x2, 2222);
  ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(121)), 1);
  sim_nat_del(n);
}
END_TEST

/* Opens an established TCP session X -> A:443 through n: SYN out at 1 s,
 * SYN|ACK in at 1.5 s, ACK out at 2 s. Returns the external port. */
static uint16_t tcp_establish(sim_nat *n) {
  uint16_t e = out_port(n, TCP, SIM_TCP_SYN, X_IP, X_PORT, A_IP, 443, SEC(1));
  ASSERT_IN_PASS(n, TCP, SIM_TCP_SYN | SIM_TCP_ACK, A_IP, 443, e,
                 SEC(1) + SEC(1) / 2, X_IP, X_PORT);
  ck_assert_uint_eq(
      out_port(n, TCP, SIM_TCP_ACK, X_IP, X_PORT, A_IP, 443, SEC(2)), e);
  return e;
}

START_TEST(test_nat_tcp_half_open_session_uses_transitory_timeout) {
  sim_nat *n = nat_preset("port-restricted-cone", EXT, 1);
  uint16_t e = out_port(n, TCP, SIM_TCP_SYN, X_IP, X_PORT, A_IP, 443, SEC(1));
  ck_assert_uint_eq(e, X_PORT);
  ASSERT_IN_PASS(n, TCP, SIM_TCP_ACK, A_IP, 443, e, SEC(241) - 1, X_IP, X_PORT);
  ASSERT_IN_DROP(n, TCP, SIM_TCP_ACK, A_IP, 443, e, SEC(241),
                 SIM_NAT_DROP_NO_MAPPING);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_tcp_established_session_uses_established_timeout) {
  sim_nat *n = nat_preset("port-restricted-cone", EXT, 1);
  uint16_t e = tcp_establish(n);
  ASSERT_IN_PASS(n, TCP, SIM_TCP_ACK, A_IP, 443, e, SEC(1000), X_IP, X_PORT);
  ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(2 + 7440) - 1), 1);
  ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(2 + 7440)), 0);
  ASSERT_IN_PASS(n, TCP, SIM_TCP_ACK, A_IP, 443, e, SEC(2 + 7440) - 1, X_IP,
                 X_PORT);
  ASSERT_IN_DROP(n, TCP, SIM_TCP_ACK, A_IP, 443, e, SEC(2 + 7440),
                 SIM_NAT_DROP_NO_MAPPING);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_tcp_outbound_rst_makes_session_transitory) {
  sim_nat *n = nat_preset("port-restricted-cone", EXT, 1);
  uint16_t e = tcp_establish(n);
  ck_assert_uint_eq(
      out_port(n, TCP, SIM_TCP_RST, X_IP, X_PORT, A_IP, 443, SEC(10)), e);
  ASSERT_IN_PASS(n, TCP, SIM_TCP_ACK, A_IP, 443, e, SEC(250) - 1, X_IP, X_PORT);
  ASSERT_IN_DROP(n, TCP, SIM_TCP_ACK, A_IP, 443, e, SEC(250),
                 SIM_NAT_DROP_NO_MAPPING);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_tcp_inbound_rst_shortens_session_to_transitory) {
  for (int sweep = 0; sweep < 2; sweep++) {
    sim_nat *n = nat_preset("port-restricted-cone", EXT, 1);
    uint16_t e = tcp_establish(n);
    ASSERT_IN_PASS(n, TCP, SIM_TCP_RST, A_IP, 443, e, SEC(10), X_IP, X_PORT);
    if (sweep)
      sim_nat_expire(n, SEC(250));
    ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(250) - 1), sweep ? 0 : 1);
    ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(250)), 0);
    ASSERT_IN_DROP(n, TCP, SIM_TCP_ACK, A_IP, 443, e, SEC(250),
                   SIM_NAT_DROP_NO_MAPPING);
    sim_nat_del(n);
  }
}
END_TEST

START_TEST(test_nat_tcp_fin_one_way_stays_established) {
  sim_nat *n = nat_preset("port-restricted-cone", EXT, 1);
  uint16_t e = tcp_establish(n);
  ck_assert_uint_eq(out_port(n, TCP, SIM_TCP_FIN | SIM_TCP_ACK, X_IP, X_PORT,
                             A_IP, 443, SEC(10)),
                    e);
  ASSERT_IN_PASS(n, TCP, SIM_TCP_ACK, A_IP, 443, e, SEC(1000), X_IP, X_PORT);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_tcp_fin_both_ways_makes_session_transitory) {
  sim_nat *n = nat_preset("port-restricted-cone", EXT, 1);
  uint16_t e = tcp_establish(n);
  ck_assert_uint_eq(out_port(n, TCP, SIM_TCP_FIN | SIM_TCP_ACK, X_IP, X_PORT,
                             A_IP, 443, SEC(10)),
                    e);
  ASSERT_IN_PASS(n, TCP, SIM_TCP_FIN | SIM_TCP_ACK, A_IP, 443, e, SEC(11), X_IP,
                 X_PORT);
  ASSERT_IN_PASS(n, TCP, SIM_TCP_ACK, A_IP, 443, e, SEC(251) - 1, X_IP, X_PORT);
  ASSERT_IN_DROP(n, TCP, SIM_TCP_ACK, A_IP, 443, e, SEC(251),
                 SIM_NAT_DROP_NO_MAPPING);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_tcp_outbound_non_syn_without_session_dropped) {
  sim_nat *n = nat_preset("full-cone", EXT, 1);
  sim_nat_pkt p = pkt(TCP, SIM_TCP_ACK, X_IP, X_PORT, A_IP, 443);
  sim_nat_drop_reason why = SIM_NAT_OK;
  ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(1), &why), SIM_NAT_DROP);
  ck_assert_int_eq(why, SIM_NAT_DROP_NO_MAPPING);
  ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(1)), 0);
  /* With a mapping to A, a non-SYN to B still has no session. */
  ck_assert_uint_eq(
      out_port(n, TCP, SIM_TCP_SYN, X_IP, X_PORT, A_IP, 443, SEC(2)), X_PORT);
  p = pkt(TCP, SIM_TCP_ACK, X_IP, X_PORT, B_IP, 443);
  ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(3), &why), SIM_NAT_DROP);
  ck_assert_int_eq(why, SIM_NAT_DROP_NO_MAPPING);
  p = pkt(TCP, SIM_TCP_RST, X_IP, X_PORT, B_IP, 443);
  ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(3), &why), SIM_NAT_DROP);
  ck_assert_uint_eq(sim_nat_drops(n, SIM_NAT_DROP_NO_MAPPING), 3);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_tcp_simultaneous_open_through_apdf) {
  sim_nat *n = nat_preset("port-restricted-cone", EXT, 1);
  uint16_t e = out_port(n, TCP, SIM_TCP_SYN, X_IP, X_PORT, A_IP, 7000, 0);
  /* A SYN from another port of the peer is unsolicited. */
  ASSERT_IN_DROP(n, TCP, SIM_TCP_SYN, A_IP, 7001, e, SEC(1),
                 SIM_NAT_DROP_FILTERED);
  /* The peer's own SYN crosses ours and gets in. */
  ASSERT_IN_PASS(n, TCP, SIM_TCP_SYN, A_IP, 7000, e, SEC(1), X_IP, X_PORT);
  /* SYNs crossed both ways: once refreshed outbound, the session lives past
   * the transitory timeout. */
  ck_assert_uint_eq(out_port(n, TCP, SIM_TCP_SYN | SIM_TCP_ACK, X_IP, X_PORT,
                             A_IP, 7000, SEC(2)),
                    e);
  ASSERT_IN_PASS(n, TCP, SIM_TCP_ACK, A_IP, 7000, e, SEC(3000), X_IP, X_PORT);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_apdf_drops_unsolicited_tcp_syn) {
  sim_nat *n = nat_preset("port-restricted-cone", EXT, 1);
  uint16_t e = out_port(n, TCP, SIM_TCP_SYN, X_IP, X_PORT, A_IP, 7000, 0);
  ASSERT_IN_DROP(n, TCP, SIM_TCP_SYN, B_IP, 7000, e, SEC(1),
                 SIM_NAT_DROP_FILTERED);
  ASSERT_IN_DROP(n, TCP, SIM_TCP_SYN, B_IP, 7000, 9999, SEC(1),
                 SIM_NAT_DROP_NO_MAPPING);
  ck_assert_uint_eq(sim_nat_drops(n, SIM_NAT_DROP_FILTERED), 1);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_eif_inbound_syn_opens_session) {
  sim_nat *n = nat_preset("full-cone", EXT, 1);
  uint16_t e = out_port(n, TCP, SIM_TCP_SYN, X_IP, X_PORT, A_IP, 7000, 0);
  ASSERT_IN_PASS(n, TCP, SIM_TCP_SYN, B_IP, 8000, e, SEC(1), X_IP, X_PORT);
  /* X's SYN|ACK to B now has a session, so it passes from the same port. */
  ck_assert_uint_eq(out_port(n, TCP, SIM_TCP_SYN | SIM_TCP_ACK, X_IP, X_PORT,
                             B_IP, 8000, SEC(2)),
                    e);
  ck_assert_uint_eq(
      out_port(n, TCP, SIM_TCP_ACK, X_IP, X_PORT, B_IP, 8000, SEC(3)), e);
  sim_nat_del(n);
}
END_TEST

/* ---- hairpinning ------------------------------------------------------ */

START_TEST(test_nat_hairpin_eif_turns_packet_back_inside) {
  sim_nat_config c = cfg_of(SIM_NAT_EI, SIM_NAT_EI, SIM_NAT_PORT_SEQUENTIAL);
  c.hairpin = true;
  sim_nat *n = nat_new(&c, EXT, 1);
  uint32_t h1 = IP4(10, 0, 0, 2), h2 = IP4(10, 0, 0, 3);
  uint16_t e2 = out_port(n, UDP, 0, h2, 6000, A_IP, 3478, 0);
  ck_assert_uint_eq(e2, 20000);
  sim_nat_pkt p = pkt(UDP, 0, h1, 5000, EXT, e2);
  sim_nat_drop_reason why = SIM_NAT_DROP_REASON_COUNT;
  ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(1), &why), SIM_NAT_HAIRPIN);
  ck_assert_int_eq(why, SIM_NAT_OK);
  ck_assert_uint_eq(p.src_ip, EXT);
  ck_assert_uint_eq(p.src_port, 20001);
  ck_assert_uint_eq(p.dst_ip, h2);
  ck_assert_uint_eq(p.dst_port, 6000);
  p = pkt(UDP, 0, h2, 6000, EXT, 20001);
  ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(2), &why), SIM_NAT_HAIRPIN);
  ck_assert_uint_eq(p.src_ip, EXT);
  ck_assert_uint_eq(p.src_port, e2);
  ck_assert_uint_eq(p.dst_ip, h1);
  ck_assert_uint_eq(p.dst_port, 5000);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_hairpin_apdf_filters_like_inbound) {
  sim_nat_config c = cfg_of(SIM_NAT_EI, SIM_NAT_APD, SIM_NAT_PORT_SEQUENTIAL);
  c.hairpin = true;
  sim_nat *n = nat_new(&c, EXT, 1);
  uint32_t h1 = IP4(10, 0, 0, 2), h2 = IP4(10, 0, 0, 3);
  uint16_t e1 = out_port(n, TCP, SIM_TCP_SYN, h1, 5000, A_IP, 80, 0);
  uint16_t e2 = out_port(n, TCP, SIM_TCP_SYN, h2, 6000, A_IP, 80, 0);
  ck_assert_uint_eq(e1, 20000);
  ck_assert_uint_eq(e2, 20001);
  /* h1 -> h2's mapping: h2 never sent to h1's mapping. */
  sim_nat_pkt p = pkt(TCP, SIM_TCP_SYN, h1, 5000, EXT, e2);
  sim_nat_drop_reason why = SIM_NAT_OK;
  ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(1), &why), SIM_NAT_DROP);
  ck_assert_int_eq(why, SIM_NAT_DROP_FILTERED);
  /* h2 -> h1's mapping: h1's SYN opened the way. */
  p = pkt(TCP, SIM_TCP_SYN, h2, 6000, EXT, e1);
  ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(2), &why), SIM_NAT_HAIRPIN);
  ck_assert_uint_eq(p.src_ip, EXT);
  ck_assert_uint_eq(p.src_port, e2);
  ck_assert_uint_eq(p.dst_ip, h1);
  ck_assert_uint_eq(p.dst_port, 5000);
  p = pkt(TCP, SIM_TCP_SYN | SIM_TCP_ACK, h1, 5000, EXT, e2);
  ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(3), &why), SIM_NAT_HAIRPIN);
  ck_assert_uint_eq(p.src_port, e1);
  ck_assert_uint_eq(p.dst_ip, h2);
  ck_assert_uint_eq(p.dst_port, 6000);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_hairpin_off_drops) {
  sim_nat *n = nat_preset("full-cone", EXT, 1);
  uint16_t e2 = out_port(n, UDP, 0, IP4(10, 0, 0, 3), 6000, A_IP, 1, 0);
  sim_nat_pkt p = pkt(UDP, 0, X_IP, 5000, EXT, e2);
  sim_nat_drop_reason why = SIM_NAT_OK;
  ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(1), &why), SIM_NAT_DROP);
  ck_assert_int_eq(why, SIM_NAT_DROP_HAIRPIN_OFF);
  ck_assert_uint_eq(sim_nat_drops(n, SIM_NAT_DROP_HAIRPIN_OFF), 1);
  ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(1)), 1);
  sim_nat_del(n);
}
END_TEST

/* ---- port allocation -------------------------------------------------- */

START_TEST(test_nat_preserve_keeps_port_and_moves_up_on_collision) {
  sim_nat *n = nat_preset("full-cone", EXT, 1);
  ck_assert_uint_eq(out_port(n, UDP, 0, IP4(10, 0, 0, 2), 5000, A_IP, 1, 0),
                    5000);
  ck_assert_uint_eq(out_port(n, UDP, 0, IP4(10, 0, 0, 3), 5000, A_IP, 1, 0),
                    5001);
  ck_assert_uint_eq(out_port(n, UDP, 0, IP4(10, 0, 0, 4), 5001, A_IP, 1, 0),
                    5002);
  /* Ports are per protocol: TCP 5000 is still free. */
  ck_assert_uint_eq(
      out_port(n, TCP, SIM_TCP_SYN, IP4(10, 0, 0, 3), 5000, A_IP, 1, 0), 5000);
  /* Below the range, the range starts; at its top it wraps. */
  ck_assert_uint_eq(out_port(n, UDP, 0, IP4(10, 0, 0, 5), 80, A_IP, 1, 0),
                    1024);
  ck_assert_uint_eq(out_port(n, UDP, 0, IP4(10, 0, 0, 6), 65535, A_IP, 1, 0),
                    65535);
  ck_assert_uint_eq(out_port(n, UDP, 0, IP4(10, 0, 0, 7), 65535, A_IP, 1, 0),
                    1025);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_sequential_gives_consecutive_ports) {
  sim_nat_config c = cfg_of(SIM_NAT_EI, SIM_NAT_EI, SIM_NAT_PORT_SEQUENTIAL);
  c.port_min = 30000;
  c.port_max = 30003;
  sim_nat *n = nat_new(&c, EXT, 1);
  for (uint16_t i = 0; i < 4; i++)
    ck_assert_uint_eq(
        out_port(n, UDP, 0, X_IP, (uint16_t)(100 + i), A_IP, 1, SEC(i)),
        30000 + i);
  /* After expiry the counter wraps to the start of the range. */
  ck_assert_uint_eq(out_port(n, UDP, 0, X_IP, 200, A_IP, 1, SEC(120)), 30000);
  ck_assert_uint_eq(out_port(n, UDP, 0, X_IP, 201, A_IP, 1, SEC(122)), 30001);
  ck_assert_uint_eq(out_port(n, UDP, 0, X_IP, 202, A_IP, 1, SEC(122)), 30002);
  /* 30003 lives until 123 s, 30000-30002 were just taken. */
  sim_nat_pkt p = pkt(UDP, 0, X_IP, 203, A_IP, 1);
  sim_nat_drop_reason why = SIM_NAT_OK;
  ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(122), &why), SIM_NAT_DROP);
  ck_assert_int_eq(why, SIM_NAT_DROP_PORTS_EXHAUSTED);
  sim_nat_del(n);
}
END_TEST

static void random_ports(uint64_t seed, uint16_t *ports, int count) {
  sim_nat_config c = cfg_of(SIM_NAT_EI, SIM_NAT_EI, SIM_NAT_PORT_RANDOM);
  c.port_min = 30000;
  c.port_max = 30999;
  sim_nat *n = nat_new(&c, EXT, seed);
  for (int i = 0; i < count; i++)
    ports[i] = out_port(n, UDP, 0, X_IP, (uint16_t)(5000 + i), A_IP, 1, 0);
  sim_nat_del(n);
}

START_TEST(test_nat_random_ports_in_range_and_seeded) {
  enum { COUNT = 200 };
  uint16_t a[COUNT], b[COUNT], d[COUNT];
  random_ports(42, a, COUNT);
  random_ports(42, b, COUNT);
  random_ports(43, d, COUNT);
  int differ = 0, consecutive = 0;
  for (int i = 0; i < COUNT; i++) {
    ck_assert_uint_ge(a[i], 30000);
    ck_assert_uint_le(a[i], 30999);
    ck_assert_uint_eq(a[i], b[i]);
    differ += a[i] != d[i];
    for (int j = 0; j < i; j++)
      ck_assert_uint_ne(a[i], a[j]);
    consecutive += i > 0 && a[i] == a[i - 1] + 1;
  }
  ck_assert_int_gt(differ, COUNT / 2);
  ck_assert_int_lt(consecutive, 10);
}
END_TEST

START_TEST(test_nat_random_allocation_fills_whole_range_then_exhausts) {
  sim_nat_config c = cfg_of(SIM_NAT_APD, SIM_NAT_APD, SIM_NAT_PORT_RANDOM);
  c.port_min = 50000;
  c.port_max = 50009;
  sim_nat *n = nat_new(&c, EXT, 7);
  bool seen[10] = {false};
  for (uint16_t i = 0; i < 10; i++) {
    uint16_t e = out_port(n, UDP, 0, X_IP, X_PORT, A_IP, (uint16_t)(1 + i), 0);
    ck_assert(!seen[e - 50000]);
    seen[e - 50000] = true;
  }
  sim_nat_pkt p = pkt(UDP, 0, X_IP, X_PORT, A_IP, 99);
  sim_nat_drop_reason why = SIM_NAT_OK;
  ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(1), &why), SIM_NAT_DROP);
  ck_assert_int_eq(why, SIM_NAT_DROP_PORTS_EXHAUSTED);
  ck_assert_uint_eq(sim_nat_drops(n, SIM_NAT_DROP_PORTS_EXHAUSTED), 1);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_port_exhaustion_drops_with_tiny_range) {
  sim_nat_config c = cfg_of(SIM_NAT_EI, SIM_NAT_APD, SIM_NAT_PORT_PRESERVE);
  c.port_min = 40000;
  c.port_max = 40001;
  sim_nat *n = nat_new(&c, EXT, 1);
  ck_assert_uint_eq(out_port(n, UDP, 0, IP4(10, 0, 0, 2), 1, A_IP, 1, 0),
                    40000);
  ck_assert_uint_eq(out_port(n, UDP, 0, IP4(10, 0, 0, 3), 1, A_IP, 1, 0),
                    40001);
  sim_nat_pkt p = pkt(UDP, 0, IP4(10, 0, 0, 4), 1, A_IP, 1);
  sim_nat_drop_reason why = SIM_NAT_OK;
  ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(1), &why), SIM_NAT_DROP);
  ck_assert_int_eq(why, SIM_NAT_DROP_PORTS_EXHAUSTED);
  /* Existing mappings keep working. */
  ck_assert_uint_eq(out_port(n, UDP, 0, IP4(10, 0, 0, 2), 1, B_IP, 1, SEC(1)),
                    40000);
  /* TCP has its own ports. */
  ck_assert_uint_eq(
      out_port(n, TCP, SIM_TCP_SYN, IP4(10, 0, 0, 4), 1, A_IP, 1, SEC(1)),
      40000);
  ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(1)), 3);
  sim_nat_del(n);
}
END_TEST

/* ---- nesting ---------------------------------------------------------- */

#define HOME_EXT IP4(100, 64, 0, 2)
#define HOME2_EXT IP4(100, 64, 0, 3)
#define SERVER IP4(198, 51, 100, 7)

START_TEST(test_nat_nested_home_behind_cgnat_round_trip) {
  sim_nat *home = nat_preset("port-restricted-cone", HOME_EXT, 1);
  sim_nat *cg = nat_preset("cgnat", EXT, 2);
  uint32_t host = IP4(192, 168, 1, 10);
  sim_nat_drop_reason why;

  sim_nat_pkt p = pkt(UDP, 0, host, 4001, SERVER, 443);
  ck_assert_int_eq(sim_nat_outbound(home, &p, SEC(1), &why), SIM_NAT_PASS);
  ck_assert_uint_eq(p.src_ip, HOME_EXT);
  ck_assert_uint_eq(p.src_port, 4001);
  ck_assert_uint_eq(p.dst_ip, SERVER);
  ck_assert_uint_eq(p.dst_port, 443);
  ck_assert_int_eq(sim_nat_outbound(cg, &p, SEC(1), &why), SIM_NAT_PASS);
  ck_assert_uint_eq(p.src_ip, EXT);
  uint16_t pub = p.src_port;
  ck_assert_uint_ge(pub, 1024);
  ck_assert_uint_eq(p.dst_ip, SERVER);
  ck_assert_uint_eq(p.dst_port, 443);

  sim_nat_pkt r = pkt(UDP, 0, SERVER, 443, EXT, pub);
  ck_assert_int_eq(sim_nat_inbound(cg, &r, SEC(2), &why), SIM_NAT_PASS);
  ck_assert_uint_eq(r.src_ip, SERVER);
  ck_assert_uint_eq(r.src_port, 443);
  ck_assert_uint_eq(r.dst_ip, HOME_EXT);
  ck_assert_uint_eq(r.dst_port, 4001);
  ck_assert_int_eq(sim_nat_inbound(home, &r, SEC(2), &why), SIM_NAT_PASS);
  ck_assert_uint_eq(r.src_ip, SERVER);
  ck_assert_uint_eq(r.dst_ip, host);
  ck_assert_uint_eq(r.dst_port, 4001);

  /* A stranger is stopped at the outer NAT already. */
  r = pkt(UDP, 0, C_IP, 443, EXT, pub);
  ck_assert_int_eq(sim_nat_inbound(cg, &r, SEC(2), &why), SIM_NAT_DROP);
  ck_assert_int_eq(why, SIM_NAT_DROP_FILTERED);
  sim_nat_del(home);
  sim_nat_del(cg);
}
END_TEST

START_TEST(test_nat_cgnat_hairpins_between_two_home_nats) {
  sim_nat *home1 = nat_preset("port-restricted-cone", HOME_EXT, 1);
  sim_nat *home2 = nat_preset("port-restricted-cone", HOME2_EXT, 2);
  sim_nat *cg = nat_preset("cgnat", EXT, 3);
  uint32_t a = IP4(192, 168, 1, 10), b = IP4(192, 168, 1, 20);
  sim_nat_drop_reason why;

  /* Both learn their public endpoints from a server. */
  sim_nat_pkt p = pkt(UDP, 0, a, 4001, SERVER, 443);
  ck_assert_int_eq(sim_nat_outbound(home1, &p, 0, &why), SIM_NAT_PASS);
  ck_assert_int_eq(sim_nat_outbound(cg, &p, 0, &why), SIM_NAT_PASS);
  uint16_t pa = p.src_port;
  p = pkt(UDP, 0, b, 4001, SERVER, 443);
  ck_assert_int_eq(sim_nat_outbound(home2, &p, 0, &why), SIM_NAT_PASS);
  ck_assert_uint_eq(p.src_ip, HOME2_EXT);
  ck_assert_int_eq(sim_nat_outbound(cg, &p, 0, &why), SIM_NAT_PASS);
  uint16_t pb = p.src_port;
  ck_assert_uint_ne(pa, pb);

  /* A -> B's public endpoint: hairpinned at the CGNAT, filtered by B's
   * mapping there (APDF), which has only talked to the server. */
  p = pkt(UDP, 0, a, 4001, EXT, pb);
  ck_assert_int_eq(sim_nat_outbound(home1, &p, SEC(1), &why), SIM_NAT_PASS);
  ck_assert_uint_eq(p.src_ip, HOME_EXT);
  ck_assert_uint_eq(p.src_port, 4001);
  ck_assert_int_eq(sim_nat_outbound(cg, &p, SEC(1), &why), SIM_NAT_DROP);
  ck_assert_int_eq(why, SIM_NAT_DROP_FILTERED);

  /* B -> A's public endpoint: A's attempt opened both of A's NATs. */
  p = pkt(UDP, 0, b, 4001, EXT, pa);
  ck_assert_int_eq(sim_nat_outbound(home2, &p, SEC(2), &why), SIM_NAT_PASS);
  ck_assert_int_eq(sim_nat_outbound(cg, &p, SEC(2), &why), SIM_NAT_HAIRPIN);
  ck_assert_uint_eq(p.src_ip, EXT);
  ck_assert_uint_eq(p.src_port, pb);
  ck_assert_uint_eq(p.dst_ip, HOME_EXT);
  ck_assert_uint_eq(p.dst_port, 4001);
  ck_assert_int_eq(sim_nat_inbound(home1, &p, SEC(2), &why), SIM_NAT_PASS);
  ck_assert_uint_eq(p.src_ip, EXT);
  ck_assert_uint_eq(p.src_port, pb);
  ck_assert_uint_eq(p.dst_ip, a);
  ck_assert_uint_eq(p.dst_port, 4001);

  /* And now A -> B goes all the way. */
  p = pkt(UDP, 0, a, 4001, EXT, pb);
  ck_assert_int_eq(sim_nat_outbound(home1, &p, SEC(3), &why), SIM_NAT_PASS);
  ck_assert_int_eq(sim_nat_outbound(cg, &p, SEC(3), &why), SIM_NAT_HAIRPIN);
  ck_assert_uint_eq(p.src_port, pa);
  ck_assert_uint_eq(p.dst_ip, HOME2_EXT);
  ck_assert_uint_eq(p.dst_port, 4001);
  ck_assert_int_eq(sim_nat_inbound(home2, &p, SEC(3), &why), SIM_NAT_PASS);
  ck_assert_uint_eq(p.dst_ip, b);
  ck_assert_uint_eq(p.dst_port, 4001);
  sim_nat_del(home1);
  sim_nat_del(home2);
  sim_nat_del(cg);
}
END_TEST

/* ---- presets, names, configuration ------------------------------------ */

START_TEST(test_nat_presets_parse_with_documented_fields) {
  const char *const *names = sim_nat_preset_names();
  const char *want[] = {
      "open",      "full-cone", "restricted-cone", "port-restricted-cone",
      "symmetric", "cgnat",     "udp-blocked"};
  struct {
    bool enabled;
    sim_nat_behavior m, f;
    sim_nat_port_alloc a;
    bool hairpin, udp_blocked;
  } exp[] = {
      {false, SIM_NAT_EI, SIM_NAT_EI, SIM_NAT_PORT_PRESERVE, false, false},
      {true, SIM_NAT_EI, SIM_NAT_EI, SIM_NAT_PORT_PRESERVE, false, false},
      {true, SIM_NAT_EI, SIM_NAT_AD, SIM_NAT_PORT_PRESERVE, false, false},
      {true, SIM_NAT_EI, SIM_NAT_APD, SIM_NAT_PORT_PRESERVE, false, false},
      {true, SIM_NAT_APD, SIM_NAT_APD, SIM_NAT_PORT_RANDOM, false, false},
      {true, SIM_NAT_EI, SIM_NAT_APD, SIM_NAT_PORT_RANDOM, true, false},
      {true, SIM_NAT_EI, SIM_NAT_APD, SIM_NAT_PORT_PRESERVE, false, true},
  };
  int i = 0;
  for (; names[i]; i++) {
    ck_assert_int_lt(i, 7);
    ck_assert_str_eq(names[i], want[i]);
    sim_nat_config c;
    memset(&c, 0xa5, sizeof(c));
    ck_assert_int_eq(sim_nat_preset(names[i], &c), 0);
    ck_assert_msg(c.enabled == exp[i].enabled, "%s enabled", names[i]);
    if (exp[i].enabled) {
      ck_assert_msg(c.mapping == exp[i].m, "%s mapping", names[i]);
      ck_assert_msg(c.filtering == exp[i].f, "%s filtering", names[i]);
      ck_assert_msg(c.port_alloc == exp[i].a, "%s port alloc", names[i]);
    }
    ck_assert_msg(c.hairpin == exp[i].hairpin, "%s hairpin", names[i]);
    ck_assert_msg(c.udp_blocked == exp[i].udp_blocked, "%s udp", names[i]);
    ck_assert(!c.inbound_refresh);
    ck_assert_uint_eq(c.udp_timeout_ns, SEC(120));
    ck_assert_uint_eq(c.tcp_established_timeout_ns, SEC(7440));
    ck_assert_uint_eq(c.tcp_transitory_timeout_ns, SEC(240));
    ck_assert_uint_eq(c.port_min, 1024);
    ck_assert_uint_eq(c.port_max, 65535);
    ck_assert_int_eq(sim_nat_config_check(&c), 0);
    sim_nat *n = NULL;
    ck_assert_int_eq(sim_nat_new(&c, EXT, 1, &n),
                     exp[i].enabled ? 0 : P2P_ERR_INVALID);
    if (n) {
      ck_assert_uint_eq(sim_nat_external_ip(n), EXT);
      const sim_nat_config *g = sim_nat_get_config(n);
      ck_assert(g->mapping == c.mapping && g->filtering == c.filtering &&
                g->port_alloc == c.port_alloc && g->hairpin == c.hairpin &&
                g->udp_timeout_ns == c.udp_timeout_ns);
    }
    sim_nat_del(n);
  }
  ck_assert_int_eq(i, 7);
  sim_nat_config c;
  ck_assert_int_eq(sim_nat_preset("fullcone", &c), P2P_ERR_NOTFOUND);
  ck_assert_int_eq(sim_nat_preset("", &c), P2P_ERR_NOTFOUND);
}
END_TEST

START_TEST(test_nat_names_round_trip) {
  for (int b = SIM_NAT_EI; b <= SIM_NAT_APD; b++) {
    sim_nat_behavior out = SIM_NAT_EI;
    const char *s = sim_nat_behavior_name((sim_nat_behavior)b);
    ck_assert_int_eq(sim_nat_behavior_parse(s, &out), 0);
    ck_assert_int_eq(out, b);
  }
  ck_assert_str_eq(sim_nat_behavior_name(SIM_NAT_AD), "address-dependent");
  for (int a = SIM_NAT_PORT_PRESERVE; a <= SIM_NAT_PORT_RANDOM; a++) {
    sim_nat_port_alloc out = SIM_NAT_PORT_PRESERVE;
    const char *s = sim_nat_port_alloc_name((sim_nat_port_alloc)a);
    ck_assert_int_eq(sim_nat_port_alloc_parse(s, &out), 0);
    ck_assert_int_eq(out, a);
  }
  ck_assert_str_eq(sim_nat_port_alloc_name(SIM_NAT_PORT_RANDOM), "random");
  sim_nat_behavior b;
  sim_nat_port_alloc a;
  ck_assert_int_eq(sim_nat_behavior_parse("endpoint", &b), P2P_ERR_NOTFOUND);
  ck_assert_int_eq(sim_nat_port_alloc_parse("Random", &a), P2P_ERR_NOTFOUND);
  ck_assert_str_eq(sim_nat_drop_reason_name(SIM_NAT_DROP_FILTERED), "filtered");
  for (int r = 0; r < SIM_NAT_DROP_REASON_COUNT; r++)
    for (int q = 0; q < r; q++)
      ck_assert_str_ne(sim_nat_drop_reason_name((sim_nat_drop_reason)r),
                       sim_nat_drop_reason_name((sim_nat_drop_reason)q));
}
END_TEST

START_TEST(test_nat_config_check_rejects_bad_configs) {
  sim_nat_config good;
  ck_assert_int_eq(sim_nat_preset("symmetric", &good), 0);
  ck_assert_int_eq(sim_nat_config_check(&good), 0);
  sim_nat_config c = good;
  c.port_min = 0;
  ck_assert_int_eq(sim_nat_config_check(&c), P2P_ERR_INVALID);
  c = good;
  c.port_min = 2000;
  c.port_max = 1999;
  ck_assert_int_eq(sim_nat_config_check(&c), P2P_ERR_INVALID);
  c.port_max = 2000;
  ck_assert_int_eq(sim_nat_config_check(&c), 0);
  c = good;
  c.udp_timeout_ns = 0;
  ck_assert_int_eq(sim_nat_config_check(&c), P2P_ERR_INVALID);
  c = good;
  c.tcp_established_timeout_ns = 0;
  ck_assert_int_eq(sim_nat_config_check(&c), P2P_ERR_INVALID);
  c = good;
  c.tcp_transitory_timeout_ns = 0;
  ck_assert_int_eq(sim_nat_config_check(&c), P2P_ERR_INVALID);
  c = good;
  c.mapping = (sim_nat_behavior)3;
  ck_assert_int_eq(sim_nat_config_check(&c), P2P_ERR_INVALID);
  ck_assert_int_eq(sim_nat_config_check(NULL), P2P_ERR_INVALID);
  sim_nat *n = (sim_nat *)&c;
  c = good;
  c.udp_timeout_ns = 0;
  ck_assert_int_eq(sim_nat_new(&c, EXT, 1, &n), P2P_ERR_INVALID);
  ck_assert_ptr_null(n);
}
END_TEST

START_TEST(test_nat_udp_blocked_drops_udp_both_ways_passes_tcp) {
  sim_nat *n = nat_preset("udp-blocked", EXT, 1);
  sim_nat_pkt p = pkt(UDP, 0, X_IP, X_PORT, A_IP, 3478);
  sim_nat_drop_reason why = SIM_NAT_OK;
  ck_assert_int_eq(sim_nat_outbound(n, &p, 0, &why), SIM_NAT_DROP);
  ck_assert_int_eq(why, SIM_NAT_DROP_UDP_BLOCKED);
  ck_assert_uint_eq(sim_nat_mapping_count(n, 0), 0);
  uint16_t e = out_port(n, TCP, SIM_TCP_SYN, X_IP, X_PORT, A_IP, 443, 0);
  ck_assert_uint_eq(e, X_PORT);
  ASSERT_IN_PASS(n, TCP, SIM_TCP_SYN | SIM_TCP_ACK, A_IP, 443, e, SEC(1), X_IP,
                 X_PORT);
  /* TCP filtering is port-restricted. */
  ASSERT_IN_DROP(n, TCP, SIM_TCP_SYN, A_IP, 444, e, SEC(1),
                 SIM_NAT_DROP_FILTERED);
  /* Inbound UDP, even to the port TCP uses, is dropped. */
  ASSERT_IN_DROP(n, UDP, 0, A_IP, 443, e, SEC(1), SIM_NAT_DROP_UDP_BLOCKED);
  ck_assert_uint_eq(sim_nat_drops(n, SIM_NAT_DROP_UDP_BLOCKED), 2);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_other_protocols_dropped) {
  sim_nat *n = nat_preset("full-cone", EXT, 1);
  sim_nat_pkt p = pkt(1 /* ICMP */, 0, X_IP, 0, A_IP, 0);
  sim_nat_drop_reason why = SIM_NAT_OK;
  ck_assert_int_eq(sim_nat_outbound(n, &p, 0, &why), SIM_NAT_DROP);
  ck_assert_int_eq(why, SIM_NAT_DROP_PROTO);
  p = pkt(1, 0, A_IP, 0, EXT, 0);
  ck_assert_int_eq(sim_nat_inbound(n, &p, 0, NULL), SIM_NAT_DROP);
  ck_assert_uint_eq(sim_nat_drops(n, SIM_NAT_DROP_PROTO), 2);
  sim_nat_del(n);
}
END_TEST

START_TEST(test_nat_inbound_to_other_address_dropped) {
  sim_nat *n = nat_preset("full-cone", EXT, 1);
  uint16_t e = out_port(n, UDP, 0, X_IP, X_PORT, A_IP, 1, 0);
  sim_nat_pkt p = pkt(UDP, 0, A_IP, 1, IP4(203, 0, 113, 2), e);
  sim_nat_drop_reason why = SIM_NAT_OK;
  ck_assert_int_eq(sim_nat_inbound(n, &p, 0, &why), SIM_NAT_DROP);
  ck_assert_int_eq(why, SIM_NAT_DROP_NO_MAPPING);
  sim_nat_del(n);
}
END_TEST

/* ---- determinism and scale -------------------------------------------- */

/* Drives two NATs of configuration `c` with the same random traffic, one
 * swept by sim_nat_expire after every packet, and compares every verdict,
 * reason and rewritten header. */
static void compare_with_and_without_expire(const sim_nat_config *c,
                                            uint64_t seed) {
  sim_nat *lazy = nat_new(c, EXT, 9);
  sim_nat *swept = nat_new(c, EXT, 9);
  sim_rng rng;
  sim_rng_init(&rng, seed, SIM_RNG_STREAM(SIM_RNG_KIND_TEST, 1));
  uint64_t now = 0;
  static const uint8_t flag_set[] = {SIM_TCP_SYN, SIM_TCP_ACK,
                                     SIM_TCP_SYN | SIM_TCP_ACK,
                                     SIM_TCP_FIN | SIM_TCP_ACK, SIM_TCP_RST};
  for (int i = 0; i < 20000; i++) {
    now += sim_rng_below(&rng, SEC(30));
    sim_nat_pkt p;
    uint16_t proto = sim_rng_below(&rng, 2) ? UDP : TCP;
    uint8_t flags = flag_set[sim_rng_below(&rng, 5)];
    bool outbound = sim_rng_below(&rng, 2);
    uint32_t in_ip = IP4(10, 0, 0, 1 + sim_rng_below(&rng, 4));
    uint16_t in_port = (uint16_t)(5000 + sim_rng_below(&rng, 3));
    uint32_t rip = IP4(198, 51, 100, 1 + sim_rng_below(&rng, 3));
    uint16_t rport = (uint16_t)(7000 + sim_rng_below(&rng, 3));
    if (outbound) {
      p = pkt(proto, flags, in_ip, in_port, rip, rport);
      if (sim_rng_below(&rng, 8) == 0) {
        p.dst_ip = EXT;
        p.dst_port = (uint16_t)(c->port_min + sim_rng_below(&rng, 8));
      }
    } else {
      p = pkt(proto, flags, rip, rport, EXT,
              (uint16_t)(c->port_min + sim_rng_below(&rng, 8)));
    }
    sim_nat_pkt q = p;
    sim_nat_drop_reason w1 = SIM_NAT_OK, w2 = SIM_NAT_OK;
    sim_nat_verdict v1 = outbound ? sim_nat_outbound(lazy, &p, now, &w1)
                                  : sim_nat_inbound(lazy, &p, now, &w1);
    sim_nat_verdict v2 = outbound ? sim_nat_outbound(swept, &q, now, &w2)
                                  : sim_nat_inbound(swept, &q, now, &w2);
    sim_nat_expire(swept, now);
    ck_assert_msg(v1 == v2 && w1 == w2, "packet %d: %d/%s vs %d/%s", i, (int)v1,
                  sim_nat_drop_reason_name(w1), (int)v2,
                  sim_nat_drop_reason_name(w2));
    if (v1 != SIM_NAT_DROP)
      ck_assert_int_eq(memcmp(&p, &q, sizeof(p)), 0);
    ck_assert_uint_eq(sim_nat_mapping_count(lazy, now),
                      sim_nat_mapping_count(swept, now));
  }
  sim_nat_del(lazy);
  sim_nat_del(swept);
}

START_TEST(test_nat_verdicts_do_not_depend_on_expire) {
  sim_nat_behavior mb = (sim_nat_behavior)(_i / 3);
  sim_nat_behavior fb = (sim_nat_behavior)(_i % 3);
  sim_nat_config c = cfg_of(mb, fb, (sim_nat_port_alloc)(_i % 3));
  c.port_min = 20000;
  c.port_max = 20007;
  c.hairpin = true;
  c.inbound_refresh = _i % 2;
  c.udp_timeout_ns = SEC(60);
  c.tcp_transitory_timeout_ns = SEC(90);
  c.tcp_established_timeout_ns = SEC(400);
  compare_with_and_without_expire(&c, (uint64_t)_i);
}
END_TEST

START_TEST(test_nat_cgnat_holds_100k_mappings) {
  /* 50,000 UDP and 50,000 TCP mappings (each protocol has 64,512 ports). */
  sim_nat *n = nat_preset("cgnat", EXT, 5);
  enum { HOSTS = 1000, PORTS = 50 };
  for (uint32_t h = 0; h < HOSTS; h++)
    for (uint16_t k = 0; k < PORTS; k++) {
      uint32_t ip = IP4(100, 64, h >> 8, h & 0xff);
      sim_nat_pkt p = pkt(UDP, 0, ip, (uint16_t)(4000 + k), A_IP, 443);
      ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(1), NULL), SIM_NAT_PASS);
      p = pkt(TCP, SIM_TCP_SYN, ip, (uint16_t)(4000 + k), A_IP, 443);
      ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(1), NULL), SIM_NAT_PASS);
    }
  ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(1)), 2 * HOSTS * PORTS);
  /* Replies reach their hosts. */
  for (uint32_t h = 0; h < HOSTS; h += 97) {
    uint32_t ip = IP4(100, 64, h >> 8, h & 0xff);
    sim_nat_pkt p = pkt(UDP, 0, ip, 4007, A_IP, 443);
    ck_assert_int_eq(sim_nat_outbound(n, &p, SEC(2), NULL), SIM_NAT_PASS);
    sim_nat_pkt r = pkt(UDP, 0, A_IP, 443, EXT, p.src_port);
    ck_assert_int_eq(sim_nat_inbound(n, &r, SEC(2), NULL), SIM_NAT_PASS);
    ck_assert_uint_eq(r.dst_ip, ip);
    ck_assert_uint_eq(r.dst_port, 4007);
  }
  sim_nat_expire(n, SEC(121));
  ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(121)),
                    HOSTS * PORTS + HOSTS / 97 + 1);
  sim_nat_expire(n, SEC(122));
  ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(122)), HOSTS * PORTS);
  ck_assert_uint_eq(sim_nat_mapping_count(n, SEC(241)), 0);
  sim_nat_del(n);
}
END_TEST

static Suite *nat_suite(void) {
  Suite *s = suite_create("nat");
  TCase *tc = tcase_create("nat");
  tcase_add_loop_test(tc, test_nat_rfc4787_mapping_and_filtering_probes, 0, 9);
  tcase_add_test(tc, test_nat_udp_mapping_expires_exactly_after_timeout);
  tcase_add_test(tc, test_nat_outbound_traffic_refreshes_udp_mapping);
  tcase_add_test(tc, test_nat_inbound_does_not_refresh_without_inbound_refresh);
  tcase_add_test(tc, test_nat_inbound_refreshes_with_inbound_refresh);
  tcase_add_test(tc,
                 test_nat_adf_judges_each_remote_address_by_its_own_sessions);
  tcase_add_test(tc, test_nat_expired_port_is_reused);
  tcase_add_test(tc, test_nat_tcp_half_open_session_uses_transitory_timeout);
  tcase_add_test(tc, test_nat_tcp_established_session_uses_established_timeout);
  tcase_add_test(tc, test_nat_tcp_outbound_rst_makes_session_transitory);
  tcase_add_test(tc, test_nat_tcp_inbound_rst_shortens_session_to_transitory);
  tcase_add_test(tc, test_nat_tcp_fin_one_way_stays_established);
  tcase_add_test(tc, test_nat_tcp_fin_both_ways_makes_session_transitory);
  tcase_add_test(tc, test_nat_tcp_outbound_non_syn_without_session_dropped);
  tcase_add_test(tc, test_nat_tcp_simultaneous_open_through_apdf);
  tcase_add_test(tc, test_nat_apdf_drops_unsolicited_tcp_syn);
  tcase_add_test(tc, test_nat_eif_inbound_syn_opens_session);
  tcase_add_test(tc, test_nat_hairpin_eif_turns_packet_back_inside);
  tcase_add_test(tc, test_nat_hairpin_apdf_filters_like_inbound);
  tcase_add_test(tc, test_nat_hairpin_off_drops);
  tcase_add_test(tc, test_nat_preserve_keeps_port_and_moves_up_on_collision);
  tcase_add_test(tc, test_nat_sequential_gives_consecutive_ports);
  tcase_add_test(tc, test_nat_random_ports_in_range_and_seeded);
  tcase_add_test(tc,
                 test_nat_random_allocation_fills_whole_range_then_exhausts);
  tcase_add_test(tc, test_nat_port_exhaustion_drops_with_tiny_range);
  tcase_add_test(tc, test_nat_nested_home_behind_cgnat_round_trip);
  tcase_add_test(tc, test_nat_cgnat_hairpins_between_two_home_nats);
  tcase_add_test(tc, test_nat_presets_parse_with_documented_fields);
  tcase_add_test(tc, test_nat_names_round_trip);
  tcase_add_test(tc, test_nat_config_check_rejects_bad_configs);
  tcase_add_test(tc, test_nat_udp_blocked_drops_udp_both_ways_passes_tcp);
  tcase_add_test(tc, test_nat_other_protocols_dropped);
  tcase_add_test(tc, test_nat_inbound_to_other_address_dropped);
  tcase_add_loop_test(tc, test_nat_verdicts_do_not_depend_on_expire, 0, 9);
  tcase_add_test(tc, test_nat_cgnat_holds_100k_mappings);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return fx_run_suite(nat_suite());
}
