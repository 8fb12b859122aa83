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

static void w_egress(struct json_writer *w, const struct egress *e)
{
	size_t i;

	json_writer_key(w, "egress");
	json_writer_begin_object(w);
	json_writer_kv_strv(w, "allow", e->allow);
	json_writer_kv_strv(w, "inspect", e->inspect);
	json_writer_key(w, "routes");
	json_writer_begin_array(w);
	for (i = 0; i < e->n_routes; i++) {
		const struct egress_route *r = &e->routes[i];
		json_writer_begin_object(w);
		json_writer_kv_string(w, "host", r->host);
		json_writer_kv_string(w, "header", r->header);
		/* The template ("Bearer ${env:X}"), never the secret. */
		json_writer_kv_string(w, "value", r->value);
		json_writer_kv_string(w, "placeholder_env", r->placeholder_env);
		json_writer_end_object(w);
	}
	json_writer_end_array(w);
	json_writer_kv_bool(w, "dlp_builtin", e->dlp_builtin);
	json_writer_key(w, "patterns");
	json_writer_begin_array(w);
	for (i = 0; i < e->n_patterns; i++) {
		json_writer_begin_object(w);
		json_writer_kv_string(w, "name", e->patterns[i].name);
		json_writer_kv_string(w, "regex", e->patterns[i].regex);
		json_writer_kv_bool(w, "log", e->patterns[i].action == DLP_LOG);
		json_writer_end_object(w);
	}
	json_writer_end_array(w);
	json_writer_key(w, "resolve");
	json_writer_begin_object(w);
	for (i = 0; i < e->n_resolve; i++)
		json_writer_kv_string(w, e->resolve[i].key,
				      e->resolve[i].value);
	json_writer_end_object(w);
	json_writer_kv_string(w, "ca", e->ca_file);
	json_writer_end_object(w);
}

static void w_upstreams(struct json_writer *w, const struct plan *p)
{
	json_writer_key(w, "upstreams");
	json_writer_begin_array(w);
	for (size_t i = 0; i < p->n_upstreams; i++) {
		const struct git_upstream *u = &p->upstreams[i];
		json_writer_begin_object(w);
		json_writer_kv_string(w, "name", u->name);
		json_writer_kv_string(w, "url", u->url);
		json_writer_kv_string(w, "identity", u->identity);
		/* The template ("${env:X}"), never the secret. */
		json_writer_kv_string(w, "token", u->token);
		json_writer_kv_strv(w, "push", u->push);
		json_writer_kv_bool(w, "allow_force", u->allow_force);
		json_writer_kv_bool(w, "allow_delete", u->allow_delete);
		json_writer_end_object(w);
	}
	json_writer_end_array(w);
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
	json_writer_kv_strv(&w, "skills", p->skills);
	w_limit(&w, "memory", &p->memory);
	w_limit(&w, "pids", &p->pids);
	w_limit(&w, "cpu", &p->cpu);
	json_writer_kv_uint64(&w, "tmp_size", p->tmp_size);
	json_writer_kv_string(&w, "vm_kernel", p->vm_kernel);
	json_writer_kv_string(&w, "vm_accel", p->vm_accel);
	json_writer_kv_uint64(&w, "vm_memory", p->vm_memory);
	json_writer_kv_string(&w, "bundle_path", p->bundle_path);
	json_writer_kv_string(&w, "endpoint_addr", p->endpoint_addr);
	json_writer_kv_uint64(&w, "proxy_port", p->ports[ENDPOINT_PROXY]);
	json_writer_kv_uint64(&w, "git_port", p->ports[ENDPOINT_GIT]);
	json_writer_kv_uint64(&w, "supervise_port",
			      p->ports[ENDPOINT_SUPERVISE]);
	w_egress(&w, &p->egress);
	w_upstreams(&w, p);
	json_writer_kv_bool(&w, "supervise", p->supervise);
	json_writer_kv_uint64(&w, "supervise_timeout", p->supervise_timeout);
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

static void r_egress(const struct json_value *o, struct egress *e)
{
	const struct json_value *a;
	size_t i;

	e->allow = json_obj_strv(o, "allow", &e->n_allow);
	e->inspect = json_obj_strv(o, "inspect", &e->n_inspect);
	a = json_obj_get(o, "routes");
	e->n_routes = json_array_len(a);
	e->routes = xcalloc(e->n_routes + 1, sizeof(*e->routes));
	for (i = 0; i < e->n_routes; i++) {
		const struct json_value *r = json_array_get(a, i);
		e->routes[i].host = r_s(r, "host", NULL);
		e->routes[i].header = r_s(r, "header", NULL);
		e->routes[i].value = r_s(r, "value", NULL);
		e->routes[i].placeholder_env = r_s(r, "placeholder_env", NULL);
	}
	e->dlp_builtin = json_obj_bool(o, "dlp_builtin");
	a = json_obj_get(o, "patterns");
	e->n_patterns = json_array_len(a);
	e->patterns = xcalloc(e->n_patterns + 1, sizeof(*e->patterns));
	for (i = 0; i < e->n_patterns; i++) {
		const struct json_value *pt = json_array_get(a, i);
		e->patterns[i].name = r_s(pt, "name", NULL);
		e->patterns[i].regex = r_s(pt, "regex", NULL);
		e->patterns[i].action =
		    json_obj_bool(pt, "log") ? DLP_LOG : DLP_BLOCK;
	}
	a = json_obj_get(o, "resolve");
	e->n_resolve = json_obj_len(a);
	e->resolve = xcalloc(e->n_resolve + 1, sizeof(*e->resolve));
	for (i = 0; i < e->n_resolve; i++) {
		size_t kl = 0, vl = 0;
		const char *k = json_obj_key(a, i, &kl);
		const char *v = json_as_string(json_obj_value(a, i), &vl);
		e->resolve[i].key = xstrndup(k ? k : "", kl);
		e->resolve[i].value = xstrndup(v ? v : "", vl);
	}
	e->ca_file = r_s(o, "ca", NULL);
}

/* NULL when an upstream lacks a name or URL. */
static struct git_upstream *r_upstreams(const struct json_value *a, size_t *n)
{
	struct git_upstream *u;

	*n = json_array_len(a);
	u = xcalloc(*n + 1, sizeof(*u));
	for (size_t i = 0; i < *n; i++) {
		const struct json_value *o = json_array_get(a, i);
		u[i].name = r_s(o, "name", NULL);
		u[i].url = r_s(o, "url", NULL);
		u[i].identity = r_s(o, "identity", NULL);
		u[i].token = r_s(o, "token", NULL);
		u[i].push =
		    strv_or_empty(json_obj_strv(o, "push", &u[i].n_push));
		u[i].allow_force = json_obj_bool(o, "allow_force");
		u[i].allow_delete = json_obj_bool(o, "allow_delete");
		if (!u[i].name || !u[i].url) {
			upstreams_release(u, *n);
			*n = 0;
			return NULL;
		}
	}
	return u;
}

/* Every route and pattern field the bundle dereferences is present. */
static bool egress_complete(const struct egress *e)
{
	for (size_t i = 0; i < e->n_routes; i++)
		if (!e->routes[i].host || !e->routes[i].header ||
		    !e->routes[i].value)
			return false;
	for (size_t i = 0; i < e->n_patterns; i++)
		if (!e->patterns[i].name || !e->patterns[i].regex)
			return false;
	return true;
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
	p->skills = strv_or_empty(json_obj_strv(root, "skills", &p->n_skills));
	r_limit(root, "memory", &p->memory);
	r_limit(root, "pids", &p->pids);
	r_limit(root, "cpu", &p->cpu);
	p->tmp_size = (uint64_t)json_obj_int64(root, "tmp_size");
	p->vm_kernel = r_s(root, "vm_kernel", NULL);
	p->vm_accel = r_s(root, "vm_accel", NULL);
	p->vm_memory = (uint64_t)json_obj_int64(root, "vm_memory");
	p->bundle_path = r_s(root, "bundle_path", NULL);
	p->endpoint_addr = r_s(root, "endpoint_addr", NULL);
	if (!p->endpoint_addr) /* saved before it was recorded */
		p->endpoint_addr = xstrdup(PROXY_ADDR);
	p->ports[ENDPOINT_PROXY] = (uint16_t)json_obj_int64(root, "proxy_port");
	p->ports[ENDPOINT_GIT] = (uint16_t)json_obj_int64(root, "git_port");
	p->ports[ENDPOINT_SUPERVISE] =
	    (uint16_t)json_obj_int64(root, "supervise_port");
	r_egress(json_obj_get(root, "egress"), &p->egress);
	p->upstreams =
	    r_upstreams(json_obj_get(root, "upstreams"), &p->n_upstreams);
	p->supervise = json_obj_bool(root, "supervise");
	p->supervise_timeout =
	    (unsigned)(uint64_t)json_obj_int64(root, "supervise_timeout");
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
	if (!p->id || !p->argc || !egress_complete(&p->egress) ||
	    !p->upstreams) {
		plan_free(p);
		return err_set(err, EINVAL, "%s: incomplete plan", path);
	}
	*out = p;
	return 0;
}
