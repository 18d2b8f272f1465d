/*
 * tests/fuzz/fuzz_nat.c - libFuzzer target for the NAT model.
 *
 * The first CONFIG_BYTES bytes choose a configuration and a seed; the rest is
 * a sequence of PKT_BYTES-byte records, each one packet (outbound, inbound or
 * hairpinned) after a time step. Two NATs process the same packets, one
 * swept by sim_nat_expire after every packet, and must agree exactly; every
 * verdict is checked against the documented rewrites.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sim/net/nat.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CONFIG_BYTES 12
#define PKT_BYTES 6
#define EXT_IP 0xcb007101u     /* 203.0.113.1 */
#define INT_NET 0x0a000000u    /* 10.0.0.0/24 */
#define REMOTE_NET 0xc6336400u /* 198.51.100.0/24 */
#define MS 1000000ull

static void check(int ok) {
  if (!ok)
    abort();
}

static uint64_t load64(const uint8_t *p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v |= (uint64_t)p[i] << (8 * i);
  return v;
}

static void check_result(const sim_nat *n, const sim_nat_pkt *before,
                         const sim_nat_pkt *after, sim_nat_verdict v,
                         sim_nat_drop_reason why, int outbound) {
  const sim_nat_config *c = sim_nat_get_config(n);
  check(v == SIM_NAT_PASS || v == SIM_NAT_HAIRPIN || v == SIM_NAT_DROP);
  check((unsigned)why < SIM_NAT_DROP_REASON_COUNT);
  check((v == SIM_NAT_DROP) == (why != SIM_NAT_OK));
  if (v == SIM_NAT_DROP)
    return;
  check(before->proto == SIM_IPPROTO_UDP || before->proto == SIM_IPPROTO_TCP);
  check(!(c->udp_blocked && before->proto == SIM_IPPROTO_UDP));
  check(after->proto == before->proto && after->tcp_flags == before->tcp_flags);
  if (outbound) {
    check(after->src_ip == EXT_IP);
    check(after->src_port >= c->port_min && after->src_port <= c->port_max);
    if (v == SIM_NAT_PASS) {
      check(before->dst_ip != EXT_IP);
      check(after->dst_ip == before->dst_ip &&
            after->dst_port == before->dst_port);
    } else {
      check(c->hairpin && before->dst_ip == EXT_IP);
      check((after->dst_ip & 0xffffff00u) == INT_NET);
    }
  } else {
    check(v == SIM_NAT_PASS);
    check(before->dst_ip == EXT_IP);
    check(after->src_ip == before->src_ip &&
          after->src_port == before->src_port);
    check((after->dst_ip & 0xffffff00u) == INT_NET);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < CONFIG_BYTES)
    return 0;
  sim_nat_config c;
  memset(&c, 0, sizeof(c));
  c.enabled = true;
  c.mapping = (sim_nat_behavior)(data[0] % 3);
  c.filtering = (sim_nat_behavior)(data[1] % 3);
  c.port_alloc = (sim_nat_port_alloc)(data[2] % 3);
  c.hairpin = data[3] & 1;
  c.udp_blocked = (data[3] & 6) == 6;
  c.inbound_refresh = data[3] & 8;
  c.port_min = (uint16_t)(data[4] | (data[5] << 8));
  if (c.port_min == 0)
    c.port_min = 1;
  /* Mostly small ranges, so that exhaustion and reuse happen. */
  uint32_t max = data[6] == 255 ? 65535u : c.port_min + data[6] % 32u;
  c.port_max = (uint16_t)(max > 65535 ? 65535 : max);
  c.udp_timeout_ns = (1 + (data[7] & 15)) * 1000 * MS;
  c.tcp_transitory_timeout_ns = (1 + (data[7] >> 4)) * 1000 * MS;
  c.tcp_established_timeout_ns = c.tcp_transitory_timeout_ns * 4;
  uint64_t seed = load64(data + 4);
  data += CONFIG_BYTES;
  size -= CONFIG_BYTES;
  check(sim_nat_config_check(&c) == 0);

  sim_nat *lazy = NULL, *swept = NULL;
  if (sim_nat_new(&c, EXT_IP, seed, &lazy) != 0)
    return 0;
  if (sim_nat_new(&c, EXT_IP, seed, &swept) != 0) {
    sim_nat_del(lazy);
    return 0;
  }
  uint32_t range = (uint32_t)c.port_max - c.port_min + 1;
  static const uint8_t flag_set[8] = {SIM_TCP_SYN,
                                      SIM_TCP_ACK,
                                      SIM_TCP_SYN | SIM_TCP_ACK,
                                      SIM_TCP_FIN | SIM_TCP_ACK,
                                      SIM_TCP_RST,
                                      SIM_TCP_RST | SIM_TCP_ACK,
                                      SIM_TCP_FIN,
                                      0};
  uint64_t now = 0, drops = 0, outbound_count = 0;
  for (; size >= PKT_BYTES; data += PKT_BYTES, size -= PKT_BYTES) {
    uint8_t op = data[0];
    /* Time steps from 0 to about 14 hours, most of them short. */
    uint64_t step = (uint64_t)(data[1] & 31) << (2 * (data[1] >> 5));
    now += step * 100 * MS;
    int outbound = op & 1;
    sim_nat_pkt p;
    memset(&p, 0, sizeof(p));
    p.proto = (op & 2) ? SIM_IPPROTO_TCP : SIM_IPPROTO_UDP;
    if ((op & 0xc0) == 0xc0 && (op & 4))
      p.proto = (uint8_t)(op & 0x3f); /* sometimes not UDP/TCP at all */
    p.tcp_flags = flag_set[(op >> 3) & 7];
    uint32_t internal = INT_NET | (1 + (data[2] & 3));
    uint16_t internal_port = (uint16_t)(4000 + ((data[2] >> 2) & 3));
    uint32_t remote = REMOTE_NET | (1 + (data[3] & 3));
    uint16_t remote_port = (uint16_t)(7000 + ((data[3] >> 2) & 3));
    uint16_t ext_port =
        (uint16_t)(c.port_min + (data[4] | (data[5] << 8)) % (range + 2));
    if (outbound) {
      p.src_ip = internal;
      p.src_port = internal_port;
      if ((data[3] & 0xf0) == 0xf0) { /* hairpin */
        p.dst_ip = EXT_IP;
        p.dst_port = ext_port;
      } else {
        p.dst_ip = remote;
        p.dst_port = remote_port;
      }
    } else {
      p.src_ip = (data[3] & 0xf0) == 0xf0 ? EXT_IP : remote;
      p.src_port = remote_port;
      p.dst_ip = (data[2] & 0xf0) == 0xf0 ? EXT_IP + 1 : EXT_IP;
      p.dst_port = ext_port;
    }
    sim_nat_pkt a = p, b = p;
    sim_nat_drop_reason wa = SIM_NAT_DROP_REASON_COUNT, wb = wa;
    sim_nat_verdict va, vb;
    if (outbound) {
      va = sim_nat_outbound(lazy, &a, now, &wa);
      vb = sim_nat_outbound(swept, &b, now, &wb);
      outbound_count++;
    } else {
      va = sim_nat_inbound(lazy, &a, now, &wa);
      vb = sim_nat_inbound(swept, &b, now, &wb);
    }
    sim_nat_expire(swept, now);
    check_result(lazy, &p, &a, va, wa, outbound);
    check(va == vb && wa == wb);
    if (va != SIM_NAT_DROP)
      check(memcmp(&a, &b, sizeof(a)) == 0);
    drops += va == SIM_NAT_DROP;

    size_t count = sim_nat_mapping_count(lazy, now);
    check(count == sim_nat_mapping_count(swept, now));
    check(count <= 2 * (size_t)range);
    check(count <= outbound_count);
  }
  uint64_t total = 0;
  for (int r = 0; r < SIM_NAT_DROP_REASON_COUNT; r++)
    total += sim_nat_drops(lazy, (sim_nat_drop_reason)r);
  check(total == drops);
  check(sim_nat_drops(lazy, SIM_NAT_OK) == 0);
  sim_nat_del(lazy);
  sim_nat_del(swept);
  return 0;
}
