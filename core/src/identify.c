/*
 * identify.c - the Identify message: building, parsing and an incremental
 * length-prefixed reader (see p2p/identify.h for the validation rules).
 */
#include "p2p/identify.h"

#include <stdlib.h>
#include <string.h>

#include "identify.pb-c.h"
#include "p2p/peerid.h"
#include "p2p/varint.h"

ssize_t p2p_identify_seal_record(const p2p_privkey *key, uint64_t seq,
                                 const p2p_multiaddr *addrs, size_t n,
                                 uint8_t *out, size_t cap) {
  p2p_peer_record rec;
  int rv;
  if (key == NULL || (addrs == NULL && n > 0))
    return P2P_ERR_INVALID;
  memset(&rec, 0, sizeof(rec));
  rv = p2p_peerid_from_pubkey(&key->pub, &rec.peer_id);
  if (rv != 0)
    return rv;
  rec.seq = seq;
  /* The record only reads the addresses; the cast drops const for the
   * struct's field type, nothing writes through it. */
  rec.addrs = (p2p_multiaddr *)(uintptr_t)addrs;
  rec.naddrs = n;
  return p2p_peer_record_seal(key, &rec, out, cap);
}

/* Points a protobuf-c bytes field at borrowed memory. */
static ProtobufCBinaryData bin(const uint8_t *p, size_t len) {
  ProtobufCBinaryData b;
  b.data = (uint8_t *)(uintptr_t)p;
  b.len = len;
  return b;
}

ssize_t p2p_identify_build(const p2p_identify_info *info, uint8_t *out,
                           size_t cap) {
  Identify__Pb__Identify m = IDENTIFY__PB__IDENTIFY__INIT;
  ProtobufCBinaryData *addrs = NULL;
  size_t body, total, i;
  int hdr;
  ssize_t ret;
  if (info == NULL || (info->public_key == NULL && info->public_key_len) ||
      (info->listen_addrs == NULL && info->n_listen_addrs) ||
      (info->protocols == NULL && info->n_protocols) ||
      (info->signed_peer_record == NULL && info->signed_peer_record_len))
    return P2P_ERR_INVALID;
  for (i = 0; i < info->n_protocols; i++)
    if (info->protocols[i] == NULL)
      return P2P_ERR_INVALID;
  for (i = 0; i < info->n_listen_addrs; i++)
    if (info->listen_addrs[i].bytes == NULL || info->listen_addrs[i].len == 0)
      return P2P_ERR_INVALID;
  if (info->observed_addr != NULL &&
      (info->observed_addr->bytes == NULL || info->observed_addr->len == 0))
    return P2P_ERR_INVALID;

  if (info->public_key != NULL) {
    m.has_publickey = 1;
    m.publickey = bin(info->public_key, info->public_key_len);
  }
  if (info->n_listen_addrs > 0) {
    addrs = calloc(info->n_listen_addrs, sizeof(*addrs));
    if (addrs == NULL)
      return P2P_ERR_NOMEM;
    for (i = 0; i < info->n_listen_addrs; i++)
      addrs[i] = bin(info->listen_addrs[i].bytes, info->listen_addrs[i].len);
    m.n_listenaddrs = info->n_listen_addrs;
    m.listenaddrs = addrs;
  }
  if (info->n_protocols > 0) {
    m.n_protocols = info->n_protocols;
    m.protocols = (char **)(uintptr_t)info->protocols;
  }
  if (info->observed_addr != NULL) {
    m.has_observedaddr = 1;
    m.observedaddr = bin(info->observed_addr->bytes, info->observed_addr->len);
  }
  m.protocolversion = (char *)(uintptr_t)info->protocol_version;
  m.agentversion = (char *)(uintptr_t)info->agent_version;
  if (info->signed_peer_record != NULL) {
    m.has_signedpeerrecord = 1;
    m.signedpeerrecord =
        bin(info->signed_peer_record, info->signed_peer_record_len);
  }

  body = identify__pb__identify__get_packed_size(&m);
  if (body > P2P_IDENTIFY_MAX_MSG_LEN) {
    ret = P2P_ERR_LIMIT;
    goto done;
  }
  total = p2p_varint_len(body) + body;
  if (out == NULL) {
    ret = (ssize_t)total;
    goto done;
  }
  if (cap < total) {
    ret = P2P_ERR_LIMIT;
    goto done;
  }
  hdr = p2p_varint_encode(body, out, cap);
  if (hdr < 0) {
    ret = hdr;
    goto done;
  }
  if (identify__pb__identify__pack(&m, out + hdr) != body) {
    ret = P2P_ERR_INTERNAL;
    goto done;
  }
  ret = (ssize_t)total;
done:
  free(addrs);
  return ret;
}

/* A NUL-terminated heap copy of s (strdup is not in C11). */
static char *dup_str(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d != NULL)
    memcpy(d, s, n);
  return d;
}

void p2p_identify_msg_free(p2p_identify_msg *msg) {
  size_t i;
  if (msg == NULL)
    return;
  for (i = 0; i < msg->n_listen_addrs; i++)
    p2p_multiaddr_free(&msg->listen_addrs[i]);
  free(msg->listen_addrs);
  for (i = 0; i < msg->n_protocols; i++)
    free(msg->protocols[i]);
  free(msg->protocols);
  p2p_multiaddr_free(&msg->observed_addr);
  free(msg->protocol_version);
  free(msg->agent_version);
  p2p_peer_record_free(&msg->peer_record);
  free(msg->signed_peer_record);
  memset(msg, 0, sizeof(*msg));
}

/* Copies the valid addresses of a repeated bytes field, counting the ones
 * skipped. Only allocation failure is an error. */
static int take_addrs(const Identify__Pb__Identify *m, p2p_identify_msg *out) {
  size_t i;
  if (m->n_listenaddrs == 0)
    return 0;
  out->listen_addrs = calloc(m->n_listenaddrs, sizeof(*out->listen_addrs));
  if (out->listen_addrs == NULL)
    return P2P_ERR_NOMEM;
  for (i = 0; i < m->n_listenaddrs; i++) {
    int rv =
        p2p_multiaddr_from_bytes(m->listenaddrs[i].data, m->listenaddrs[i].len,
                                 &out->listen_addrs[out->n_listen_addrs]);
    if (rv == P2P_ERR_NOMEM)
      return rv;
    if (rv != 0)
      out->n_skipped_addrs++;
    else
      out->n_listen_addrs++;
  }
  return 0;
}

static int take_protocols(const Identify__Pb__Identify *m,
                          p2p_identify_msg *out) {
  size_t i;
  if (m->n_protocols == 0)
    return 0;
  out->protocols = calloc(m->n_protocols, sizeof(*out->protocols));
  if (out->protocols == NULL)
    return P2P_ERR_NOMEM;
  for (i = 0; i < m->n_protocols; i++) {
    out->protocols[i] = dup_str(m->protocols[i]);
    if (out->protocols[i] == NULL)
      return P2P_ERR_NOMEM;
    out->n_protocols++;
  }
  return 0;
}

/* Opens the signed peer record and ties it to the message's key. */
static int take_record(const Identify__Pb__Identify *m, p2p_identify_msg *out) {
  const ProtobufCBinaryData *r = &m->signedpeerrecord;
  int rv;
  if (!m->has_signedpeerrecord)
    return 0;
  rv = p2p_peer_record_open(r->data, r->len, &out->peer_record,
                            &out->peer_record_signer);
  if (rv == P2P_ERR_NOMEM)
    return rv;
  if (rv != 0)
    return P2P_ERR_PROTO;
  out->has_peer_record = 1;
  if (out->has_public_key &&
      !p2p_pubkey_equal(&out->public_key, &out->peer_record_signer))
    return P2P_ERR_PROTO;
  out->signed_peer_record = malloc(r->len > 0 ? r->len : 1);
  if (out->signed_peer_record == NULL)
    return P2P_ERR_NOMEM;
  if (r->len > 0)
    memcpy(out->signed_peer_record, r->data, r->len);
  out->signed_peer_record_len = r->len;
  return 0;
}

static int take_fields(const Identify__Pb__Identify *m, p2p_identify_msg *out) {
  int rv;
  if (m->has_publickey) {
    rv = p2p_pubkey_unmarshal(m->publickey.data, m->publickey.len,
                              &out->public_key);
    if (rv != 0)
      return rv;
    out->has_public_key = 1;
  }
  rv = take_addrs(m, out);
  if (rv != 0)
    return rv;
  rv = take_protocols(m, out);
  if (rv != 0)
    return rv;
  if (m->has_observedaddr) {
    rv = p2p_multiaddr_from_bytes(m->observedaddr.data, m->observedaddr.len,
                                  &out->observed_addr);
    if (rv == P2P_ERR_NOMEM)
      return rv;
    if (rv == 0)
      out->has_observed_addr = 1;
    else
      out->n_skipped_addrs++;
  }
  if (m->protocolversion != NULL &&
      (out->protocol_version = dup_str(m->protocolversion)) == NULL)
    return P2P_ERR_NOMEM;
  if (m->agentversion != NULL &&
      (out->agent_version = dup_str(m->agentversion)) == NULL)
    return P2P_ERR_NOMEM;
  return take_record(m, out);
}

int p2p_identify_parse(const uint8_t *buf, size_t len, p2p_identify_msg *out) {
  Identify__Pb__Identify *m;
  int rv;
  if (out == NULL)
    return P2P_ERR_INVALID;
  memset(out, 0, sizeof(*out));
  if (buf == NULL && len > 0)
    return P2P_ERR_INVALID;
  if (len > P2P_IDENTIFY_MAX_MSG_LEN)
    return P2P_ERR_LIMIT;
  /* protobuf-c reports bad wire types, truncation and allocation failure
   * alike as NULL; the peer is the likely culprit. */
  m = identify__pb__identify__unpack(NULL, len, buf);
  if (m == NULL)
    return P2P_ERR_PROTO;
  rv = take_fields(m, out);
  identify__pb__identify__free_unpacked(m, NULL);
  if (rv != 0)
    p2p_identify_msg_free(out);
  return rv;
}

void p2p_identify_reader_init(p2p_identify_reader *r) {
  memset(r, 0, sizeof(*r));
  r->state = P2P_IDENTIFY_READ_LEN;
}

static ssize_t reader_fail(p2p_identify_reader *r, int err) {
  r->state = P2P_IDENTIFY_READ_FAILED;
  r->err = err;
  free(r->body);
  r->body = NULL;
  return err;
}

/* Completes the body: parses it and frees the buffer. */
static int reader_finish(p2p_identify_reader *r) {
  int rv = p2p_identify_parse(r->body, r->body_len, &r->msg);
  free(r->body);
  r->body = NULL;
  if (rv != 0)
    return (int)reader_fail(r, rv);
  r->state = P2P_IDENTIFY_READ_DONE;
  return 0;
}

/* Takes length-prefix bytes one at a time so that nothing past the prefix
 * is consumed here. Returns bytes consumed or an error. */
static ssize_t reader_len(p2p_identify_reader *r, const uint8_t *buf,
                          size_t len) {
  size_t used = 0;
  while (used < len && r->state == P2P_IDENTIFY_READ_LEN) {
    uint64_t v;
    int n;
    r->len_buf[r->len_got++] = buf[used++];
    n = p2p_varint_decode(r->len_buf, r->len_got, &v);
    if (n < 0)
      return reader_fail(r, P2P_ERR_PROTO);
    if (n == 0) {
      if (r->len_got == sizeof(r->len_buf))
        return reader_fail(r, P2P_ERR_PROTO);
      continue;
    }
    if (v > P2P_IDENTIFY_MAX_MSG_LEN)
      return reader_fail(r, P2P_ERR_LIMIT);
    r->body_len = (size_t)v;
    /* One byte more than needed so an empty body is not a NULL buffer. */
    r->body = malloc(r->body_len + 1);
    if (r->body == NULL)
      return reader_fail(r, P2P_ERR_NOMEM);
    r->state = P2P_IDENTIFY_READ_BODY;
    if (r->body_len == 0) {
      int rv = reader_finish(r);
      if (rv != 0)
        return rv;
    }
  }
  return (ssize_t)used;
}

ssize_t p2p_identify_reader_recv(p2p_identify_reader *r, const uint8_t *buf,
                                 size_t len) {
  size_t used = 0, take;
  if (r == NULL || (buf == NULL && len > 0))
    return P2P_ERR_INVALID;
  if (r->state == P2P_IDENTIFY_READ_FAILED)
    return P2P_ERR_STATE;
  if (r->state == P2P_IDENTIFY_READ_LEN) {
    ssize_t n = reader_len(r, buf, len);
    if (n < 0)
      return n;
    used = (size_t)n;
  }
  if (r->state != P2P_IDENTIFY_READ_BODY)
    return (ssize_t)used;
  take = r->body_len - r->body_got;
  if (take > len - used)
    take = len - used;
  memcpy(r->body + r->body_got, buf + used, take);
  r->body_got += take;
  used += take;
  if (r->body_got == r->body_len) {
    int rv = reader_finish(r);
    if (rv != 0)
      return rv;
  }
  return (ssize_t)used;
}

int p2p_identify_reader_recv_eof(p2p_identify_reader *r) {
  if (r == NULL)
    return P2P_ERR_INVALID;
  if (r->state == P2P_IDENTIFY_READ_DONE)
    return 0;
  if (r->state == P2P_IDENTIFY_READ_FAILED)
    return r->err;
  return (int)reader_fail(r, P2P_ERR_PROTO);
}

int p2p_identify_reader_done(const p2p_identify_reader *r) {
  return r != NULL && r->state == P2P_IDENTIFY_READ_DONE;
}

int p2p_identify_reader_take(p2p_identify_reader *r, p2p_identify_msg *out) {
  if (r == NULL || out == NULL)
    return P2P_ERR_INVALID;
  if (r->state != P2P_IDENTIFY_READ_DONE || r->taken)
    return P2P_ERR_STATE;
  *out = r->msg;
  memset(&r->msg, 0, sizeof(r->msg));
  r->taken = 1;
  return 0;
}

void p2p_identify_reader_free(p2p_identify_reader *r) {
  if (r == NULL)
    return;
  free(r->body);
  p2p_identify_msg_free(&r->msg);
  memset(r, 0, sizeof(*r));
}
