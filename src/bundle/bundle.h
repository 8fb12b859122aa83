/* The sidecar bundle's shared state: one per process, built by main.c from
 * the bottle's plan (or a manifest, standalone) and handed explicitly to
 * every connection; nothing here is global.
 *
 * The stages it wires together (DESIGN.md, "The proxy pipeline"):
 *   policy   policy.h   allowlist, address rules, resolve overrides
 *   dlp      dlp.h      the compiled pattern set
 *   inject   inject.h   credential routes with their real values
 *   audit    audit.h    one JSON line per request
 * plus TLS (tls.h: the bottle's CA, leaf cache, upstream context). */
#ifndef BOTTLE_BUNDLE_BUNDLE_H
#define BOTTLE_BUNDLE_BUNDLE_H

#include "lib/err.h"
#include "lib/manifest.h"
#include "lib/plan.h"

#include <openssl/ssl.h>
#include <stdint.h>

struct event_base;
struct evdns_base;
struct evconnlistener;
struct event;
struct startup_child;

/* Limits and timeouts, per connection. */
struct bundle_limits {
	unsigned head_timeout_ms;    /* a request head must arrive in this */
	unsigned connect_timeout_ms; /* upstream connect + TLS handshake */
	unsigned idle_timeout_ms;    /* no byte either way */
	unsigned total_timeout_ms;   /* whole connection */
	size_t buffer_max;	     /* per direction, then read stops */
	unsigned max_conns;	     /* accepted at once */
};

#define BUNDLE_LIMITS_DEFAULT                                                  \
	{                                                                      \
		30000, 10000, 300000, 3600000, 256u << 10, 4096                \
	}

/* What a bundle serves: the plan's, or (standalone) a manifest bottle's. */
struct bundle_conf {
	char *id;
	struct egress egress;
	uint16_t ports[ENDPOINT_COUNT]; /* which endpoints are on */
	struct git_upstream *upstreams;
	size_t n_upstreams;
	bool supervise;
	unsigned supervise_timeout; /* seconds; 0 = default */
	bool spare_ca;		    /* make a CA for the user's next bottle
				     * (startup_child.h) */
	bool ca_ready; /* the CA is there, taken as it is: not checked at
			* start (bundle_sup_start()) */
};

/* How the start-up checks went (see bundle_init()): what is 'C' once the
 * bottle's CA exists, then 'D' once the DLP configuration checked out, or
 * 0 with the reason in err, after which the bundle must not serve. */
typedef void (*bundle_start_fn)(void *ctx, char what, const struct error *err);

struct bundle {
	struct event_base *base;
	struct evdns_base *dns;
	const char *bottle_id;
	const char *state_dir;
	struct bundle_limits limits;
	struct policy *policy;
	struct dlp_db *dlp;
	struct inject *inject;
	struct audit *audit;
	/* Built at first use, so that an idle bundle pays for neither
	 * (bundle_dlp(), bundle_ca(), bundle_client_ctx()). */
	const struct bundle_conf *conf;
	bool dlp_loaded; /* dlp is built (NULL: no DLP at all) */
	struct tls_ca *ca;
	SSL_CTX *client_ctx;
	char *extra_ca;
	struct startup_child *startup; /* the CA, DLP checks, the spare */
	struct event *startup_msg;     /* its reports */
	struct event *startup_ev;      /* reaps it */
	bundle_start_fn on_start;
	void *on_start_ctx;
	struct evconnlistener *proxy; /* NULL until proxy_serve() */
	struct gate *gate;	      /* NULL unless gate_start() */
	struct supervise *supervise;  /* NULL until supervise_start() */
	struct conn *conns;	      /* live connections, a list */
	unsigned n_conns;
	/* Counters for the log line at exit. */
	uint64_t n_requests, n_denied, n_blocked;
};

/* Build the stages from c's egress section (c outlives b).  The DLP also
 * looks for every secret the bundle holds: the routes' and the git
 * upstreams' tokens.  state_dir holds ca/ (the bottle's CA, made on the
 * first start and kept after) and logs/audit.jsonl; the DLP cache is per
 * user.
 *
 * What an idle bundle does not use is only checked at start: the held
 * secrets here, and in a child (startup_child.h) the CA (made if need be;
 * not at all with c->ca_ready) and that the custom DLP patterns compile.
 * The child's checks run while the caller goes on to serve; on_start(ctx,
 * ...) says how they went, from the event loop.  The rest is built at
 * first use, when the stage module is loaded (stage.h): the DLP database,
 * the CA's keys, the TLS contexts.  0 or -errno with err naming the
 * stage. */
int bundle_init(struct bundle *b, struct event_base *base,
		const struct bundle_conf *c, const char *state_dir,
		bundle_start_fn on_start, void *ctx, struct error *err)
    __attribute__((warn_unused_result));
void bundle_release(struct bundle *b);

/* The DLP database, built at the first request (b->dlp stays NULL when
 * the egress has no DLP).  0, or -errno with err ("dlp: ..."): the caller
 * refuses the request, and a later one tries again. */
int bundle_dlp(struct bundle *b, struct error *err)
    __attribute__((warn_unused_result));

/* The bottle's CA with its leaf key, loaded at the first intercepted
 * CONNECT.  NULL with err ("the bottle's CA: ..."). */
struct tls_ca *bundle_ca(struct bundle *b, struct error *err);

/* The upstream TLS context, built on first use.  NULL with err. */
SSL_CTX *bundle_client_ctx(struct bundle *b, struct error *err);

/* Start-up is over: give freed memory back to the kernel. */
void bundle_trim(void);

/* Serve the proxy on an already listening socket (taken; closed by
 * bundle_release()). */
int proxy_serve(struct bundle *b, int listen_fd, struct error *err)
    __attribute__((warn_unused_result));
/* Close every live connection (each gets its audit line). */
void proxy_close_all(struct bundle *b);

#endif
