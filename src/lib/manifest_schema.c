/* The manifest schema: one table of keys per YAML map, each naming the
 * node kinds it accepts and the function that stores and validates its
 * value (STYLE rule 24).  docs/manifest.md is the reference for users; keep
 * the two in step.
 *
 * This file has the top level, agents and the simpler bottle sections;
 * egress and git are in manifest_egress.c.  Validation here is about what
 * a user can get wrong in a file; the backends still check what they rely
 * on for isolation.
 */
#include "manifest_schema.h"

#include "util.h"

#include <ctype.h>
#include <limits.h>

#define PIDS_MAX 4194304 /* the kernel's PID_MAX_LIMIT */
#define CPUS_MAX 100000

/* ---- validators -------------------------------------------------------- */

/* Absolute, and no ".." component that could climb out of where the
 * backend means to put it. */
static bool target_ok(const char *s)
{
	const char *p;

	if (s[0] != '/')
		return false;
	for (p = s; (p = strstr(p, "..")) != NULL; p += 2)
		if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
			return false;
	return true;
}

static void list_names(char *buf, size_t size, const void *arr, size_t n,
		       size_t stride)
{
	size_t i, o = 0;

	snprintf(buf, size, "none");
	for (i = 0; i < n && o < size; i++) {
		const char *name =
		    *(char *const *)((const char *)arr + i * stride);
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "",
				      name);
	}
}

/* ---- agents ------------------------------------------------------------ */

static int agent_command(struct mctx *c, yaml_node_t *n, void *obj)
{
	static const char what[] = "a command such as [claude, --verbose]";
	struct agent_def *a = obj;
	int r;

	if (n->type == YAML_SCALAR_NODE) {
		/* A single string is argv[0] alone: never split on spaces. */
		a->command = xcalloc(2, sizeof(*a->command));
		a->n_command = 1;
		return m_nonempty(c, n, what, &a->command[0]);
	}
	r = m_string_list(c, n, W_STRING, NULL, &a->command, &a->n_command);
	if (r == 0 && !a->n_command)
		return m_fail(c, n, "expected %s, got an empty list", what);
	if (r == 0 && !a->command[0][0])
		return m_fail(c, n, "expected %s, got an empty argv[0]", what);
	return r;
}

static int agent_prompt(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_string(c, n, W_STRING, &((struct agent_def *)obj)->prompt);
}

static int agent_skills(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct agent_def *a = obj;

	return m_string_list(c, n, W_PATH, m_resolve, &a->skills, &a->n_skills);
}

static int agent_bottle(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct agent_def *a = obj;
	int r = m_check(c, n, "a bottle name", m_name_ok, &a->bottle);

	if (r == 0)
		c->agent_bottle_pos[a - c->m->agents] = m_pos(n);
	return r;
}

static const struct mfield agent_fields[] = {
    {"command", MK_SCALAR | MK_SEQ, "a command such as [claude, --verbose]",
     agent_command},
    {"prompt", MK_SCALAR, W_STRING, agent_prompt},
    {"skills", MK_SEQ, "a list of paths", agent_skills},
    {"bottle", MK_SCALAR, "a bottle name", agent_bottle},
};

static int entry_name(struct mctx *c, yaml_node_t *k, const char *kind,
		      char **out)
{
	const char *s;
	int r = m_scalar(c, k, kind, &s);

	if (r < 0)
		return r;
	if (!m_name_ok(s))
		return m_fail(c, k,
			      "invalid %s %s; expected letters, digits, '.', "
			      "'_' and '-' (at most %d, starting with a letter "
			      "or digit)",
			      kind, m_quote(c, s), NAME_MAX_LEN);
	*out = xstrdup(s);
	return 0;
}

static int agent_entry(struct mctx *c, yaml_node_t *k, yaml_node_t *v, size_t i,
		       void *obj)
{
	struct agent_def *a = &((struct manifest *)obj)->agents[i];
	size_t old;
	int r = entry_name(c, k, "agent name", &a->name);

	if (r < 0)
		return r;
	a->pos = m_pos(k);
	old = m_push(c, "%s", a->name);
	r = m_walk_map(c, v, agent_fields, ARRAY_SIZE(agent_fields), a);
	if (r == 0 && !a->n_command)
		r = m_fail_at(c, a->pos,
			      "missing required key \"command\" (the program "
			      "to run, e.g. command: [claude])");
	m_pop(c, old);
	return r;
}

static int root_agents(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct manifest *m = obj;

	m->agents = xcalloc(m_count(n), sizeof(*m->agents));
	m->n_agents = m_count(n);
	c->agent_bottle_pos = xcalloc(m_count(n), sizeof(struct srcpos));
	return m_each_pair(c, n, agent_entry, m);
}

/* ---- bottles: env, mounts, limits --------------------------------------- */

static int env_entry(struct mctx *c, yaml_node_t *k, yaml_node_t *v, size_t i,
		     void *obj)
{
	struct kv *kv = &((struct bottle_def *)obj)->env[i];
	const char *s;
	size_t old;
	int r = m_scalar(c, k, "an environment variable name", &s);

	if (r < 0)
		return r;
	if (!m_env_name_ok(s, strlen(s)))
		return m_fail(c, k,
			      "invalid environment variable name %s; expected "
			      "letters, digits and '_', not starting with a "
			      "digit",
			      m_quote(c, s));
	kv->key = xstrdup(s);
	kv->pos = m_pos(k);
	old = m_push(c, "%s", s);
	r = m_string(c, v, "a string value (quote it: \"\" for empty)",
		     &kv->value);
	m_pop(c, old);
	return r;
}

static int bottle_env(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct bottle_def *b = obj;

	b->env = xcalloc(m_count(n), sizeof(*b->env));
	b->n_env = m_count(n);
	return m_each_pair(c, n, env_entry, b);
}

static int mount_target(struct mctx *c, yaml_node_t *n, const char *s,
			char **out)
{
	if (!target_ok(s))
		return m_fail(c, n,
			      "expected an absolute target path without "
			      "\"..\", got %s",
			      m_quote(c, s));
	free(*out);
	*out = xstrdup(s);
	return 0;
}

static int mount_mode(struct mctx *c, yaml_node_t *n, const char *s,
		      bool *readonly)
{
	if (strcmp(s, "ro") && strcmp(s, "rw"))
		return m_fail(c, n, "expected a mount mode ro or rw, got %s",
			      m_quote(c, s));
	*readonly = !strcmp(s, "ro");
	return 0;
}

/* "SRC:DST" or "SRC:DST:MODE"; paths with ':' need the map form. */
static int mount_string(struct mctx *c, yaml_node_t *n, struct mount_spec *ms)
{
	_cleanup_free_ char *src = NULL, *dst = NULL;
	const char *s, *c1, *c2;
	int r = m_scalar(c, n, W_MOUNT, &s);

	if (r < 0)
		return r;
	c1 = strchr(s, ':');
	c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	if (!c1 || c1 == s || (c2 && strchr(c2 + 1, ':')))
		return m_fail(c, n,
			      "expected a mount such as \"./data:/data:ro\" "
			      "(SRC:DST[:ro|rw]), got %s",
			      m_quote(c, s));
	src = xstrndup(s, (size_t)(c1 - s));
	dst = c2 ? xstrndup(c1 + 1, (size_t)(c2 - c1 - 1)) : xstrdup(c1 + 1);
	r = mount_target(c, n, dst, &ms->target);
	if (r == 0 && c2)
		r = mount_mode(c, n, c2 + 1, &ms->readonly);
	if (r == 0)
		r = m_resolve(c, n, src, &ms->source);
	return r;
}

static int mount_source(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_path(c, n, &((struct mount_spec *)obj)->source);
}

static int mount_target_field(struct mctx *c, yaml_node_t *n, void *obj)
{
	const char *s;
	int r = m_scalar(c, n, "an absolute path", &s);

	return r < 0
		   ? r
		   : mount_target(c, n, s, &((struct mount_spec *)obj)->target);
}

static int mount_mode_field(struct mctx *c, yaml_node_t *n, void *obj)
{
	const char *s;
	int r = m_scalar(c, n, "ro or rw", &s);

	return r < 0
		   ? r
		   : mount_mode(c, n, s, &((struct mount_spec *)obj)->readonly);
}

static int mount_optional(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_bool(c, n, &((struct mount_spec *)obj)->optional);
}

static const struct mfield mount_fields[] = {
    {"source", MK_SCALAR, W_PATH, mount_source},
    {"target", MK_SCALAR, "an absolute path", mount_target_field},
    {"mode", MK_SCALAR, "ro or rw", mount_mode_field},
    {"optional", MK_SCALAR, W_BOOL, mount_optional},
};

static int mount_item(struct mctx *c, yaml_node_t *n, size_t i, void *obj)
{
	struct mount_spec *ms = &((struct bottle_def *)obj)->mounts[i];
	int r;

	ms->pos = m_pos(n);
	ms->readonly = true;
	if (n->type == YAML_SCALAR_NODE && !m_is_null(n))
		return mount_string(c, n, ms);
	if (n->type != YAML_MAPPING_NODE)
		return m_fail(c, n, "expected %s, got %s", W_MOUNT,
			      m_kind(c, n));
	r = m_walk_map(c, n, mount_fields, ARRAY_SIZE(mount_fields), ms);
	if (r == 0)
		r = m_require(c, n, ms->source, "source", "the host path");
	if (r == 0)
		r = m_require(c, n, ms->target, "target",
			      "the absolute path inside the bottle");
	return r;
}

static int bottle_mounts(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct bottle_def *b = obj;

	b->mounts = xcalloc(m_count(n), sizeof(*b->mounts));
	b->n_mounts = m_count(n);
	return m_each_item(c, n, mount_item, b);
}

static int limits_memory(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_size(c, n, &((struct limits *)obj)->memory);
}

static int limits_tmp(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_size(c, n, &((struct limits *)obj)->tmp_size);
}

static int limits_pids(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_uint(c, n, PIDS_MAX, &((struct limits *)obj)->pids);
}

/* "2", "0.5", "1.25": at most three decimals, stored in thousandths. */
static int limits_cpus(struct mctx *c, yaml_node_t *n, void *obj)
{
	const char *s, *p;
	uint64_t whole = 0, milli = 0, scale = 100;
	int r = m_scalar(c, n, "a number of CPUs", &s);

	if (r < 0)
		return r;
	for (p = s; isdigit((unsigned char)*p) && whole <= CPUS_MAX; p++)
		whole = whole * 10 + (uint64_t)(*p - '0');
	if (p != s && *p == '.' && isdigit((unsigned char)p[1]))
		for (p++; isdigit((unsigned char)*p) && scale; p++, scale /= 10)
			milli += (uint64_t)(*p - '0') * scale;
	if (p == s || *p || whole > CPUS_MAX || whole * 1000 + milli == 0)
		return m_fail(c, n,
			      "expected a positive number of CPUs such as 2 "
			      "or 0.5 (at most 3 decimals), got %s",
			      m_quote(c, s));
	((struct limits *)obj)->cpus_milli = whole * 1000 + milli;
	return 0;
}

static const struct mfield limits_fields[] = {
    {"memory", MK_SCALAR, W_SIZE, limits_memory},
    {"pids", MK_SCALAR, W_COUNT, limits_pids},
    {"cpus", MK_SCALAR, "a number of CPUs such as 2 or 0.5", limits_cpus},
    {"tmp", MK_SCALAR, W_SIZE, limits_tmp},
};

static int bottle_limits(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_walk_map(c, n, limits_fields, ARRAY_SIZE(limits_fields),
			  &((struct bottle_def *)obj)->limits);
}

/* ---- bottles: supervise, vm, docker ---------------------------------------
 */

static int supervise_enabled(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_bool(c, n, &((struct bottle_def *)obj)->supervise);
}

static int supervise_timeout(struct mctx *c, yaml_node_t *n, void *obj)
{
	uint64_t v;
	int r = m_uint(c, n, UINT_MAX, &v);

	if (r == 0)
		((struct bottle_def *)obj)->supervise_timeout = (unsigned)v;
	return r;
}

static const struct mfield supervise_fields[] = {
    {"enabled", MK_SCALAR, W_BOOL, supervise_enabled},
    {"timeout", MK_SCALAR, "a number of seconds", supervise_timeout},
};

static int bottle_supervise(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct bottle_def *b = obj;

	if (n->type == YAML_SCALAR_NODE)
		return m_bool(c, n, &b->supervise);
	b->supervise = true; /* a map turns it on unless enabled: false */
	return m_walk_map(c, n, supervise_fields, ARRAY_SIZE(supervise_fields),
			  b);
}

static int vm_kernel(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_path(c, n, &((struct vm_opts *)obj)->kernel);
}

static int vm_accel(struct mctx *c, yaml_node_t *n, void *obj)
{
	/* Same order as enum vm_accel. */
	static const char *const set[] = {"auto", "kvm", "tcg", NULL};
	int idx, r = m_choice_index(c, n, set, "auto, kvm or tcg", &idx);

	if (r == 0)
		((struct vm_opts *)obj)->accel = (enum vm_accel)idx;
	return r;
}

static int vm_memory(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_size(c, n, &((struct vm_opts *)obj)->memory);
}

static const struct mfield vm_fields[] = {
    {"kernel", MK_SCALAR, W_PATH, vm_kernel},
    {"accel", MK_SCALAR, "auto, kvm or tcg", vm_accel},
    {"memory", MK_SCALAR, W_SIZE, vm_memory},
};

static int bottle_vm(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_walk_map(c, n, vm_fields, ARRAY_SIZE(vm_fields),
			  &((struct bottle_def *)obj)->vm);
}

static bool image_ok(const char *s)
{
	return *s && s[0] != '-' && !strpbrk(s, " \t\r\n");
}

static int docker_image(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_check(c, n, "an image reference such as debian:stable",
		       image_ok, &((struct docker_opts *)obj)->image);
}

static int docker_engine(struct mctx *c, yaml_node_t *n, void *obj)
{
	static const char *const set[] = {"docker", "podman", NULL};

	return m_choice(c, n, set, "docker or podman",
			&((struct docker_opts *)obj)->engine);
}

static const struct mfield docker_fields[] = {
    {"image", MK_SCALAR, "an image reference", docker_image},
    {"engine", MK_SCALAR, "docker or podman", docker_engine},
};

static int bottle_docker(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_walk_map(c, n, docker_fields, ARRAY_SIZE(docker_fields),
			  &((struct bottle_def *)obj)->docker);
}

/* ---- bottles ------------------------------------------------------------ */

static int bottle_backend(struct mctx *c, yaml_node_t *n, void *obj)
{
	static const char *const set[] = {"ns", "vm", "docker", "smolvm", NULL};

	return m_choice(c, n, set, "a backend: ns, vm, docker or smolvm",
			&((struct bottle_def *)obj)->backend);
}

static int bottle_copy_cwd(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_bool(c, n, &((struct bottle_def *)obj)->copy_cwd);
}

static const struct mfield bottle_fields[] = {
    {"backend", MK_SCALAR, "a backend: ns, vm, docker or smolvm",
     bottle_backend},
    {"copy_cwd", MK_SCALAR, W_BOOL, bottle_copy_cwd},
    {"env", MK_MAP, "a map of NAME: value", bottle_env},
    {"mounts", MK_SEQ, "a list of mounts", bottle_mounts},
    {"limits", MK_MAP, "a map with memory, pids, cpus and tmp", bottle_limits},
    {"egress", MK_MAP,
     "a map with allow, inspect, routes, dlp, resolve "
     "and ca",
     schema_egress},
    {"git", MK_MAP, "a map with upstreams", schema_git},
    {"supervise", MK_SCALAR | MK_MAP,
     "true, false or a map with enabled and timeout", bottle_supervise},
    {"vm", MK_MAP, "a map with kernel, accel and memory", bottle_vm},
    {"docker", MK_MAP, "a map with image and engine", bottle_docker},
};

void schema_bottle_defaults(struct bottle_def *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = xstrdup(name);
	b->backend = xstrdup("ns");
	b->copy_cwd = true;
	b->egress.dlp_builtin = true;
}

static int bottle_entry(struct mctx *c, yaml_node_t *k, yaml_node_t *v,
			size_t i, void *obj)
{
	struct bottle_def *b = &((struct manifest *)obj)->bottles[i];
	_cleanup_free_ char *name = NULL;
	size_t old;
	int r = entry_name(c, k, "bottle name", &name);

	if (r < 0)
		return r;
	schema_bottle_defaults(b, name);
	b->pos = m_pos(k);
	old = m_push(c, "%s", name);
	c->bottle = b;
	r = m_walk_map(c, v, bottle_fields, ARRAY_SIZE(bottle_fields), b);
	c->bottle = NULL;
	m_pop(c, old);
	return r;
}

static int root_bottles(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct manifest *m = obj;

	m->bottles = xcalloc(m_count(n), sizeof(*m->bottles));
	m->n_bottles = m_count(n);
	return m_each_pair(c, n, bottle_entry, m);
}

/* ---- the root and cross-references ------------------------------------- */

static int root_default_agent(struct mctx *c, yaml_node_t *n, void *obj)
{
	int r = m_check(c, n, "an agent name", m_name_ok,
			&((struct manifest *)obj)->default_agent);

	c->default_agent_pos = m_pos(n);
	return r;
}

static const struct mfield root_fields[] = {
    {"agents", MK_MAP, "a map of agent names to agents", root_agents},
    {"bottles", MK_MAP, "a map of bottle names to bottles", root_bottles},
    {"default_agent", MK_SCALAR, "an agent name", root_default_agent},
};

static int resolve_agent_bottle(struct mctx *c, struct manifest *m, size_t i)
{
	struct agent_def *a = &m->agents[i];
	char names[512];
	size_t old = m_push(c, "agents.%s", a->name);
	int r = 0;

	list_names(names, sizeof(names), m->bottles, m->n_bottles,
		   sizeof(*m->bottles));
	if (!a->bottle && m->n_bottles == 1) {
		a->bottle = xstrdup(m->bottles[0].name);
	} else if (!a->bottle) {
		r = m_fail_at(c, a->pos,
			      "no bottle given and the manifest defines %zu "
			      "bottles (%s); expected bottle: NAME",
			      m->n_bottles, names);
	} else if (!manifest_bottle(m, a->bottle)) {
		m_push(c, "bottle");
		r = m_fail_at(c, c->agent_bottle_pos[i],
			      "no bottle named %s; defined bottles: %s",
			      m_quote(c, a->bottle), names);
	}
	m_pop(c, old);
	return r;
}

static int check_refs(struct mctx *c, yaml_node_t *root, struct manifest *m)
{
	char names[512];
	size_t i, old;
	int r;

	if (!m->n_agents)
		return m_fail(c, root,
			      "no agents defined; expected at least one, e.g. "
			      "agents: {claude: {command: [claude]}}");
	if (!m->n_bottles) {
		free(m->bottles); /* "bottles: {}" left an empty array */
		m->bottles = xcalloc(1, sizeof(*m->bottles));
		m->n_bottles = 1;
		schema_bottle_defaults(&m->bottles[0], "default");
	}
	for (i = 0; i < m->n_agents; i++) {
		r = resolve_agent_bottle(c, m, i);
		if (r < 0)
			return r;
	}
	if (!m->default_agent || manifest_agent(m, m->default_agent))
		return 0;
	list_names(names, sizeof(names), m->agents, m->n_agents,
		   sizeof(*m->agents));
	old = m_push(c, "default_agent");
	r = m_fail_at(c, c->default_agent_pos,
		      "no agent named %s; defined agents: %s",
		      m_quote(c, m->default_agent), names);
	m_pop(c, old);
	return r;
}

int schema_parse_root(struct mctx *c, yaml_node_t *root, struct manifest *m)
{
	int r;

	if (root->type != YAML_MAPPING_NODE)
		return m_fail(c, root,
			      "expected a map with agents, bottles and "
			      "default_agent at the top level, got %s",
			      m_kind(c, root));
	r = m_walk_map(c, root, root_fields, ARRAY_SIZE(root_fields), m);
	if (r < 0)
		return r;
	return check_refs(c, root, m);
}
