/* The bundle's heavy stages, loaded at first use.
 *
 * TLS (OpenSSL) and DLP (Hyperscan, with libstdc++) are most of what an
 * idle bundle would map: loading those libraries touches about 3.5 MiB
 * of their pages, against the bundle's own 1 MiB or so.  An agent that
 * has sent nothing yet needs neither, and a bottle whose agent only uses
 * tunnels never needs DLP's.  So they are built into a module of their
 * own, bottle-bundle-stages.so, installed next to bottle-bundle, which
 * links neither library: stage_load() dlopen()s the module on the
 * bundle's first request (bundle_dlp(), bundle_ca(), bundle_client_ctx())
 * and in the start-up child (startup_child.h).
 *
 * The rest of the bundle calls dlp.h, tls.h, tls_io.h and ca.h as
 * everywhere else: in bottle-bundle, stage.c defines those functions as
 * trampolines into the module's table below.  Unit tests, fuzzers and
 * benchmarks link the stages directly and never see this file.
 *
 * Internal to the bundle. */
#ifndef BOTTLE_BUNDLE_STAGE_H
#define BOTTLE_BUNDLE_STAGE_H

#include "bundle/dlp.h"
#include "bundle/tls.h"
#include "bundle/tls_io.h"

#include "lib/err.h"
#include "lib/log.h"

#define STAGE_MODULE "bottle-bundle-stages.so"
#define STAGE_SYMBOL "bottle_stage_ops"

/* What the module exports as STAGE_SYMBOL.  version and size must match
 * the bundle's own: the two files come from one build. */
struct stage_ops {
	const char *version; /* BOTTLE_VERSION */
	size_t size;	     /* sizeof(struct stage_ops) */
	/* The module's own copy of lib/log: same name and level. */
	void (*log_init)(const char *progname, enum log_level level);

	int (*dlp_config_check)(const struct dlp_config *c, struct error *err);
	int (*dlp_db_new)(const struct dlp_config *c, struct dlp_db **out,
			  struct error *err);
	void (*dlp_db_free)(struct dlp_db *db);
	size_t (*dlp_db_count)(const struct dlp_db *db);
	bool (*dlp_db_from_cache)(const struct dlp_db *db);
	size_t (*dlp_db_max_span)(const struct dlp_db *db);
	struct dlp_stream *(*dlp_stream_new)(const struct dlp_db *db);
	int (*dlp_stream_feed)(struct dlp_stream *s, const void *buf,
			       size_t len, struct dlp_hit *hit);
	int (*dlp_stream_finish)(struct dlp_stream *s, struct dlp_hit *hit);
	const struct dlp_hit *(*dlp_stream_logged)(const struct dlp_stream *s);
	void (*dlp_stream_free)(struct dlp_stream *s);
	int (*dlp_scan)(const struct dlp_db *db, const void *buf, size_t len,
			struct dlp_hit *hit);
	void (*dlp_redact)(const struct dlp_db *db, char *buf, size_t len);

	int (*ca_ensure)(const char *dir, const char *id, struct error *err);
	int (*ca_make_spare)(const char *state_home, struct error *err);
	int (*tls_ca_load)(const char *dir, struct tls_ca **out,
			   struct error *err);
	void (*tls_ca_free)(struct tls_ca *ca);
	SSL_CTX *(*tls_ca_server_ctx)(struct tls_ca *ca, const char *host,
				      struct error *err);
	SSL_CTX *(*tls_client_ctx_new)(const char *extra_ca_file,
				       struct error *err);
	void (*tls_client_ctx_free)(SSL_CTX *ctx);
	struct tls_io *(*tls_io_server)(SSL_CTX *ctx, int fd, const void *held,
					size_t n);
	struct tls_io *(*tls_io_client)(SSL_CTX *ctx, const char *host);
	void (*tls_io_set_fd)(struct tls_io *t, int fd);
	void (*tls_io_free)(struct tls_io *t);
	enum tls_io_result (*tls_io_handshake)(struct tls_io *t);
	enum tls_io_result (*tls_io_read)(struct tls_io *t, void *buf,
					  size_t len, size_t *got);
	bool (*tls_io_pending)(const struct tls_io *t);
	enum tls_io_result (*tls_io_write)(struct tls_io *t, const void *buf,
					   size_t len);
	bool (*tls_io_failure)(const struct tls_io *t, char *buf, size_t len);
};

/* Load the module (once; later calls return 0 at once): 0, or -errno
 * with err naming the module and what went wrong.  A stage function
 * called before a successful load is a bug (it aborts), except the
 * free functions on NULL. */
int stage_load(struct error *err) __attribute__((warn_unused_result));

/* Whether the module is loaded. */
bool stage_loaded(void);

#endif
