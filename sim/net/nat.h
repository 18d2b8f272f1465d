/*
 * sim/net/nat.h - the NAT model, shared by every backend.
 *
 * Pure: packet headers go in with the current time, a verdict and the
 * rewritten header come out. No clock, no I/O, no global state; the only
 * randomness (random port allocation) comes from a generator seeded at
 * creation. Every backend (netsim, ns-3) places sim_nat objects where its
 * packets cross a NAT, so NAT behaviour is identical on all of them.
 *
 * Behaviour follows RFC 4787 (UDP) and RFC 5382 (TCP):
 *  - mapping: endpoint-independent (EIM), address-dependent (ADM) or
 *    address-and-port-dependent (APDM): which outbound packets of one internal
 *    endpoint share one external port.
 *  - filtering: endpoint-independent (EIF), address-dependent (ADF) or
 *    address-and-port-dependent (APDF): which inbound packets to an external
 *    port are let in, judged against the remote endpoints that the mapping
 *    has sent to (its sessions) and that are still alive.
 *  - port allocation: preserve (the internal port when free, else the next
 *    free port above it), sequential (a counter over [port_min, port_max]),
 *    random (uniform over [port_min, port_max]).
 *  - timeouts: a session lives for udp_timeout_ns after its last refresh
 *    (UDP), or for the TCP established/transitory timeout of its state (TCP);
 *    outbound packets always refresh (RFC 4787 REQ-6), inbound ones only with
 *    inbound_refresh. A mapping lives while any of its sessions lives; its
 *    external port is free again once it has expired.
 *  - TCP: a mapping and session are created by an outbound SYN only (a
 *    non-SYN outbound packet without a session is dropped); an inbound SYN
 *    that passes filtering opens a session (simultaneous open and, with EIF,
 *    inbound connections, RFC 5382 REQ-2); a session is established once SYNs
 *    have crossed in both directions; FIN in both directions or a RST puts it
 *    back to transitory. Unsolicited inbound SYNs are dropped silently
 *    (RFC 5382 REQ-4: no RST or ICMP is sent).
 *  - hairpinning (RFC 4787 REQ-9): an outbound packet addressed to the NAT's
 *    own external address is translated out (source mapped) and back in
 *    (destination translated, filtering applied), with the verdict
 *    SIM_NAT_HAIRPIN; without hairpin it is dropped.
 *  - udp_blocked: every UDP packet is dropped in both directions.
 *
 * Nesting (a carrier-grade NAT in front of home NATs) is the caller's
 * business: it passes a packet through each sim_nat on its path in turn.
 *
 * Addresses and ports are in host byte order.
 */
#ifndef SIM_NAT_H
#define SIM_NAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "p2p/error.h"

typedef enum sim_nat_behavior {
  SIM_NAT_EI = 0, /* endpoint-independent */
  SIM_NAT_AD = 1, /* address-dependent */
  SIM_NAT_APD = 2 /* address-and-port-dependent */
} sim_nat_behavior;

typedef enum sim_nat_port_alloc {
  SIM_NAT_PORT_PRESERVE = 0,
  SIM_NAT_PORT_SEQUENTIAL = 1,
  SIM_NAT_PORT_RANDOM = 2
} sim_nat_port_alloc;

typedef struct sim_nat_config {
  bool enabled; /* false: no NAT at all (preset "open") */
  sim_nat_behavior mapping;
  sim_nat_behavior filtering;
  sim_nat_port_alloc port_alloc;
  bool hairpin;
  bool udp_blocked;
  bool inbound_refresh;    /* inbound packets also refresh sessions */
  uint64_t udp_timeout_ns; /* RFC 4787 REQ-5: >= 120 s by default */
  uint64_t tcp_established_timeout_ns; /* RFC 5382 REQ-5: >= 2 h 4 min */
  uint64_t tcp_transitory_timeout_ns;  /* RFC 5382 REQ-5: >= 4 min */
  uint16_t port_min, port_max;         /* range for allocated external ports */
} sim_nat_config;

/* IP protocol numbers understood by the model. */
#define SIM_IPPROTO_TCP 6
#define SIM_IPPROTO_UDP 17

/* TCP flag bits, as on the wire. */
#define SIM_TCP_FIN 0x01
#define SIM_TCP_SYN 0x02
#define SIM_TCP_RST 0x04
#define SIM_TCP_ACK 0x10

/* The part of a packet a NAT looks at and rewrites. */
typedef struct sim_nat_pkt {
  uint8_t proto;     /* SIM_IPPROTO_UDP or SIM_IPPROTO_TCP */
  uint8_t tcp_flags; /* SIM_TCP_* (TCP only) */
  uint32_t src_ip, dst_ip;
  uint16_t src_port, dst_port;
} sim_nat_pkt;

typedef enum sim_nat_verdict {
  SIM_NAT_PASS = 0,    /* translated: forward it on the other side */
  SIM_NAT_HAIRPIN = 1, /* outbound packet turned back inside: now addressed
                          to an internal endpoint, from the sender's
                          external mapping */
  SIM_NAT_DROP = 2
} sim_nat_verdict;

typedef enum sim_nat_drop_reason {
  SIM_NAT_OK = 0,
  SIM_NAT_DROP_NO_MAPPING, /* inbound to an unmapped or expired port,
                              or outbound TCP non-SYN without session */
  SIM_NAT_DROP_FILTERED,   /* inbound refused by the filtering rule */
  SIM_NAT_DROP_UDP_BLOCKED,
  SIM_NAT_DROP_PORTS_EXHAUSTED, /* no free external port */
  SIM_NAT_DROP_HAIRPIN_OFF,
  SIM_NAT_DROP_NOMEM,
  SIM_NAT_DROP_PROTO, /* neither UDP nor TCP */
  SIM_NAT_DROP_REASON_COUNT
} sim_nat_drop_reason;

typedef struct sim_nat sim_nat;

/* Fills `out` with a preset: "open", "full-cone" (EIM/EIF),
 * "restricted-cone" (EIM/ADF), "port-restricted-cone" (EIM/APDF),
 * "symmetric" (APDM/APDF, random ports), "cgnat" (EIM/APDF, random ports,
 * hairpin, RFC 6888), "udp-blocked" (UDP dropped; TCP as
 * port-restricted-cone). Every preset uses the RFC minimum timeouts, ports
 * 1024-65535, no hairpin unless stated, outbound refresh only.
 * Returns 0 or P2P_ERR_NOTFOUND for an unknown name. */
P2P_WUR int sim_nat_preset(const char *name, sim_nat_config *out);

/* The preset names, NULL-terminated, in the order listed above. */
const char *const *sim_nat_preset_names(void);

/* Names ("endpoint-independent", "address-dependent",
 * "address-and-port-dependent"; "preserve", "sequential", "random") and their
 * parsers (0 or P2P_ERR_NOTFOUND). */
const char *sim_nat_behavior_name(sim_nat_behavior b);
P2P_WUR int sim_nat_behavior_parse(const char *s, sim_nat_behavior *out);
const char *sim_nat_port_alloc_name(sim_nat_port_alloc a);
P2P_WUR int sim_nat_port_alloc_parse(const char *s, sim_nat_port_alloc *out);
/* A short kebab-case name of a drop reason, e.g. "filtered". */
const char *sim_nat_drop_reason_name(sim_nat_drop_reason r);

/* Checks a configuration: port_min <= port_max, port_min > 0, timeouts > 0.
 * Returns 0 or P2P_ERR_INVALID. */
P2P_WUR int sim_nat_config_check(const sim_nat_config *cfg);

/* Creates a NAT with one external address. `seed` seeds its port
 * generator (callers pass a value from their run's generator). cfg->enabled
 * must be true. Returns 0, P2P_ERR_INVALID or P2P_ERR_NOMEM. */
P2P_WUR int sim_nat_new(const sim_nat_config *cfg, uint32_t external_ip,
                        uint64_t seed, sim_nat **out);
void sim_nat_del(sim_nat *n);

/* Processes a packet leaving the inside (its source is an internal
 * endpoint). On SIM_NAT_PASS the source is rewritten to the external
 * mapping; on SIM_NAT_HAIRPIN the source is the external mapping and the
 * destination the internal endpoint it maps to; on SIM_NAT_DROP `*why` (when
 * not NULL) tells why and `p` is unspecified. `now` must not go backwards
 * between calls. */
sim_nat_verdict sim_nat_outbound(sim_nat *n, sim_nat_pkt *p, uint64_t now,
                                 sim_nat_drop_reason *why);

/* Processes a packet arriving from outside, addressed to the NAT's external
 * address. On SIM_NAT_PASS the destination is rewritten to the internal
 * endpoint. */
sim_nat_verdict sim_nat_inbound(sim_nat *n, sim_nat_pkt *p, uint64_t now,
                                sim_nat_drop_reason *why);

/* Frees the state of expired sessions and mappings. Verdicts never depend on
 * whether or when this runs; it only bounds memory. */
void sim_nat_expire(sim_nat *n, uint64_t now);

/* The number of mappings alive at `now` (for tests and statistics). */
size_t sim_nat_mapping_count(const sim_nat *n, uint64_t now);

uint32_t sim_nat_external_ip(const sim_nat *n);
const sim_nat_config *sim_nat_get_config(const sim_nat *n);

/* Packets dropped so far, per reason (index SIM_NAT_DROP_*). */
uint64_t sim_nat_drops(const sim_nat *n, sim_nat_drop_reason r);

#endif /* SIM_NAT_H */
