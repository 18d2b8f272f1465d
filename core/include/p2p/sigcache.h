/*
 * p2p/sigcache.h - a cache of verified Ed25519 signatures.
 *
 * In a simulation thousands of hosts verify the same signed messages (a
 * GossipSub message reaches every subscriber; each checks its StrictSign
 * signature). The verification is a pure function of (public key, message,
 * signature), so hosts of one process may share its result: the first host
 * verifies for real, the others find the SHA-256 of the triple in this
 * cache. Only successful verifications are remembered; a forged message is
 * verified (and refused) by every host. The cache holds `capacity` entries
 * and forgets the oldest first, so results never depend on anything but the
 * order of verifications, which a deterministic run fixes.
 */
#ifndef P2P_SIGCACHE_H
#define P2P_SIGCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "p2p/crypto.h"
#include "p2p/error.h"

typedef struct p2p_sigcache p2p_sigcache;

/* capacity: entries kept (rounded up to a power of two, at least 64).
 * Returns 0, P2P_ERR_INVALID or P2P_ERR_NOMEM. */
P2P_WUR int p2p_sigcache_new(size_t capacity, p2p_sigcache **out);
void p2p_sigcache_del(p2p_sigcache *c);

/* p2p_pubkey_verify through the cache (c may be NULL: no cache). */
P2P_WUR int p2p_sigcache_verify(p2p_sigcache *c, const p2p_pubkey *key,
                                const uint8_t *msg, size_t len,
                                const uint8_t *sig, size_t sig_len);

/* Verifications answered from the cache, and done for real. */
void p2p_sigcache_stats(const p2p_sigcache *c, uint64_t *hits,
                        uint64_t *misses);

#endif /* P2P_SIGCACHE_H */
