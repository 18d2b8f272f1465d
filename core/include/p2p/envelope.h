/*
 * p2p/envelope.h - signed envelopes (libp2p/specs RFC 0002) and the peer
 * records carried in them (RFC 0003).
 *
 * An envelope holds a public key, a payload type, a payload and a signature
 * over "varint(len(domain)) domain varint(len(type)) type varint(len(payload))
 * payload". The domain is never sent: the opener names the domain it
 * expects, so an envelope made for another purpose fails its signature.
 *
 * A peer record is a PeerRecord protobuf (peer ID, sequence number, binary
 * multiaddrs) sealed with the domain "libp2p-peer-record" and the payload
 * type 0x0301 (the multicodec libp2p-peer-record as a varint).
 */
#ifndef P2P_ENVELOPE_H
#define P2P_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/crypto.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/peerid.h"

#define P2P_PEER_RECORD_DOMAIN "libp2p-peer-record"
/* The multicodec 0x0301 as an unsigned varint. */
#define P2P_PEER_RECORD_PAYLOAD_TYPE "\x03\x01"
#define P2P_PEER_RECORD_PAYLOAD_TYPE_LEN 2

/* An opened envelope. payload_type and payload are heap copies owned by the
 * struct (one allocation): free with p2p_envelope_free. */
typedef struct p2p_envelope {
  p2p_pubkey key;
  uint8_t *payload_type;
  size_t payload_type_len;
  uint8_t *payload;
  size_t payload_len;
} p2p_envelope;

/* Signs (domain, payload_type, payload) with `key` and writes the
 * marshalled Envelope into out. domain is a NUL-terminated UTF-8 string;
 * payload_type and payload may be empty. Returns the bytes written,
 * P2P_ERR_LIMIT when cap is too small, P2P_ERR_NOMEM, P2P_ERR_INVALID or
 * P2P_ERR_UNSUPPORTED (a non-Ed25519 key). */
P2P_WUR ssize_t p2p_envelope_seal(const p2p_privkey *key, const char *domain,
                                  const uint8_t *payload_type,
                                  size_t payload_type_len,
                                  const uint8_t *payload, size_t payload_len,
                                  uint8_t *out, size_t cap);

/* Parses a marshalled Envelope and verifies its signature for `domain`.
 * Returns 0 and fills *out (free it with p2p_envelope_free), or
 * P2P_ERR_INVALID for bytes that are not an Envelope or carry no usable
 * public key, P2P_ERR_UNSUPPORTED for a key type other than Ed25519,
 * P2P_ERR_PROTO when the signature does not verify (tampered contents, or
 * a different domain), or P2P_ERR_NOMEM. On failure *out is zeroed. */
P2P_WUR int p2p_envelope_open(const uint8_t *buf, size_t len,
                              const char *domain, p2p_envelope *out);

/* Releases what p2p_envelope_open allocated and zeroes *env. */
void p2p_envelope_free(p2p_envelope *env);

/* A peer record. addrs is a heap array of naddrs binary multiaddrs, each
 * owning its bytes: free the whole record with p2p_peer_record_free. */
typedef struct p2p_peer_record {
  p2p_peerid peer_id;
  uint64_t seq;
  p2p_multiaddr *addrs;
  size_t naddrs;
} p2p_peer_record;

/* Writes the PeerRecord protobuf of rec into out. Returns the bytes
 * written, P2P_ERR_LIMIT, P2P_ERR_NOMEM or P2P_ERR_INVALID. With out NULL
 * it writes nothing and returns the size it needs. */
P2P_WUR ssize_t p2p_peer_record_marshal(const p2p_peer_record *rec,
                                        uint8_t *out, size_t cap);

/* Parses a PeerRecord protobuf. The peer ID must be a valid binary peer ID
 * and every address a valid binary multiaddr. Returns 0 (free *out with
 * p2p_peer_record_free), P2P_ERR_INVALID or P2P_ERR_NOMEM. On failure *out
 * is zeroed. */
P2P_WUR int p2p_peer_record_unmarshal(const uint8_t *buf, size_t len,
                                      p2p_peer_record *out);

/* Releases the addresses of rec and zeroes it. */
void p2p_peer_record_free(p2p_peer_record *rec);

/* Marshals rec and seals it in an envelope signed by `key`, whose peer ID
 * must be rec->peer_id (else P2P_ERR_INVALID). Returns the envelope's length
 * or the errors of p2p_peer_record_marshal and p2p_envelope_seal. */
P2P_WUR ssize_t p2p_peer_record_seal(const p2p_privkey *key,
                                     const p2p_peer_record *rec, uint8_t *out,
                                     size_t cap);

/* Opens an envelope holding a peer record: checks the signature for the
 * peer-record domain, the payload type, and that the record's peer ID is
 * the signer's. Returns 0 (free *out with p2p_peer_record_free; *signer,
 * when not NULL, gets the signing key), P2P_ERR_PROTO for a bad signature,
 * another payload type or a record of another peer, or the errors of
 * p2p_envelope_open and p2p_peer_record_unmarshal. */
P2P_WUR int p2p_peer_record_open(const uint8_t *buf, size_t len,
                                 p2p_peer_record *out, p2p_pubkey *signer);

#endif /* P2P_ENVELOPE_H */
