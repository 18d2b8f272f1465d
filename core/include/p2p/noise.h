/*
 * p2p/noise.h - the libp2p Noise secure channel (libp2p/specs
 * noise/README.md) over Noise_XX_25519_ChaChaPoly_SHA256 (Noise Protocol
 * Framework, revision 34), sans-IO.
 *
 * Two layers:
 *
 * - p2p_noise_xx: the bare Noise XX handshake and transport ciphers, with
 *   caller-chosen payloads and prologue and no framing. It exists for test
 *   vectors and for protocols that carry their own payloads.
 *
 * - p2p_noise: the libp2p secure channel. Every Noise message travels with
 *   a 2-byte big-endian length prefix (so at most 65535 bytes). The first
 *   message (initiator, "-> e") carries an empty payload; the second
 *   (responder, "<- e, ee, s, es") and the third (initiator, "-> s, se")
 *   carry a NoiseHandshakePayload protobuf: the sender's libp2p PublicKey,
 *   an Ed25519 signature over "noise-libp2p-static-key:" || its static
 *   X25519 public key, and a NoiseExtensions message listing its stream
 *   muxers. Each side verifies the other's signature and derives its peer
 *   ID; an initiator given an expected peer ID fails when the responder
 *   turns out to be someone else. After the handshake, application data
 *   travels in frames of at most 65535 bytes of ciphertext (65519 of
 *   plaintext plus the 16-byte Poly1305 tag).
 *
 * Keys and nonces: the static and ephemeral X25519 keys are drawn from the
 * p2p_rand given at creation (32 bytes each, static first, then the
 * ephemeral when the first handshake message is written or read), so a
 * seeded source replays a handshake to the byte. Only libsodium is used:
 * crypto_scalarmult (X25519), crypto_aead_chacha20poly1305_ietf (nonce =
 * 4 zero bytes || 64-bit little-endian counter), SHA-256 and HMAC-SHA256
 * (HKDF). A DH whose result is all zeros (a low-order remote point) fails
 * the handshake.
 *
 * Usage of p2p_noise: create, optionally set a prologue, then loop: drain
 * p2p_noise_send() and write those bytes to the peer; feed what the peer
 * sends to p2p_noise_recv(); take decrypted data with p2p_noise_read().
 * Once p2p_noise_state() is P2P_NOISE_ESTABLISHED, p2p_noise_write() queues
 * application data. Nothing here reads a clock: the caller applies its own
 * handshake timeout.
 *
 * Memory: buffers are allocated when needed and sized to what they hold. A
 * frame that arrives whole in one p2p_noise_recv call is decrypted where it
 * lies; only a frame split across calls is gathered. Queues larger than a
 * few hundred bytes are freed once drained, so an idle channel holds about
 * a kilobyte.
 */
#ifndef P2P_NOISE_H
#define P2P_NOISE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "p2p/crypto.h"
#include "p2p/error.h"
#include "p2p/peerid.h"
#include "p2p/rand.h"

/* The Noise protocol name, which is also the initial handshake hash. */
#define P2P_NOISE_PROTOCOL_NAME "Noise_XX_25519_ChaChaPoly_SHA256"
/* The multistream-select ID of the libp2p Noise channel. */
#define P2P_NOISE_PROTOCOL_ID "/noise"
/* X25519 key and SHA-256 hash sizes. */
#define P2P_NOISE_KEY_LEN 32
#define P2P_NOISE_HASH_LEN 32
/* The Poly1305 tag every encrypted Noise field carries. */
#define P2P_NOISE_TAG_LEN 16
/* The largest Noise message (handshake or transport), as the spec caps it
 * and as the 2-byte length prefix can express. */
#define P2P_NOISE_MAX_MSG_LEN 65535
/* The largest plaintext one transport message carries. */
#define P2P_NOISE_MAX_PLAINTEXT (P2P_NOISE_MAX_MSG_LEN - P2P_NOISE_TAG_LEN)
/* The longest prologue accepted. */
#define P2P_NOISE_MAX_PROLOGUE 1024
/* The signed prefix of the libp2p handshake payload. */
#define P2P_NOISE_SIG_PREFIX "noise-libp2p-static-key:"
/* Most muxer names we send or keep from the peer, and their longest name. */
#define P2P_NOISE_MAX_MUXERS 16
#define P2P_NOISE_MAX_MUXER_LEN 256
/* Decrypted bytes p2p_noise_recv buffers before it stops consuming input
 * (backpressure: drain p2p_noise_read, then feed the rest again). */
#define P2P_NOISE_RX_LIMIT (256 * 1024)

/* ------------------------------------------------------------------------
 * The bare Noise XX handshake.
 * ---------------------------------------------------------------------- */

typedef struct p2p_noise_xx p2p_noise_xx;

/* Creates an XX handshake state for the initiator (initiator != 0) or the
 * responder, with the given prologue (copied; NULL with len 0 for none, at
 * most P2P_NOISE_MAX_PROLOGUE bytes) and 32-byte static private key
 * (copied; clamping is X25519's). The ephemeral key is drawn from rnd
 * (which must outlive the object) when this side first needs it. Returns
 * 0 and sets *out, P2P_ERR_INVALID or P2P_ERR_NOMEM. */
P2P_WUR int p2p_noise_xx_new(int initiator, const uint8_t *prologue,
                             size_t prologue_len,
                             const uint8_t static_priv[P2P_NOISE_KEY_LEN],
                             const p2p_rand *rnd, p2p_noise_xx **out);

/* Wipes and frees the state. NULL is allowed. */
void p2p_noise_xx_del(p2p_noise_xx *x);

/* Writes this side's next handshake message carrying `payload` (len
 * bytes) into out (cap bytes, caller-owned). Returns the message length,
 * P2P_ERR_STATE when it is not this side's turn or the handshake is over
 * or failed, P2P_ERR_LIMIT when cap is too small or the message would
 * exceed P2P_NOISE_MAX_MSG_LEN, P2P_ERR_PROTO when a DH gives zero. */
P2P_WUR ssize_t p2p_noise_xx_write_message(p2p_noise_xx *x,
                                           const uint8_t *payload, size_t len,
                                           uint8_t *out, size_t cap);

/* Reads the peer's next handshake message (msg, len bytes) and writes its
 * payload into out (cap bytes; len is always enough). Returns the payload
 * length, P2P_ERR_STATE (out of turn), P2P_ERR_PROTO (too short, too long,
 * decryption failure, zero DH) or P2P_ERR_LIMIT (cap too small). A
 * P2P_ERR_PROTO fails the object for good. */
P2P_WUR ssize_t p2p_noise_xx_read_message(p2p_noise_xx *x, const uint8_t *msg,
                                          size_t len, uint8_t *out, size_t cap);

/* 1 once all three messages went through (the transport ciphers are
 * split), 0 otherwise. */
int p2p_noise_xx_done(const p2p_noise_xx *x);

/* Copies the handshake hash (channel binding) once done. Returns 0 or
 * P2P_ERR_STATE. */
P2P_WUR int p2p_noise_xx_handshake_hash(const p2p_noise_xx *x,
                                        uint8_t out[P2P_NOISE_HASH_LEN]);

/* Copies the peer's static public key once it has been received. Returns
 * 0 or P2P_ERR_STATE. */
P2P_WUR int p2p_noise_xx_remote_static(const p2p_noise_xx *x,
                                       uint8_t out[P2P_NOISE_KEY_LEN]);

/* Encrypts one transport message (len <= P2P_NOISE_MAX_PLAINTEXT) into out
 * (needs len + 16 bytes). Returns len + 16, P2P_ERR_STATE before the
 * handshake is done or once the nonces are used up, P2P_ERR_LIMIT. */
P2P_WUR ssize_t p2p_noise_xx_encrypt(p2p_noise_xx *x, const uint8_t *pt,
                                     size_t len, uint8_t *out, size_t cap);

/* Decrypts one transport message into out (needs len - 16 bytes). Returns
 * the plaintext length, P2P_ERR_PROTO (shorter than a tag or not
 * authentic; the receive nonce is not consumed), P2P_ERR_STATE or
 * P2P_ERR_LIMIT. */
P2P_WUR ssize_t p2p_noise_xx_decrypt(p2p_noise_xx *x, const uint8_t *ct,
                                     size_t len, uint8_t *out, size_t cap);

/* ------------------------------------------------------------------------
 * The libp2p secure channel.
 * ---------------------------------------------------------------------- */

typedef struct p2p_noise p2p_noise;

typedef enum p2p_noise_role {
  P2P_NOISE_INITIATOR = 0, /* the dialer: writes the first message */
  P2P_NOISE_RESPONDER = 1  /* the listener */
} p2p_noise_role;

enum p2p_noise_state {
  P2P_NOISE_HANDSHAKING = 0, /* messages are still being exchanged */
  P2P_NOISE_ESTABLISHED = 1, /* peer authenticated, data may flow */
  P2P_NOISE_FAILED = 2       /* p2p_noise_error / p2p_noise_reason say why */
};

/* Creates a secure channel endpoint.
 * - identity: this node's libp2p key (copied; must be Ed25519).
 * - expected_remote: for an initiator that dialled a /p2p/ address, the
 *   peer ID it must find (copied); NULL to accept any peer. Ignored by a
 *   responder.
 * - muxers[0..n_muxers-1]: stream muxer protocol IDs announced in the
 *   payload's extensions (copied; at most P2P_NOISE_MAX_MUXERS, each
 *   non-empty and at most P2P_NOISE_MAX_MUXER_LEN bytes). With none, no
 *   extensions are sent.
 * - rnd: the random source (kept by pointer, must outlive the object); the
 *   static X25519 key is drawn now.
 * An initiator queues its first message at its first p2p_noise_send.
 * Returns 0 and sets *out, P2P_ERR_INVALID, P2P_ERR_UNSUPPORTED (identity
 * not Ed25519) or P2P_ERR_NOMEM. */
P2P_WUR int p2p_noise_new(p2p_noise_role role, const p2p_privkey *identity,
                          const p2p_peerid *expected_remote,
                          const char *const *muxers, size_t n_muxers,
                          const p2p_rand *rnd, p2p_noise **out);

/* Wipes the keys and frees the object. NULL is allowed. */
void p2p_noise_del(p2p_noise *n);

/* Sets the Noise prologue (copied, at most P2P_NOISE_MAX_PROLOGUE bytes;
 * libp2p over TCP uses none, WebRTC binds both certificate fingerprints
 * here). Only before the first p2p_noise_send or p2p_noise_recv: returns 0,
 * P2P_ERR_STATE afterwards, P2P_ERR_INVALID. */
P2P_WUR int p2p_noise_set_prologue(p2p_noise *n, const uint8_t *prologue,
                                   size_t len);

/* Feeds bytes received from the peer; any split is fine. Handshake
 * messages are processed (queuing this side's answer for p2p_noise_send)
 * and transport frames decrypted into the read queue. Returns the bytes
 * consumed: fewer than len only when the read queue holds
 * P2P_NOISE_RX_LIMIT bytes or more (drain p2p_noise_read, then feed the
 * rest again). Errors, after which the object is P2P_NOISE_FAILED and
 * keeps returning them: P2P_ERR_PROTO for anything the peer got wrong (bad
 * length, decryption failure, bad payload protobuf, bad signature, peer ID
 * mismatch), P2P_ERR_UNSUPPORTED for a non-Ed25519 identity key,
 * P2P_ERR_NOMEM, P2P_ERR_INVALID for NULL arguments. */
P2P_WUR ssize_t p2p_noise_recv(p2p_noise *n, const uint8_t *buf, size_t len);

/* Moves up to cap bytes of queued output (handshake messages, then
 * encrypted frames, each with its length prefix) into out (caller-owned).
 * Returns the number written, 0 when nothing is queued, P2P_ERR_NOMEM,
 * P2P_ERR_INVALID. Output queued before a failure is still handed out. */
P2P_WUR ssize_t p2p_noise_send(p2p_noise *n, uint8_t *out, size_t cap);

/* The number of output bytes waiting for p2p_noise_send. */
size_t p2p_noise_pending(const p2p_noise *n);

/* Encrypts len bytes of application data (any length; split into frames of
 * at most P2P_NOISE_MAX_PLAINTEXT bytes) onto the output queue. Returns
 * len, P2P_ERR_STATE before the handshake is established or after a
 * failure, P2P_ERR_NOMEM, P2P_ERR_INVALID. */
P2P_WUR ssize_t p2p_noise_write(p2p_noise *n, const uint8_t *buf, size_t len);

/* Moves up to cap bytes of decrypted application data into buf. Returns
 * the number moved (0 when none is queued) or P2P_ERR_INVALID. Data
 * decrypted before a failure can still be read. */
P2P_WUR ssize_t p2p_noise_read(p2p_noise *n, uint8_t *buf, size_t cap);

/* The number of decrypted bytes waiting for p2p_noise_read. */
size_t p2p_noise_readable(const p2p_noise *n);

/* The current state, an enum p2p_noise_state value. */
int p2p_noise_state(const p2p_noise *n);

/* The error that failed the channel (a negative P2P_ERR_*), or 0. */
int p2p_noise_error(const p2p_noise *n);

/* A static, human-readable reason for the failure ("" when none), e.g.
 * "remote peer id does not match the expected one". */
const char *p2p_noise_reason(const p2p_noise *n);

/* The authenticated peer ID of the remote, or NULL before it is known (the
 * initiator learns it from message 2, the responder from message 3).
 * Owned by the object. */
const p2p_peerid *p2p_noise_remote_peer(const p2p_noise *n);

/* The stream muxers the remote announced in its payload extensions, in
 * its order (NUL-terminated strings owned by the object, valid until
 * p2p_noise_del); *count is set to their number (0 when it sent none or
 * is not yet authenticated). Returns NULL when there are none. */
const char *const *p2p_noise_remote_muxers(const p2p_noise *n, size_t *count);

/* Copies the handshake hash once established. Returns 0 or
 * P2P_ERR_STATE. */
P2P_WUR int p2p_noise_handshake_hash(const p2p_noise *n,
                                     uint8_t out[P2P_NOISE_HASH_LEN]);

#endif /* P2P_NOISE_H */
