/* bottle-bundle: the per-bottle sidecar daemon (DESIGN.md, "Inside the
 * bundle").  One process, one event loop.
 *
 * Under `bottle run` (the monitor starts and supervises it):
 *   bottle-bundle --state DIR --control FD
 * loads the egress of DIR/plan.json, then receives "L" with the endpoint
 * listeners (enum endpoint order) on the control socket FD, serves them and
 * answers "R" (or an error message, then exits).
 *
 * Standalone, for benchmarks and tests of the servers alone (a manifest
 * bottle's egress, git upstreams and supervise):
 *   bottle-bundle --manifest FILE [--bottle NAME] --state DIR
 *                 --listen ADDR:PORT [--listen-git ADDR:PORT]
 *                 [--listen-supervise ADDR:PORT]
 */
#include "bundle/audit.h"
#include "bundle/bundle.h"
#include "bundle/gate.h"
#include "bundle/supervise.h"

#include "lib/ca.h"
#include "lib/fdpass.h"
#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/manifest.h"
#include "lib/plan.h"
#include "lib/state.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define AUDIT_FLUSH_MS 200

struct opts {
	const char *state;
	const char *manifest;
	const char *bottle;
	const char *listen[ENDPOINT_COUNT]; /* standalone: ADDR:PORT or NULL */
	int control; /* the monitor's control socket, -1 = standalone */
	bool ca_ready;
	bool debug;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bottle-bundle --state DIR --control FD [--ca-ready]\n"
		"       bottle-bundle --manifest FILE [--bottle NAME] "
		"--state DIR --listen ADDR:PORT\n"
		"                     [--listen-git ADDR:PORT] "
		"[--listen-supervise ADDR:PORT]\n"
		"The per-bottle sidecar: the egress proxy with allowlist, DLP "
		"and credential\ninjection, the git gate and the supervise "
		"MCP server.  `bottle run` starts\nit; see bottle(1).\n");
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
	    {"state", required_argument, NULL, 's'},
	    {"manifest", required_argument, NULL, 'm'},
	    {"bottle", required_argument, NULL, 'b'},
	    {"listen", required_argument, NULL, 'l'},
	    {"listen-git", required_argument, NULL, 'g'},
	    {"listen-supervise", required_argument, NULL, 'u'},
	    {"control", required_argument, NULL, 'c'},
	    {"ca-ready", no_argument, NULL, 'a'},
	    {"debug", no_argument, NULL, 'd'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	o->control = -1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case 's':
			o->state = optarg;
			break;
		case 'm':
			o->manifest = optarg;
			break;
		case 'b':
			o->bottle = optarg;
			break;
		case 'l':
			o->listen[ENDPOINT_PROXY] = optarg;
			break;
		case 'g':
			o->listen[ENDPOINT_GIT] = optarg;
			break;
		case 'u':
			o->listen[ENDPOINT_SUPERVISE] = optarg;
			break;
		case 'c':
			o->control = atoi(optarg);
			break;
		case 'a':
			o->ca_ready = true;
			break;
		case 'd':
			o->debug = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
	}
	if (!o->state || optind != argc ||
	    (o->control < 0) == !(o->manifest && o->listen[ENDPOINT_PROXY])) {
		usage(stderr);
		return -1;
	}
	return 0;
}

/* ADDR:PORT -> a listening TCP socket. */
static int listen_on(const char *spec, struct error *err)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	const char *colon = strrchr(spec, ':');
	_cleanup_free_ char *host = NULL;
	int fd, one = 1;

	if (!colon || atoi(colon + 1) <= 0 || atoi(colon + 1) > 65535)
		return err_set(err, EINVAL, "--listen %s: expected ADDR:PORT",
			       spec);
	host = xstrndup(spec, (size_t)(colon - spec));
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1)
		return err_set(err, EINVAL, "--listen %s: not an IPv4 address",
			       spec);
	sa.sin_port = htons((uint16_t)atoi(colon + 1));
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return err_sys(err, errno, "socket");
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 1024) < 0) {
		int e = errno;
		close(fd);
		return err_sys(err, e, "listening on %s", spec);
	}
	return fd;
}

/* What to serve: the plan's, or a manifest bottle's. */
static int load_conf(const struct opts *o, struct bundle_conf *c,
		     struct error *err)
{
	const struct bottle_def *bd;
	struct manifest *m;
	int r;

	memset(c, 0, sizeof(*c));
	if (o->control >= 0) {
		_cleanup_free_ char *path = xasprintf("%s/plan.json", o->state);
		struct plan *p;
		if ((r = plan_load(path, &p, err)) < 0)
			return r;
		c->id = xstrdup(p->id);
		egress_copy(&c->egress, &p->egress);
		memcpy(c->ports, p->ports, sizeof(c->ports));
		c->upstreams = upstreams_copy(p->upstreams, p->n_upstreams);
		c->n_upstreams = p->n_upstreams;
		c->supervise = p->supervise;
		c->supervise_timeout = p->supervise_timeout;
		plan_free(p);
		return 0;
	}
	if ((r = manifest_load(o->manifest, &m, err)) < 0)
		return r;
	bd = o->bottle ? manifest_bottle(m, o->bottle)
		       : (m->n_bottles == 1 ? &m->bottles[0] : NULL);
	if (!bd) {
		manifest_free(m);
		return err_set(err, EINVAL,
			       o->bottle ? "no bottle named %s"
					 : "the manifest has several bottles: "
					   "pick one with --bottle%s",
			       o->bottle ? o->bottle : "");
	}
	c->id = xstrdup(bd->name);
	egress_copy(&c->egress, &bd->egress);
	c->upstreams = upstreams_copy(bd->upstreams, bd->n_upstreams);
	c->n_upstreams = bd->n_upstreams;
	c->supervise = bd->supervise;
	c->supervise_timeout = bd->supervise_timeout;
	manifest_free(m);
	return 0;
}

static void conf_release(struct bundle_conf *c)
{
	free(c->id);
	egress_release(&c->egress);
	upstreams_release(c->upstreams, c->n_upstreams);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void)what;
	log_info("signal %d: stopping", (int)sig);
	event_base_loopexit(arg, NULL);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	audit_flush(((struct bundle *)arg)->audit);
}

/* SIGTERM and SIGINT wait until the loop handles them, so that a bottle
 * whose agent exits at once still stops its bundle the orderly way (the
 * audit flushed, the start-up child released; see bundle_release()). */
static void hold_signals(bool hold)
{
	sigset_t term;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigaddset(&term, SIGINT);
	sigprocmask(hold ? SIG_BLOCK : SIG_UNBLOCK, &term, NULL);
}

/* One word (or an error message) to the monitor. */
static void report(int control, const char *msg)
{
	if (control < 0)
		return;
	if (write(control, msg, strlen(msg)) < 0)
		log_debug("control socket closed");
}

/* The start-up checks (bundle_init()), from the event loop. */
struct start {
	struct opts *o;
	struct event_base *base;
	int status; /* main's exit code */
};

static void on_start(void *ctx, char what, const struct error *err)
{
	struct start *st = ctx;

	switch (what) {
	case 'C':
		/* The bottle's CA exists: the monitor lets the agent start,
		 * if it waited for that. */
		report(st->o->control, "C");
		break;
	case 'D':
		/* All checked: the monitor stops watching our start-up. */
		report(st->o->control, "R");
		if (st->o->control >= 0)
			close(st->o->control);
		st->o->control = -1;
		break;
	default:
		log_warnx("%s", err->msg);
		report(st->o->control, err->msg);
		st->status = 1;
		event_base_loopbreak(st->base);
	}
}

/* The listeners, from the monitor, once the bottle has them. */
static int take_listeners(int control, const uint16_t ports[ENDPOINT_COUNT],
			  int fds[ENDPOINT_COUNT], struct error *err)
{
	int got[ENDPOINT_COUNT];
	char b = 0;
	size_t n = 0;
	ssize_t r = fd_recv(control, &b, 1, got, ENDPOINT_COUNT, &n);

	if (r == 1 && b == 'L' && endpoints_unpack(ports, got, n, fds) == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		close(got[i]);
	if (r == 0)
		return err_set(err, EPIPE, "the monitor went away");
	return err_set(err, EPROTO,
		       "unexpected message on the control "
		       "socket");
}

/* Standalone: listen where the command line says. */
static int open_listeners(const struct opts *o, int fds[ENDPOINT_COUNT],
			  struct error *err)
{
	for (int i = 0; i < ENDPOINT_COUNT; i++)
		fds[i] = -1;
	for (int i = 0; i < ENDPOINT_COUNT; i++) {
		if (!o->listen[i])
			continue;
		if ((fds[i] = listen_on(o->listen[i], err)) < 0)
			return fds[i];
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct error err = ERROR_INIT;
	struct bundle_conf conf = {0};
	struct bundle b;
	struct event_base *base;
	struct event *sig_term, *sig_int, *flush;
	struct timeval tv = {0, AUDIT_FLUSH_MS * 1000};
	struct opts o;
	struct start st = {&o, NULL, 0};
	int fds[ENDPOINT_COUNT];

	if (gate_is_hook(argv[0]))
		return gate_hook_main();
	if (parse_args(argc, argv, &o) < 0)
		return 2;
	log_init("bottle-bundle", o.debug ? LOG_DEBUG : LOG_INFO);
	hold_signals(true);
	signal(SIGPIPE, SIG_IGN);
	base = event_base_new();
	if (!base)
		die("event_base_new failed");
	if (load_conf(&o, &conf, &err) < 0)
		goto fail;
	conf.spare_ca = o.control >= 0;
	conf.ca_ready = o.ca_ready;
	st.base = base;
	if (bundle_init(&b, base, &conf, o.state, on_start, &st, &err) < 0)
		goto fail;
	if ((o.control < 0
		 ? open_listeners(&o, fds, &err)
		 : take_listeners(o.control, conf.ports, fds, &err)) < 0)
		goto fail;
	if (proxy_serve(&b, fds[ENDPOINT_PROXY], &err) < 0)
		goto fail;
	if (fds[ENDPOINT_GIT] >= 0 &&
	    gate_start(&b, conf.upstreams, conf.n_upstreams, &conf.egress,
		       fds[ENDPOINT_GIT], &err) < 0)
		goto fail;
	if (fds[ENDPOINT_SUPERVISE] >= 0 &&
	    supervise_start(&b, conf.supervise_timeout, fds[ENDPOINT_SUPERVISE],
			    &err) < 0)
		goto fail;
	sig_term = evsignal_new(base, SIGTERM, on_signal, base);
	sig_int = evsignal_new(base, SIGINT, on_signal, base);
	flush = event_new(base, -1, EV_PERSIST, on_flush, &b);
	if (!sig_term || !sig_int || !flush)
		die("out of memory");
	evsignal_add(sig_term, NULL);
	evsignal_add(sig_int, NULL);
	evtimer_add(flush, &tv);
	hold_signals(false);
	log_info("serving %s (pid %d)", conf.id, (int)getpid());
	bundle_trim();
	event_base_dispatch(base);
	log_info("%llu requests, %llu denied, %llu blocked",
		 (unsigned long long)b.n_requests,
		 (unsigned long long)b.n_denied,
		 (unsigned long long)b.n_blocked);
	event_free(sig_term);
	event_free(sig_int);
	event_free(flush);
	bundle_release(&b);
	conf_release(&conf);
	event_base_free(base);
	return st.status;
fail:
	log_warnx("%s", err.msg);
	report(o.control, err.msg);
	return 1;
}
