/* The git gate's server side: connections and the git children they run.
 * See gate.h; the hook is in gate_hook.c.
 *
 * A connection goes
 *
 *   GC_REQUEST   reading the request pkt-line (head timeout)
 *   GC_WAITING   its upstream's mirror is being refreshed
 *   GC_SERVING   a git child owns the socket; we wait for it to exit
 *
 * and is freed at the end of the callback that ends it; no callback of
 * ours runs inside another, so nothing is freed under a caller. */
#include "bundle/gate.h"

#include "bundle/audit.h"
#include "bundle/pktline.h"

#include "lib/fsutil.h"
#include "lib/gitup.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define GATE_MAX_CONNS	      32    /* connections (and git children) */
#define GATE_REFRESH_MS	      10000 /* a mirror is refreshed at most this often */
#define GATE_REFRESH_LIMIT_MS 120000 /* then it is killed and served as is */

enum gconn_state { GC_REQUEST, GC_WAITING, GC_SERVING };
static const char *const state_names[] = {"request", "waiting", "serving"};

/* A child process, watched through its pidfd. */
struct proc {
	pid_t pid; /* 0: none */
	int pidfd;
	struct event *exited;
	struct event *limit; /* kills it when it runs too long */
};

struct gup {
	struct gate *g;
	char *name;
	char *mirror;
	char **env;	 /* the upstream's identity: for the refresh */
	char **push_env; /* env and the hook's BOTTLE_GATE_*: receive-pack */
	uint64_t last_refresh; /* ns; 0 = not yet */
	struct proc refresh;
	unsigned n_pushing; /* receive-packs running */
};

struct gconn {
	struct gate *g;
	struct gconn *next, *prev;
	enum gconn_state state;
	int fd; /* until a child takes it */
	struct event *readable;
	char *buf;
	size_t len, need;
	struct git_request req;
	struct gup *up;
	struct proc proc;
	uint64_t started;
};

struct gate {
	struct bundle *b;
	struct evconnlistener *listener;
	struct gup *ups;
	size_t n_ups;
	char *hooks;	  /* STATE/git/hooks */
	char **plain_env; /* upload-pack's */
	struct gconn *conns;
	unsigned n_conns;
	unsigned refresh_ms;
};

static void conn_free(struct gconn *c);
static void serve(struct gconn *c);

static void set_state(struct gconn *c, enum gconn_state s)
{
	log_debug("git %p: %s -> %s", (void *)c, state_names[c->state],
		  state_names[s]);
	c->state = s;
}

/* ---- children ------------------------------------------------------------ */

/* argv with env in a new process group (so that a kill reaches git's own
 * children), signals reset, io_fd (or /dev/null) as stdin and stdout, our
 * stderr (the bundle's log) as its stderr and no other fd. */
static int proc_spawn(struct proc *p, const char *const *argv, char **env,
		      int io_fd, struct error *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	int r;

	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE); /* ignored here, not in git */
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	posix_spawnattr_init(&at);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
					  POSIX_SPAWN_SETSIGMASK |
					  POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawn_file_actions_init(&fa);
	if (io_fd >= 0) {
		posix_spawn_file_actions_adddup2(&fa, io_fd, STDIN_FILENO);
		posix_spawn_file_actions_adddup2(&fa, io_fd, STDOUT_FILENO);
	} else {
		posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
						 O_RDONLY, 0);
		posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO,
						 "/dev/null", O_WRONLY, 0);
	}
	/* Every fd of ours is O_CLOEXEC already; this is belt and braces
	 * for one that a library opened without. */
	posix_spawn_file_actions_addclosefrom_np(&fa, STDERR_FILENO + 1);
	r = posix_spawnp(&p->pid, argv[0], &fa, &at, (char *const *)argv, env);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (r != 0) {
		p->pid = 0;
		return err_sys(err, r, "running %s %s", argv[0], argv[1]);
	}
	p->pidfd = (int)syscall(SYS_pidfd_open, p->pid, 0);
	if (p->pidfd < 0) {
		r = errno;
		kill(-p->pid, SIGKILL);
		waitpid(p->pid, NULL, 0);
		p->pid = 0;
		return err_sys(err, r, "pidfd_open");
	}
	return 0;
}

static void on_limit(evutil_socket_t fd, short what, void *arg)
{
	struct proc *p = arg;

	(void)fd;
	(void)what;
	log_warnx("git child %d ran too long; killing it", (int)p->pid);
	kill(-p->pid, SIGKILL); /* then its exit callback runs as usual */
}

/* Watch p: cb(arg) when it exits; after limit_ms it is killed. */
static int proc_watch(struct gate *g, struct proc *p, unsigned limit_ms,
		      event_callback_fn cb, void *arg, struct error *err)
{
	struct timeval tv = {limit_ms / 1000, (limit_ms % 1000) * 1000};

	p->exited = event_new(g->b->base, p->pidfd, EV_READ, cb, arg);
	p->limit = evtimer_new(g->b->base, on_limit, p);
	if (!p->exited || !p->limit || event_add(p->exited, NULL) < 0 ||
	    evtimer_add(p->limit, &tv) < 0)
		return err_set(err, ENOMEM, "watching a git child");
	return 0;
}

/* Reap p (it has exited, or is killed first when kill is set): its exit
 * status as a shell would show it, or -1 if there was none. */
static int proc_end(struct proc *p, bool kill_it)
{
	int st, code = -1;

	if (p->pid > 0) {
		pid_t r;
		if (kill_it)
			kill(-p->pid, SIGKILL);
		while ((r = waitpid(p->pid, &st, 0)) < 0 && errno == EINTR)
			;
		if (r == p->pid)
			code = WIFEXITED(st)	 ? WEXITSTATUS(st)
			       : WIFSIGNALED(st) ? 128 + WTERMSIG(st)
						 : -1;
	}
	if (p->exited)
		event_free(p->exited);
	if (p->limit)
		event_free(p->limit);
	if (p->pidfd >= 0)
		close(p->pidfd);
	memset(p, 0, sizeof(*p));
	p->pidfd = -1;
	return code;
}

/* ---- connections --------------------------------------------------------- */

static void audit_conn(struct gconn *c, const char *verdict, const char *reason)
{
	struct audit_event e = {0};

	e.method = c->req.repo[0] ? git_service_name(c->req.service) : NULL;
	e.host = c->up ? c->up->name : c->req.repo[0] ? c->req.repo : NULL;
	e.mode = "git";
	e.verdict = verdict;
	e.reason = reason;
	e.usec = (now_ns() - c->started) / 1000;
	audit_log(c->g->b->audit, &e);
}

static void conn_free(struct gconn *c)
{
	struct gate *g = c->g;

	if (c->state == GC_SERVING && c->req.service == GIT_RECEIVE_PACK)
		c->up->n_pushing--;
	if (c->proc.pid)
		proc_end(&c->proc, true);
	if (c->readable)
		event_free(c->readable);
	if (c->fd >= 0)
		close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	g->n_conns--;
	free(c->buf);
	free(c);
}

/* Tell the client why (git prints "fatal: remote error: MSG"), audit,
 * close.  Only before a child has the socket. */
static void refuse(struct gconn *c, const char *verdict, const char *msg)
{
	char pkt[1100];
	size_t n = pktline_format_error(pkt, sizeof(pkt), msg);

	if (send(c->fd, pkt, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("git: the client left before the refusal: %s",
			  strerror(errno));
	/* Unread input makes close() send a reset, which can overtake the
	 * answer: take what has arrived first. */
	shutdown(c->fd, SHUT_WR);
	for (size_t got = 0; got < (64u << 10);) {
		ssize_t r = recv(c->fd, pkt, sizeof(pkt), MSG_DONTWAIT);
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	log_info("git: %s", msg);
	audit_conn(c, verdict, msg);
	conn_free(c);
}

static void on_served(evutil_socket_t fd, short what, void *arg)
{
	struct gconn *c = arg;
	int code = proc_end(&c->proc, false);
	char why[64];

	(void)fd;
	(void)what;
	snprintf(why, sizeof(why), "%s exited %d",
		 git_service_name(c->req.service), code);
	/* A push that reached the hook has its own line (gate_hook.c). */
	if (code != 0 || c->req.service == GIT_UPLOAD_PACK)
		audit_conn(c, code == 0 ? "allow" : "error",
			   code == 0 ? NULL : why);
	conn_free(c);
}

/* env plus GIT_PROTOCOL=version=2 (the array is new, the strings not). */
static char **with_v2(char **env)
{
	size_t n = 0;
	char **v;

	while (env[n])
		n++;
	v = xcalloc(n + 2, sizeof(char *));
	memcpy(v, env, n * sizeof(char *));
	v[n] = (char *)"GIT_PROTOCOL=version=2";
	return v;
}

/* Hand the socket to git on the mirror. */
static void serve(struct gconn *c)
{
	struct gate *g = c->g;
	bool push = c->req.service == GIT_RECEIVE_PACK;
	unsigned idle_ms = g->b->limits.idle_timeout_ms;
	struct timeval idle = {idle_ms / 1000, (idle_ms % 1000) * 1000};
	_cleanup_free_ char *hooks = xasprintf("core.hooksPath=%s", g->hooks);
	_cleanup_free_ char *timeout =
	    xasprintf("--timeout=%u", idle_ms / 1000);
	_cleanup_free_ char **v2 = NULL;
	const char *upload[] = {"git",	 "upload-pack", "--strict",
				timeout, c->up->mirror, NULL};
	const char *receive[] = {"git",
				 "-c",
				 hooks,
				 "-c",
				 "receive.fsckObjects=true",
				 "receive-pack",
				 c->up->mirror,
				 NULL};
	char **env = push ? c->up->push_env : g->plain_env;
	struct error err = ERROR_INIT;
	int flags = fcntl(c->fd, F_GETFL);

	/* git reads and writes a blocking socket; a read or a write that
	 * waits past the idle limit fails, so a client that stops talking
	 * or reading cannot hold a child for ever. */
	if (flags < 0 || fcntl(c->fd, F_SETFL, flags & ~O_NONBLOCK) < 0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &idle, sizeof(idle)) <
		0 ||
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &idle, sizeof(idle)) <
		0) {
		err_sys(&err, errno, "preparing the connection");
		goto fail;
	}
	if (c->req.v2)
		env = v2 = with_v2(env);
	if (proc_spawn(&c->proc, push ? receive : upload, env, c->fd, &err) <
		0 ||
	    proc_watch(g, &c->proc, g->b->limits.total_timeout_ms, on_served, c,
		       &err) < 0)
		goto fail;
	close(c->fd);
	c->fd = -1;
	if (push)
		c->up->n_pushing++;
	set_state(c, GC_SERVING);
	return;
fail:
	if (c->proc.pid)
		proc_end(&c->proc, true);
	refuse(c, "error", err.msg);
}

/* ---- refreshing mirrors -------------------------------------------------- */

static bool refresh_due(const struct gate *g, const struct gup *up)
{
	return now_ns() - up->last_refresh >= (uint64_t)g->refresh_ms * 1000000;
}

static void on_refreshed(evutil_socket_t fd, short what, void *arg)
{
	struct gup *up = arg;
	int code = proc_end(&up->refresh, false);
	struct gconn *c, *next;

	(void)fd;
	(void)what;
	up->last_refresh = now_ns();
	if (code != 0)
		log_warnx("git upstream %s: refreshing the mirror failed (git "
			  "exited %d); serving it as it is",
			  up->name, code);
	for (c = up->g->conns; c; c = next) {
		next = c->next;
		if (c->state == GC_WAITING && c->up == up)
			serve(c);
	}
}

/* git fetch in the mirror, as a child: the loop goes on meanwhile. */
static int start_refresh(struct gate *g, struct gup *up)
{
	const char *argv[GITUP_FETCH_ARGC];
	struct error err = ERROR_INIT;

	gitup_fetch_argv(argv, up->mirror, true);
	if (proc_spawn(&up->refresh, argv, up->env, -1, &err) < 0 ||
	    proc_watch(g, &up->refresh, GATE_REFRESH_LIMIT_MS, on_refreshed, up,
		       &err) < 0) {
		if (up->refresh.pid)
			proc_end(&up->refresh, true);
		up->last_refresh = now_ns();
		log_warnx("git upstream %s: refreshing the mirror: %s",
			  up->name, err.msg);
		return -1;
	}
	log_debug("git upstream %s: refreshing the mirror", up->name);
	return 0;
}

/* ---- requests ------------------------------------------------------------ */

static struct gup *find_upstream(struct gate *g, const char *repo)
{
	for (size_t i = 0; i < g->n_ups; i++) {
		const char *name = g->ups[i].name;
		size_t n = strlen(name);
		if (strcmp(repo, name) == 0 || (strncmp(repo, name, n) == 0 &&
						strcmp(repo + n, ".git") == 0))
			return &g->ups[i];
	}
	return NULL;
}

/* The request is in: which upstream, and whether its mirror is due for a
 * refresh first.  A push never starts a refresh (the agent pushes onto
 * what it fetched), but waits for a running one; a refresh never starts
 * while a push runs, so a push's ref update never races a fetch. */
static void dispatch(struct gconn *c)
{
	struct gate *g = c->g;
	struct strbuf sb = STRBUF_INIT;

	if (!(c->up = find_upstream(g, c->req.repo))) {
		strbuf_addf(&sb,
			    "bottle: no git upstream named \"%s\" in this "
			    "bottle; declared:",
			    c->req.repo);
		for (size_t i = 0; i < g->n_ups; i++)
			strbuf_addf(&sb, " %s", g->ups[i].name);
		refuse(c, "deny", sb.buf);
		strbuf_release(&sb);
		return;
	}
	if (!c->up->refresh.pid && c->req.service == GIT_UPLOAD_PACK &&
	    !c->up->n_pushing && refresh_due(g, c->up))
		start_refresh(g, c->up);
	if (c->up->refresh.pid)
		set_state(c, GC_WAITING);
	else
		serve(c);
}

static int add_read(struct gconn *c)
{
	uint64_t head_ns = (uint64_t)c->g->b->limits.head_timeout_ms * 1000000;
	uint64_t left = head_ns - (now_ns() - c->started);
	struct timeval tv = {(time_t)(left / 1000000000),
			     (suseconds_t)(left % 1000000000 / 1000)};

	if (now_ns() - c->started >= head_ns)
		tv = (struct timeval){0, 0};
	return event_add(c->readable, &tv);
}

static void on_readable(evutil_socket_t fd, short what, void *arg)
{
	struct gconn *c = arg;
	struct error err = ERROR_INIT;
	enum pktline_result r;
	char msg[128];
	size_t need;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		snprintf(msg, sizeof(msg), "bottle: no git request within %u s",
			 c->g->b->limits.head_timeout_ms / 1000);
		refuse(c, "error", msg);
		return;
	}
	n = recv(fd, c->buf + c->len, c->need - c->len, 0);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		add_read(c);
		return;
	}
	if (n <= 0) {
		log_debug("git: the client left before its request");
		conn_free(c);
		return;
	}
	c->len += (size_t)n;
	r = pktline_parse_request(c->buf, c->len, &c->req, &need, &err);
	if (r == PKTLINE_BAD) {
		char full[ERR_MSG_MAX + 16];
		snprintf(full, sizeof(full), "bottle: %s", err.msg);
		refuse(c, "error", full);
	} else if (r == PKTLINE_OK) {
		dispatch(c);
	} else {
		if (need > c->need) {
			c->buf = xrealloc(c->buf, need);
			c->need = need;
		}
		add_read(c);
	}
}

/* ---- accepting ----------------------------------------------------------- */

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct gate *g = arg;
	struct gconn *c;

	(void)l;
	(void)sa;
	(void)salen;
	if (g->n_conns >= GATE_MAX_CONNS) {
		char pkt[128];
		size_t n = pktline_format_error(
		    pkt, sizeof(pkt),
		    "bottle: too many git connections at once; try again");
		log_warnx("git: connection limit (%d) reached; refusing one",
			  GATE_MAX_CONNS);
		if (send(fd, pkt, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			log_debug("git: refusal not sent");
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->g = g;
	c->fd = fd;
	c->proc.pidfd = -1;
	c->started = now_ns();
	c->need = 4;
	c->buf = xmalloc(c->need);
	c->next = g->conns;
	if (g->conns)
		g->conns->prev = c;
	g->conns = c;
	g->n_conns++;
	c->readable = event_new(g->b->base, fd, EV_READ, on_readable, c);
	if (!c->readable || add_read(c) < 0) {
		log_warnx("git: cannot watch a connection");
		conn_free(c);
	}
}

static void on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	evconnlistener_enable(arg);
}

/* EMFILE and friends: as the proxy does, pause instead of spinning. */
static void on_accept_error(struct evconnlistener *l, void *arg)
{
	struct gate *g = arg;
	struct timeval pause = {0, 100000};

	log_warn("git: accept (pausing 100 ms)");
	evconnlistener_disable(l);
	event_base_once(g->b->base, -1, EV_TIMEOUT, on_accept_resume, l,
			&pause);
}

/* ---- start and stop ------------------------------------------------------ */

/* STATE/git/hooks/pre-receive: this very program (gate_hook_main()). */
static int make_hook(struct gate *g, struct error *err)
{
	_cleanup_free_ char *link = NULL;
	char exe[4096], cur[4096];
	ssize_t n, m;
	int r;

	g->hooks = xasprintf("%s/git/hooks", g->b->state_dir);
	if ((r = mkdir_p(g->hooks, 0700, err)) < 0)
		return r;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return err_sys(err, errno, "finding our own program");
	exe[n] = '\0';
	link = xasprintf("%s/pre-receive", g->hooks);
	m = readlink(link, cur, sizeof(cur) - 1);
	if (m == n && memcmp(cur, exe, (size_t)n) == 0)
		return 0;
	if ((unlink(link) < 0 && errno != ENOENT) || symlink(exe, link) < 0)
		return err_sys(err, errno, "making %s", link);
	return 0;
}

/* The receive-pack's environment: the upstream's identity and what the
 * hook needs to know (it runs as a child of git, not of ours). */
static char **push_env(struct gate *g, const struct git_upstream *u,
		       char **base)
{
	struct strbuf pats = STRBUF_INIT;
	char **env = xcalloc(1, sizeof(char *));

	for (char **p = base; *p; p++)
		strv_push(&env, xstrdup(*p));
	for (size_t i = 0; i < u->n_push; i++)
		strbuf_addf(&pats, "%s%s", i ? "\n" : "", u->push[i]);
	strv_push(&env, xasprintf("BOTTLE_GATE_UPSTREAM=%s", u->name));
	strv_push(&env, xasprintf("BOTTLE_GATE_URL=%s", u->url));
	strv_push(&env, xasprintf("BOTTLE_GATE_PUSH=%s", pats.buf));
	strv_push(&env, xasprintf("BOTTLE_GATE_FORCE=%d", u->allow_force));
	strv_push(&env, xasprintf("BOTTLE_GATE_DELETE=%d", u->allow_delete));
	strv_push(&env, xasprintf("BOTTLE_GATE_AUDIT=%s/logs/audit.jsonl",
				  g->b->state_dir));
	strv_push(&env, xasprintf("BOTTLE_GATE_BOTTLE=%s", g->b->bottle_id));
	strbuf_release(&pats);
	return env;
}

static int init_upstream(struct gate *g, struct gup *up,
			 const struct git_upstream *u, const struct egress *e,
			 struct error *err)
{
	struct stat st;
	int r;

	up->g = g;
	up->refresh.pidfd = -1;
	up->name = xstrdup(u->name);
	up->mirror = gitup_mirror_path(g->b->state_dir, u->name);
	if (stat(up->mirror, &st) != 0 &&
	    (r = gitup_sync(g->b->state_dir, u, 1, e->resolve, e->n_resolve,
			    false, err)) < 0)
		return r;
	if ((r = gitup_env(u, e->resolve, e->n_resolve, &up->env, err)) < 0)
		return err_prefix(err, "git upstream %s", u->name);
	up->push_env = push_env(g, u, up->env);
	/* The launch has just made or fetched it. */
	up->last_refresh = now_ns();
	return 0;
}

int gate_start(struct bundle *b, const struct git_upstream *ups, size_t n,
	       const struct egress *e, int listen_fd, struct error *err)
{
	struct gate *g = xcalloc(1, sizeof(*g));
	const char *ms = getenv("BOTTLE_GIT_REFRESH_MS");
	int r;

	g->b = b;
	g->refresh_ms = ms ? (unsigned)strtoul(ms, NULL, 10) : GATE_REFRESH_MS;
	g->plain_env = gitup_env_plain();
	g->ups = xcalloc(n ? n : 1, sizeof(*g->ups));
	if ((r = make_hook(g, err)) < 0)
		goto fail;
	for (size_t i = 0; i < n; i++, g->n_ups++)
		if ((r = init_upstream(g, &g->ups[i], &ups[i], e, err)) < 0) {
			g->n_ups++; /* half made: freed too */
			goto fail;
		}
	evutil_make_socket_nonblocking(listen_fd);
	g->listener = evconnlistener_new(b->base, on_accept, g,
					 LEV_OPT_CLOSE_ON_FREE, -1, listen_fd);
	if (!g->listener) {
		r = err_set(err, ENOMEM, "serving the git gate");
		goto fail;
	}
	evconnlistener_set_error_cb(g->listener, on_accept_error);
	b->gate = g;
	log_info("git gate: %zu upstream%s", n, n == 1 ? "" : "s");
	return 0;
fail:
	close(listen_fd);
	gate_free(g);
	return err_prefix(err, "git gate");
}

void gate_free(struct gate *g)
{
	if (!g)
		return;
	if (g->listener)
		evconnlistener_free(g->listener);
	while (g->conns)
		conn_free(g->conns);
	for (size_t i = 0; i < g->n_ups; i++) {
		struct gup *up = &g->ups[i];
		if (up->refresh.pid)
			proc_end(&up->refresh, true);
		free(up->name);
		free(up->mirror);
		gitup_env_free(up->env);
		gitup_env_free(up->push_env);
	}
	free(g->ups);
	free(g->hooks);
	strv_free(g->plain_env);
	free(g);
}
