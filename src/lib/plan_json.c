/* plan.json: the plan a bottle was launched with, so that `bottle exec`
 * puts a command under exactly the same jail as the agent. */
#include "fsutil.h"
#include "json.h"
#include "state.h"
#include "strbuf.h"
#include "util.h"

#include <errno.h>
#include <string.h>

#define PLAN_MAX (4u << 20)

static void w_limit(struct json_writer *w, const char *k,
		    const struct limit_plan *l)
{
	json_writer_key(w, k);
	json_writer_begin_object(w);
	json_writer_kv_uint64(w, "value", l->value);
	json_writer_kv_uint64(w, "mech", (uint64_t)l->mech);
	json_writer_end_object(w);
}

int plan_save(const struct plan *p, const char *path, struct error *err)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	int r;

	json_writer_init(&w, &sb, 0);
	json_writer_begin_object(&w);
	json_writer_kv_string(&w, "id", p->id);
	json_writer_kv_string(&w, "agent", p->agent);
	json_writer_kv_string(&w, "bottle", p->bottle);
	json_writer_kv_string(&w, "backend", p->backend);
	json_writer_kv_string(&w, "cwd", p->cwd);
	json_writer_kv_uint64(&w, "copy_cwd", p->copy_cwd);
	json_writer_kv_string(&w, "state_dir", p->state_dir);
	json_writer_kv_string(&w, "workspace_src", p->workspace_src);
	json_writer_kv_string(&w, "home_src", p->home_src);
	json_writer_kv_string(&w, "log_dir", p->log_dir);
	json_writer_kv_string(&w, "run_dir", p->run_dir);
	json_writer_kv_uint64(&w, "host_uid", p->host_uid);
	json_writer_kv_uint64(&w, "host_gid", p->host_gid);
	json_writer_kv_string(&w, "hostname", p->hostname);
	json_writer_kv_strv(&w, "argv", p->argv);
	json_writer_kv_strv(&w, "env", p->env);
	w_limit(&w, "memory", &p->memory);
	w_limit(&w, "pids", &p->pids);
	w_limit(&w, "cpu", &p->cpu);
	json_writer_kv_uint64(&w, "tmp_size", p->tmp_size);
	json_writer_key(&w, "ops");
	json_writer_begin_array(&w);
	for (size_t i = 0; i < p->n_ops; i++) {
		const struct setup_op *op = &p->ops[i];
		json_writer_begin_object(&w);
		json_writer_kv_uint64(&w, "type", (uint64_t)op->type);
		json_writer_kv_uint64(&w, "flags", op->flags);
		json_writer_kv_string(&w, "source", op->source);
		json_writer_kv_string(&w, "target", op->target);
		json_writer_key(&w, "data");
		if (op->data)
			json_writer_string_len(&w, op->data, op->data_len);
		else
			json_writer_null(&w);
		json_writer_kv_strv(&w, "except", op->except);
		json_writer_kv_uint64(&w, "mode", op->mode);
		json_writer_kv_uint64(&w, "size", op->size);
		json_writer_end_object(&w);
	}
	json_writer_end_array(&w);
	json_writer_end_object(&w);
	r = write_file_replace(path, sb.buf, sb.len, 0600, err);
	strbuf_release(&sb);
	return r;
}

/* plan_free() and the executor expect arrays, possibly empty. */
static char **strv_or_empty(char **v)
{
	return v ? v : xcalloc(1, sizeof(char *));
}

static char *r_s(const struct json_value *o, const char *k, size_t *len)
{
	size_t l = 0;
	const char *s = json_as_string(json_obj_get(o, k), &l);
	char *d;

	if (!s)
		return NULL;
	d = xmalloc(l + 1);
	memcpy(d, s, l);
	d[l] = '\0';
	if (len)
		*len = l;
	return d;
}

static void r_limit(const struct json_value *o, const char *k,
		    struct limit_plan *l)
{
	const struct json_value *x = json_obj_get(o, k);
	l->value = (uint64_t)json_obj_int64(x, "value");
	l->mech = (enum limit_mech)(uint64_t)json_obj_int64(x, "mech");
}

int plan_load(const char *path, struct plan **out, struct error *err)
{
	_cleanup_free_ char *buf = NULL;
	struct json_value *root = NULL;
	const struct json_value *ops;
	struct plan *p;
	size_t len;
	int r;

	if ((r = read_file(path, &buf, &len, PLAN_MAX, err)) < 0)
		return r;
	if ((r = json_parse(buf, len, &root, err)) < 0)
		return err_prefix(err, "%s", path);
	p = xcalloc(1, sizeof(*p));
	p->id = r_s(root, "id", NULL);
	p->agent = r_s(root, "agent", NULL);
	p->bottle = r_s(root, "bottle", NULL);
	p->backend = r_s(root, "backend", NULL);
	p->cwd = r_s(root, "cwd", NULL);
	p->copy_cwd = (uint64_t)json_obj_int64(root, "copy_cwd") != 0;
	p->state_dir = r_s(root, "state_dir", NULL);
	p->workspace_src = r_s(root, "workspace_src", NULL);
	p->home_src = r_s(root, "home_src", NULL);
	p->log_dir = r_s(root, "log_dir", NULL);
	p->run_dir = r_s(root, "run_dir", NULL);
	p->host_uid = (uid_t)(uint64_t)json_obj_int64(root, "host_uid");
	p->host_gid = (gid_t)(uint64_t)json_obj_int64(root, "host_gid");
	p->hostname = r_s(root, "hostname", NULL);
	p->argv = strv_or_empty(json_obj_strv(root, "argv", &p->argc));
	p->env = strv_or_empty(json_obj_strv(root, "env", &p->n_env));
	r_limit(root, "memory", &p->memory);
	r_limit(root, "pids", &p->pids);
	r_limit(root, "cpu", &p->cpu);
	p->tmp_size = (uint64_t)json_obj_int64(root, "tmp_size");
	ops = json_obj_get(root, "ops");
	p->n_ops = json_array_len(ops);
	p->ops = xcalloc(p->n_ops ? p->n_ops : 1, sizeof(*p->ops));
	for (size_t i = 0; i < p->n_ops; i++) {
		const struct json_value *o = json_array_get(ops, i);
		struct setup_op *op = &p->ops[i];
		op->type =
		    (enum setup_op_type)(uint64_t)json_obj_int64(o, "type");
		op->flags = (unsigned)(uint64_t)json_obj_int64(o, "flags");
		op->source = r_s(o, "source", NULL);
		op->target = r_s(o, "target", NULL);
		op->data = r_s(o, "data", &op->data_len);
		op->except = strv_or_empty(json_obj_strv(o, "except", NULL));
		op->mode = (mode_t)(uint64_t)json_obj_int64(o, "mode");
		op->size = (uint64_t)json_obj_int64(o, "size");
		if (!op->target || op->type > SETUP_REMOUNT_RO) {
			json_value_free(root);
			plan_free(p);
			return err_set(err, EINVAL, "%s: bad op %zu", path, i);
		}
	}
	json_value_free(root);
	if (!p->id || !p->argc) {
		plan_free(p);
		return err_set(err, EINVAL, "%s: incomplete plan", path);
	}
	*out = p;
	return 0;
}
