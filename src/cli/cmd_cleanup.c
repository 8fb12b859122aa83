/* bottle cleanup: find runtime pieces whose owner is dead and remove them.
 *
 * Sources of truth: every bottle's meta.json (artifacts are recorded there
 * before they are created) and the backends' own namespaces of runtime
 * objects (cgroups named after bottle ids), which catch anything a crash
 * left between recording and creating. */
#include "cli/cli.h"

#include "lib/fsutil.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct orphan {
	char *id;   /* bottle id, or NULL */
	char *kind; /* process, cgroup, socket, temp, status */
	char *what;
	const struct backend_ops *be;
};

struct orphans {
	struct orphan *v;
	size_t n, alloc;
	const char *state_home;
};

static void add(struct orphans *o, const char *id, const char *kind,
		const char *what, const struct backend_ops *be)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->v[i].kind, kind) == 0 &&
		    strcmp(o->v[i].what, what) == 0)
			return;
	ALLOC_GROW(o->v, o->n + 1, o->alloc);
	o->v[o->n++] = (struct orphan){id ? xstrdup(id) : NULL, xstrdup(kind),
				       xstrdup(what), be};
}

static bool id_live(const char *id, void *ctx)
{
	const struct orphans *o = ctx;
	_cleanup_free_ char *dir = xasprintf("%s/%s", o->state_home, id);
	struct bottle_meta m = BOTTLE_META_INIT;
	struct error err = ERROR_INIT;
	bool live;

	if (meta_load(dir, &m, &err) < 0)
		return false;
	live = cli_bottle_live(&m);
	meta_release(&m);
	return live;
}

static void on_backend_orphan(const char *kind, const char *what, void *ctx)
{
	struct orphans *o = ctx;
	add(o, NULL, kind, what, NULL);
}

/* Temp files from interrupted atomic writes and workspace copies. */
static void scan_temps(struct orphans *o, const char *id, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (strstr(e->d_name, ".tmp")) {
			_cleanup_free_ char *p =
			    xasprintf("%s/%s", dir, e->d_name);
			add(o, id, "temp", p, NULL);
		}
	}
	closedir(d);
}

/* Half-built state dirs (".<id>.new") of launches killed while creating
 * them; old enough that no live launch is still building them. */
static void scan_new_dirs(struct orphans *o)
{
	DIR *d = opendir(o->state_home);
	struct dirent *e;
	struct stat st;

	if (!d)
		return;
	while ((e = readdir(d))) {
		_cleanup_free_ char *p = NULL;
		if (e->d_name[0] != '.' || !str_has_suffix(e->d_name, ".new"))
			continue;
		p = xasprintf("%s/%s", o->state_home, e->d_name);
		if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode) &&
		    time(NULL) - st.st_mtime > 60)
			add(o, NULL, "temp", p, NULL);
	}
	closedir(d);
}

static void scan_bottle(struct orphans *o, const char *id)
{
	_cleanup_free_ char *dir = xasprintf("%s/%s", o->state_home, id);
	_cleanup_free_ char *sock = xasprintf("%s/run/attach.sock", dir);
	struct bottle_meta m = BOTTLE_META_INIT;
	struct error err = ERROR_INIT;

	if (meta_load(dir, &m, &err) < 0) {
		/* State dirs appear with their meta.json (state_create), so
		 * this one is damaged or not ours to judge: never delete a
		 * home or workspace on a guess. */
		fprintf(stderr, "bottle: skipping %s: %s\n", id, err.msg);
		return;
	}
	if (cli_bottle_live(&m)) {
		meta_release(&m);
		return;
	}
	for (size_t i = 0; i < m.n_artifacts; i++) {
		const struct artifact *a = &m.artifacts[i];
		if (strcmp(a->kind, "process") == 0 && !strchr(a->what, ':'))
			continue; /* recorded intent; the pid follows */
		if (strcmp(a->kind, "socket") == 0 &&
		    access(a->what, F_OK) != 0)
			continue; /* recorded, never created */
		add(o, id, a->kind, a->what, backend_find(m.backend));
	}
	if (access(sock, F_OK) == 0)
		add(o, id, "socket", sock, NULL);
	scan_temps(o, id, dir);
	if (m.status == BOTTLE_RUNNING || m.status == BOTTLE_CREATING)
		add(o, id, "status", dir, NULL);
	meta_release(&m);
}

static int mark_crashed(struct bottle_meta *m, void *ctx)
{
	(void)ctx;
	if (m->status == BOTTLE_RUNNING || m->status == BOTTLE_CREATING)
		m->status = BOTTLE_CRASHED;
	meta_clear_runtime(m);
	return 0;
}

/* "init:PID:START" or "bundle:PID:START": kill it if it is still that
 * process (the start time rules out a reused pid). */
static int kill_process(const char *what, struct error *err)
{
	int pid = 0;
	unsigned long long start = 0;
	int fd;

	if (sscanf(what, "%*[a-z]:%d:%llu", &pid, &start) != 2 || pid <= 0)
		return 0;
	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd < 0)
		return 0;
	if (proc_alive(pid, start) &&
	    syscall(SYS_pidfd_send_signal, fd, SIGKILL, NULL, 0) < 0) {
		close(fd);
		return err_sys(err, errno, "killing pid %d", pid);
	}
	close(fd);
	return 0;
}

static int remove_one(const struct orphans *o, const struct orphan *x,
		      struct error *err)
{
	if (strcmp(x->kind, "process") == 0)
		return kill_process(x->what, err);
	if (strcmp(x->kind, "cgroup") == 0) {
		const struct backend_ops *be =
		    x->be ? x->be : backend_find("ns");
		return be->remove_orphan("cgroup", x->what, err);
	}
	if (strcmp(x->kind, "socket") == 0) {
		if (unlink(x->what) < 0 && errno != ENOENT)
			return err_sys(err, errno, "unlink %s", x->what);
		return 0;
	}
	if (strcmp(x->kind, "temp") == 0)
		return rm_rf(x->what, err);
	if (strcmp(x->kind, "status") == 0)
		return meta_update(x->what, mark_crashed, NULL, err);
	(void)o;
	return err_set(err, EINVAL, "unknown kind %s", x->kind);
}

int cmd_cleanup(int argc, char **argv)
{
	static const struct option opts[] = {{"yes", no_argument, NULL, 'y'},
					     {NULL, 0, NULL, 0}};
	struct host_facts h;
	struct orphans o = {0};
	struct error err = ERROR_INIT;
	bool yes = false;
	char **ids = NULL;
	size_t n = 0;
	int c, ret = EXIT_OK;

	optind = 1;
	while ((c = getopt_long(argc, argv, "y", opts, NULL)) != -1) {
		if (c != 'y') {
			cli_usage("cleanup", stderr);
			return EXIT_USAGE;
		}
		yes = true;
	}
	host_facts_gather(&h);
	o.state_home = h.state_home;
	if (state_list(h.state_home, &ids, &n, &err) < 0) {
		fprintf(stderr, "bottle: %s\n", err.msg);
		host_facts_release(&h);
		return EXIT_FAIL;
	}
	for (size_t i = 0; i < n; i++)
		scan_bottle(&o, ids[i]);
	scan_new_dirs(&o);
	for (size_t i = 0; backends[i]; i++)
		backends[i]->list_orphans(h.state_home, id_live, &o,
					  on_backend_orphan, &o);
	if (o.n == 0) {
		printf("nothing to clean up\n");
	} else {
		printf("orphaned runtime pieces:\n");
		for (size_t i = 0; i < o.n; i++)
			printf("  %-8s %-20s %s\n", o.v[i].kind,
			       o.v[i].id ? o.v[i].id : "-", o.v[i].what);
		c = yes ? 1 : cli_confirm("Remove them?");
		if (c < 0) {
			fprintf(stderr, "bottle: no terminal to confirm on; "
					"pass --yes\n");
			ret = EXIT_USAGE;
		} else if (c == 0) {
			ret = EXIT_FAIL;
		}
		/* Processes first, then cgroups, files, and status last. */
		static const char *const order[] = {"process", "cgroup",
						    "socket", "temp", "status"};
		for (size_t k = 0; c == 1 && k < ARRAY_SIZE(order); k++) {
			for (size_t i = 0; i < o.n; i++) {
				if (strcmp(o.v[i].kind, order[k]) != 0)
					continue;
				if (remove_one(&o, &o.v[i], &err) < 0) {
					fprintf(stderr, "bottle: %s: %s\n",
						o.v[i].what, err.msg);
					ret = EXIT_FAIL;
				}
			}
		}
		if (c == 1 && ret == EXIT_OK)
			printf("removed %zu\n", o.n);
	}
	for (size_t i = 0; i < o.n; i++) {
		free(o.v[i].id);
		free(o.v[i].kind);
		free(o.v[i].what);
	}
	free(o.v);
	strv_free(ids);
	host_facts_release(&h);
	return ret;
}
