#include "state.h"

#include "fsutil.h"
#include "json.h"
#include "log.h"
#include "strbuf.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#define META_MAX (1u << 20)

static const char *const status_names[] = {
    [BOTTLE_CREATING] = "creating", [BOTTLE_RUNNING] = "running",
    [BOTTLE_EXITED] = "exited",	    [BOTTLE_STOPPED] = "stopped",
    [BOTTLE_FAILED] = "failed",	    [BOTTLE_CRASHED] = "crashed",
};

const char *bottle_status_name(enum bottle_status s)
{
	if ((size_t)s >= ARRAY_SIZE(status_names))
		return "unknown";
	return status_names[s];
}

/* ---- meta.json ---------------------------------------------------------- */

int meta_save(const char *state_dir, const struct bottle_meta *m,
	      struct error *err)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	_cleanup_free_ char *path = xasprintf("%s/meta.json", state_dir);
	int r;

	json_writer_init(&w, &sb, JSON_WRITER_PRETTY);
	json_writer_begin_object(&w);
	json_writer_kv_string(&w, "id", m->id);
	json_writer_kv_string(&w, "agent", m->agent);
	json_writer_kv_string(&w, "bottle", m->bottle);
	json_writer_kv_string(&w, "backend", m->backend);
	json_writer_kv_string(&w, "cwd", m->cwd);
	json_writer_kv_bool(&w, "copy_cwd", m->copy_cwd);
	json_writer_kv_string(&w, "manifest", m->manifest);
	json_writer_kv_bool(&w, "detached", m->detached);
	json_writer_kv_bool(&w, "tty", m->tty);
	json_writer_kv_int64(&w, "created", m->created);
	json_writer_kv_int64(&w, "started", m->started);
	json_writer_kv_int64(&w, "finished", m->finished);
	json_writer_kv_string(&w, "status", bottle_status_name(m->status));
	json_writer_kv_int64(&w, "exit_code", m->exit_code);
	json_writer_kv_int64(&w, "monitor_pid", m->monitor_pid);
	json_writer_kv_int64(&w, "monitor_start", (int64_t)m->monitor_start);
	json_writer_kv_int64(&w, "init_pid", m->init_pid);
	json_writer_kv_int64(&w, "init_start", (int64_t)m->init_start);
	json_writer_kv_strv(&w, "command", m->command);
	json_writer_key(&w, "artifacts");
	json_writer_begin_array(&w);
	for (size_t i = 0; i < m->n_artifacts; i++) {
		json_writer_begin_object(&w);
		json_writer_kv_string(&w, "kind", m->artifacts[i].kind);
		json_writer_kv_string(&w, "what", m->artifacts[i].what);
		json_writer_end_object(&w);
	}
	json_writer_end_array(&w);
	json_writer_end_object(&w);
	strbuf_addch(&sb, '\n');
	r = write_file_replace(path, sb.buf, sb.len, 0600, err);
	strbuf_release(&sb);
	return r;
}

static enum bottle_status r_status(const struct json_value *o)
{
	const char *s = json_as_string(json_obj_get(o, "status"), NULL);
	for (size_t i = 0; s && i < ARRAY_SIZE(status_names); i++)
		if (strcmp(s, status_names[i]) == 0)
			return (enum bottle_status)i;
	return BOTTLE_CRASHED;
}

int meta_load(const char *state_dir, struct bottle_meta *m, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/meta.json", state_dir);
	_cleanup_free_ char *buf = NULL;
	struct json_value *root = NULL;
	const struct json_value *arts;
	size_t len;
	int r;

	if ((r = read_file(path, &buf, &len, META_MAX, err)) < 0)
		return r;
	if ((r = json_parse(buf, len, &root, err)) < 0)
		return err_prefix(err, "%s", path);
	if (json_type(root) != JSON_OBJECT) {
		json_value_free(root);
		return err_set(err, EINVAL, "%s: not a JSON object", path);
	}
	memset(m, 0, sizeof(*m));
	m->id = json_obj_strdup(root, "id");
	m->agent = json_obj_strdup(root, "agent");
	m->bottle = json_obj_strdup(root, "bottle");
	m->backend = json_obj_strdup(root, "backend");
	m->cwd = json_obj_strdup(root, "cwd");
	m->manifest = json_obj_strdup(root, "manifest");
	m->copy_cwd = json_obj_bool(root, "copy_cwd");
	m->detached = json_obj_bool(root, "detached");
	m->tty = json_obj_bool(root, "tty");
	m->created = json_obj_int64(root, "created");
	m->started = json_obj_int64(root, "started");
	m->finished = json_obj_int64(root, "finished");
	m->status = r_status(root);
	m->exit_code = (int)json_obj_int64(root, "exit_code");
	m->monitor_pid = (pid_t)json_obj_int64(root, "monitor_pid");
	m->monitor_start = (uint64_t)json_obj_int64(root, "monitor_start");
	m->init_pid = (pid_t)json_obj_int64(root, "init_pid");
	m->init_start = (uint64_t)json_obj_int64(root, "init_start");
	m->command = json_obj_strv(root, "command", NULL);
	arts = json_obj_get(root, "artifacts");
	for (size_t i = 0; i < json_array_len(arts); i++) {
		const struct json_value *a = json_array_get(arts, i);
		_cleanup_free_ char *kind = json_obj_strdup(a, "kind");
		_cleanup_free_ char *what = json_obj_strdup(a, "what");
		if (kind && what)
			meta_add_artifact(m, kind, what);
	}
	json_value_free(root);
	if (!m->id) {
		meta_release(m);
		return err_set(err, EINVAL, "%s: no id", path);
	}
	return 0;
}

void meta_add_artifact(struct bottle_meta *m, const char *kind,
		       const char *what)
{
	for (size_t i = 0; i < m->n_artifacts; i++)
		if (strcmp(m->artifacts[i].kind, kind) == 0 &&
		    strcmp(m->artifacts[i].what, what) == 0)
			return;
	m->artifacts = xrealloc(
	    m->artifacts, st_mult(m->n_artifacts + 1, sizeof(*m->artifacts)));
	m->artifacts[m->n_artifacts].kind = xstrdup(kind);
	m->artifacts[m->n_artifacts].what = xstrdup(what);
	m->n_artifacts++;
}

void meta_clear_runtime(struct bottle_meta *m)
{
	m->monitor_pid = m->init_pid = 0;
	m->monitor_start = m->init_start = 0;
	for (size_t i = 0; i < m->n_artifacts; i++) {
		free(m->artifacts[i].kind);
		free(m->artifacts[i].what);
	}
	free(m->artifacts);
	m->artifacts = NULL;
	m->n_artifacts = 0;
}

void meta_release(struct bottle_meta *m)
{
	free(m->id);
	free(m->agent);
	free(m->bottle);
	free(m->backend);
	free(m->cwd);
	free(m->manifest);
	strv_free(m->command);
	for (size_t i = 0; i < m->n_artifacts; i++) {
		free(m->artifacts[i].kind);
		free(m->artifacts[i].what);
	}
	free(m->artifacts);
	memset(m, 0, sizeof(*m));
	m->exit_code = -1;
}

int state_lock(const char *state_dir, int *fd, struct error *err)
{
	_cleanup_free_ char *path = xasprintf("%s/lock", state_dir);
	return lock_file(path, LOCK_EX, 5000, fd, err);
}

int meta_update(const char *state_dir,
		int (*fn)(struct bottle_meta *m, void *ctx), void *ctx,
		struct error *err)
{
	struct bottle_meta m = BOTTLE_META_INIT;
	_cleanup_close_ int lock = -1;
	int r;

	if ((r = state_lock(state_dir, &lock, err)) < 0)
		return r;
	if ((r = meta_load(state_dir, &m, err)) < 0)
		return r;
	r = fn(&m, ctx);
	if (r == 0)
		r = meta_save(state_dir, &m, err);
	meta_release(&m);
	return r;
}

bool meta_owner_alive(const struct bottle_meta *m)
{
	return m->monitor_pid > 0 && m->monitor_start != 0 &&
	       proc_alive(m->monitor_pid, m->monitor_start);
}

/* ---- ids and the state home --------------------------------------------- */

char *state_new_id(const char *agent)
{
	static const char alphabet[] = "abcdefghijkmnpqrstuvwxyz23456789";
	unsigned char rnd[6];
	char suffix[7];
	size_t alen = strcspn(agent, "/ \t");

	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		for (size_t i = 0; i < sizeof(rnd); i++)
			rnd[i] = (unsigned char)(now_ns() >> (i * 5));
	for (size_t i = 0; i < sizeof(rnd); i++)
		suffix[i] = alphabet[rnd[i] % 32];
	suffix[6] = '\0';
	if (alen > 24)
		alen = 24;
	return xasprintf("%.*s-%s", (int)alen, agent, suffix);
}

static int mkdir_owned(const char *path, mode_t mode, uid_t uid, gid_t gid,
		       struct error *err)
{
	if (mkdir(path, mode) < 0 && errno != EEXIST)
		return err_sys(err, errno, "mkdir %s", path);
	if (uid != (uid_t)-1 && chown(path, uid, gid) < 0)
		return err_sys(err, errno, "chown %s", path);
	return 0;
}

int state_create(const struct plan *p, const struct bottle_meta *m,
		 struct error *err)
{
	_cleanup_free_ char *parent = xstrdup(p->state_dir);
	_cleanup_free_ char *tmp = NULL, *sub = NULL;
	uid_t uid = p->host_uid == getuid() ? (uid_t)-1 : p->host_uid;
	char *slash = strrchr(parent, '/');
	int r;

	if (slash)
		*slash = '\0';
	if ((r = mkdir_p(parent, 0700, err)) < 0)
		return r;
	/* Built under a hidden name and renamed into place: a state dir
	 * that `ls` or `cleanup` can see always has its meta.json. */
	tmp = xasprintf("%s/.%s.new", parent, p->id);
	if (mkdir(tmp, 0700) < 0)
		return err_sys(err, errno, "mkdir %s", tmp);
	sub = xasprintf("%s/home", tmp);
	if ((r = mkdir_owned(sub, 0700, uid, p->host_gid, err)) < 0)
		goto fail;
	free(sub);
	sub = xasprintf("%s/logs", tmp);
	if ((r = mkdir_owned(sub, 0700, (uid_t)-1, 0, err)) < 0)
		goto fail;
	free(sub);
	sub = xasprintf("%s/run", tmp);
	if ((r = mkdir_owned(sub, 0700, (uid_t)-1, 0, err)) < 0 ||
	    (r = meta_save(tmp, m, err)) < 0)
		goto fail;
	if (rename(tmp, p->state_dir) < 0) {
		r = errno == EEXIST || errno == ENOTEMPTY
			? err_set(err, EEXIST, "bottle %s already exists",
				  p->id)
			: err_sys(err, errno, "creating %s", p->state_dir);
		goto fail;
	}
	return 0;
fail:
	if (rm_rf(tmp, &(struct error)ERROR_INIT) < 0)
		log_debug("could not remove %s", tmp);
	return r;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int state_list(const char *state_home, char ***ids, size_t *n,
	       struct error *err)
{
	DIR *d = opendir(state_home);
	struct dirent *e;
	char **v = NULL;
	size_t k = 0, alloc = 0;

	*ids = NULL;
	*n = 0;
	if (!d) {
		if (errno == ENOENT) {
			*ids = xcalloc(1, sizeof(char *));
			return 0;
		}
		return err_sys(err, errno, "opening %s", state_home);
	}
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || e->d_type != DT_DIR)
			continue;
		ALLOC_GROW(v, k + 2, alloc);
		v[k++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (!v)
		v = xcalloc(1, sizeof(char *));
	v[k] = NULL;
	qsort(v, k, sizeof(char *), cmp_str);
	*ids = v;
	*n = k;
	return 0;
}

int state_resolve(const char *state_home, const char *name, char **id,
		  struct error *err)
{
	char **ids;
	size_t n, hits = 0, hit = 0;
	int r;

	if (!*name || strchr(name, '/') || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return err_set(err, EINVAL, "invalid bottle id \"%s\"", name);
	if ((r = state_list(state_home, &ids, &n, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(ids[i], name) == 0) {
			hits = 1;
			hit = i;
			break;
		}
		if (str_has_prefix(ids[i], name)) {
			hits++;
			hit = i;
		}
	}
	if (hits == 1)
		*id = xstrdup(ids[hit]);
	strv_free(ids);
	if (hits == 0)
		return err_set(err, ENOENT,
			       "no bottle \"%s\" (see `bottle ls`)", name);
	if (hits > 1)
		return err_set(
		    err, EINVAL,
		    "\"%s\" matches %zu bottles; give more of the id", name,
		    hits);
	return 0;
}
