/* Hyperscan glue for the DLP stage: a wiping allocator and the on-disk
 * cache of compiled pattern databases.  Internal to the DLP stage.
 *
 * The cache holds only the built-in and custom patterns, never the
 * injected secrets (those are compiled apart and never written).  A file
 * is named after the SHA-256 of the pattern set, the Hyperscan version and
 * the platform, written atomically (temp + rename, mode 0600), and mapped
 * when loaded; corruption is caught by a SHA-256 of the headers and
 * Hyperscan's own CRC32C of each database.
 */
#ifndef BOTTLE_BUNDLE_DLP_CACHE_H
#define BOTTLE_BUNDLE_DLP_CACHE_H

#include "lib/err.h"

#include <hs.h>
#include <stddef.h>
#include <stdint.h>

#define DLP_CACHE_KEY_LEN 32

/* Route all Hyperscan allocations through an allocator that wipes memory
 * before freeing it (the secrets database holds secret values).
 * Idempotent; call before any other Hyperscan call. */
void dlp_hs_allocator_init(void);
/* Free what Hyperscan handed out (hs_expression_info, serialization). */
void dlp_hs_free(void *p);

/* The cache key of a pattern set (regexes and flags, in id order). */
void dlp_cache_key(const char *const *exprs, const unsigned *flags, size_t n,
		   uint8_t key[DLP_CACHE_KEY_LEN]);

/* Load the databases cached under key in dir.  0 on success (the caller
 * owns *stream_db and *block_db); -ENOENT when there is no entry; another
 * -errno with err set when an entry exists but cannot be used. */
int dlp_cache_load(const char *dir, const uint8_t key[DLP_CACHE_KEY_LEN],
		   hs_database_t **stream_db, hs_database_t **block_db,
		   size_t *max_span, struct error *err);

/* Store the databases under key in dir (created 0700 if missing).  0 or
 * -errno with err set. */
int dlp_cache_store(const char *dir, const uint8_t key[DLP_CACHE_KEY_LEN],
		    const hs_database_t *stream_db,
		    const hs_database_t *block_db, size_t max_span,
		    struct error *err);

#endif
