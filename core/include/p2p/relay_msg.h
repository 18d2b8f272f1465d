/*
 * p2p/relay_msg.h - Circuit Relay v2 messages (libp2p/specs
 * relay/circuit-v2.md): the HopMessage and StopMessage codecs, the
 * length-prefixed stream framing, and reservation vouchers.
 *
 * Framing: each message on a hop or stop stream is an unsigned varint
 * length followed by that many bytes of protobuf. The spec sets no size
 * limit; go-libp2p and js-libp2p both read with a 4096-byte maximum
 * (maxMessageSize), so we use the same: P2P_RELAY_MAX_MSG_LEN bounds the
 * protobuf body (without its prefix) both ways.
 *
 * Validation on decode: the proto2 required fields (type, Peer.id) must be
 * there, enum values must be ones the spec names (the Status enum has no 0),
 * and peer IDs must be valid binary peer IDs; any of these is
 * P2P_ERR_PROTO. An address that is not a valid binary multiaddr is
 * skipped and counted in nskipped_addrs, as go-libp2p does (it drops
 * unparsable Peer and Reservation addresses rather than the message).
 * Unknown fields are ignored (proto2). Whether a field is meaningful for a
 * given type (e.g. CONNECT without a peer) is left to the hop and stop state
 * machines; the codec only checks the wire format.
 *
 * Vouchers: a ReservationVoucher protobuf (relay peer ID, reserving peer ID,
 * expiration in Unix seconds) sealed in a signed envelope with the domain
 * "libp2p-relay-rsvp" and the payload type bytes 03 02. The spec names
 * neither; these are the values of go-libp2p, js-libp2p and nim-libp2p
 * (0x0302 is the multicodec libp2p-relay-rsvp, written big-endian like the
 * peer record's 03 01, not as a varint).
 */
#ifndef P2P_RELAY_MSG_H
#define P2P_RELAY_MSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/crypto.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"
#include "p2p/peerid.h"
#include "p2p/varint.h"

#define P2P_RELAY_HOP_PROTOCOL "/libp2p/circuit/relay/0.2.0/hop"
#define P2P_RELAY_STOP_PROTOCOL "/libp2p/circuit/relay/0.2.0/stop"
/* The largest protobuf body of one hop or stop message. */
#define P2P_RELAY_MAX_MSG_LEN 4096
/* The longest length prefix: 4096 fits in two varint bytes. */
#define P2P_RELAY_MAX_PREFIX_LEN 2
#define P2P_RELAY_VOUCHER_DOMAIN "libp2p-relay-rsvp"
#define P2P_RELAY_VOUCHER_PAYLOAD_TYPE "\x03\x02"
#define P2P_RELAY_VOUCHER_PAYLOAD_TYPE_LEN 2
/* Enough for any voucher envelope sealed with an Ed25519 key. */
#define P2P_RELAY_VOUCHER_MAX_LEN 512

/* HopMessage.Type. */
typedef enum p2p_relay_hop_type {
  P2P_RELAY_HOP_RESERVE = 0,
  P2P_RELAY_HOP_CONNECT = 1,
  P2P_RELAY_HOP_STATUS = 2
} p2p_relay_hop_type;

/* StopMessage.Type. */
typedef enum p2p_relay_stop_type {
  P2P_RELAY_STOP_CONNECT = 0,
  P2P_RELAY_STOP_STATUS = 1
} p2p_relay_stop_type;

/* The Status enum. P2P_RELAY_STATUS_UNUSED is not on the wire (the spec's
 * enum has no 0; go-libp2p's proto3 copy calls it UNUSED): it is what
 * p2p_relay_status_name reports for "no status" and encode refuses it. */
typedef enum p2p_relay_status {
  P2P_RELAY_STATUS_UNUSED = 0,
  P2P_RELAY_STATUS_OK = 100,
  P2P_RELAY_STATUS_RESERVATION_REFUSED = 200,
  P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED = 201,
  P2P_RELAY_STATUS_PERMISSION_DENIED = 202,
  P2P_RELAY_STATUS_CONNECTION_FAILED = 203,
  P2P_RELAY_STATUS_NO_RESERVATION = 204,
  P2P_RELAY_STATUS_MALFORMED_MESSAGE = 400,
  P2P_RELAY_STATUS_UNEXPECTED_MESSAGE = 401
} p2p_relay_status;

/*
 * Ownership of the message structs: for encoding, the caller fills them and
 * keeps every pointer; encode only reads. A decoded message owns its
 * arrays and bytes (heap): release it with p2p_relay_hop_msg_free or
 * p2p_relay_stop_msg_free, never field by field.
 */

/* Peer: the peer's ID and its addresses (binary multiaddrs). */
typedef struct p2p_relay_peer {
  p2p_peerid id;
  p2p_multiaddr *addrs;
  size_t naddrs;
  size_t nskipped_addrs; /* decode: invalid addresses dropped */
} p2p_relay_peer;

/* Reservation: expiry (Unix seconds, UTC), the relay's addresses for the
 * reserving peer and the voucher envelope (opened with
 * p2p_relay_voucher_open, since checking it needs the relay's ID). */
typedef struct p2p_relay_reservation {
  int has_expire;
  uint64_t expire_unix_s;
  p2p_multiaddr *addrs;
  size_t naddrs;
  size_t nskipped_addrs; /* decode: invalid addresses dropped */
  int has_voucher;
  uint8_t *voucher;
  size_t voucher_len;
} p2p_relay_reservation;

/* Limit: the relayed connection's duration and data budgets. */
typedef struct p2p_relay_limit {
  int has_duration;
  uint32_t duration_s;
  int has_data;
  uint64_t data_bytes;
} p2p_relay_limit;

/* A HopMessage. Fields with a has_ flag are optional. */
typedef struct p2p_relay_hop_msg {
  p2p_relay_hop_type type;
  int has_peer;
  p2p_relay_peer peer;
  int has_reservation;
  p2p_relay_reservation reservation;
  int has_limit;
  p2p_relay_limit limit;
  int has_status;
  p2p_relay_status status;
} p2p_relay_hop_msg;

/* A StopMessage. Fields with a has_ flag are optional. */
typedef struct p2p_relay_stop_msg {
  p2p_relay_stop_type type;
  int has_peer;
  p2p_relay_peer peer;
  int has_limit;
  p2p_relay_limit limit;
  int has_status;
  p2p_relay_status status;
} p2p_relay_stop_msg;

/* Writes the varint length prefix and the HopMessage protobuf of m into
 * out. With out NULL it writes nothing and returns the size it needs.
 * Returns the bytes written, P2P_ERR_INVALID (a type or status the spec
 * does not name, an empty peer ID, an empty address), P2P_ERR_LIMIT (the
 * body exceeds P2P_RELAY_MAX_MSG_LEN, or cap is too small) or
 * P2P_ERR_NOMEM. */
P2P_WUR ssize_t p2p_relay_hop_encode(const p2p_relay_hop_msg *m, uint8_t *out,
                                     size_t cap);

/* As p2p_relay_hop_encode, for a StopMessage. */
P2P_WUR ssize_t p2p_relay_stop_encode(const p2p_relay_stop_msg *m, uint8_t *out,
                                      size_t cap);

/* Parses and validates one HopMessage body (no length prefix; at most
 * P2P_RELAY_MAX_MSG_LEN bytes). Returns 0 and fills *out (free it with
 * p2p_relay_hop_msg_free), P2P_ERR_PROTO for bytes that are not a valid
 * HopMessage (see the header comment; an allocation failure inside the
 * protobuf parser also shows as P2P_ERR_PROTO), or P2P_ERR_NOMEM. On
 * failure *out is zeroed. */
P2P_WUR int p2p_relay_hop_decode(const uint8_t *buf, size_t len,
                                 p2p_relay_hop_msg *out);

/* As p2p_relay_hop_decode, for a StopMessage body. */
P2P_WUR int p2p_relay_stop_decode(const uint8_t *buf, size_t len,
                                  p2p_relay_stop_msg *out);

/* Releases what decode allocated and zeroes *m. Safe on a zeroed struct. */
void p2p_relay_hop_msg_free(p2p_relay_hop_msg *m);

/* Releases what decode allocated and zeroes *m. Safe on a zeroed struct. */
void p2p_relay_stop_msg_free(p2p_relay_stop_msg *m);

/* States of the incremental reader. */
enum p2p_relay_reader_state {
  P2P_RELAY_READ_PREFIX = 0, /* reading the varint length */
  P2P_RELAY_READ_BODY,       /* reading the protobuf body */
  P2P_RELAY_READ_DONE,       /* a whole message is buffered; take it */
  P2P_RELAY_READ_FAILED      /* an error was returned; drop the stream */
};

/* Reassembles one length-prefixed message from a stream split anywhere.
 * Caller-owned storage with no heap: p2p_relay_reader_init, then feed
 * with p2p_relay_reader_recv. The body buffer is inline, so the struct is
 * a little over 4 KiB. */
typedef struct p2p_relay_reader {
  int state; /* enum p2p_relay_reader_state */
  int err;   /* the error that failed the reader, or 0 */
  uint8_t prefix[P2P_RELAY_MAX_PREFIX_LEN];
  size_t prefix_len;
  size_t body_len; /* announced length, once the prefix is read */
  size_t got;      /* body bytes buffered so far */
  uint8_t body[P2P_RELAY_MAX_MSG_LEN];
} p2p_relay_reader;

/* Readies r for the first message. */
void p2p_relay_reader_init(p2p_relay_reader *r);

/* Feeds stream bytes. Consumes at most up to the end of the current
 * message, so a short count means the message is complete (state DONE) and
 * the rest belongs to what follows it (the relayed connection, after a
 * STATUS OK). In state DONE it consumes nothing until the message is
 * taken. Returns the bytes consumed, or P2P_ERR_PROTO for a length prefix
 * above P2P_RELAY_MAX_MSG_LEN or not minimally encoded; after an error it
 * keeps returning that error. */
P2P_WUR ssize_t p2p_relay_reader_recv(p2p_relay_reader *r, const uint8_t *buf,
                                      size_t len);

/* 1 when a whole message is buffered, 0 otherwise. */
int p2p_relay_reader_done(const p2p_relay_reader *r);

/* The stream ended. Returns 0 when it ended between messages (nothing
 * buffered or a message waiting to be taken), P2P_ERR_PROTO when it ended
 * inside one (and the reader fails). */
P2P_WUR int p2p_relay_reader_recv_eof(p2p_relay_reader *r);

/* Decodes the buffered message as a HopMessage and readies r for the next
 * message. Returns P2P_ERR_STATE when no message is complete, or the
 * results of p2p_relay_hop_decode (a decode error fails the reader). */
P2P_WUR int p2p_relay_reader_take_hop(p2p_relay_reader *r,
                                      p2p_relay_hop_msg *out);

/* As p2p_relay_reader_take_hop, for a StopMessage. */
P2P_WUR int p2p_relay_reader_take_stop(p2p_relay_reader *r,
                                       p2p_relay_stop_msg *out);

/* An opened reservation voucher. */
typedef struct p2p_relay_voucher {
  p2p_peerid relay;           /* the relay that signed it */
  p2p_peerid peer;            /* the peer holding the reservation */
  uint64_t expiration_unix_s; /* Unix seconds, UTC */
} p2p_relay_voucher;

/* Builds the voucher (relay = the peer ID of relay_key, peer, expiration)
 * and seals it in an envelope signed by relay_key, written into out.
 * Returns the envelope's length, P2P_ERR_INVALID (empty peer ID),
 * P2P_ERR_LIMIT (cap too small; P2P_RELAY_VOUCHER_MAX_LEN is always
 * enough), P2P_ERR_NOMEM, or P2P_ERR_UNSUPPORTED (non-Ed25519 key). */
P2P_WUR ssize_t p2p_relay_voucher_seal(const p2p_privkey *relay_key,
                                       const p2p_peerid *peer,
                                       uint64_t expiration_unix_s, uint8_t *out,
                                       size_t cap);

/* Opens a voucher envelope: checks the signature for the voucher domain,
 * the payload type, the payload (all three required fields, valid peer
 * IDs), that the voucher's relay is the signer and, when expected_relay is
 * not NULL, that it is expected_relay. Expiry is not checked (no clock
 * here): compare expiration_unix_s yourself. Returns 0 and fills *out,
 * P2P_ERR_PROTO for any failed check or unparsable bytes, or
 * P2P_ERR_NOMEM. On failure *out is zeroed. */
P2P_WUR int p2p_relay_voucher_open(const uint8_t *buf, size_t len,
                                   const p2p_peerid *expected_relay,
                                   p2p_relay_voucher *out);

/* The spec's name of a status ("OK", "NO_RESERVATION", ...), "UNUSED" for
 * 0, or "UNKNOWN" for values the spec does not name. Static; never NULL. */
const char *p2p_relay_status_name(int status);

#endif /* P2P_RELAY_MSG_H */
