/*
 * envelope.c - signed envelopes (RFC 0002) and peer records (RFC 0003).
 */
#include "p2p/envelope.h"

#include <stdlib.h>
#include <string.h>

#include "p2p/varint.h"

#include "envelope.pb-c.h"
#include "peer_record.pb-c.h"

/* Appends varint(len) followed by the bytes to buf at *off. The caller
 * sized buf with unsigned_len, so this cannot run out of room. */
static void put_field(uint8_t *buf, size_t cap, size_t *off,
                      const uint8_t *data, size_t len) {
  int n = p2p_varint_encode(len, buf + *off, cap - *off);
  if (n <= 0)
    return;
  *off += (size_t)n;
  if (len > 0)
    memcpy(buf + *off, data, len);
  *off += len;
}

static size_t field_len(size_t len) {
  return p2p_varint_len(len) + len;
}

/* Builds the bytes the signature covers (RFC 0002, "Signature Production /
 * Verification"): each of domain, payload type and payload prefixed with
 * its length as an unsigned varint. Returns a malloc'd buffer or NULL. */
static uint8_t *unsigned_bytes(const char *domain, const uint8_t *type,
                               size_t type_len, const uint8_t *payload,
                               size_t payload_len, size_t *out_len) {
  size_t dlen = strlen(domain);
  size_t cap, off = 0;
  uint8_t *buf;
  if (dlen > P2P_VARINT_MAX || type_len > P2P_VARINT_MAX ||
      payload_len > P2P_VARINT_MAX)
    return NULL;
  cap = field_len(dlen) + field_len(type_len) + field_len(payload_len);
  buf = malloc(cap);
  if (buf == NULL)
    return NULL;
  put_field(buf, cap, &off, (const uint8_t *)domain, dlen);
  put_field(buf, cap, &off, type, type_len);
  put_field(buf, cap, &off, payload, payload_len);
  *out_len = off;
  return buf;
}

ssize_t p2p_envelope_seal(const p2p_privkey *key, const char *domain,
                          const uint8_t *payload_type, size_t payload_type_len,
                          const uint8_t *payload, size_t payload_len,
                          uint8_t *out, size_t cap) {
  Record__Pb__Envelope env = RECORD__PB__ENVELOPE__INIT;
  Crypto__Pb__PublicKey pk = CRYPTO__PB__PUBLIC_KEY__INIT;
  uint8_t sig[P2P_ED25519_SIG_LEN];
  uint8_t *msg;
  size_t msg_len = 0, need;
  int rv;
  if (key == NULL || domain == NULL ||
      (payload_type == NULL && payload_type_len > 0) ||
      (payload == NULL && payload_len > 0))
    return P2P_ERR_INVALID;
  if (key->type != P2P_KEY_ED25519)
    return P2P_ERR_UNSUPPORTED;
  msg = unsigned_bytes(domain, payload_type, payload_type_len, payload,
                       payload_len, &msg_len);
  if (msg == NULL)
    return P2P_ERR_NOMEM;
  rv = p2p_privkey_sign(key, msg, msg_len, sig);
  free(msg);
  if (rv != 0)
    return rv;

  pk.type = CRYPTO__PB__KEY_TYPE__Ed25519;
  pk.data.data = (uint8_t *)key->pub.data;
  pk.data.len = sizeof(key->pub.data);
  env.public_key = &pk;
  env.payload_type.data = (uint8_t *)payload_type;
  env.payload_type.len = payload_type_len;
  env.payload.data = (uint8_t *)payload;
  env.payload.len = payload_len;
  env.signature.data = sig;
  env.signature.len = sizeof(sig);
  need = record__pb__envelope__get_packed_size(&env);
  if (out == NULL || need > cap)
    return P2P_ERR_LIMIT;
  return (ssize_t)record__pb__envelope__pack(&env, out);
}

/* The signer's key from the envelope's PublicKey message. */
static int envelope_key(const Crypto__Pb__PublicKey *pk, p2p_pubkey *out) {
  if (pk == NULL)
    return P2P_ERR_INVALID;
  if (pk->type != CRYPTO__PB__KEY_TYPE__Ed25519)
    return P2P_ERR_UNSUPPORTED;
  if (pk->data.len != P2P_ED25519_PUBKEY_LEN)
    return P2P_ERR_INVALID;
  out->type = P2P_KEY_ED25519;
  memcpy(out->data, pk->data.data, P2P_ED25519_PUBKEY_LEN);
  return 0;
}

int p2p_envelope_open(const uint8_t *buf, size_t len, const char *domain,
                      p2p_envelope *out) {
  Record__Pb__Envelope *env;
  uint8_t *msg, *copy;
  size_t msg_len = 0;
  int rv;
  if (out == NULL)
    return P2P_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  if ((buf == NULL && len > 0) || domain == NULL)
    return P2P_ERR_INVALID;
  env = record__pb__envelope__unpack(NULL, len, buf);
  if (env == NULL)
    return P2P_ERR_INVALID;
  rv = envelope_key(env->public_key, &out->key);
  if (rv != 0)
    goto done;
  msg = unsigned_bytes(domain, env->payload_type.data, env->payload_type.len,
                       env->payload.data, env->payload.len, &msg_len);
  if (msg == NULL) {
    rv = P2P_ERR_NOMEM;
    goto done;
  }
  rv = p2p_pubkey_verify(&out->key, msg, msg_len, env->signature.data,
                         env->signature.len);
  free(msg);
  if (rv != 0)
    goto done;
  /* One block for both copies; +1 so an empty envelope still allocates. */
  copy = malloc(env->payload_type.len + env->payload.len + 1);
  if (copy == NULL) {
    rv = P2P_ERR_NOMEM;
    goto done;
  }
  if (env->payload_type.len > 0)
    memcpy(copy, env->payload_type.data, env->payload_type.len);
  if (env->payload.len > 0)
    memcpy(copy + env->payload_type.len, env->payload.data, env->payload.len);
  out->payload_type = copy;
  out->payload_type_len = env->payload_type.len;
  out->payload = copy + env->payload_type.len;
  out->payload_len = env->payload.len;
done:
  record__pb__envelope__free_unpacked(env, NULL);
  if (rv != 0)
    memset(out, 0, sizeof(*out));
  return rv;
}

void p2p_envelope_free(p2p_envelope *env) {
  if (env == NULL)
    return;
  free(env->payload_type);
  memset(env, 0, sizeof(*env));
}

ssize_t p2p_peer_record_marshal(const p2p_peer_record *rec, uint8_t *out,
                                size_t cap) {
  Peer__Pb__PeerRecord pb = PEER__PB__PEER_RECORD__INIT;
  Peer__Pb__PeerRecord__AddressInfo *infos = NULL;
  Peer__Pb__PeerRecord__AddressInfo **ptrs = NULL;
  ssize_t rv;
  size_t i, need;
  if (rec == NULL || rec->peer_id.len == 0 ||
      rec->peer_id.len > sizeof(rec->peer_id.bytes) ||
      (rec->addrs == NULL && rec->naddrs > 0))
    return P2P_ERR_INVALID;
  if (rec->naddrs > 0) {
    infos = calloc(rec->naddrs, sizeof(*infos));
    ptrs = calloc(rec->naddrs, sizeof(*ptrs));
    if (infos == NULL || ptrs == NULL) {
      rv = P2P_ERR_NOMEM;
      goto done;
    }
  }
  for (i = 0; i < rec->naddrs; i++) {
    peer__pb__peer_record__address_info__init(&infos[i]);
    infos[i].multiaddr.data = rec->addrs[i].bytes;
    infos[i].multiaddr.len = rec->addrs[i].len;
    ptrs[i] = &infos[i];
  }
  pb.peer_id.data = (uint8_t *)rec->peer_id.bytes;
  pb.peer_id.len = rec->peer_id.len;
  pb.seq = rec->seq;
  pb.n_addresses = rec->naddrs;
  pb.addresses = ptrs;
  need = peer__pb__peer_record__get_packed_size(&pb);
  if (out == NULL)
    rv = (ssize_t)need;
  else if (need > cap)
    rv = P2P_ERR_LIMIT;
  else
    rv = (ssize_t)peer__pb__peer_record__pack(&pb, out);
done:
  free(ptrs);
  free(infos);
  return rv;
}

int p2p_peer_record_unmarshal(const uint8_t *buf, size_t len,
                              p2p_peer_record *out) {
  Peer__Pb__PeerRecord *pb;
  int rv = 0;
  size_t i;
  if (out == NULL)
    return P2P_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  if (buf == NULL && len > 0)
    return P2P_ERR_INVALID;
  pb = peer__pb__peer_record__unpack(NULL, len, buf);
  if (pb == NULL)
    return P2P_ERR_INVALID;
  rv = p2p_peerid_from_bytes(pb->peer_id.data, pb->peer_id.len, &out->peer_id);
  if (rv != 0)
    goto done;
  out->seq = pb->seq;
  if (pb->n_addresses > 0) {
    out->addrs = calloc(pb->n_addresses, sizeof(*out->addrs));
    if (out->addrs == NULL) {
      rv = P2P_ERR_NOMEM;
      goto done;
    }
  }
  for (i = 0; i < pb->n_addresses; i++) {
    const ProtobufCBinaryData *ma = &pb->addresses[i]->multiaddr;
    rv = p2p_multiaddr_from_bytes(ma->data, ma->len, &out->addrs[i]);
    if (rv != 0) {
      rv = rv == P2P_ERR_NOMEM ? rv : P2P_ERR_INVALID;
      goto done;
    }
    out->naddrs = i + 1;
  }
done:
  peer__pb__peer_record__free_unpacked(pb, NULL);
  if (rv != 0)
    p2p_peer_record_free(out);
  return rv;
}

void p2p_peer_record_free(p2p_peer_record *rec) {
  size_t i;
  if (rec == NULL)
    return;
  for (i = 0; i < rec->naddrs; i++)
    p2p_multiaddr_free(&rec->addrs[i]);
  free(rec->addrs);
  memset(rec, 0, sizeof(*rec));
}

ssize_t p2p_peer_record_seal(const p2p_privkey *key, const p2p_peer_record *rec,
                             uint8_t *out, size_t cap) {
  uint8_t *payload;
  ssize_t n, rv;
  size_t pcap;
  if (key == NULL || rec == NULL)
    return P2P_ERR_INVALID;
  if (!p2p_peerid_matches_pubkey(&rec->peer_id, &key->pub))
    return P2P_ERR_INVALID;
  n = p2p_peer_record_marshal(rec, NULL, 0);
  if (n < 0)
    return n;
  pcap = (size_t)n;
  /* The envelope holds the record, so a record larger than the output
   * cannot fit: refuse before allocating. */
  if (pcap > cap)
    return P2P_ERR_LIMIT;
  payload = malloc(pcap + 1);
  if (payload == NULL)
    return P2P_ERR_NOMEM;
  n = p2p_peer_record_marshal(rec, payload, pcap);
  if (n < 0) {
    free(payload);
    return n;
  }
  rv = p2p_envelope_seal(key, P2P_PEER_RECORD_DOMAIN,
                         (const uint8_t *)P2P_PEER_RECORD_PAYLOAD_TYPE,
                         P2P_PEER_RECORD_PAYLOAD_TYPE_LEN, payload, (size_t)n,
                         out, cap);
  free(payload);
  return rv;
}

int p2p_peer_record_open(const uint8_t *buf, size_t len, p2p_peer_record *out,
                         p2p_pubkey *signer) {
  p2p_envelope env;
  int rv;
  if (out == NULL)
    return P2P_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  rv = p2p_envelope_open(buf, len, P2P_PEER_RECORD_DOMAIN, &env);
  if (rv != 0)
    return rv;
  if (env.payload_type_len != P2P_PEER_RECORD_PAYLOAD_TYPE_LEN ||
      memcmp(env.payload_type, P2P_PEER_RECORD_PAYLOAD_TYPE,
             P2P_PEER_RECORD_PAYLOAD_TYPE_LEN) != 0) {
    rv = P2P_ERR_PROTO;
    goto done;
  }
  rv = p2p_peer_record_unmarshal(env.payload, env.payload_len, out);
  if (rv != 0)
    goto done;
  if (!p2p_peerid_matches_pubkey(&out->peer_id, &env.key)) {
    p2p_peer_record_free(out);
    rv = P2P_ERR_PROTO;
    goto done;
  }
  if (signer != NULL)
    *signer = env.key;
done:
  p2p_envelope_free(&env);
  return rv;
}
