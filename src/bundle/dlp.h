/* The DLP stage: scans what the agent sends (URL, headers, body) for
 * secrets before the proxy forwards it.
 *
 * A struct dlp_db is the compiled pattern set: the built-in rules
 * (dlp_builtin.c), the manifest's custom patterns and the literal secret
 * values the bundle injects.  Matches are found in the raw bytes and in
 * their base64, hex and %XX-decoded forms (dlp_decode.h), across feed()
 * boundaries.
 *
 * Threads: a db owns one Hyperscan scratch, used by every scan over it
 * (stream feed/finish, dlp_scan, dlp_redact), and keeps the last freed
 * stream for the next dlp_stream_new().  Scans over one db, and making
 * and freeing its streams, must not run concurrently; the bundle is
 * single-threaded.  NEEDSWORK: a multi-threaded user needs
 * hs_clone_scratch() and a spare per thread.
 */
#ifndef BOTTLE_BUNDLE_DLP_H
#define BOTTLE_BUNDLE_DLP_H

#include "lib/err.h"
#include "lib/manifest.h" /* enum dlp_action */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* One user pattern (from the manifest).  Hyperscan syntax; every repeat
 * must be bounded (the longest match must be finite). */
struct dlp_rule_src {
	const char *name, *regex;
	enum dlp_action action;
};

/* Shortest secret value we accept: shorter ones match everywhere. */
#define DLP_MIN_SECRET 8

struct dlp_config {
	bool builtin; /* include the built-in set */
	const struct dlp_rule_src *custom;
	size_t n_custom;
	/* Literal secret values the bundle injects (each >= DLP_MIN_SECRET
	 * bytes): matched literally and in encoded forms, action block, rule
	 * "injected-secret".  They are compiled into a database of their own
	 * that is never written to disk. */
	const char *const *secrets;
	size_t n_secrets;
	/* Where compiled databases are cached, or NULL for no cache. */
	const char *cache_dir;
};

struct dlp_db;

/* Build the pattern set into *out (free with dlp_db_free()).  The db copies
 * what it needs from c.  0, or -EINVAL with "dlp pattern NAME: <reason>"
 * for a bad or unbounded custom regex or "dlp: ..." for a bad secret,
 * -ENOMEM.  A cache that cannot be read or written is not an error (it is
 * recompiled; a warning is logged). */
int dlp_db_new(const struct dlp_config *c, struct dlp_db **out,
	       struct error *err) __attribute__((warn_unused_result));
/* Every secret of c's is long enough to mean something (shorter ones
 * would match anywhere): 0, or -EINVAL with "dlp: injected secret #N is
 * shorter ...".  Part of dlp_db_new() and dlp_config_check(), inline so
 * that the bundle checks it without loading the stage module. */
static inline int dlp_secrets_check(const struct dlp_config *c,
				    struct error *err)
{
	for (size_t i = 0; i < c->n_secrets; i++)
		if (!c->secrets[i] || strlen(c->secrets[i]) < DLP_MIN_SECRET)
			return err_set(err, EINVAL,
				       "dlp: injected secret #%zu is shorter "
				       "than %d bytes and would match anywhere",
				       i + 1, DLP_MIN_SECRET);
	return 0;
}

/* What dlp_db_new(c) would refuse, found without building anything in
 * the caller: a secret too short, a custom pattern that does not compile
 * or is unbounded (checked in a child).  Same errors as dlp_db_new(). */
int dlp_config_check(const struct dlp_config *c, struct error *err)
    __attribute__((warn_unused_result));
void dlp_db_free(struct dlp_db *db); /* wipes the secrets; NULL is fine */
/* Number of rules: built-in + custom + secrets. */
size_t dlp_db_count(const struct dlp_db *db);
/* Whether dlp_db_new() loaded the compiled database from cache_dir. */
bool dlp_db_from_cache(const struct dlp_db *db);

struct dlp_hit {
	const char *rule;     /* rule name; valid while the db lives */
	const char *category; /* e.g. "api-key", "private-key" */
	enum dlp_action action;
	const char *encoding; /* "plain", "base64", "hex", "url" */
};

/* One scanned message part (one URL, one header block, one body). */
struct dlp_stream;

/* Open a stream over db (which must outlive it).  Never fails except on
 * ENOMEM, where it aborts like xmalloc. */
struct dlp_stream *dlp_stream_new(const struct dlp_db *db);
/* Feed the next bytes.  Returns 1 when a BLOCK rule matched (hit filled;
 * further feeding is pointless and returns 1 again), 0 otherwise.
 * LOG-rule matches are collected (dlp_stream_logged) and stop nothing. */
int dlp_stream_feed(struct dlp_stream *s, const void *buf, size_t len,
		    struct dlp_hit *hit);
/* End of the message: flushes the decoders (a base64 run that ends at EOF)
 * and end-anchored patterns.  Same return as feed; the stream takes no
 * more bytes afterwards (feed returns the same verdict). */
int dlp_stream_finish(struct dlp_stream *s, struct dlp_hit *hit);
/* The first LOG-rule hit so far, or NULL.  Owned by the stream. */
const struct dlp_hit *dlp_stream_logged(const struct dlp_stream *s);
void dlp_stream_free(struct dlp_stream *s); /* NULL is fine */

/* Convenience: feed + finish over one whole buffer (URL, header block). */
int dlp_scan(const struct dlp_db *db, const void *buf, size_t len,
	     struct dlp_hit *hit);

/* The longest raw byte span a match can cover, encoded forms included, for
 * the caller's hold-back: hold back this many already-scanned bytes of a
 * streamed body until the next chunk is scanned, so that a secret split
 * across reads is never partly forwarded. */
size_t dlp_db_max_span(const struct dlp_db *db);

/* For the audit log: overwrite every plain match of any rule in buf with
 * '*'.  Aborts on ENOMEM like xmalloc. */
void dlp_redact(const struct dlp_db *db, char *buf, size_t len);

#endif
