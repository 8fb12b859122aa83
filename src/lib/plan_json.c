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

static void w_s(struct json_writer *w, const char *k, const char *v)
{
	json_writer_key(w, k);
	if (v)
		json_writer_string(w, v);
	else
		json_writer_null(w);
}

static void w_i(struct json_writer *w, const char *k, uint64_t v)
{
	json_writer_key(w, k);
	json_writer_uint64(w, v);
}

static void w_v(struct json_writer *w, const char *k, char *const *v)
{
	json_writer_key(w, k);
	json_writer_begin_array(w);
	for (; v && *v; v++)
		json_writer_string(w, *v);
	json_writer_end_array(w);
}

static void w_limit(struct json_writer *w, const char *k,
		    const struct limit_plan *l)
{
	json_writer_key(w, k);
	json_writer_begin_object(w);
	w_i(w, "value", l->value);
	w_i(w, "mech", (uint64_t)l->mech);
	json_writer_end_object(w);
}

int plan_save(const struct plan *p, const char *path, struct error *err)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	int r;

	json_writer_init(&w, &sb, 0);
	json_writer_begin_object(&w);
	w_s(&w, "id", p->id);
	w_s(&w, "agent", p->agent);
	w_s(&w, "bottle", p->bottle);
	w_s(&w, "backend", p->backend);
	w_s(&w, "cwd", p->cwd);
	w_i(&w, "copy_cwd", p->copy_cwd);
	w_s(&w, "state_dir", p->state_dir);
	w_s(&w, "workspace_src", p->workspace_src);
	w_s(&w, "home_src", p->home_src);
	w_s(&w, "log_dir", p->log_dir);
	w_s(&w, "run_dir", p->run_dir);
	w_i(&w, "host_uid", p->host_uid);
	w_i(&w, "host_gid", p->host_gid);
	w_s(&w, "hostname", p->hostname);
	w_v(&w, "argv", p->argv);
	w_v(&w, "env", p->env);
	w_limit(&w, "memory", &p->memory);
	w_limit(&w, "pids", &p->pids);
	w_limit(&w, "cpu", &p->cpu);
	w_i(&w, "tmp_size", p->tmp_size);
	json_writer_key(&w, "ops");
	json_writer_begin_array(&w);
	for (size_t i = 0; i < p->n_ops; i++) {
		const struct setup_op *op = &p->ops[i];
		json_writer_begin_object(&w);
		w_i(&w, "type", (uint64_t)op->type);
		w_i(&w, "flags", op->flags);
		w_s(&w, "source", op->source);
		w_s(&w, "target", op->target);
		json_writer_key(&w, "data");
		if (op->data)
			json_writer_string_len(&w, op->data, op->data_len);
		else
			json_writer_null(&w);
		w_v(&w, "except", op->except);
		w_i(&w, "mode", op->mode);
		w_i(&w, "size", op->size);
		json_writer_end_object(&w);
	}
	json_writer_end_array(&w);
	json_writer_end_object(&w);
	r = write_file_replace(path, sb.buf, sb.len, 0600, err);
	strbuf_release(&sb);
	return r;
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

static uint64_t r_i(const struct json_value *o, const char *k)
{
	int64_t v = 0;
	json_as_int64(json_obj_get(o, k), &v);
	return (uint64_t)v;
}

static char **r_v(const struct json_value *o, const char *k, size_t *n)
{
	const struct json_value *a = json_obj_get(o, k);
	size_t len = json_array_len(a);
	char **v = xcalloc(len + 1, sizeof(char *));

	for (size_t i = 0; i < len; i++) {
		const char *s = json_as_string(json_array_get(a, i), NULL);
		v[i] = xstrdup(s ? s : "");
	}
	if (n)
		*n = len;
	return v;
}

static void r_limit(const struct json_value *o, const char *k,
		    struct limit_plan *l)
{
	const struct json_value *x = json_obj_get(o, k);
	l->value = r_i(x, "value");
	l->mech = (enum limit_mech)r_i(x, "mech");
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
	p->copy_cwd = r_i(root, "copy_cwd") != 0;
	p->state_dir = r_s(root, "state_dir", NULL);
	p->workspace_src = r_s(root, "workspace_src", NULL);
	p->home_src = r_s(root, "home_src", NULL);
	p->log_dir = r_s(root, "log_dir", NULL);
	p->run_dir = r_s(root, "run_dir", NULL);
	p->host_uid = (uid_t)r_i(root, "host_uid");
	p->host_gid = (gid_t)r_i(root, "host_gid");
	p->hostname = r_s(root, "hostname", NULL);
	p->argv = r_v(root, "argv", &p->argc);
	p->env = r_v(root, "env", &p->n_env);
	r_limit(root, "memory", &p->memory);
	r_limit(root, "pids", &p->pids);
	r_limit(root, "cpu", &p->cpu);
	p->tmp_size = r_i(root, "tmp_size");
	ops = json_obj_get(root, "ops");
	p->n_ops = json_array_len(ops);
	p->ops = xcalloc(p->n_ops ? p->n_ops : 1, sizeof(*p->ops));
	for (size_t i = 0; i < p->n_ops; i++) {
		const struct json_value *o = json_array_get(ops, i);
		struct setup_op *op = &p->ops[i];
		op->type = (enum setup_op_type)r_i(o, "type");
		op->flags = (unsigned)r_i(o, "flags");
		op->source = r_s(o, "source", NULL);
		op->target = r_s(o, "target", NULL);
		op->data = r_s(o, "data", &op->data_len);
		op->except = r_v(o, "except", NULL);
		op->mode = (mode_t)r_i(o, "mode");
		op->size = r_i(o, "size");
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
