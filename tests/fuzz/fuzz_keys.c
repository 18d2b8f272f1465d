/*
 * fuzz_keys.c - libFuzzer target for the identity parsers: PublicKey and
 * PrivateKey protobufs, peer ID strings and binary peer IDs, signed
 * envelopes and peer records. None may crash on any input; whatever is
 * accepted must survive a round trip.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "p2p/crypto.h"
#include "p2p/envelope.h"
#include "p2p/peerid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_pubkey(const uint8_t *data, size_t size) {
  p2p_pubkey pk, back;
  p2p_peerid id;
  uint8_t out[64];
  ssize_t n;
  if (p2p_pubkey_unmarshal(data, size, &pk) != 0)
    return;
  /* Strict parsing: an accepted key re-encodes to exactly the input. */
  n = p2p_pubkey_marshal(&pk, out, sizeof(out));
  if (n != (ssize_t)size || memcmp(out, data, size) != 0)
    abort();
  if (p2p_peerid_from_pubkey(&pk, &id) != 0 ||
      p2p_peerid_to_pubkey(&id, &back) != 0 || !p2p_pubkey_equal(&pk, &back))
    abort();
}

static void fuzz_privkey(const uint8_t *data, size_t size) {
  p2p_privkey sk;
  uint8_t out[P2P_PRIVKEY_PB_ED25519_LEN], sig[P2P_ED25519_SIG_LEN];
  if (p2p_privkey_unmarshal(data, size, &sk) != 0)
    return;
  if (p2p_privkey_marshal(&sk, out, sizeof(out)) != (ssize_t)sizeof(out))
    abort();
  if (p2p_privkey_sign(&sk, data, size, sig) != 0 ||
      p2p_pubkey_verify(&sk.pub, data, size, sig, sizeof(sig)) != 0)
    abort();
  p2p_privkey_clear(&sk);
}

static void fuzz_peerid(const uint8_t *data, size_t size) {
  p2p_peerid id, back;
  p2p_pubkey pk;
  char s[P2P_PEERID_STR_MAX];
  ssize_t n;
  if (p2p_peerid_parse((const char *)data, size, &id) == 0) {
    n = p2p_peerid_to_string(&id, s, sizeof(s));
    if (n <= 0 || p2p_peerid_parse(s, (size_t)n, &back) != 0 ||
        !p2p_peerid_equal(&id, &back))
      abort();
    n = p2p_peerid_to_cid_string(&id, s, sizeof(s));
    if (n <= 0 || p2p_peerid_parse(s, (size_t)n, &back) != 0 ||
        !p2p_peerid_equal(&id, &back))
      abort();
    (void)p2p_peerid_to_pubkey(&id, &pk);
  }
  if (p2p_peerid_from_bytes(data, size, &id) == 0 &&
      (id.len != size || memcmp(id.bytes, data, size) != 0))
    abort();
}

static void fuzz_envelope(const uint8_t *data, size_t size) {
  p2p_envelope env;
  p2p_peer_record rec, back;
  uint8_t *out;
  ssize_t n;
  if (p2p_envelope_open(data, size, "fuzz", &env) == 0) {
    /* Only a forged signature could get here; nothing else to check. */
    p2p_envelope_free(&env);
  }
  if (p2p_peer_record_open(data, size, &rec, NULL) == 0)
    p2p_peer_record_free(&rec);
  /* A record that parses marshals and parses again to the same record. */
  if (p2p_peer_record_unmarshal(data, size, &rec) != 0)
    return;
  out = malloc(size + 64);
  if (out == NULL)
    abort();
  n = p2p_peer_record_marshal(&rec, out, size + 64);
  if (n < 0 || p2p_peer_record_unmarshal(out, (size_t)n, &back) != 0 ||
      !p2p_peerid_equal(&rec.peer_id, &back.peer_id) || rec.seq != back.seq ||
      rec.naddrs != back.naddrs)
    abort();
  for (size_t i = 0; i < rec.naddrs; i++)
    if (rec.addrs[i].len != back.addrs[i].len ||
        memcmp(rec.addrs[i].bytes, back.addrs[i].bytes, rec.addrs[i].len))
      abort();
  p2p_peer_record_free(&back);
  p2p_peer_record_free(&rec);
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* The first byte picks the parser, so one corpus covers them all. */
  if (size == 0)
    return 0;
  switch (data[0] % 4) {
  case 0: fuzz_pubkey(data + 1, size - 1); break;
  case 1: fuzz_privkey(data + 1, size - 1); break;
  case 2: fuzz_peerid(data + 1, size - 1); break;
  default: fuzz_envelope(data + 1, size - 1); break;
  }
  return 0;
}
