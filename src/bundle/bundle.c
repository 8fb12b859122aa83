/* Building the bundle's stages from an egress section.  See bundle.h. */
#include "bundle/bundle.h"

#include "bundle/audit.h"
#include "bundle/dlp.h"
#include "bundle/gate.h"
#include "bundle/inject.h"
#include "bundle/policy.h"
#include "bundle/stage.h"
#include "bundle/startup_child.h"
#include "bundle/supervise.h"
#include "bundle/tls.h"

#include "lib/ca.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/secret.h"
#include "lib/util.h"

#include <errno.h>
#include <malloc.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int init_policy(struct bundle *b, const struct egress *e,
		       struct error *err)
{
	_cleanup_free_ const char **hosts =
	    xcalloc(e->n_routes + 1, sizeof(char *));
	_cleanup_free_ const char **rh =
	    xcalloc(e->n_resolve + 1, sizeof(char *));
	_cleanup_free_ const char **ra =
	    xcalloc(e->n_resolve + 1, sizeof(char *));
	struct policy_config pc = {0};

	for (size_t i = 0; i < e->n_routes; i++)
		hosts[i] = e->routes[i].host;
	for (size_t i = 0; i < e->n_resolve; i++) {
		rh[i] = e->resolve[i].key;
		ra[i] = e->resolve[i].value;
	}
	pc.allow = (const char *const *)e->allow;
	pc.n_allow = e->n_allow;
	pc.inspect = (const char *const *)e->inspect;
	pc.n_inspect = e->n_inspect;
	pc.route_hosts = hosts;
	pc.n_route_hosts = e->n_routes;
	pc.resolve_host = rh;
	pc.resolve_addr = ra;
	pc.n_resolve = e->n_resolve;
	return policy_new(&pc, &b->policy, err);
}

/* Every secret the bundle holds, for the DLP to look for: the routes'
 * values (kept by inject) and the git upstreams' tokens (rendered here,
 * *tokens of them, for the caller to wipe). */
static const char **held_secrets(const struct bundle *b,
				 const struct bundle_conf *c, char ***tokens,
				 size_t *n_tokens, size_t *n, struct error *err)
{
	size_t n_routes = 0;
	const char *const *routes = inject_secrets(b->inject, &n_routes);
	const char **all;

	*tokens = NULL;
	*n_tokens = 0;
	for (size_t i = 0; i < c->n_upstreams; i++) {
		char *t;
		if (!c->upstreams[i].token)
			continue;
		t = secret_render(c->upstreams[i].token, tokens, n_tokens, err);
		if (!t) {
			err_prefix(err, "git upstream %s: token",
				   c->upstreams[i].name);
			return NULL;
		}
		secret_free(t);
	}
	all = xcalloc(n_routes + *n_tokens + 1, sizeof(*all));
	for (size_t i = 0; i < n_routes; i++)
		all[i] = routes[i];
	for (size_t i = 0; i < *n_tokens; i++)
		all[n_routes + i] = (*tokens)[i];
	*n = n_routes + *n_tokens;
	return all;
}

/* The DLP's input, from the conf: the patterns and every secret held. */
struct dlp_input {
	struct dlp_config dc;
	struct dlp_rule_src *custom;
	const char **secrets;
	char **tokens; /* rendered git tokens, wiped on release */
	size_t n_tokens;
	char *cache;
};

static void dlp_input_release(struct dlp_input *in)
{
	for (size_t i = 0; i < in->n_tokens; i++)
		secret_free(in->tokens[i]);
	free(in->tokens);
	free(in->secrets);
	free(in->custom);
	free(in->cache);
}

/* Compiled databases are cached per user, keyed by the pattern set (never
 * by the secrets: those are compiled apart, uncached). */
static char *dlp_cache_dir(void)
{
	const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	struct error err = ERROR_INIT;
	char *cache = NULL;

	if (xdg && xdg[0] == '/')
		cache = xasprintf("%s/bottle/dlp", xdg);
	else if (home && home[0] == '/')
		cache = xasprintf("%s/.cache/bottle/dlp", home);
	if (cache && mkdir_p(cache, 0700, &err) < 0) {
		log_warnx("dlp cache: %s", err.msg);
		free(cache);
		cache = NULL;
	}
	return cache;
}

static int dlp_input_make(const struct bundle *b, const struct bundle_conf *c,
			  bool cache, struct dlp_input *in, struct error *err)
{
	const struct egress *e = &c->egress;

	memset(in, 0, sizeof(*in));
	in->custom = xcalloc(e->n_patterns + 1, sizeof(*in->custom));
	for (size_t i = 0; i < e->n_patterns; i++)
		in->custom[i] = (struct dlp_rule_src){e->patterns[i].name,
						      e->patterns[i].regex,
						      e->patterns[i].action};
	in->dc.builtin = e->dlp_builtin;
	in->dc.custom = in->custom;
	in->dc.n_custom = e->n_patterns;
	in->cache = cache ? dlp_cache_dir() : NULL;
	in->dc.cache_dir = in->cache;
	in->secrets = held_secrets(b, c, &in->tokens, &in->n_tokens,
				   &in->dc.n_secrets, err);
	in->dc.secrets = in->secrets;
	return in->secrets ? 0 : -EINVAL;
}

int bundle_dlp(struct bundle *b, struct error *err)
{
	struct dlp_input in;
	uint64_t t0 = now_ns();
	int r;

	if (b->dlp_loaded)
		return 0;
	if ((r = stage_load(err)) < 0) {
		log_warnx("%s", err->msg);
		return r;
	}
	if ((r = dlp_input_make(b, b->conf, true, &in, err)) == 0)
		r = dlp_db_new(&in.dc, &b->dlp, err);
	dlp_input_release(&in);
	if (r < 0) {
		if (strncmp(err->msg, "dlp", 3) != 0)
			err_prefix(err, "dlp");
		log_warnx("%s", err->msg);
		return r;
	}
	b->dlp_loaded = true;
	log_info("dlp: %zu rules, %s in %.1f ms (at the first request)",
		 dlp_db_count(b->dlp),
		 dlp_db_from_cache(b->dlp) ? "cached" : "compiled",
		 (double)(now_ns() - t0) / 1e6);
	bundle_trim();
	return 0;
}

/* The start-up child exited (it made the spare): reap it. */
static void on_startup_exit(evutil_socket_t fd, short what, void *arg)
{
	struct bundle *b = arg;

	(void)fd;
	(void)what;
	startup_child_reap(b->startup);
}

/* The start-up child's reports, passed on, up to 'D' or a failure. */
static void on_startup_report(evutil_socket_t fd, short what, void *arg)
{
	struct bundle *b = arg;
	struct error err = ERROR_INIT;
	char c = startup_child_report(b->startup, &err);

	(void)fd;
	(void)what;
	if (c == 'W')
		return;
	if (c == 0)
		err_prefix(&err, "start-up checks");
	if (c != 'C') {
		event_free(b->startup_msg);
		b->startup_msg = NULL;
	}
	b->on_start(b->on_start_ctx, c, &err);
}

/* The start-up child: the bottle's CA, made on the first start and kept
 * after (a resumed bottle keeps trusting it; `bottle run` copies ca.crt
 * into the bottle's CA bundle once we say it exists, or before we start,
 * when it is there already: c->ca_ready), and what the DLP would refuse,
 * without building it here (dlp in). */
static int start_checks(struct bundle *b, const struct bundle_conf *c,
			const char *state_dir, const struct dlp_input *in,
			struct error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/ca", state_dir);
	_cleanup_free_ char *home = xstrdup(state_dir);
	char *slash = strrchr(home, '/');
	struct startup_job job = {c->ca_ready ? NULL : dir, c->id, &in->dc,
				  NULL};
	int r;

	if (slash)
		*slash = '\0';
	if (c->spare_ca && slash)
		job.spare_home = home;
	if ((r = mkdir_p(dir, 0700, err)) < 0)
		return err_prefix(err, "tls");
	b->startup = xmalloc(sizeof(*b->startup));
	if ((r = startup_child_start(&job, b->startup, err)) < 0)
		return err_prefix(err, "start-up checks");
	b->startup_msg = event_new(b->base, b->startup->sock,
				   EV_READ | EV_PERSIST, on_startup_report, b);
	if (!b->startup_msg || event_add(b->startup_msg, NULL) < 0)
		die("out of memory");
	if (b->startup->pidfd >= 0) {
		b->startup_ev = event_new(b->base, b->startup->pidfd, EV_READ,
					  on_startup_exit, b);
		if (!b->startup_ev || event_add(b->startup_ev, NULL) < 0)
			die("out of memory");
	}
	return 0;
}

struct tls_ca *bundle_ca(struct bundle *b, struct error *err)
{
	_cleanup_free_ char *dir = NULL;
	uint64_t t0 = now_ns();

	if (b->ca)
		return b->ca;
	if (stage_load(err) < 0) {
		log_warnx("%s", err->msg);
		return NULL;
	}
	dir = xasprintf("%s/ca", b->state_dir);
	if (tls_ca_load(dir, &b->ca, err) < 0) {
		err_prefix(err, "the bottle's CA");
		log_warnx("%s", err->msg);
		return NULL;
	}
	log_info("tls: the bottle's CA loaded in %.1f ms (at the first "
		 "intercepted connection)",
		 (double)(now_ns() - t0) / 1e6);
	bundle_trim();
	return b->ca;
}

SSL_CTX *bundle_client_ctx(struct bundle *b, struct error *err)
{
	if (!b->client_ctx && stage_load(err) == 0)
		b->client_ctx = tls_client_ctx_new(b->extra_ca, err);
	return b->client_ctx;
}

void bundle_trim(void)
{
	malloc_trim(0);
}

/* The host's resolver configuration (/etc/resolv.conf and /etc/hosts), or
 * $BOTTLE_RESOLV_CONF: tests point it at a resolver that can only fail, so
 * no query ever leaves the machine. */
static int init_dns(struct bundle *b, struct error *err)
{
	const char *conf = getenv("BOTTLE_RESOLV_CONF");
	int r;

	b->dns = evdns_base_new(b->base, EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!b->dns)
		return err_set(err, ENOMEM, "dns");
	r = evdns_base_resolv_conf_parse(b->dns, DNS_OPTIONS_ALL,
					 conf ? conf : "/etc/resolv.conf");
	if (r != 0)
		log_warnx("dns: cannot use %s (%d); only resolve overrides and "
			  "/etc/hosts work",
			  conf ? conf : "/etc/resolv.conf", r);
	if (evdns_base_load_hosts(b->dns, "/etc/hosts") != 0)
		log_warnx("dns: cannot read /etc/hosts");
	return 0;
}

/* Environment knobs for tests and tuning, in milliseconds. */
static void env_ms(const char *name, unsigned *v)
{
	const char *s = getenv(name);
	char *end;
	unsigned long x;

	if (!s)
		return;
	x = strtoul(s, &end, 10);
	if (*s && !*end && x > 0 && x < 86400000ul)
		*v = (unsigned)x;
	else
		log_warnx("ignoring %s=%s: expected milliseconds", name, s);
}

int bundle_init(struct bundle *b, struct event_base *base,
		const struct bundle_conf *c, const char *state_dir,
		bundle_start_fn on_start, void *ctx, struct error *err)
{
	const struct egress *e = &c->egress;
	const char *bottle_id = c->id;
	struct bundle_limits lim = BUNDLE_LIMITS_DEFAULT;
	_cleanup_free_ char *logs = xasprintf("%s/logs", state_dir);
	_cleanup_free_ char *audit = xasprintf("%s/audit.jsonl", logs);
	struct dlp_input in;
	int r;

	memset(b, 0, sizeof(*b));
	b->base = base;
	b->bottle_id = bottle_id;
	b->state_dir = state_dir;
	env_ms("BOTTLE_HEAD_TIMEOUT_MS", &lim.head_timeout_ms);
	env_ms("BOTTLE_IDLE_TIMEOUT_MS", &lim.idle_timeout_ms);
	env_ms("BOTTLE_CONNECT_TIMEOUT_MS", &lim.connect_timeout_ms);
	b->limits = lim;
	b->conf = c;
	b->on_start = on_start;
	b->on_start_ctx = ctx;
	if ((r = init_policy(b, e, err)) < 0)
		return err_prefix(err, "egress policy");
	if ((r = inject_new(e, &b->inject, err)) < 0)
		return err_prefix(err, "credential routes");
	/* The contexts are built at the first intercepted connection; the
	 * extra CA must at least be readable now. */
	if (e->ca_file && access(e->ca_file, R_OK) != 0)
		return err_sys(err, errno, "tls: egress.ca %s", e->ca_file);
	b->extra_ca = e->ca_file ? xstrdup(e->ca_file) : NULL;
	if ((r = dlp_input_make(b, c, false, &in, err)) < 0) {
		dlp_input_release(&in);
		return err_prefix(err, "dlp");
	}
	/* The secrets here: they need no stage module. */
	if ((r = dlp_secrets_check(&in.dc, err)) == 0)
		r = start_checks(b, c, state_dir, &in, err);
	dlp_input_release(&in);
	if (r < 0)
		return r;
	if ((r = mkdir_p(logs, 0700, err)) < 0 ||
	    (r = audit_open(audit, bottle_id, &b->audit, err)) < 0)
		return err_prefix(err, "audit");
	return init_dns(b, err);
}

void bundle_release(struct bundle *b)
{
	supervise_stop(b);
	if (b->proxy)
		evconnlistener_free(b->proxy);
	proxy_close_all(b);
	gate_free(b->gate);
	if (b->dns)
		evdns_base_free(b->dns, 1);
	audit_close(b->audit);
	tls_client_ctx_free(b->client_ctx);
	free(b->extra_ca);
	tls_ca_free(b->ca);
	if (b->startup_msg)
		event_free(b->startup_msg);
	if (b->startup_ev)
		event_free(b->startup_ev);
	if (b->startup)
		startup_child_release(b->startup);
	free(b->startup);
	dlp_db_free(b->dlp);
	inject_free(b->inject);
	policy_free(b->policy);
	memset(b, 0, sizeof(*b));
}
