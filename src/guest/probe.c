/* bottle-probe: run inside a live bottle, check one probe at a time that
 * the sandbox holds, print one PASS / FAIL / SKIP line per probe.
 *
 * Started by the host-side `bottle probe ID`, which execs it inside the
 * bottle as the agent's user and passes what the host knows (a host pid
 * that must be invisible, a host port that must be unreachable, a canary
 * secret, the enforced limits).  See docs/probes.md.
 *
 * Each probe runs in a forked child in its own process group, with a
 * timeout; the runner kills the whole group afterwards and reaps orphans
 * (it is a child subreaper), so a probe that hangs, crashes, or forks
 * until the pids limit stops it never takes the suite down or leaves
 * anything behind. */
#include "guest/probes.h"
#include "lib/util.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_USAGE 2

struct probe {
	const char *name;
	probe_fn run;
	unsigned timeout_s;
	const char *summary;
};

static const struct probe probes[] = {
    {"pid-ns", probe_pid_ns, 5, "own pid namespace, host pid invisible"},
    {"host-paths", probe_host_paths, 5,
     "host secrets, homes and sockets are absent"},
    {"ro-system", probe_ro_system, 5, "/, /usr and /etc are read-only"},
    {"writes-contained", probe_writes_contained, 5,
     "workspace and home are writable (leaves --marker files)"},
    {"no-mount", probe_no_mount, 10, "mount, umount2, pivot_root refused"},
    {"no-unshare", probe_no_unshare, 10, "new namespaces refused"},
    {"no-setns", probe_no_setns, 5, "setns refused"},
    {"no-ptrace", probe_no_ptrace, 10, "ptrace refused"},
    {"no-keyctl", probe_no_keyctl, 5, "kernel keyring refused"},
    {"no-bpf", probe_no_bpf, 5, "bpf refused"},
    {"no-misc-syscalls", probe_no_misc_syscalls, 10,
     "perf_event_open, userfaultfd, io_uring refused"},
    {"caps", probe_caps, 5, "no capabilities, no_new_privs, seccomp, not root"},
    {"setuid", probe_setuid, 10, "setuid binaries gain nothing"},
    {"net-ifaces", probe_net_ifaces, 5,
     "only lo, no routes, no raw/netlink/packet sockets"},
    {"net-egress", probe_net_egress, 10,
     "host loopback and the internet unreachable, no DNS server"},
    {"vm-gateway", probe_vm_gateway, 40,
     "vm: only the bundle's ports answer on the guest's gateway"},
    {"egress-proxy", probe_egress_proxy, 20,
     "the bundle's proxy denies unlisted hosts, IP literals and leaks"},
    {"endpoints", probe_endpoints, 20,
     "the git gate serves declared upstreams only; supervise speaks JSON-RPC"},
    {"fork-bomb", probe_fork_bomb, 30, "pids limit stops a fork bomb"},
    {"memory-hog", probe_memory_hog, 60, "memory limit stops a hog"},
    {"tiocsti", probe_tiocsti, 5, "no terminal input injection"},
    {"env-secrets", probe_env_secrets, 10, "no host secret in any environment"},
    {"sys-absent", probe_sys_absent, 5, "/sys absent or empty"},
};

enum verdict { VERDICT_PASS, VERDICT_FAIL, VERDICT_SKIP };

static const char *const verdict_names[] = {
    [VERDICT_PASS] = "PASS",
    [VERDICT_FAIL] = "FAIL",
    [VERDICT_SKIP] = "SKIP",
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bottle-probe [--only NAME[,NAME...]] [--list]\n"
		"                    [--host-pid PID --host-pid-start TICKS]\n"
		"                    [--host-port PORT] [--canary VALUE]\n"
		"                    [--marker NAME] [--workspace DIR] "
		"[--home DIR]\n"
		"                    [--pids-limit N] [--memory-limit BYTES]\n"
		"Runs inside a bottle; prints PASS/FAIL/SKIP per probe.\n"
		"Exit 0 if nothing failed, 1 if a probe failed, 2 on usage "
		"error.\n");
}

static void list_probes(void)
{
	for (size_t i = 0; i < ARRAY_SIZE(probes); i++)
		printf("%-18s %s\n", probes[i].name, probes[i].summary);
}

static const struct probe *probe_find(const char *name, size_t len)
{
	for (size_t i = 0; i < ARRAY_SIZE(probes); i++)
		if (strlen(probes[i].name) == len &&
		    !strncmp(probes[i].name, name, len))
			return &probes[i];
	return NULL;
}

/* Mark the probes named in a comma-separated list.  Returns false (after
 * saying which) on an unknown name. */
static bool parse_only(const char *list, bool *selected)
{
	for (const char *p = list; *p;) {
		size_t len = strcspn(p, ",");
		const struct probe *pr = probe_find(p, len);
		if (len && !pr) {
			fprintf(stderr, "bottle-probe: unknown probe '%.*s'\n",
				(int)len, p);
			return false;
		}
		if (pr)
			selected[pr - probes] = true;
		p += len;
		if (*p == ',')
			p++;
	}
	return true;
}

static bool parse_ull(const char *s, unsigned long long max,
		      unsigned long long *out)
{
	char *end;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}

/* A marker is a plain file name: it must not climb out of the directory it
 * is created in. */
static bool marker_valid(const char *m)
{
	return *m && !strchr(m, '/') && strcmp(m, ".") && strcmp(m, "..");
}

enum opt_id {
	OPT_ONLY = 256,
	OPT_LIST,
	OPT_HOST_PID,
	OPT_HOST_PID_START,
	OPT_HOST_PORT,
	OPT_CANARY,
	OPT_MARKER,
	OPT_WORKSPACE,
	OPT_HOME,
	OPT_PIDS_LIMIT,
	OPT_MEMORY_LIMIT,
};

static const struct option long_opts[] = {
    {"only", required_argument, NULL, OPT_ONLY},
    {"list", no_argument, NULL, OPT_LIST},
    {"host-pid", required_argument, NULL, OPT_HOST_PID},
    {"host-pid-start", required_argument, NULL, OPT_HOST_PID_START},
    {"host-port", required_argument, NULL, OPT_HOST_PORT},
    {"canary", required_argument, NULL, OPT_CANARY},
    {"marker", required_argument, NULL, OPT_MARKER},
    {"workspace", required_argument, NULL, OPT_WORKSPACE},
    {"home", required_argument, NULL, OPT_HOME},
    {"pids-limit", required_argument, NULL, OPT_PIDS_LIMIT},
    {"memory-limit", required_argument, NULL, OPT_MEMORY_LIMIT},
    {"help", no_argument, NULL, 'h'},
    {NULL, 0, NULL, 0},
};

static const char *opt_name(int id)
{
	for (const struct option *o = long_opts; o->name; o++)
		if (o->val == id)
			return o->name;
	return "?";
}

struct cmdline {
	struct probe_opts opts;
	bool list;
	bool only;
	bool selected[ARRAY_SIZE(probes)];
	bool have_pid_start;
};

/* Apply one option; false on a bad value. */
static bool apply_opt(struct cmdline *cl, int c, const char *arg)
{
	struct probe_opts *o = &cl->opts;
	unsigned long long v = 0;

	switch (c) {
	case OPT_ONLY:
		cl->only = true;
		return parse_only(arg, cl->selected);
	case OPT_LIST:
		cl->list = true;
		return true;
	case OPT_HOST_PID:
		if (!parse_ull(arg, INT_MAX, &v) || v == 0)
			return false;
		o->host_pid = (pid_t)v;
		return true;
	case OPT_HOST_PID_START:
		cl->have_pid_start = true;
		return parse_ull(arg, ULLONG_MAX, &o->host_pid_start);
	case OPT_HOST_PORT:
		if (!parse_ull(arg, 65535, &v) || v == 0)
			return false;
		o->host_port = (int)v;
		return true;
	case OPT_CANARY:
		o->canary = arg;
		return *arg != '\0';
	case OPT_MARKER:
		o->marker = arg;
		return marker_valid(arg);
	case OPT_WORKSPACE:
		o->workspace = arg;
		return *arg == '/';
	case OPT_HOME:
		o->home = arg;
		return *arg == '/';
	case OPT_PIDS_LIMIT:
		if (!parse_ull(arg, ULONG_MAX, &v))
			return false;
		o->pids_limit = (unsigned long)v;
		return true;
	case OPT_MEMORY_LIMIT:
		return parse_ull(arg, ULLONG_MAX, &o->memory_limit);
	}
	return false;
}

/* Returns 0, or EXIT_USAGE after printing why. */
static int parse_cmdline(int argc, char **argv, struct cmdline *cl)
{
	int c;

	while ((c = getopt_long(argc, argv, "h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			exit(0);
		}
		if (c == '?' || !apply_opt(cl, c, optarg)) {
			/* --only names the bad probe itself */
			if (c != '?' && c != OPT_ONLY)
				fprintf(stderr,
					"bottle-probe: bad value for --%s: "
					"'%s'\n",
					opt_name(c), optarg);
			fprintf(stderr, "Try 'bottle-probe --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind < argc || (cl->opts.host_pid != 0) != cl->have_pid_start) {
		fprintf(stderr,
			"bottle-probe: %s\nTry 'bottle-probe --help'.\n",
			optind < argc ? "unexpected argument"
				      : "--host-pid and --host-pid-start go "
					"together");
		return EXIT_USAGE;
	}
	if (!cl->opts.workspace)
		cl->opts.workspace = "/workspace";
	if (!cl->opts.home)
		cl->opts.home = getenv("HOME");
	return 0;
}

/* Child side of run_one(): a process group of its own so the runner can
 * kill everything the probe started; dies with the runner. */
static __attribute__((noreturn)) void probe_child(const struct probe *p,
						  const struct probe_opts *opts,
						  struct probe_report *r)
{
	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	signal(SIGPIPE, SIG_DFL);
	alarm(p->timeout_s + 2); /* backstop for the runner's own timeout */
	p->run(opts, r);
	_exit(0);
}

/* Kill what is left of a probe's process group.  Called while the group
 * leader is an unreaped zombie, so the group id cannot have been reused. */
static void kill_group(pid_t pgid)
{
	kill(-pgid, SIGKILL);
}

/* Reap whatever a probe left behind that was re-parented to us (we are a
 * child subreaper), giving the killed processes a moment to die. */
static void reap_orphans(void)
{
	long long deadline = now_ms() + 1000;

	for (;;) {
		pid_t w = waitpid(-1, NULL, WNOHANG);
		if (w < 0 && errno != EINTR)
			return; /* ECHILD: nothing left */
		if (w == 0 && now_ms() >= deadline)
			return;
		if (w == 0)
			usleep(1000);
	}
}

/* Poll for the child's exit without reaping it.  Returns false on
 * timeout. */
static bool await_exit(pid_t pid, unsigned timeout_s)
{
	long long deadline = now_ms() + (long long)timeout_s * 1000;
	siginfo_t si;

	for (;;) {
		memset(&si, 0, sizeof(si));
		if (waitid(P_PID, (id_t)pid, &si,
			   WEXITED | WNOHANG | WNOWAIT) == 0 &&
		    si.si_pid == pid)
			return true;
		if (now_ms() >= deadline)
			return false;
		usleep(2000);
	}
}

/* Run one probe in a child; fill r and return the verdict. */
static enum verdict run_one(const struct probe *p,
			    const struct probe_opts *opts,
			    struct probe_report *r)
{
	memset(r, 0, sizeof(*r));
	fflush(NULL); /* the child must not inherit buffered output */
	pid_t pid = fork();
	if (pid < 0) {
		report_fail(r, "cannot fork the probe: %s", errno_name(errno));
		return VERDICT_FAIL;
	}
	if (pid == 0)
		probe_child(p, opts, r);
	setpgid(pid, pid); /* also here: no race with the child's own call */

	bool timedout = !await_exit(pid, p->timeout_s);
	kill_group(pid);
	int status = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	reap_orphans();

	if (timedout)
		report_fail(r, "probe timed out after %us", p->timeout_s);
	else if (WIFSIGNALED(status))
		report_fail(r, "probe crashed (signal %d)", WTERMSIG(status));
	else if (WEXITSTATUS(status) != 0)
		report_fail(r, "probe exited with status %d",
			    WEXITSTATUS(status));
	if (r->nfail)
		return VERDICT_FAIL;
	return r->skipped ? VERDICT_SKIP : VERDICT_PASS;
}

/* One line, no control characters: details may quote names found in the
 * bottle, which the agent controls. */
static void print_line(enum verdict v, const char *name, const char *detail)
{
	printf("%s %s: ", verdict_names[v], name);
	if (!*detail)
		detail = "ok";
	for (const unsigned char *c = (const unsigned char *)detail; *c; c++)
		putchar(*c < 0x20 || *c == 0x7f ? '?' : *c);
	putchar('\n');
	fflush(stdout);
}

static const char *report_detail(enum verdict v, const struct probe_report *r)
{
	if (v == VERDICT_FAIL)
		return r->fail;
	return v == VERDICT_SKIP ? r->skip : r->note;
}

int main(int argc, char **argv)
{
	struct cmdline cl = {0};
	bool any_fail = false;

	int rc = parse_cmdline(argc, argv, &cl);
	if (rc)
		return rc;
	if (cl.list) {
		list_probes();
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	struct probe_report *r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE,
				      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (r == MAP_FAILED) {
		perror("bottle-probe: mmap");
		return 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(probes); i++) {
		if (cl.only && !cl.selected[i])
			continue;
		enum verdict v = run_one(&probes[i], &cl.opts, r);
		print_line(v, probes[i].name, report_detail(v, r));
		any_fail |= v == VERDICT_FAIL;
	}
	return any_fail ? 1 : 0;
}
