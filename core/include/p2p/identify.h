/*
 * p2p/identify.h - the identify and identify push protocols
 * (libp2p/specs identify/README.md), as sans-IO codecs.
 *
 * Both protocols carry one Identify protobuf preceded by its length as an
 * unsigned varint: the identify responder writes it and closes the stream,
 * the push sender does the same on a stream it opens. The host owns the
 * stream; this module only turns an info struct into bytes and bytes into a
 * parsed message.
 *
 * Size limit: a message body may be at most P2P_IDENTIFY_MAX_MSG_LEN bytes
 * (8 KiB), the limit of both js-libp2p (MAX_IDENTIFY_MESSAGE_SIZE) and
 * go-libp2p (signedIDSize). A larger length prefix is refused as soon as it
 * is read, before any body byte is buffered, and the builder refuses to
 * produce a message that a peer would refuse.
 *
 * Validation choices when parsing (what go-libp2p does, so that one bad
 * address does not cost the whole identification):
 *  - a listen address or the observed address that is not a valid binary
 *    multiaddr is skipped and counted in p2p_identify_msg.n_skipped_addrs;
 *  - a publicKey that does not parse (including key types other than
 *    Ed25519, which this core cannot use) fails the message: the peer's
 *    identity is what identify is for, and go-libp2p also drops the key;
 *  - a signedPeerRecord that does not open (bad signature, wrong domain or
 *    payload type, record of another peer) or whose signer is not the
 *    publicKey fails the message with P2P_ERR_PROTO. go-libp2p only logs
 *    and ignores such a record; we are stricter because a peer that sends
 *    a forged record is misbehaving, and the host can still retry.
 *  - protocol strings are taken as protobuf-c gives them (NUL-terminated;
 *    a string with an embedded NUL is cut at it).
 */
#ifndef P2P_IDENTIFY_H
#define P2P_IDENTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/crypto.h"
#include "p2p/envelope.h"
#include "p2p/error.h"
#include "p2p/multiaddr.h"

#define P2P_IDENTIFY_PROTOCOL_ID "/ipfs/id/1.0.0"
#define P2P_IDENTIFY_PUSH_PROTOCOL_ID "/ipfs/id/push/1.0.0"
/* The protocolVersion every libp2p implementation sends. */
#define P2P_IDENTIFY_PROTOCOL_VERSION "ipfs/0.1.0"
/* Largest message body accepted or built (without its length prefix). */
#define P2P_IDENTIFY_MAX_MSG_LEN 8192

/* What a host says about itself. Every pointer is borrowed for the call
 * only; NULL (or a zero count) leaves the field out of the message, which
 * is how an identify push sends only what changed. */
typedef struct p2p_identify_info {
  /* The marshalled PublicKey protobuf (p2p_pubkey_marshal). */
  const uint8_t *public_key;
  size_t public_key_len;
  const p2p_multiaddr *listen_addrs;
  size_t n_listen_addrs;
  /* NUL-terminated protocol IDs. */
  const char *const *protocols;
  size_t n_protocols;
  /* The remote end's address as seen by us, or NULL. */
  const p2p_multiaddr *observed_addr;
  /* NUL-terminated, or NULL; normally P2P_IDENTIFY_PROTOCOL_VERSION. */
  const char *protocol_version;
  const char *agent_version;
  /* A sealed peer record (p2p_identify_seal_record), or NULL. */
  const uint8_t *signed_peer_record;
  size_t signed_peer_record_len;
} p2p_identify_info;

/* A parsed Identify message. Everything is owned by the struct: release it
 * with p2p_identify_msg_free. Absent optional fields are flagged by has_*
 * or a NULL pointer. */
typedef struct p2p_identify_msg {
  int has_public_key;
  p2p_pubkey public_key;
  /* The valid listen addresses, in message order. */
  p2p_multiaddr *listen_addrs;
  size_t n_listen_addrs;
  /* NUL-terminated protocol IDs. */
  char **protocols;
  size_t n_protocols;
  int has_observed_addr;
  p2p_multiaddr observed_addr;
  char *protocol_version; /* NULL when absent */
  char *agent_version;    /* NULL when absent */
  /* A verified peer record, when the message carried one: its peer ID is
   * the signer's, and the signer is public_key when that is present. */
  int has_peer_record;
  p2p_peer_record peer_record;
  p2p_pubkey peer_record_signer;
  /* The envelope bytes as received, to store or forward. */
  uint8_t *signed_peer_record;
  size_t signed_peer_record_len;
  /* Listen and observed addresses skipped because they did not parse. */
  size_t n_skipped_addrs;
} p2p_identify_msg;

/* Seals a peer record of the host (peer ID of `key`, sequence number `seq`,
 * addresses addrs[0..n-1]) in an envelope signed by `key`, for the
 * signedPeerRecord field. seq must grow with every new record of the host;
 * the host chooses it (go-libp2p uses the wall clock), since the core has
 * no clock. Returns the envelope's length, or the errors of
 * p2p_peer_record_seal (P2P_ERR_LIMIT when cap is too small). */
P2P_WUR ssize_t p2p_identify_seal_record(const p2p_privkey *key, uint64_t seq,
                                         const p2p_multiaddr *addrs, size_t n,
                                         uint8_t *out, size_t cap);

/* Writes the length-prefixed Identify message for `info` into out (fields
 * in field-number order, as protobuf-c writes them). With out NULL nothing
 * is written and the needed size is returned. Returns the bytes written,
 * P2P_ERR_INVALID for a NULL info or an inconsistent pointer/count,
 * P2P_ERR_LIMIT when the body would exceed P2P_IDENTIFY_MAX_MSG_LEN or cap
 * is too small, or P2P_ERR_NOMEM. */
P2P_WUR ssize_t p2p_identify_build(const p2p_identify_info *info, uint8_t *out,
                                   size_t cap);

/* Parses one Identify message body (no length prefix) into *out; the rules
 * are those of the header comment. Returns 0, P2P_ERR_PROTO for a body that
 * is not an Identify protobuf or carries a bad peer record, the errors of
 * p2p_pubkey_unmarshal for a bad publicKey (P2P_ERR_INVALID,
 * P2P_ERR_UNSUPPORTED), P2P_ERR_LIMIT for a body above the limit, or
 * P2P_ERR_NOMEM. On failure *out is zeroed. */
P2P_WUR int p2p_identify_parse(const uint8_t *buf, size_t len,
                               p2p_identify_msg *out);

/* Releases what *msg owns and zeroes it. NULL and zeroed structs are
 * allowed. */
void p2p_identify_msg_free(p2p_identify_msg *msg);

/* States of the incremental reader. */
enum p2p_identify_reader_state {
  P2P_IDENTIFY_READ_LEN = 0, /* reading the varint length prefix */
  P2P_IDENTIFY_READ_BODY,    /* buffering the message body */
  P2P_IDENTIFY_READ_DONE,    /* one message parsed: take it */
  P2P_IDENTIFY_READ_FAILED   /* an error was returned; drop the reader */
};

/* Reads one length-prefixed Identify message from stream bytes fed in any
 * split. Caller-owned storage: p2p_identify_reader_init, then
 * p2p_identify_reader_free. */
typedef struct p2p_identify_reader {
  int state;
  uint8_t len_buf[9]; /* the varint prefix, up to P2P_VARINT_MAX_LEN */
  size_t len_got;
  size_t body_len;
  size_t body_got;
  uint8_t *body; /* heap, body_len bytes */
  int err;       /* the error that failed the reader, or 0 */
  int taken;     /* the message was moved out */
  p2p_identify_msg msg;
} p2p_identify_reader;

/* Prepares *r to read one message. Never fails. */
void p2p_identify_reader_init(p2p_identify_reader *r);

/* Feeds len bytes received on the stream. Consumes only what belongs to the
 * message: returns the bytes consumed (less than len once the message is
 * complete; what is left over is the peer's excess), or P2P_ERR_PROTO for a
 * bad length prefix or body, P2P_ERR_LIMIT for a length above
 * P2P_IDENTIFY_MAX_MSG_LEN, the other errors of p2p_identify_parse, or
 * P2P_ERR_STATE after a failure. After an error the reader stays failed.
 * Once complete it consumes nothing and returns 0. */
P2P_WUR ssize_t p2p_identify_reader_recv(p2p_identify_reader *r,
                                         const uint8_t *buf, size_t len);

/* Tells the reader the peer closed the stream. Returns 0 when a message was
 * complete, P2P_ERR_PROTO when the stream ended inside one (a truncated
 * message; the reader fails), or the reader's earlier error. */
P2P_WUR int p2p_identify_reader_recv_eof(p2p_identify_reader *r);

/* 1 once a full message has been parsed, 0 otherwise. */
int p2p_identify_reader_done(const p2p_identify_reader *r);

/* Moves the parsed message into *out (the caller frees it with
 * p2p_identify_msg_free). Returns 0, or P2P_ERR_STATE when the reader is not
 * done or the message was already taken. */
P2P_WUR int p2p_identify_reader_take(p2p_identify_reader *r,
                                     p2p_identify_msg *out);

/* Releases the reader's buffers and any message not taken. */
void p2p_identify_reader_free(p2p_identify_reader *r);

#endif /* P2P_IDENTIFY_H */
