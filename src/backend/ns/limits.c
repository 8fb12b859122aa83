/* Resource limits.
 *
 * cgroup v1 (root, v1 host): /sys/fs/cgroup/{memory,pids,cpu}/bottle/<id>.
 * cgroup v2 (delegated): a sibling of our own cgroup, <parent>/bottle-<id>,
 *   because the no-internal-process rule forbids enabling controllers in a
 *   cgroup that has processes, and moving a process between two cgroups
 *   needs write access to their common ancestor (cgroup-v2.rst,
 *   "Delegation Containment").
 * rlimits: RLIMIT_DATA caps private writable memory per process (not
 *   RLIMIT_AS: V8 reserves large PROT_NONE regions that AS would count) and
 *   RLIMIT_NPROC caps tasks of the agent's uid in the bottle's user
 *   namespace (ucounts are per namespace since 5.14).  No rlimit can cap CPU.
 */
#include "backend/ns/limits.h"

#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>

#define V1_ROOT	  "/sys/fs/cgroup"
#define V1_PARENT "bottle"

enum ctl { CTL_MEMORY, CTL_PIDS, CTL_CPU, CTL_N };
static const char *const ctl_names[CTL_N] = {"memory", "pids", "cpu"};

static bool v1_usable(enum ctl c)
{
	char path[PATH_MAX];
	struct stat st;

	if (geteuid() != 0)
		return false;
	snprintf(path, sizeof(path), V1_ROOT "/%s/cgroup.procs", ctl_names[c]);
	if (stat(path, &st) != 0)
		return false;
	snprintf(path, sizeof(path), V1_ROOT "/%s", ctl_names[c]);
	return access(path, W_OK) == 0;
}

/* The cgroup2 directory under which bottle cgroups go, or NULL. */
static char *v2_base(void)
{
	_cleanup_fclose_ FILE *f = NULL;
	_cleanup_free_ char *mnt = NULL;
	char line[4096], *self = NULL, *slash;

	f = fopen("/proc/self/mounts", "re");
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		char dev[256], dir[2048], type[64];
		if (sscanf(line, "%255s %2047s %63s", dev, dir, type) == 3 &&
		    strcmp(type, "cgroup2") == 0) {
			mnt = xstrdup(dir);
			break;
		}
	}
	fclose(f);
	f = NULL;
	if (!mnt)
		return NULL;
	f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return NULL;
	while (fgets(line, sizeof(line), f)) {
		if (str_has_prefix(line, "0::")) {
			line[strcspn(line, "\n")] = '\0';
			self = xstrdup(line + 3);
			break;
		}
	}
	if (!self)
		return NULL;
	/* Our own cgroup has processes (us): use its parent. */
	slash = strrchr(self, '/');
	if (slash && slash != self)
		*slash = '\0';
	else
		self[0] = '\0';
	{
		char *base = xasprintf("%s%s", mnt, self);
		free(self);
		return base;
	}
}

static bool v2_has(const char *base, enum ctl c)
{
	_cleanup_free_ char *path =
	    xasprintf("%s/cgroup.subtree_control", base);
	char buf[512];
	ssize_t n;
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || access(base, W_OK) != 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	for (char *t = strtok(buf, " \n"); t; t = strtok(NULL, " \n"))
		if (strcmp(t, ctl_names[c]) == 0)
			return true;
	return false;
}

static enum limit_mech detect_one(enum ctl c, const char *v2)
{
	if (v2 && v2_has(v2, c))
		return LIMIT_CGROUP2;
	if (v1_usable(c))
		return LIMIT_CGROUP1;
	return c == CTL_CPU ? LIMIT_NONE : LIMIT_RLIMIT;
}

void ns_limits_detect(struct host_facts *h)
{
	_cleanup_free_ char *v2 = v2_base();

	h->mem_mech = detect_one(CTL_MEMORY, v2);
	h->pids_mech = detect_one(CTL_PIDS, v2);
	h->cpu_mech = detect_one(CTL_CPU, v2);
}

void ns_limits_report(struct strbuf *out)
{
	struct host_facts h = {0};
	_cleanup_free_ char *v2 = v2_base();

	ns_limits_detect(&h);
	strbuf_addf(out, "limits: memory via %s, pids via %s, cpu via %s\n",
		    limit_mech_name(h.mem_mech), limit_mech_name(h.pids_mech),
		    limit_mech_name(h.cpu_mech));
	strbuf_addf(out, "  cgroup v2 base: %s\n", v2 ? v2 : "(none)");
	if (h.cpu_mech == LIMIT_NONE)
		strbuf_addstr(out, "  cpu limits need a writable cgroup "
				   "(run as root on a v1 host, or delegate "
				   "the cpu controller on v2)\n");
}

/* ---- per-bottle cgroup paths --------------------------------------------
 * The paths derive from the id alone, so exec and cleanup find them without
 * any other state. */

static char *cg_dir(enum limit_mech m, enum ctl c, const char *id)
{
	if (m == LIMIT_CGROUP1)
		return xasprintf(V1_ROOT "/%s/" V1_PARENT "/%s", ctl_names[c],
				 id);
	if (m == LIMIT_CGROUP2) {
		_cleanup_free_ char *base = v2_base();
		if (!base)
			return NULL;
		return xasprintf("%s/bottle-%s", base, id);
	}
	return NULL;
}

static int write_str(const char *dir, const char *file, const char *val,
		     struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/%s", dir, file);
	_cleanup_close_ int fd = open(path, O_WRONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return err_sys(err, errno, "opening %s", path);
	r = write_all(fd, val, strlen(val));
	if (r < 0)
		return err_sys(err, -r, "writing \"%s\" to %s", val, path);
	return 0;
}

static const struct limit_plan *plan_limit(const struct plan *p, enum ctl c)
{
	return c == CTL_MEMORY ? &p->memory
	       : c == CTL_PIDS ? &p->pids
			       : &p->cpu;
}

static int cg_write_limit(const struct plan *p, enum ctl c, const char *dir,
			  struct error *err)
{
	const struct limit_plan *l = plan_limit(p, c);
	char val[64];
	bool v2 = l->mech == LIMIT_CGROUP2;

	snprintf(val, sizeof(val), "%llu", (unsigned long long)l->value);
	switch (c) {
	case CTL_MEMORY:
		if (v2) {
			int r = write_str(dir, "memory.max", val, err);
			if (r == 0)
				write_str(dir, "memory.swap.max", "0", err);
			err_clear(err);
			return r;
		}
		if (write_str(dir, "memory.limit_in_bytes", val, err) < 0)
			return -err->code;
		/* No swap either, where the kernel accounts it. */
		if (write_str(dir, "memory.memsw.limit_in_bytes", val, err) < 0)
			err_clear(err);
		return 0;
	case CTL_PIDS:
		return write_str(dir, "pids.max", val, err);
	case CTL_CPU:
		if (v2) {
			snprintf(val, sizeof(val), "%llu 100000",
				 (unsigned long long)l->value * 100);
			return write_str(dir, "cpu.max", val, err);
		}
		if (write_str(dir, "cpu.cfs_period_us", "100000", err) < 0)
			return -err->code;
		snprintf(val, sizeof(val), "%llu",
			 (unsigned long long)l->value * 100);
		return write_str(dir, "cpu.cfs_quota_us", val, err);
	default:
		BUG("bad controller");
	}
}

int ns_cgroup_create(const struct plan *p, const struct launch_hooks *hooks,
		     struct error *err)
{
	for (int c = 0; c < CTL_N; c++) {
		const struct limit_plan *l = plan_limit(p, c);
		_cleanup_free_ char *dir = NULL;
		int r;

		if (l->mech != LIMIT_CGROUP1 && l->mech != LIMIT_CGROUP2)
			continue;
		dir = cg_dir(l->mech, c, p->id);
		if (!dir)
			return err_set(err, ENOENT, "no cgroup2 mount");
		if (hooks &&
		    (r = hooks->record(hooks->ctx, "cgroup", dir, err)) < 0)
			return r;
		if (l->mech == LIMIT_CGROUP1) {
			_cleanup_free_ char *parent =
			    xasprintf(V1_ROOT "/%s/" V1_PARENT, ctl_names[c]);
			if (mkdir(parent, 0755) < 0 && errno != EEXIST)
				return err_sys(err, errno, "mkdir %s", parent);
		}
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return err_sys(err, errno, "mkdir %s", dir);
		if ((r = cg_write_limit(p, c, dir, err)) < 0)
			return err_prefix(err, "%s limit", ctl_names[c]);
	}
	return 0;
}

int ns_cgroup_attach(const struct plan *p, pid_t pid, struct error *err)
{
	char val[32];

	snprintf(val, sizeof(val), "%d", (int)pid);
	for (int c = 0; c < CTL_N; c++) {
		const struct limit_plan *l = plan_limit(p, c);
		_cleanup_free_ char *dir = cg_dir(l->mech, c, p->id);
		int r;

		if (!dir)
			continue;
		if ((r = write_str(dir, "cgroup.procs", val, err)) < 0)
			return r;
	}
	return 0;
}

/* Every cgroup directory that could belong to bottle id. */
static size_t cg_candidates(const char *id, char **out, size_t max)
{
	size_t n = 0;

	for (int c = 0; c < CTL_N && n < max; c++) {
		char *d = cg_dir(LIMIT_CGROUP1, c, id);
		if (access(d, F_OK) == 0)
			out[n++] = d;
		else
			free(d);
	}
	if (n < max) {
		char *d = cg_dir(LIMIT_CGROUP2, CTL_MEMORY, id);
		if (d && access(d, F_OK) == 0)
			out[n++] = d;
		else
			free(d);
	}
	return n;
}

int ns_cgroup_open_procs(const char *id, int *fds, int max)
{
	char *dirs[CTL_N + 1];
	size_t n = cg_candidates(id, dirs, ARRAY_SIZE(dirs));
	int k = 0;

	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *path =
		    xasprintf("%s/cgroup.procs", dirs[i]);
		int fd = k < max ? open(path, O_WRONLY | O_CLOEXEC) : -1;
		if (fd >= 0)
			fds[k++] = fd;
		free(dirs[i]);
	}
	return k;
}

/* Kill every process in the cgroup at dir.  Each pid is pinned with a
 * pidfd and checked to still be in this cgroup before the signal, so a pid
 * that exited and was reused meanwhile is never hit. */
static bool pid_in_cgroup(pid_t pid, const char *dir)
{
	char path[64], line[4096];
	const char *rel = strstr(dir, "/" V1_PARENT "/");
	const char *v2 = strstr(dir, "/bottle-");
	const char *want = rel ? rel : v2;
	_cleanup_fclose_ FILE *f = NULL;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	f = fopen(path, "re");
	while (want && f && fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (str_has_suffix(line, want))
			return true;
	}
	return false;
}

static void cg_kill_all(const char *dir)
{
	_cleanup_free_ char *path = xasprintf("%s/cgroup.procs", dir);

	for (int tries = 0; tries < 50; tries++) {
		_cleanup_fclose_ FILE *f = fopen(path, "re");
		int pid, n = 0;

		if (!f)
			return;
		while (fscanf(f, "%d", &pid) == 1) {
			int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
			n++;
			if (pfd < 0)
				continue;
			if (pid_in_cgroup(pid, dir))
				syscall(SYS_pidfd_send_signal, pfd, SIGKILL,
					NULL, 0);
			close(pfd);
		}
		if (n == 0)
			return;
		usleep(10000);
	}
}

int ns_cgroup_remove(const char *dir, struct error *err)
{
	struct statfs sf;

	/* Only ever a cgroup directory, whatever a state file says. */
	if (statfs(dir, &sf) < 0)
		return errno == ENOENT ? 0 : err_sys(err, errno, "%s", dir);
	if (sf.f_type != CGROUP_SUPER_MAGIC && sf.f_type != CGROUP2_SUPER_MAGIC)
		return err_set(err, EINVAL, "%s is not a cgroup", dir);
	cg_kill_all(dir);
	for (int tries = 0; rmdir(dir) < 0 && errno == EBUSY && tries < 100;
	     tries++)
		usleep(10000);
	if (access(dir, F_OK) == 0)
		return err_sys(err, errno, "removing cgroup %s", dir);
	return 0;
}

int ns_cgroup_destroy(const char *id, struct error *err)
{
	char *dirs[CTL_N + 1];
	size_t n = cg_candidates(id, dirs, ARRAY_SIZE(dirs));
	int ret = 0, r;

	for (size_t i = 0; i < n; i++) {
		if ((r = ns_cgroup_remove(dirs[i], err)) < 0 && ret == 0)
			ret = r;
		free(dirs[i]);
	}
	return ret;
}

static bool cg_has_procs(const char *dir)
{
	_cleanup_free_ char *path = xasprintf("%s/cgroup.procs", dir);
	_cleanup_fclose_ FILE *f = fopen(path, "re");
	int pid;

	return f && fscanf(f, "%d", &pid) == 1;
}

/* Seconds since the cgroup directory was created (its mtime, close
 * enough: we never create entries in it). */
static long cg_age(const char *dir)
{
	struct stat st;
	return stat(dir, &st) < 0 ? 0 : (long)(time(NULL) - st.st_mtime);
}

/* A bottle cgroup is an orphan when its bottle has no live owner and it
 * belongs to a bottle of this state home, or it has been empty for a
 * minute: another state home's cgroup (another user's XDG_STATE_HOME) may
 * be a launch that has not attached its init yet. */
static void scan_dir(const char *dir, const char *prefix,
		     const char *state_home,
		     bool (*live)(const char *id, void *ctx), void *live_ctx,
		     orphan_fn fn, void *ctx)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		const char *id;
		if (e->d_type != DT_DIR || !str_has_prefix(e->d_name, prefix))
			continue;
		id = e->d_name + strlen(prefix);
		if (!*id || id[0] == '.' || live(id, live_ctx))
			continue;
		{
			_cleanup_free_ char *path =
			    xasprintf("%s/%s", dir, e->d_name);
			_cleanup_free_ char *mine =
			    xasprintf("%s/%s", state_home, id);
			if (access(mine, F_OK) == 0 ||
			    (!cg_has_procs(path) && cg_age(path) > 60))
				fn("cgroup", path, ctx);
		}
	}
	closedir(d);
}

int ns_cgroup_orphans(const char *state_home,
		      bool (*live)(const char *id, void *ctx), void *live_ctx,
		      orphan_fn fn, void *ctx)
{
	_cleanup_free_ char *v2 = v2_base();

	for (int c = 0; c < CTL_N; c++) {
		_cleanup_free_ char *dir =
		    xasprintf(V1_ROOT "/%s/" V1_PARENT, ctl_names[c]);
		scan_dir(dir, "", state_home, live, live_ctx, fn, ctx);
	}
	if (v2)
		scan_dir(v2, "bottle-", state_home, live, live_ctx, fn, ctx);
	return 0;
}
