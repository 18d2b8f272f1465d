/*
 * relay_msg.c - Circuit Relay v2 message codecs, framing and vouchers.
 *
 * The protobuf work is done by the protobuf-c code generated from
 * core/proto/circuit.proto; this file maps between those structs and the
 * plain p2p_relay_* structs, and adds the checks protobuf-c does not make
 * (enum values, peer IDs, multiaddrs, the size limit).
 */
#include "p2p/relay_msg.h"

#include <stdlib.h>
#include <string.h>

#include "circuit.pb-c.h"
#include "p2p/envelope.h"

const char *p2p_relay_status_name(int status) {
  switch (status) {
  case P2P_RELAY_STATUS_UNUSED: return "UNUSED";
  case P2P_RELAY_STATUS_OK: return "OK";
  case P2P_RELAY_STATUS_RESERVATION_REFUSED: return "RESERVATION_REFUSED";
  case P2P_RELAY_STATUS_RESOURCE_LIMIT_EXCEEDED:
    return "RESOURCE_LIMIT_EXCEEDED";
  case P2P_RELAY_STATUS_PERMISSION_DENIED: return "PERMISSION_DENIED";
  case P2P_RELAY_STATUS_CONNECTION_FAILED: return "CONNECTION_FAILED";
  case P2P_RELAY_STATUS_NO_RESERVATION: return "NO_RESERVATION";
  case P2P_RELAY_STATUS_MALFORMED_MESSAGE: return "MALFORMED_MESSAGE";
  case P2P_RELAY_STATUS_UNEXPECTED_MESSAGE: return "UNEXPECTED_MESSAGE";
  default: return "UNKNOWN";
  }
}

/* 1 for the status values that may appear on the wire (not UNUSED). */
static int status_valid(int status) {
  return status != P2P_RELAY_STATUS_UNUSED &&
         strcmp(p2p_relay_status_name(status), "UNKNOWN") != 0;
}

/* ---- encoding ---------------------------------------------------------- */

/* Protobuf-c views of one message's sub-messages. The address arrays are
 * heap (one per list) and must be released with enc_free. */
typedef struct enc_parts {
  Circuit__Pb__Peer peer;
  Circuit__Pb__Reservation rsvp;
  Circuit__Pb__Limit limit;
  ProtobufCBinaryData *peer_addrs;
  ProtobufCBinaryData *rsvp_addrs;
} enc_parts;

static void enc_free(enc_parts *p) {
  free(p->peer_addrs);
  free(p->rsvp_addrs);
}

/* Points a protobuf-c bytes list at n multiaddrs. */
static int enc_addrs(const p2p_multiaddr *addrs, size_t n,
                     ProtobufCBinaryData **out) {
  size_t i;
  *out = NULL;
  if (n == 0)
    return 0;
  if (addrs == NULL || n > P2P_RELAY_MAX_MSG_LEN)
    return P2P_ERR_INVALID;
  *out = calloc(n, sizeof(**out));
  if (*out == NULL)
    return P2P_ERR_NOMEM;
  for (i = 0; i < n; i++) {
    if (addrs[i].bytes == NULL || addrs[i].len == 0)
      return P2P_ERR_INVALID;
    (*out)[i].data = addrs[i].bytes;
    (*out)[i].len = addrs[i].len;
  }
  return 0;
}

static int enc_peer(const p2p_relay_peer *src, enc_parts *p) {
  Circuit__Pb__Peer init = CIRCUIT__PB__PEER__INIT;
  int rv;
  p->peer = init;
  if (src->id.len == 0 || src->id.len > P2P_PEERID_MAX_LEN)
    return P2P_ERR_INVALID;
  p->peer.id.data = (uint8_t *)src->id.bytes;
  p->peer.id.len = src->id.len;
  rv = enc_addrs(src->addrs, src->naddrs, &p->peer_addrs);
  if (rv < 0)
    return rv;
  p->peer.n_addrs = src->naddrs;
  p->peer.addrs = p->peer_addrs;
  return 0;
}

static int enc_rsvp(const p2p_relay_reservation *src, enc_parts *p) {
  Circuit__Pb__Reservation init = CIRCUIT__PB__RESERVATION__INIT;
  int rv;
  p->rsvp = init;
  p->rsvp.has_expire = src->has_expire != 0;
  p->rsvp.expire = src->expire_unix_s;
  rv = enc_addrs(src->addrs, src->naddrs, &p->rsvp_addrs);
  if (rv < 0)
    return rv;
  p->rsvp.n_addrs = src->naddrs;
  p->rsvp.addrs = p->rsvp_addrs;
  if (src->has_voucher) {
    if (src->voucher == NULL && src->voucher_len > 0)
      return P2P_ERR_INVALID;
    p->rsvp.has_voucher = 1;
    p->rsvp.voucher.data = src->voucher;
    p->rsvp.voucher.len = src->voucher_len;
  }
  return 0;
}

static void enc_limit(const p2p_relay_limit *src, enc_parts *p) {
  Circuit__Pb__Limit init = CIRCUIT__PB__LIMIT__INIT;
  p->limit = init;
  p->limit.has_duration = src->has_duration != 0;
  p->limit.duration = src->duration_s;
  p->limit.has_data = src->has_data != 0;
  p->limit.data = src->data_bytes;
}

/* Writes varint(size) then the packed message; out NULL sizes only. */
static ssize_t enc_frame(const ProtobufCMessage *msg, uint8_t *out,
                         size_t cap) {
  size_t body = protobuf_c_message_get_packed_size(msg);
  size_t plen;
  int n;
  if (body > P2P_RELAY_MAX_MSG_LEN)
    return P2P_ERR_LIMIT;
  plen = p2p_varint_len(body);
  if (out == NULL)
    return (ssize_t)(plen + body);
  if (cap < plen + body)
    return P2P_ERR_LIMIT;
  n = p2p_varint_encode(body, out, cap);
  if (n < 0 || (size_t)n != plen)
    return P2P_ERR_INTERNAL;
  if (protobuf_c_message_pack(msg, out + plen) != body)
    return P2P_ERR_INTERNAL;
  return (ssize_t)(plen + body);
}

ssize_t p2p_relay_hop_encode(const p2p_relay_hop_msg *m, uint8_t *out,
                             size_t cap) {
  Circuit__Pb__HopMessage pb = CIRCUIT__PB__HOP_MESSAGE__INIT;
  enc_parts parts;
  ssize_t rv = 0;
  if (m == NULL)
    return P2P_ERR_INVALID;
  memset(&parts, 0, sizeof(parts));
  if (m->type != P2P_RELAY_HOP_RESERVE && m->type != P2P_RELAY_HOP_CONNECT &&
      m->type != P2P_RELAY_HOP_STATUS)
    return P2P_ERR_INVALID;
  pb.type = (Circuit__Pb__HopMessage__Type)m->type;
  if (m->has_status) {
    if (!status_valid((int)m->status))
      return P2P_ERR_INVALID;
    pb.has_status = 1;
    pb.status = (Circuit__Pb__Status)m->status;
  }
  if (m->has_peer) {
    rv = enc_peer(&m->peer, &parts);
    pb.peer = &parts.peer;
  }
  if (rv == 0 && m->has_reservation) {
    rv = enc_rsvp(&m->reservation, &parts);
    pb.reservation = &parts.rsvp;
  }
  if (rv == 0 && m->has_limit) {
    enc_limit(&m->limit, &parts);
    pb.limit = &parts.limit;
  }
  if (rv == 0)
    rv = enc_frame(&pb.base, out, cap);
  enc_free(&parts);
  return rv;
}

ssize_t p2p_relay_stop_encode(const p2p_relay_stop_msg *m, uint8_t *out,
                              size_t cap) {
  Circuit__Pb__StopMessage pb = CIRCUIT__PB__STOP_MESSAGE__INIT;
  enc_parts parts;
  ssize_t rv = 0;
  if (m == NULL)
    return P2P_ERR_INVALID;
  memset(&parts, 0, sizeof(parts));
  if (m->type != P2P_RELAY_STOP_CONNECT && m->type != P2P_RELAY_STOP_STATUS)
    return P2P_ERR_INVALID;
  pb.type = (Circuit__Pb__StopMessage__Type)m->type;
  if (m->has_status) {
    if (!status_valid((int)m->status))
      return P2P_ERR_INVALID;
    pb.has_status = 1;
    pb.status = (Circuit__Pb__Status)m->status;
  }
  if (m->has_peer) {
    rv = enc_peer(&m->peer, &parts);
    pb.peer = &parts.peer;
  }
  if (rv == 0 && m->has_limit) {
    enc_limit(&m->limit, &parts);
    pb.limit = &parts.limit;
  }
  if (rv == 0)
    rv = enc_frame(&pb.base, out, cap);
  enc_free(&parts);
  return rv;
}

/* ---- decoding ---------------------------------------------------------- */

static void free_addrs(p2p_multiaddr *addrs, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    p2p_multiaddr_free(&addrs[i]);
  free(addrs);
}

/* Copies the valid multiaddrs of a bytes list; invalid ones are counted
 * and dropped (see the header). */
static int dec_addrs(const ProtobufCBinaryData *src, size_t n,
                     p2p_multiaddr **out, size_t *nout, size_t *nskipped) {
  size_t i;
  *out = NULL;
  *nout = 0;
  *nskipped = 0;
  if (n == 0)
    return 0;
  *out = calloc(n, sizeof(**out));
  if (*out == NULL)
    return P2P_ERR_NOMEM;
  for (i = 0; i < n; i++) {
    int rv = p2p_multiaddr_from_bytes(src[i].data, src[i].len, &(*out)[*nout]);
    if (rv == P2P_ERR_NOMEM)
      return rv;
    if (rv < 0)
      (*nskipped)++;
    else
      (*nout)++;
  }
  return 0;
}

static int dec_peer(const Circuit__Pb__Peer *src, p2p_relay_peer *out) {
  if (p2p_peerid_from_bytes(src->id.data, src->id.len, &out->id) < 0)
    return P2P_ERR_PROTO;
  return dec_addrs(src->addrs, src->n_addrs, &out->addrs, &out->naddrs,
                   &out->nskipped_addrs);
}

static int dec_rsvp(const Circuit__Pb__Reservation *src,
                    p2p_relay_reservation *out) {
  int rv;
  out->has_expire = src->has_expire;
  out->expire_unix_s = src->expire;
  rv = dec_addrs(src->addrs, src->n_addrs, &out->addrs, &out->naddrs,
                 &out->nskipped_addrs);
  if (rv < 0)
    return rv;
  if (src->has_voucher) {
    out->has_voucher = 1;
    out->voucher_len = src->voucher.len;
    /* One extra byte so that an empty voucher still has storage. */
    out->voucher = malloc(src->voucher.len + 1);
    if (out->voucher == NULL)
      return P2P_ERR_NOMEM;
    if (src->voucher.len > 0)
      memcpy(out->voucher, src->voucher.data, src->voucher.len);
  }
  return 0;
}

static void dec_limit(const Circuit__Pb__Limit *src, p2p_relay_limit *out) {
  out->has_duration = src->has_duration;
  out->duration_s = src->duration;
  out->has_data = src->has_data;
  out->data_bytes = src->data;
}

static void free_peer(p2p_relay_peer *p) {
  free_addrs(p->addrs, p->naddrs);
}

void p2p_relay_hop_msg_free(p2p_relay_hop_msg *m) {
  if (m == NULL)
    return;
  free_peer(&m->peer);
  free_addrs(m->reservation.addrs, m->reservation.naddrs);
  free(m->reservation.voucher);
  memset(m, 0, sizeof(*m));
}

void p2p_relay_stop_msg_free(p2p_relay_stop_msg *m) {
  if (m == NULL)
    return;
  free_peer(&m->peer);
  memset(m, 0, sizeof(*m));
}

int p2p_relay_hop_decode(const uint8_t *buf, size_t len,
                         p2p_relay_hop_msg *out) {
  Circuit__Pb__HopMessage *pb;
  int rv = 0;
  if (out == NULL || (buf == NULL && len > 0))
    return P2P_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  if (len > P2P_RELAY_MAX_MSG_LEN)
    return P2P_ERR_PROTO;
  pb = circuit__pb__hop_message__unpack(NULL, len, buf);
  if (pb == NULL)
    return P2P_ERR_PROTO;
  switch (pb->type) {
  case CIRCUIT__PB__HOP_MESSAGE__TYPE__RESERVE:
  case CIRCUIT__PB__HOP_MESSAGE__TYPE__CONNECT:
  case CIRCUIT__PB__HOP_MESSAGE__TYPE__STATUS:
    out->type = (p2p_relay_hop_type)pb->type;
    break;
  default: rv = P2P_ERR_PROTO;
  }
  if (rv == 0 && pb->has_status) {
    if (!status_valid((int)pb->status))
      rv = P2P_ERR_PROTO;
    out->has_status = 1;
    out->status = (p2p_relay_status)pb->status;
  }
  if (rv == 0 && pb->peer != NULL) {
    out->has_peer = 1;
    rv = dec_peer(pb->peer, &out->peer);
  }
  if (rv == 0 && pb->reservation != NULL) {
    out->has_reservation = 1;
    rv = dec_rsvp(pb->reservation, &out->reservation);
  }
  if (rv == 0 && pb->limit != NULL) {
    out->has_limit = 1;
    dec_limit(pb->limit, &out->limit);
  }
  circuit__pb__hop_message__free_unpacked(pb, NULL);
  if (rv < 0)
    p2p_relay_hop_msg_free(out);
  return rv;
}

int p2p_relay_stop_decode(const uint8_t *buf, size_t len,
                          p2p_relay_stop_msg *out) {
  Circuit__Pb__StopMessage *pb;
  int rv = 0;
  if (out == NULL || (buf == NULL && len > 0))
    return P2P_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  if (len > P2P_RELAY_MAX_MSG_LEN)
    return P2P_ERR_PROTO;
  pb = circuit__pb__stop_message__unpack(NULL, len, buf);
  if (pb == NULL)
    return P2P_ERR_PROTO;
  switch (pb->type) {
  case CIRCUIT__PB__STOP_MESSAGE__TYPE__CONNECT:
  case CIRCUIT__PB__STOP_MESSAGE__TYPE__STATUS:
    out->type = (p2p_relay_stop_type)pb->type;
    break;
  default: rv = P2P_ERR_PROTO;
  }
  if (rv == 0 && pb->has_status) {
    if (!status_valid((int)pb->status))
      rv = P2P_ERR_PROTO;
    out->has_status = 1;
    out->status = (p2p_relay_status)pb->status;
  }
  if (rv == 0 && pb->peer != NULL) {
    out->has_peer = 1;
    rv = dec_peer(pb->peer, &out->peer);
  }
  if (rv == 0 && pb->limit != NULL) {
    out->has_limit = 1;
    dec_limit(pb->limit, &out->limit);
  }
  circuit__pb__stop_message__free_unpacked(pb, NULL);
  if (rv < 0)
    p2p_relay_stop_msg_free(out);
  return rv;
}

/* ---- framing ----------------------------------------------------------- */

void p2p_relay_reader_init(p2p_relay_reader *r) {
  r->state = P2P_RELAY_READ_PREFIX;
  r->err = 0;
  r->prefix_len = 0;
  r->body_len = 0;
  r->got = 0;
}

static ssize_t reader_fail(p2p_relay_reader *r, int err) {
  r->state = P2P_RELAY_READ_FAILED;
  r->err = err;
  return err;
}

ssize_t p2p_relay_reader_recv(p2p_relay_reader *r, const uint8_t *buf,
                              size_t len) {
  size_t used = 0;
  if (r->state == P2P_RELAY_READ_FAILED)
    return r->err;
  if (buf == NULL && len > 0)
    return P2P_ERR_INVALID;
  while (used < len && r->state == P2P_RELAY_READ_PREFIX) {
    uint8_t b = buf[used++];
    uint64_t v;
    int n;
    r->prefix[r->prefix_len++] = b;
    if (b & 0x80) {
      /* A third prefix byte would mean a length of at least 2^14. */
      if (r->prefix_len == P2P_RELAY_MAX_PREFIX_LEN)
        return reader_fail(r, P2P_ERR_PROTO);
      continue;
    }
    n = p2p_varint_decode(r->prefix, r->prefix_len, &v);
    if (n <= 0 || v > P2P_RELAY_MAX_MSG_LEN)
      return reader_fail(r, P2P_ERR_PROTO);
    r->body_len = (size_t)v;
    r->got = 0;
    r->state = v == 0 ? P2P_RELAY_READ_DONE : P2P_RELAY_READ_BODY;
  }
  if (r->state == P2P_RELAY_READ_BODY && used < len) {
    size_t n = len - used;
    if (n > r->body_len - r->got)
      n = r->body_len - r->got;
    memcpy(r->body + r->got, buf + used, n);
    r->got += n;
    used += n;
    if (r->got == r->body_len)
      r->state = P2P_RELAY_READ_DONE;
  }
  return (ssize_t)used;
}

int p2p_relay_reader_done(const p2p_relay_reader *r) {
  return r->state == P2P_RELAY_READ_DONE;
}

int p2p_relay_reader_recv_eof(p2p_relay_reader *r) {
  if (r->state == P2P_RELAY_READ_FAILED)
    return r->err;
  if (r->state == P2P_RELAY_READ_DONE ||
      (r->state == P2P_RELAY_READ_PREFIX && r->prefix_len == 0))
    return 0;
  return (int)reader_fail(r, P2P_ERR_PROTO);
}

int p2p_relay_reader_take_hop(p2p_relay_reader *r, p2p_relay_hop_msg *out) {
  int rv;
  if (r->state != P2P_RELAY_READ_DONE)
    return r->state == P2P_RELAY_READ_FAILED ? r->err : P2P_ERR_STATE;
  rv = p2p_relay_hop_decode(r->body, r->body_len, out);
  if (rv < 0)
    return (int)reader_fail(r, rv);
  p2p_relay_reader_init(r);
  return 0;
}

int p2p_relay_reader_take_stop(p2p_relay_reader *r, p2p_relay_stop_msg *out) {
  int rv;
  if (r->state != P2P_RELAY_READ_DONE)
    return r->state == P2P_RELAY_READ_FAILED ? r->err : P2P_ERR_STATE;
  rv = p2p_relay_stop_decode(r->body, r->body_len, out);
  if (rv < 0)
    return (int)reader_fail(r, rv);
  p2p_relay_reader_init(r);
  return 0;
}

/* ---- vouchers ---------------------------------------------------------- */

ssize_t p2p_relay_voucher_seal(const p2p_privkey *relay_key,
                               const p2p_peerid *peer,
                               uint64_t expiration_unix_s, uint8_t *out,
                               size_t cap) {
  Circuit__Pb__ReservationVoucher pb = CIRCUIT__PB__RESERVATION_VOUCHER__INIT;
  uint8_t payload[2 * (P2P_PEERID_MAX_LEN + 2) + 2 + P2P_VARINT_MAX_LEN + 2];
  p2p_peerid relay;
  size_t n;
  int rv;
  if (relay_key == NULL || peer == NULL || peer->len == 0 ||
      peer->len > P2P_PEERID_MAX_LEN)
    return P2P_ERR_INVALID;
  rv = p2p_peerid_from_pubkey(&relay_key->pub, &relay);
  if (rv < 0)
    return rv;
  pb.relay.data = relay.bytes;
  pb.relay.len = relay.len;
  pb.peer.data = (uint8_t *)peer->bytes;
  pb.peer.len = peer->len;
  pb.expiration = expiration_unix_s;
  n = protobuf_c_message_get_packed_size(&pb.base);
  if (n > sizeof(payload))
    return P2P_ERR_INTERNAL;
  if (protobuf_c_message_pack(&pb.base, payload) != n)
    return P2P_ERR_INTERNAL;
  return p2p_envelope_seal(relay_key, P2P_RELAY_VOUCHER_DOMAIN,
                           (const uint8_t *)P2P_RELAY_VOUCHER_PAYLOAD_TYPE,
                           P2P_RELAY_VOUCHER_PAYLOAD_TYPE_LEN, payload, n, out,
                           cap);
}

/* Checks an opened envelope's payload; fills *out or fails. */
static int voucher_check(const p2p_envelope *env,
                         const p2p_peerid *expected_relay,
                         p2p_relay_voucher *out) {
  Circuit__Pb__ReservationVoucher *pb;
  int rv = 0;
  if (env->payload_type_len != P2P_RELAY_VOUCHER_PAYLOAD_TYPE_LEN ||
      memcmp(env->payload_type, P2P_RELAY_VOUCHER_PAYLOAD_TYPE,
             P2P_RELAY_VOUCHER_PAYLOAD_TYPE_LEN) != 0)
    return P2P_ERR_PROTO;
  pb = circuit__pb__reservation_voucher__unpack(NULL, env->payload_len,
                                                env->payload);
  if (pb == NULL)
    return P2P_ERR_PROTO;
  if (p2p_peerid_from_bytes(pb->relay.data, pb->relay.len, &out->relay) < 0 ||
      p2p_peerid_from_bytes(pb->peer.data, pb->peer.len, &out->peer) < 0)
    rv = P2P_ERR_PROTO;
  out->expiration_unix_s = pb->expiration;
  circuit__pb__reservation_voucher__free_unpacked(pb, NULL);
  if (rv < 0)
    return rv;
  /* The signer must be the relay the voucher names. */
  if (!p2p_peerid_matches_pubkey(&out->relay, &env->key))
    return P2P_ERR_PROTO;
  if (expected_relay != NULL && !p2p_peerid_equal(&out->relay, expected_relay))
    return P2P_ERR_PROTO;
  return 0;
}

int p2p_relay_voucher_open(const uint8_t *buf, size_t len,
                           const p2p_peerid *expected_relay,
                           p2p_relay_voucher *out) {
  p2p_envelope env;
  int rv;
  if (out == NULL || (buf == NULL && len > 0))
    return P2P_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  rv = p2p_envelope_open(buf, len, P2P_RELAY_VOUCHER_DOMAIN, &env);
  if (rv < 0)
    return rv == P2P_ERR_NOMEM ? rv : P2P_ERR_PROTO;
  rv = voucher_check(&env, expected_relay, out);
  p2p_envelope_free(&env);
  if (rv < 0)
    memset(out, 0, sizeof(*out));
  return rv;
}
