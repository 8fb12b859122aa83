/* Launching from the CLI, in order (DESIGN.md, "Lifecycle"):
 *   1. state dir and meta.json (status "creating")
 *   2. the workspace copy and the generated files
 *   3. (-d) fork the monitor daemon
 *   4. backend launch; every artifact recorded in meta.json first
 *   5. status "running"; the monitor relays until the agent exits
 *   6. teardown in reverse; status "exited" with the code; state kept
 */
#include "cli/cli.h"

#include "lib/ca.h"
#include "lib/fsutil.h"
#include "lib/gitup.h"
#include "lib/log.h"
#include "lib/util.h"
#include "monitor/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

/* BOTTLE_TEST_STOP_AT=<step>: stop ourselves (SIGSTOP) when reaching the
 * named step, so that tests can SIGKILL a launch at a precise point and
 * prove `bottle cleanup` finds what it left. */
static void test_stop_at(const char *step)
{
	const char *want = getenv("BOTTLE_TEST_STOP_AT");
	if (want && strcmp(want, step) == 0)
		raise(SIGSTOP);
}

struct record_ctx {
	const char *state_dir;
	const char *kind, *what;
};

/* What the backend's launch hooks work with. */
struct hook_ctx {
	const struct plan *plan;
	struct bundle_sup *bundle;
	bool ca_ready; /* the bottle's CA bundle is written already */
};

static int add_artifact(struct bottle_meta *m, void *ctx)
{
	struct record_ctx *c = ctx;
	meta_add_artifact(m, c->kind, c->what);
	return 0;
}

static int record_artifact(void *ctx, const char *kind, const char *what,
			   struct error *err)
{
	struct hook_ctx *h = ctx;
	struct record_ctx c = {h->plan->state_dir, kind, what};
	return meta_update(c.state_dir, add_artifact, &c, err);
}

static void record_bundle(void *ctx, const char *what)
{
	struct error err = ERROR_INIT;

	if (record_artifact(ctx, "process", what, &err) < 0)
		log_warnx("recording the bundle: %s", err.msg);
}

/* The CA bundle the bottle sees: the host's plus the bottle's own CA,
 * which the bundle made (or kept, on resume: trust survives) before it
 * said it was ready, and signs intercepted hosts' certificates with.
 * Written before the init mounts it, regenerated only when an input is
 * newer.  Making the CA is the bundle's job so that only one process pays
 * OpenSSL's start-up, off this one's path. */
static int prepare_ca_bundle(const struct plan *p, struct error *err)
{
	static const char host[] = "/etc/ssl/certs/ca-certificates.crt";
	_cleanup_free_ char *dst = xasprintf("%s/ca-bundle.crt", p->run_dir);
	_cleanup_free_ char *crt =
	    xasprintf("%s/ca/" CA_CERT_FILE, p->state_dir);
	_cleanup_free_ char *hbuf = NULL, *cbuf = NULL;
	struct stat hs = {0}, ds, cs;
	size_t hlen = 0, clen = 0;
	int r;

	if (stat(dst, &ds) == 0 && stat(crt, &cs) == 0 &&
	    (stat(host, &hs) != 0 || ds.st_mtim.tv_sec > hs.st_mtim.tv_sec) &&
	    ds.st_mtim.tv_sec > cs.st_mtim.tv_sec)
		return 0;
	r = read_file(host, &hbuf, &hlen, 16u << 20, err);
	if (r == -ENOENT)
		err_clear(err);
	else if (r < 0)
		return r;
	if ((r = read_file(crt, &cbuf, &clen, 1u << 20, err)) < 0)
		return err_prefix(err, "the bottle's CA");
	hbuf = xrealloc(hbuf, st_add(st_add(hlen, clen), 2));
	if (hlen && hbuf[hlen - 1] != '\n')
		hbuf[hlen++] = '\n';
	memcpy(hbuf + hlen, cbuf, clen);
	return write_file_replace(dst, hbuf, hlen + clen, 0644, err);
}

/* Whether the bottle has its CA before the bundle starts: kept from an
 * earlier run (resume), or a spare one the last bundle made ahead of time,
 * taken with one rename.  Then nobody waits on key generation. */
static bool have_ca(const struct plan *p)
{
	_cleanup_free_ char *dir = xasprintf("%s/ca", p->state_dir);
	_cleanup_free_ char *crt = xasprintf("%s/" CA_CERT_FILE, dir);
	_cleanup_free_ char *home = xstrdup(p->state_dir);
	_cleanup_free_ char *spare = NULL;
	char *slash = strrchr(home, '/');

	if (access(crt, F_OK) == 0)
		return true;
	if (!slash)
		return false;
	*slash = '\0';
	spare = xasprintf("%s/" CA_SPARE_DIR, home);
	if (rmdir(dir) < 0 && errno != ENOENT)
		return false;
	return rename(spare, dir) == 0;
}

/* The backend made the bottle-side listeners: the bundle (started before
 * the backend, so it loaded its stages meanwhile) serves them before the
 * agent starts (DESIGN.md, "Lifecycle"). */
static int serve_endpoints(void *ctx, int fds[ENDPOINT_COUNT],
			   struct error *err)
{
	struct hook_ctx *h = ctx;
	int r;

	if ((r = bundle_sup_serve(h->bundle, fds, !h->ca_ready, err)) < 0)
		return r;
	return h->ca_ready ? 0 : prepare_ca_bundle(h->plan, err);
}

static void copy_progress(const struct copy_stats *s, void *ctx)
{
	*(bool *)ctx = true;
	fprintf(stderr, "\rbottle: copying workspace: %llu files, %llu MiB",
		(unsigned long long)s->files,
		(unsigned long long)(s->bytes >> 20));
}

static int prepare_workspace(const struct plan *p, bool resume,
			     struct error *err)
{
	struct copy_stats st = {0};
	struct copy_opts o = COPY_OPTS_INIT;
	_cleanup_free_ char *tmp = NULL;
	uint64_t t0 = now_ns();
	int r;

	if (!p->copy_cwd)
		return 0;
	if (resume && access(p->workspace_src, F_OK) == 0)
		return 0;
	if (p->host_uid != getuid()) {
		o.uid = p->host_uid;
		o.gid = p->host_gid;
	}
	bool shown = false;

	if (isatty(STDERR_FILENO)) {
		o.on_progress = copy_progress;
		o.progress_arg = &shown;
	}
	/* Copy to a temp name and rename, so a crash never leaves a
	 * half-copied workspace that a resume would take as complete. */
	tmp = xasprintf("%s.tmp", p->workspace_src);
	if ((r = rm_rf(tmp, err)) < 0)
		return r;
	if ((r = copy_tree(p->cwd, tmp, &st, &o, err)) < 0)
		return err_prefix(err, "copying %s", p->cwd);
	test_stop_at("copied");
	if (rename(tmp, p->workspace_src) < 0)
		return err_sys(err, errno, "renaming the workspace");
	if (shown)
		fprintf(stderr, "\r\033[K");
	log_info("workspace: %llu files, %llu bytes in %.1f ms",
		 (unsigned long long)st.files, (unsigned long long)st.bytes,
		 (double)(now_ns() - t0) / 1e6);
	return 0;
}

struct started {
	const struct bottle_proc *proc;
	const char *attach_path;
	bool tty;
};

static int mark_running(struct bottle_meta *m, void *ctx)
{
	const struct started *s = ctx;
	char what[64];

	m->status = BOTTLE_RUNNING;
	m->started = time(NULL);
	m->init_pid = s->proc->init_pid;
	m->init_start = s->proc->init_start;
	m->tty = s->tty;
	snprintf(what, sizeof(what), "init:%d:%llu", (int)s->proc->init_pid,
		 (unsigned long long)s->proc->init_start);
	meta_add_artifact(m, "process", what);
	/* The monitor creates it next. */
	meta_add_artifact(m, "socket", s->attach_path);
	return 0;
}

struct finished {
	enum bottle_status status;
	int code;
};

static int mark_finished(struct bottle_meta *m, void *ctx)
{
	const struct finished *f = ctx;

	if (m->status != BOTTLE_STOPPED)
		m->status = f->status;
	m->exit_code = f->code;
	m->finished = time(NULL);
	meta_clear_runtime(m);
	return 0;
}

static int mark_owner(struct bottle_meta *m, void *ctx)
{
	(void)ctx;
	m->monitor_pid = getpid();
	m->monitor_start = proc_start_time(getpid());
	m->status = BOTTLE_CREATING;
	return 0;
}

static int create_state(const struct launch_opts *o, struct error *err)
{
	const struct plan *p = o->plan;
	struct bottle_meta m = BOTTLE_META_INIT;

	m.id = p->id;
	m.agent = p->agent;
	m.bottle = p->bottle;
	m.backend = p->backend;
	m.cwd = p->cwd;
	/* Absolute, so that resume finds it from any directory. */
	_cleanup_free_ char *abs =
	    o->manifest_path ? realpath(o->manifest_path, NULL) : NULL;
	m.manifest = abs ? abs : (char *)o->manifest_path;
	m.copy_cwd = p->copy_cwd;
	m.detached = o->detach;
	m.created = time(NULL);
	m.status = BOTTLE_CREATING;
	m.monitor_pid = getpid();
	m.monitor_start = proc_start_time(getpid());
	m.command = o->cmd_override;
	return state_create(p, &m, err);
}

/* One owner per bottle: an flock on owner.lock, held for the owner's
 * whole life (the detached monitor inherits it across fork; the bottle's
 * init sheds it).  Two `resume`s of one bottle cannot both run it on the
 * same home and cgroup. */
static int take_ownership(const char *state_dir, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/owner.lock", state_dir);
	int fd, r;

	r = lock_file(path, LOCK_EX, 0, &fd, err);
	if (r == -ETIMEDOUT || r == -EAGAIN || r == -EWOULDBLOCK)
		return err_set(err, EBUSY,
			       "another bottle process owns it right now");
	if (r < 0)
		return r;
	/* Deliberately kept open until we exit. */
	return 0;
}

/* Steps 1-2; on failure the state dir keeps status "creating" with a dead
 * owner, which ls shows and cleanup handles. */
static int prepare_state(const struct launch_opts *o, struct error *err)
{
	const struct plan *p = o->plan;
	_cleanup_free_ char *plan_path =
	    xasprintf("%s/plan.json", p->state_dir);
	int r;

	if (!o->resume && (r = create_state(o, err)) < 0)
		return r;
	if ((r = take_ownership(p->state_dir, err)) < 0)
		return r;
	if (o->resume &&
	    (r = meta_update(p->state_dir, mark_owner, NULL, err)) < 0)
		return r;
	test_stop_at("state");
	if ((r = prepare_workspace(p, o->resume, err)) < 0 ||
	    (r = provision_home(p, err)) < 0 ||
	    (r = plan_save(p, plan_path, err)) < 0)
		return r;
	/* The git gate's mirrors, with git's progress on the terminal. */
	if ((r = gitup_sync(p->state_dir, p->upstreams, p->n_upstreams,
			    p->egress.resolve, p->egress.n_resolve,
			    isatty(STDERR_FILENO), err)) < 0)
		return r;
	return 0;
}

/* Steps 4-6: launch, monitor, tear down.  Returns the agent's code. */
static int run_bottle(const struct launch_opts *o, bool foreground,
		      int console_fd, int notify_fd)
{
	const struct plan *p = o->plan;
	struct error err = ERROR_INIT;
	struct bottle_io io = BOTTLE_IO_INIT;
	struct bottle_proc proc = {0, 0, -1};
	struct hook_ctx hc = {p, NULL, have_ca(p)};
	struct launch_hooks hooks = {record_artifact, serve_endpoints, &hc};
	_cleanup_free_ char *sock = xasprintf("%s/attach.sock", p->run_dir);
	struct started s = {&proc, sock, false};
	struct finished f = {BOTTLE_EXITED, 0};
	struct monitor_opts mo;
	int code;

	io.tty =
	    foreground ? isatty(STDIN_FILENO) && isatty(STDOUT_FILENO) : true;
	if (io.tty && foreground)
		ioctl(STDIN_FILENO, TIOCGWINSZ, &io.ws);
	if (!foreground && !io.ws.ws_row) {
		io.ws.ws_row = 24;
		io.ws.ws_col = 80;
	}
	test_stop_at("launch");
	if (hc.ca_ready && prepare_ca_bundle(p, &err) < 0)
		hc.ca_ready = false; /* the bundle makes or mends it */
	if (record_artifact(&hc, "process", "bundle", &err) < 0 ||
	    bundle_sup_start(p, hc.ca_ready, record_bundle, &hc, &hc.bundle,
			     &err) < 0 ||
	    o->backend->launch(p, &hooks, &io, &proc, &err) < 0) {
		fprintf(stderr, "bottle: launching %s: %s\n", p->id, err.msg);
		if (notify_fd >= 0 &&
		    write_all(notify_fd, err.msg, strlen(err.msg)) < 0)
			log_debug("notify failed");
		f.status = BOTTLE_FAILED;
		f.code = EXIT_FAIL;
		goto teardown;
	}
	s.tty = io.tty;
	if (meta_update(p->state_dir, mark_running, &s, &err) < 0)
		log_warnx("recording %s: %s", p->id, err.msg);
	test_stop_at("running");
	if (notify_fd >= 0) {
		if (write_all(notify_fd, "", 1) < 0)
			log_debug("notify failed");
		close(notify_fd);
		notify_fd = -1;
	}
	if (foreground && io.tty)
		cli_tty_raw();
	mo = (struct monitor_opts){.proc = &proc,
				   .io = &io,
				   .foreground = foreground,
				   .attach_path = sock,
				   .console_fd = console_fd,
				   .bundle = hc.bundle};
	code = monitor_run(&mo);
	bundle_sup_stop(hc.bundle);
	cli_tty_restore();
	f.code = code;
	bottle_io_close(&io);
	if (proc.pidfd >= 0)
		close(proc.pidfd);
teardown:
	/* The bundle exits while the backend releases the bottle; it is
	 * reaped (and its artifact cleared) only after that. */
	bundle_sup_stop(hc.bundle);
	if (o->backend->release(p, &err) < 0)
		log_warnx("cleaning up %s: %s", p->id, err.msg);
	bundle_sup_free(hc.bundle);
	if (meta_update(p->state_dir, mark_finished, &f, &err) < 0)
		log_warnx("recording %s: %s", p->id, err.msg);
	return f.code;
}

/* -d: a monitor daemon owns the bottle; we report its id once it runs. */
static int launch_detached(const struct launch_opts *o)
{
	const struct plan *p = o->plan;
	int pipefd[2], console;
	char buf[ERR_MSG_MAX];
	ssize_t n;
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0) {
		perror("bottle: pipe");
		return EXIT_FAIL;
	}
	pid = fork();
	if (pid < 0) {
		perror("bottle: fork");
		return EXIT_FAIL;
	}
	if (pid == 0) {
		_cleanup_free_ char *log =
		    xasprintf("%s/monitor.log", p->log_dir);
		_cleanup_free_ char *con =
		    xasprintf("%s/console.log", p->log_dir);
		struct error err = ERROR_INIT;
		int null = open("/dev/null", O_RDWR | O_CLOEXEC);
		int lfd =
		    open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

		close(pipefd[0]);
		setsid();
		dup2(null, STDIN_FILENO);
		dup2(null, STDOUT_FILENO);
		dup2(lfd >= 0 ? lfd : null, STDERR_FILENO);
		console =
		    open(con, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		if (meta_update(p->state_dir, mark_owner, NULL, &err) < 0)
			log_warnx("%s", err.msg);
		_exit(run_bottle(o, false, console, pipefd[1]));
	}
	close(pipefd[1]);
	n = read(pipefd[0], buf, sizeof(buf) - 1);
	close(pipefd[0]);
	if (n == 1 && buf[0] == '\0') {
		printf("%s\n", p->id);
		return EXIT_OK;
	}
	/* The monitor's stderr is its log: repeat its reason here. */
	if (n > 0) {
		buf[n] = '\0';
		fprintf(stderr, "bottle: launching %s: %s\n", p->id, buf);
	} else {
		fprintf(stderr,
			"bottle: the monitor of %s exited early; see "
			"`bottle logs %s`\n",
			p->id, p->id);
	}
	waitpid(pid, NULL, 0);
	return EXIT_FAIL;
}

int cli_launch(const struct launch_opts *o)
{
	struct error err = ERROR_INIT;

	if (prepare_state(o, &err) < 0) {
		fprintf(stderr, "bottle: preparing %s: %s\n", o->plan->id,
			err.msg);
		if (access(o->plan->state_dir, F_OK) == 0) {
			struct finished f = {BOTTLE_FAILED, EXIT_FAIL};
			if (meta_update(o->plan->state_dir, mark_finished, &f,
					&err) < 0)
				log_debug("%s", err.msg);
		}
		return EXIT_FAIL;
	}
	if (o->detach)
		return launch_detached(o);
	return run_bottle(o, true, -1, -1);
}
