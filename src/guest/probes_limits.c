/* Resource-limit probes: fork-bomb, memory-hog.
 *
 * Both are bounded so that they are safe where the limit is NOT enforced
 * (on a host, or in a bottle whose limit failed to apply): at most
 * N + FORK_BOMB_OVER processes, at most B + HOG_OVER bytes, and everything
 * they create is killed and reaped before the probe returns. */
#include "guest/probes.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define FORK_BOMB_OVER 64    /* processes past the limit that prove it open */
#define FORK_BOMB_MAX  16384 /* refuse to fork more than this anyway */

#define MiB	    (1024ULL * 1024)
#define HOG_CHUNK   (16 * MiB)
#define HOG_OVER    (256 * MiB)
#define HOG_WAIT_MS 50000 /* the probe's own timeout is 60 s */

/* ---- fork-bomb --------------------------------------------------------- */

/* A bomb child: nothing but wait to be killed (or die with its parent). */
static __attribute__((noreturn)) void bomb_child(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(0); /* parent already gone */
	for (;;)
		pause();
}

/* Fork up to max children.  Returns how many exist; *err is the errno of
 * the fork that failed, 0 if none did. */
static size_t bomb(pid_t *kids, size_t max, int *err)
{
	pid_t self = getpid();
	size_t n = 0;

	*err = 0;
	while (n < max) {
		pid_t pid = fork();
		if (pid == 0)
			bomb_child(self);
		if (pid < 0) {
			*err = errno;
			break;
		}
		kids[n++] = pid;
	}
	return n;
}

static void defuse(const pid_t *kids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		kill(kids[i], SIGKILL);
	for (size_t i = 0; i < n; i++)
		while (waitpid(kids[i], NULL, 0) < 0 && errno == EINTR)
			;
}

void probe_fork_bomb(const struct probe_opts *opts, struct probe_report *r)
{
	unsigned long limit = opts->pids_limit;
	int err;

	if (!limit) {
		report_skip(r, "no --pids-limit: no pids limit is enforced");
		return;
	}
	if (limit > FORK_BOMB_MAX) {
		report_skip(r,
			    "pids limit %lu is above %d: too many to fork "
			    "safely if it does not hold",
			    limit, FORK_BOMB_MAX);
		return;
	}
	size_t max = limit + FORK_BOMB_OVER;
	pid_t *kids = calloc(max, sizeof(*kids));
	if (!kids) {
		report_fail(r, "out of memory before forking");
		return;
	}
	size_t n = bomb(kids, max, &err);
	defuse(kids, n);
	free(kids);

	/* Our children alone may never exceed the limit: it also counts
	 * every other process in the bottle. */
	if (n > limit)
		report_fail(r, "forked %zu children, limit %lu%s", n, limit,
			    n == max ? " (stopped by the probe, not the limit)"
				     : "");
	else if (err == EAGAIN || err == ENOMEM)
		report_note(r,
			    "fork failed with %s after %zu children "
			    "(limit %lu)",
			    errno_name(err), n, limit);
	else
		report_fail(r, "fork failed with %s after %zu children",
			    errno_name(err), n);
}

/* ---- memory-hog -------------------------------------------------------- */

/* /proc/meminfo MemAvailable in bytes, 0 if unknown.  Inside a bottle this
 * is the host's figure: /proc/meminfo is not namespaced. */
static unsigned long long mem_available(void)
{
	char text[4096], v[64];

	if (read_file("/proc/meminfo", text, sizeof(text)) < 0 ||
	    !status_field(text, "MemAvailable", v, sizeof(v)))
		return 0;
	return strtoull(v, NULL, 10) * 1024;
}

enum hog_exit { HOG_REACHED_CAP = 0, HOG_ENOMEM = 3 };

/* The hog: allocate and touch chunks, publishing progress in *touched so
 * that the parent knows how far it got even if the OOM killer ends it. */
static __attribute__((noreturn)) void
hog_child(unsigned long long cap, volatile unsigned long long *touched)
{
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);

	/* Be the OOM killer's first choice: in a bottle the agent shares
	 * the memory limit with us. */
	if (fd >= 0) {
		if (write(fd, "1000", 4) < 0) {
			/* not fatal: the probe still works */
		}
		close(fd);
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	while (*touched < cap) {
		char *p = malloc(HOG_CHUNK);
		if (!p)
			_exit(HOG_ENOMEM);
		memset(p, 0xa5, HOG_CHUNK);
		*touched += HOG_CHUNK;
	}
	_exit(HOG_REACHED_CAP);
}

static void judge_hog(int status, bool timedout, unsigned long long touched,
		      unsigned long long limit, struct probe_report *r)
{
	unsigned long long mib = touched / MiB, lim = limit / MiB;

	if (touched > limit)
		report_fail(r, "touched %llu MiB, limit %llu MiB%s", mib, lim,
			    timedout ? " (still running: swapping?)" : "");
	else if (timedout)
		report_note(r, "throttled at %llu MiB (limit %llu MiB)", mib,
			    lim);
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
		report_note(r, "killed after %llu MiB (limit %llu MiB)", mib,
			    lim);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == HOG_ENOMEM)
		report_note(r, "malloc failed after %llu MiB (limit %llu MiB)",
			    mib, lim);
	else
		report_fail(r, "hog ended oddly (status 0x%x) after %llu MiB",
			    (unsigned)status, mib);
}

void probe_memory_hog(const struct probe_opts *opts, struct probe_report *r)
{
	unsigned long long limit = opts->memory_limit, avail;
	int status = 0;

	if (!limit) {
		report_skip(r, "no --memory-limit: no memory limit is "
			       "enforced");
		return;
	}
	avail = mem_available();
	/* A vm's limit is its RAM: the guest's kernel stops the hog, and
	 * the host never lends it more. */
	if (avail && limit + HOG_OVER > avail && !probe_in_vm()) {
		report_skip(r,
			    "limit %llu MiB + %llu MiB is more than the "
			    "%llu MiB available: unsafe if it does not hold",
			    limit / MiB, HOG_OVER / MiB, avail / MiB);
		return;
	}
	volatile unsigned long long *touched =
	    mmap(NULL, sizeof(*touched), PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (touched == MAP_FAILED) {
		report_fail(r, "mmap: %s", errno_name(errno));
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		report_fail(r, "fork: %s", errno_name(errno));
		return;
	}
	if (pid == 0)
		hog_child(limit + HOG_OVER, touched);
	bool timedout = wait_timeout(pid, &status, HOG_WAIT_MS) < 0;
	if (timedout)
		kill_and_reap(pid);
	judge_hog(status, timedout, *touched, limit, r);
	munmap((void *)touched, sizeof(*touched));
}
