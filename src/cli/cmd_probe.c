/* bottle probe: run the sandbox-escape suite (src/guest/probe.c) inside a
 * live bottle, adding the checks only the host side can make. */
#include "cli/cli.h"

#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

struct tally {
	int pass, fail, skip;
};

static void count(struct tally *t, const char *line)
{
	if (str_has_prefix(line, "PASS "))
		t->pass++;
	else if (str_has_prefix(line, "FAIL "))
		t->fail++;
	else if (str_has_prefix(line, "SKIP "))
		t->skip++;
}

static void report(struct tally *t, bool ok, const char *name,
		   const char *detail)
{
	char line[512];
	snprintf(line, sizeof(line), "%s %s: %s", ok ? "PASS" : "FAIL", name,
		 detail);
	puts(line);
	count(t, line);
}

/* A listener on the host's loopback that the bottle must not reach. */
static int host_listener(int *port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 4) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

static void run_inside(struct tally *t, const char *id, const char **args)
{
	int pipefd[2];
	FILE *f;
	char line[1024];
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		const char *argv[32] = {"bottle", "exec", "-T",
					id,	  "--",	  BOTTLE_PROBE};
		size_t k = 6;
		for (; *args && k < ARRAY_SIZE(argv) - 1; args++)
			argv[k++] = *args;
		argv[k] = NULL;
		dup2(pipefd[1], STDOUT_FILENO);
		execv("/proc/self/exe", (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	f = fdopen(pipefd[0], "r");
	while (f && fgets(line, sizeof(line), f)) {
		fputs(line, stdout);
		fflush(stdout);
		count(t, line);
	}
	if (f)
		fclose(f);
	waitpid(pid, NULL, 0);
}

/* The bottle's init is a copy of its launcher: its argv and environment
 * areas, visible inside as /proc/1/{cmdline,environ}, must hold nothing of
 * the host's.  Checked from the host, which can read them. */
static void check_init_scrubbed(struct tally *t, const struct bottle_meta *m)
{
	char path[64], buf[65536], detail[128];
	size_t leaked = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)m->init_pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	if (fd >= 0)
		close(fd);
	for (ssize_t i = 0; i < n; i++)
		leaked += buf[i] != '\0';
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)m->init_pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
	if (fd >= 0)
		close(fd);
	if (n < 0) {
		report(t, false, "init-scrubbed",
		       "cannot read the init's /proc");
		return;
	}
	buf[n] = '\0';
	snprintf(detail, sizeof(detail),
		 "/proc/1/environ has %zu non-NUL bytes; /proc/1/cmdline is "
		 "\"%.32s\"",
		 leaked, buf);
	report(t, leaked == 0 && strcmp(buf, "bottle-init") == 0,
	       "init-scrubbed", detail);
}

static void host_checks(struct tally *t, const struct bottle_meta *m,
			const char *dir, const char *marker)
{
	_cleanup_free_ char *orig = xasprintf("%s/%s", m->cwd, marker);
	_cleanup_free_ char *copy = xasprintf("%s/workspace/%s", dir, marker);
	_cleanup_free_ char *home = xasprintf("%s/home/%s", dir, marker);
	char detail[256];

	if (m->copy_cwd) {
		bool orig_clean = access(orig, F_OK) != 0;
		bool in_copy = access(copy, F_OK) == 0;
		snprintf(detail, sizeof(detail),
			 "marker %s in the workspace copy, %s in %s",
			 in_copy ? "found" : "MISSING",
			 orig_clean ? "absent" : "PRESENT", m->cwd);
		report(t, orig_clean && in_copy, "host-cwd-untouched", detail);
	} else {
		bool there = access(orig, F_OK) == 0;
		snprintf(detail, sizeof(detail),
			 "copy_cwd is off: marker %s in the bound cwd",
			 there ? "landed" : "MISSING");
		report(t, there, "host-cwd-bound", detail);
	}
	snprintf(detail, sizeof(detail), "marker %s in the state's home",
		 access(home, F_OK) == 0 ? "found" : "MISSING");
	report(t, access(home, F_OK) == 0, "home-persisted", detail);
	if (m->backend && strcmp(m->backend, "vm") == 0) {
		/* The guest's PID 1 is bottle-init, started by the guest's
		 * kernel with its command line (pid-ns checks its name);
		 * the keeper, a copy of the launcher, stays on the host. */
		puts("SKIP init-scrubbed: a vm's init is the guest's own "
		     "bottle-init, holding nothing of the host's");
		t->skip++;
	} else {
		check_init_scrubbed(t, m);
	}
	unlink(orig);
	unlink(copy);
	unlink(home);
}

int cmd_probe(int argc, char **argv)
{
	struct bottle_meta m = BOTTLE_META_INIT;
	struct tally t = {0};
	_cleanup_free_ char *dir = NULL;
	unsigned char rnd[8];
	char canary[64], marker[64], port_s[16], pid_s[16], start_s[32];
	char pids_s[32], mem_s[32];
	int lfd, port = 0, r;

	const char *only = NULL;

	if (argc == 4 && strcmp(argv[2], "--only") == 0)
		only = argv[3];
	else if (argc == 4 && strcmp(argv[1], "--only") == 0)
		only = argv[2], argv[2] = argv[3];
	else if (argc != 2) {
		cli_usage("probe", stderr);
		return EXIT_USAGE;
	}
	if ((r = cli_load_live(argv[1], &dir, &m)) != 0)
		return r;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		memset(rnd, 0x5a, sizeof(rnd));
	snprintf(canary, sizeof(canary),
		 "bottle-canary-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
		 rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	snprintf(marker, sizeof(marker), ".bottle-probe-%02x%02x%02x%02x",
		 rnd[0], rnd[2], rnd[4], rnd[6]);
	/* A secret in our own environment must not reach the bottle. */
	setenv("AWS_SECRET_ACCESS_KEY", canary, 1);
	lfd = host_listener(&port);
	snprintf(port_s, sizeof(port_s), "%d", port);
	snprintf(pid_s, sizeof(pid_s), "%d", (int)getpid());
	snprintf(start_s, sizeof(start_s), "%llu",
		 (unsigned long long)proc_start_time(getpid()));
	{
		_cleanup_free_ char *plan_path = xasprintf("%s/plan.json", dir);
		struct plan *p = NULL;
		struct error err = ERROR_INIT;
		const char *args[24];
		size_t k = 0;

		args[k++] = "--canary";
		args[k++] = canary;
		args[k++] = "--marker";
		args[k++] = marker;
		args[k++] = "--host-pid";
		args[k++] = pid_s;
		args[k++] = "--host-pid-start";
		args[k++] = start_s;
		if (lfd >= 0) {
			args[k++] = "--host-port";
			args[k++] = port_s;
		}
		if (plan_load(plan_path, &p, &err) == 0) {
			if (p->pids.mech != LIMIT_NONE) {
				snprintf(pids_s, sizeof(pids_s), "%llu",
					 (unsigned long long)p->pids.value);
				args[k++] = "--pids-limit";
				args[k++] = pids_s;
			}
			if (p->memory.mech != LIMIT_NONE) {
				snprintf(mem_s, sizeof(mem_s), "%llu",
					 (unsigned long long)p->memory.value);
				args[k++] = "--memory-limit";
				args[k++] = mem_s;
			}
			plan_free(p);
		}
		if (only) {
			args[k++] = "--only";
			args[k++] = only;
		}
		args[k] = NULL;
		run_inside(&t, m.id, args);
	}
	if (!only)
		host_checks(&t, &m, dir, marker);
	if (lfd >= 0)
		close(lfd);
	printf("probe %s: %d passed, %d failed, %d skipped\n", m.id, t.pass,
	       t.fail, t.skip);
	meta_release(&m);
	return t.fail == 0 && t.pass > 0 ? EXIT_OK : EXIT_FAIL;
}
