/*
 * p2p/multiaddr.h - multiaddr, string and binary forms.
 *
 * The binary form is a sequence of (varint protocol code, value) where the
 * value has the protocol's fixed size, a varint length prefix, or nothing.
 * Every protocol the libp2p guides use is known: ip4, ip6, dns, dns4, dns6,
 * dnsaddr, tcp, udp, ws, wss, tls, sni, quic-v1, webtransport, certhash,
 * webrtc, webrtc-direct, p2p, p2p-circuit. Parsing is strict both ways: a
 * bad IP address, a port above 65535, a truncated value, an unknown code or
 * name, a bad peer ID or certhash is P2P_ERR_INVALID (never a crash).
 *
 * String values: ip4 dotted quad; ip6 RFC 5952 text (printed in canonical
 * form); ports decimal; dns* and sni as text; p2p a peer ID (base58btc
 * multihash, or a CIDv1 with the libp2p-key codec in base32 — printed as
 * base58btc); certhash a multibase-encoded multihash (any of 'z', 'b', 'u'
 * accepted; the binary form does not keep the base, so it is always printed
 * in base64url, "uEi..." for sha2-256). IPv4 octets and ports must not have
 * leading zeros. A string names at least one protocol: "", "/" and a
 * trailing '/' are P2P_ERR_INVALID.
 */
#ifndef P2P_MULTIADDR_H
#define P2P_MULTIADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/error.h"
#include "p2p/peerid.h"

enum p2p_ma_proto {
  P2P_MA_IP4 = 0x04,
  P2P_MA_TCP = 0x06,
  P2P_MA_DNS = 0x35,
  P2P_MA_DNS4 = 0x36,
  P2P_MA_DNS6 = 0x37,
  P2P_MA_DNSADDR = 0x38,
  P2P_MA_IP6 = 0x29,
  P2P_MA_UDP = 0x0111,
  P2P_MA_WEBRTC_DIRECT = 0x0118,
  P2P_MA_WEBRTC = 0x0119,
  P2P_MA_P2P_CIRCUIT = 0x0122,
  P2P_MA_P2P = 0x01a5,
  P2P_MA_TLS = 0x01c0,
  P2P_MA_SNI = 0x01c1,
  P2P_MA_QUIC_V1 = 0x01cd, /* 461; 0x01cc (460) is the older "quic" */
  P2P_MA_WEBTRANSPORT = 0x01d1,
  P2P_MA_CERTHASH = 0x01d2,
  P2P_MA_WS = 0x01dd,
  P2P_MA_WSS = 0x01de
};

/* A multiaddr in binary form. The bytes are owned (malloc) by the struct:
 * free with p2p_multiaddr_free. A zeroed struct is the empty multiaddr. */
typedef struct p2p_multiaddr {
  uint8_t *bytes;
  size_t len;
} p2p_multiaddr;

/* One component, pointing into the multiaddr's bytes. */
typedef struct p2p_ma_component {
  uint32_t code;
  const char *name;     /* "ip4", "tcp", ... (static) */
  const uint8_t *value; /* NULL for protocols without a value */
  size_t value_len;
} p2p_ma_component;

/* "/ip4/1.2.3.4/tcp/80" -> binary. Returns 0, P2P_ERR_INVALID or
 * P2P_ERR_NOMEM. On failure *out is left empty. */
P2P_WUR int p2p_multiaddr_parse(const char *str, p2p_multiaddr *out);

/* Validates a binary multiaddr (e.g. from a peer) and copies it. An empty
 * buffer is P2P_ERR_INVALID, like the empty string. On failure *out is left
 * empty. */
P2P_WUR int p2p_multiaddr_from_bytes(const uint8_t *buf, size_t len,
                                     p2p_multiaddr *out);

/* Binary -> string, NUL-terminated. Returns the length, P2P_ERR_LIMIT or
 * P2P_ERR_INVALID. */
P2P_WUR ssize_t p2p_multiaddr_to_string(const p2p_multiaddr *ma, char *out,
                                        size_t cap);

void p2p_multiaddr_free(p2p_multiaddr *ma);

/* Deep copy. Here and in encapsulate/decapsulate_code, *out is overwritten
 * with newly allocated bytes (free it with p2p_multiaddr_free); bytes it
 * held before are not freed. */
P2P_WUR int p2p_multiaddr_copy(const p2p_multiaddr *ma, p2p_multiaddr *out);

/* a followed by b. */
P2P_WUR int p2p_multiaddr_encapsulate(const p2p_multiaddr *a,
                                      const p2p_multiaddr *b,
                                      p2p_multiaddr *out);

/* a up to (not including) the last component with protocol `code`.
 * P2P_ERR_NOTFOUND when a has no such component. */
P2P_WUR int p2p_multiaddr_decapsulate_code(const p2p_multiaddr *a,
                                           uint32_t code, p2p_multiaddr *out);

/* Iterates: set *pos = 0, then call while it returns 1 (0 at the end,
 * P2P_ERR_INVALID on corrupt bytes). */
P2P_WUR int p2p_multiaddr_next(const p2p_multiaddr *ma, size_t *pos,
                               p2p_ma_component *c);

/* The protocol code for a name ("ip4"), or P2P_ERR_NOTFOUND. */
P2P_WUR int p2p_multiaddr_proto_code(const char *name, uint32_t *code);

/* Nonzero when ma has a component of protocol `code` (e.g.
 * P2P_MA_P2P_CIRCUIT for a relayed address). */
int p2p_multiaddr_has(const p2p_multiaddr *ma, uint32_t code);

/* The peer of ma: its last /p2p/ component that holds a valid peer ID (for
 * a circuit address, the target rather than the relay). Returns 1 and sets
 * *peer, or 0 when there is none. */
int p2p_multiaddr_last_peer(const p2p_multiaddr *ma, p2p_peerid *peer);

/* Splits a TCP or WebSocket transport address, /ip4/A/tcp/P[/ws][/p2p/ID],
 * into what a dialer needs: the IPv4 address (host byte order), the port,
 * whether it is a WebSocket (/ws) address, and the peer ID when present
 * (*has_peer). peer, is_ws and has_peer may be NULL; outputs are written
 * only on success. Anything else (ip6, dns, /wss, /tls, a circuit, trailing
 * components) is P2P_ERR_INVALID, as is a corrupt multiaddr or peer ID. */
P2P_WUR int p2p_multiaddr_tcp_target(const p2p_multiaddr *ma, uint32_t *ip,
                                     uint16_t *port, int *is_ws,
                                     p2p_peerid *peer, int *has_peer);

#endif /* P2P_MULTIADDR_H */
