/* Probes that look at processes: pid-ns, caps, setuid, env-secrets. */
#include "guest/probes.h"
#include "lib/util.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

/* A bottle runs the agent, its tools and our init: a few dozen processes at
 * most while probing.  A host pid namespace shows hundreds. */
#define PID_NS_MAX_PROCS 64

static bool is_pid_name(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isdigit((unsigned char)*s))
			return false;
	return true;
}

/* ---- pid-ns ------------------------------------------------------------ */

static void check_init(struct probe_report *r)
{
	char status[4096], ppid[32] = "", comm[64] = "";

	ssize_t n = read_file("/proc/1/status", status, sizeof(status));
	if (n < 0) {
		report_fail(r, "cannot read /proc/1/status: %s",
			    errno_name((int)-n));
		return;
	}
	status_field(status, "PPid", ppid, sizeof(ppid));
	if (read_file("/proc/1/comm", comm, sizeof(comm)) > 0)
		comm[strcspn(comm, "\n")] = '\0';
	/* PPid 0 from inside a pid namespace means pid 1 is that
	 * namespace's init; its name says it is ours. */
	if (strcmp(ppid, "0"))
		report_fail(r, "/proc/1 has PPid %s: not a namespace init",
			    ppid);
	if (strcmp(comm, "bottle-init"))
		report_fail(r, "/proc/1 is '%s', not bottle-init", comm);
	else
		report_note(r, "pid 1 is bottle-init");
}

static void count_procs(struct probe_report *r)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	unsigned n = 0;

	if (!d) {
		report_fail(r, "cannot list /proc: %s", errno_name(errno));
		return;
	}
	while ((de = readdir(d)))
		n += is_pid_name(de->d_name);
	closedir(d);
	if (n >= PID_NS_MAX_PROCS)
		report_fail(r, "%u processes visible (expected < %d)", n,
			    PID_NS_MAX_PROCS);
	else
		report_note(r, "%u processes visible", n);
}

/* Field 22 of /proc/PID/stat.  The comm field (2) may hold spaces and
 * parentheses, so count from the last ')'. */
static bool stat_starttime(const char *stat, unsigned long long *out)
{
	const char *p = strrchr(stat, ')');
	int field = 2;

	if (!p)
		return false;
	for (p++; *p; p++) {
		if (*p != ' ')
			continue;
		if (++field == 22)
			return sscanf(p + 1, "%llu", out) == 1;
	}
	return false;
}

static void check_host_pid(const struct probe_opts *o, struct probe_report *r)
{
	char path[64], stat[1024];
	unsigned long long start;

	if (!o->host_pid) {
		report_note(r, "host pid: not given");
		return;
	}
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)o->host_pid);
	ssize_t n = read_file(path, stat, sizeof(stat));
	if (n < 0) {
		report_note(r, "host pid %d: absent (%s)", (int)o->host_pid,
			    errno_name((int)-n));
		return;
	}
	if (!stat_starttime(stat, &start))
		report_fail(r, "host pid %d: cannot parse %s", (int)o->host_pid,
			    path);
	else if (start == o->host_pid_start)
		report_fail(r, "host pid %d is visible (same starttime %llu)",
			    (int)o->host_pid, start);
	else
		report_note(r, "pid %d is a different process",
			    (int)o->host_pid);
}

void probe_pid_ns(const struct probe_opts *opts, struct probe_report *r)
{
	check_init(r);
	count_procs(r);
	check_host_pid(opts, r);
}

/* ---- caps -------------------------------------------------------------- */

static void check_zero_caps(const char *status, const char *key,
			    struct probe_report *r)
{
	char v[64];

	if (!status_field(status, key, v, sizeof(v)))
		report_fail(r, "%s missing from /proc/self/status", key);
	else if (strtoull(v, NULL, 16) != 0)
		report_fail(r, "%s is %s", key, v);
}

static void check_field_is(const char *status, const char *key,
			   const char *want, struct probe_report *r)
{
	char v[64];

	if (!status_field(status, key, v, sizeof(v)))
		report_fail(r, "%s missing from /proc/self/status", key);
	else if (strcmp(v, want))
		report_fail(r, "%s is %s (want %s)", key, v, want);
}

/* Uid/Gid lines hold real, effective, saved and fs ids; Groups holds the
 * supplementary groups.  None may be 0. */
static void check_no_root_id(const char *status, const char *key,
			     struct probe_report *r)
{
	char v[512];

	if (!status_field(status, key, v, sizeof(v)))
		return;
	for (char *tok = strtok(v, " \t"); tok; tok = strtok(NULL, " \t"))
		if (!strcmp(tok, "0")) {
			report_fail(r, "%s includes 0", key);
			return;
		}
}

void probe_caps(const struct probe_opts *opts, struct probe_report *r)
{
	char status[8192], v[64], map[256];
	(void)opts;

	ssize_t n = read_file("/proc/self/status", status, sizeof(status));
	if (n < 0) {
		report_fail(r, "cannot read /proc/self/status: %s",
			    errno_name((int)-n));
		return;
	}
	check_zero_caps(status, "CapEff", r);
	check_zero_caps(status, "CapPrm", r);
	check_zero_caps(status, "CapAmb", r);
	check_zero_caps(status, "CapInh", r);
	check_field_is(status, "NoNewPrivs", "1", r);
	check_field_is(status, "Seccomp", "2", r);
	check_no_root_id(status, "Uid", r);
	check_no_root_id(status, "Gid", r);
	check_no_root_id(status, "Groups", r);

	/* The bounding set only limits what exec could regain, which
	 * NoNewPrivs already rules out; report it, do not judge it. */
	if (status_field(status, "CapBnd", v, sizeof(v)))
		report_note(r, "CapEff/CapPrm/CapAmb 0, CapBnd %s", v);
	if (status_field(status, "Seccomp_filters", v, sizeof(v)))
		report_note(r, "%s seccomp filter(s)", v);
	if (read_file("/proc/self/uid_map", map, sizeof(map)) > 0) {
		unsigned long inside, outside, count;
		if (sscanf(map, "%lu %lu %lu", &inside, &outside, &count) == 3)
			report_note(
			    r, "uid_map %lu %lu %lu%s", inside, outside, count,
			    strchr(map, '\n') < strrchr(map, '\n') ? " ..."
								   : "");
	}
	report_note(r, "uid %d gid %d", (int)getuid(), (int)getgid());
}

/* ---- setuid ------------------------------------------------------------ */

/* Setuid programs that do nothing harmful when given --help. */
static const char *const setuid_candidates[] = {
    "/usr/bin/passwd", "/usr/bin/su",	      "/usr/bin/mount",
    "/usr/bin/umount", "/usr/bin/chfn",	      "/usr/bin/chsh",
    "/usr/bin/newgrp", "/usr/bin/gpasswd",    "/usr/bin/sudo",
    "/usr/bin/pkexec", "/usr/sbin/mount.nfs",
};

/* Any setuid file.  Inside a user namespace the host's root shows up as
 * the overflow uid, not 0, so do not insist on owner 0; and a setuid
 * file of our own uid (root on a host) is judged by the euid it gets. */
static const char *find_setuid(void)
{
	struct stat st;

	for (size_t i = 0; i < ARRAY_SIZE(setuid_candidates); i++)
		if (!stat(setuid_candidates[i], &st) && S_ISREG(st.st_mode) &&
		    (st.st_mode & S_ISUID))
			return setuid_candidates[i];
	return NULL;
}

/* Child side of run_capture(): only async-signal-safe calls. */
static __attribute__((noreturn)) void
capture_child(char *const argv[], char *const envp[], int null_fd, int wfd)
{
	setsid(); /* no controlling terminal: nothing can prompt on it */
	if (null_fd >= 0)
		dup2(null_fd, 0);
	else
		close(0);
	dup2(wfd, 1);
	dup2(wfd, 2);
	execve(argv[0], argv, envp);
	_exit(127);
}

/* Run argv with envp, stdin /dev/null, stdout and stderr captured into out
 * (NUL-terminated, truncated to fit).  Returns the wait status, or -1 if it
 * could not run or timed out. */
static int run_capture(char *const argv[], char *const envp[], char *out,
		       size_t n, int timeout_ms)
{
	int fds[2], status = -1;
	size_t len = 0;
	long long deadline = now_ms() + timeout_ms;

	out[0] = '\0';
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	int null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pid_t pid = fork();
	if (pid == 0)
		capture_child(argv, envp, null_fd, fds[1]);
	close(fds[1]);
	if (null_fd >= 0)
		close(null_fd);
	if (pid < 0) {
		close(fds[0]);
		return -1;
	}
	for (;;) {
		long long left = deadline - now_ms();
		struct pollfd pfd = {.fd = fds[0], .events = POLLIN};
		if (left <= 0 || len + 1 >= n || poll(&pfd, 1, (int)left) <= 0)
			break;
		ssize_t got = read(fds[0], out + len, n - 1 - len);
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	out[len] = '\0';
	close(fds[0]);
	long long left = deadline - now_ms();
	if (wait_timeout(pid, &status, left > 0 ? (int)left : 0) < 0) {
		kill_and_reap(pid);
		return -1;
	}
	return status;
}

static bool auxv_value(const char *out, const char *key, long *v)
{
	const char *p = strstr(out, key);

	return p && sscanf(p + strlen(key), "%ld", v) == 1;
}

static void judge_auxv(const char *path, const char *out, int status,
		       struct probe_report *r)
{
	long secure, euid;
	const char *name = strrchr(path, '/') + 1;

	if (!auxv_value(out, "AT_SECURE:", &secure) ||
	    !auxv_value(out, "AT_EUID:", &euid)) {
		report_fail(r,
			    "%s printed no auxv (status %d): the loader ran "
			    "in secure mode, so the setuid bit took effect "
			    "(or %s is not a glibc program)",
			    path, status, name);
		return;
	}
	if (euid == 0)
		report_fail(r, "%s ran with euid 0", path);
	else if (secure != 0 || euid != (long)getuid())
		report_fail(r, "%s: AT_SECURE %ld, AT_EUID %ld (we are %d)",
			    path, secure, euid, (int)getuid());
	else
		report_note(r, "%s: AT_SECURE 0, AT_EUID %ld: setuid ignored",
			    path, euid);
}

void probe_setuid(const struct probe_opts *opts, struct probe_report *r)
{
	static char out[65536];
	struct statvfs sv;
	(void)opts;

	const char *path = find_setuid();
	if (!path) {
		report_skip(r, "no setuid binary found under /usr");
		return;
	}
	if (!statvfs(path, &sv))
		report_note(r, "%s is on a %s mount", path,
			    sv.f_flag & ST_NOSUID ? "nosuid" : "suid");
	/* glibc's loader prints the aux vector for LD_SHOW_AUXV, but drops
	 * that variable in secure (AT_SECURE) mode, i.e. when the setuid bit
	 * took effect. */
	char *argv[] = {(char *)path, (char *)"--help", NULL};
	char *envp[] = {(char *)"LD_SHOW_AUXV=1", (char *)"LANG=C",
			(char *)"PATH=/usr/bin:/bin", NULL};
	int status = run_capture(argv, envp, out, sizeof(out), 3000);
	if (status == -1) {
		report_fail(r, "%s: could not run it or it timed out", path);
		return;
	}
	judge_auxv(path, out, status, r);
}

/* ---- env-secrets ------------------------------------------------------- */

/* Credentials the host commonly holds.  Inside a bottle they may only
 * appear as placeholders, which the bundle swaps for the real value. */
static const char *const secret_names[] = {
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "GITHUB_TOKEN",
    "GH_TOKEN",
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "CLAUDE_CODE_OAUTH_TOKEN",
};

#define ENVIRON_MAX (1024 * 1024)

static bool is_placeholder(const char *value)
{
	return !*value || strcasestr(value, "placeholder");
}

/* Check one "NAME=value" entry; never print the value. */
static void check_env_entry(const char *entry, const char *pid,
			    struct probe_report *r)
{
	for (size_t i = 0; i < ARRAY_SIZE(secret_names); i++) {
		size_t len = strlen(secret_names[i]);
		if (!strncmp(entry, secret_names[i], len) &&
		    entry[len] == '=' && !is_placeholder(entry + len + 1))
			report_fail(r, "pid %s: %s holds a real-looking value",
				    pid, secret_names[i]);
	}
}

static void scan_environ(const char *buf, size_t len, const char *pid,
			 const char *canary, struct probe_report *r)
{
	if (canary && memmem(buf, len, canary, strlen(canary)))
		report_fail(r, "pid %s: the canary is in its environment", pid);
	for (size_t off = 0; off < len; off += strlen(buf + off) + 1)
		check_env_entry(buf + off, pid, r);
}

void probe_env_secrets(const struct probe_opts *opts, struct probe_report *r)
{
	unsigned scanned = 0, unreadable = 0;
	struct dirent *de;
	char path[sizeof(de->d_name) + 16];

	char *buf = malloc(ENVIRON_MAX);
	DIR *d = opendir("/proc");
	if (!buf || !d) {
		report_fail(r, "cannot scan /proc: %s", errno_name(errno));
		free(buf);
		if (d)
			closedir(d);
		return;
	}
	while ((de = readdir(d))) {
		if (!is_pid_name(de->d_name))
			continue;
		snprintf(path, sizeof(path), "/proc/%s/environ", de->d_name);
		ssize_t n = read_file(path, buf, ENVIRON_MAX);
		if (n < 0) {
			unreadable += n != -ENOENT && n != -ESRCH;
			continue;
		}
		scanned++;
		scan_environ(buf, (size_t)n, de->d_name, opts->canary, r);
	}
	closedir(d);
	free(buf);
	if (r->nfail)
		report_fail(r, "%u environ files scanned", scanned);
	report_note(r, "%u environ files scanned, %u unreadable%s", scanned,
		    unreadable, opts->canary ? "" : ", no --canary given");
}
