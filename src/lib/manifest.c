/* The manifest: loading, the built-in default, lookup and freeing.  The
 * schema (which keys exist and what they hold) is in manifest_schema.c and
 * manifest_egress.c; the YAML walking helpers in manifest_yaml.c.
 *
 * libyaml's document API gives every node its start mark, which is what
 * lets every error cite FILE:LINE:COL.  The document API neither rejects
 * duplicate keys nor expands aliases, so both are checked: duplicates per
 * map (manifest_yaml.c), and aliases once per document here (a node
 * referenced twice would let "billion laughs" input make the walk
 * exponential, and a recursive alias would make it endless).
 */
#include "manifest.h"

#include "log.h"
#include "manifest_schema.h"
#include "util.h"

#include <fcntl.h>
#include <stdarg.h>
#include <sys/stat.h>

/* Larger files are certainly not hand-written manifests. */
#define MANIFEST_MAX_BYTES (1024 * 1024)

/* ---- loading ----------------------------------------------------------- */

static void offset_to_pos(const char *buf, size_t len, size_t off,
			  struct srcpos *pos)
{
	size_t i;

	pos->line = 1;
	pos->col = 1;
	for (i = 0; i < off && i < len; i++) {
		if (buf[i] == '\n') {
			pos->line++;
			pos->col = 1;
		} else {
			pos->col++;
		}
	}
}

static int syntax_error(yaml_parser_t *p, const char *name, const char *buf,
			size_t len, struct error *err)
{
	struct srcpos pos = {(int)p->problem_mark.line + 1,
			     (int)p->problem_mark.column + 1};
	const char *problem = p->problem ? p->problem : "unknown error";

	if (p->error == YAML_MEMORY_ERROR)
		return err_set(err, ENOMEM, "%s: out of memory parsing YAML",
			       name);
	if (p->error == YAML_READER_ERROR)
		offset_to_pos(buf, len, p->problem_offset, &pos);
	if (p->context)
		return err_set(err, EINVAL,
			       "%s:%d:%d: invalid YAML: %s (%s at line %d, "
			       "column %d)",
			       name, pos.line, pos.col, problem, p->context,
			       (int)p->context_mark.line + 1,
			       (int)p->context_mark.column + 1);
	return err_set(err, EINVAL, "%s:%d:%d: invalid YAML: %s", name,
		       pos.line, pos.col, problem);
}

static int add_ref(struct mctx *c, unsigned char *refs, int j)
{
	if (refs[j - 1]++)
		return m_fail(c, m_node(c, j),
			      "YAML aliases (*name) are not supported; write "
			      "the value out in full");
	return 0;
}

/* Reject any node referenced twice (aliases) or the root referenced at all
 * (a recursive alias).  See the comment at the top of the file. */
static int check_aliases(struct mctx *c)
{
	size_t total = (size_t)(c->doc->nodes.top - c->doc->nodes.start), i;
	_cleanup_free_ unsigned char *refs = xcalloc(total, 1);
	yaml_node_t *n;
	int r = 0;

	refs[0] = 1; /* the root */
	for (n = c->doc->nodes.start; n < c->doc->nodes.top && !r; n++) {
		size_t cnt = m_count(n);
		for (i = 0; i < cnt && !r; i++) {
			if (n->type == YAML_SEQUENCE_NODE) {
				r = add_ref(c, refs,
					    n->data.sequence.items.start[i]);
				continue;
			}
			r = add_ref(c, refs,
				    n->data.mapping.pairs.start[i].key);
			if (!r)
				r = add_ref(
				    c, refs,
				    n->data.mapping.pairs.start[i].value);
		}
	}
	return r;
}

/* Only one document per file: a stray "---" usually means a paste went
 * wrong, and silently ignoring the rest would hide it. */
static int check_single_doc(yaml_parser_t *p, struct mctx *c, const char *buf,
			    size_t len)
{
	yaml_document_t next;
	yaml_node_t *root;
	int r = 0;

	if (!yaml_parser_load(p, &next))
		return syntax_error(p, c->name, buf, len, c->err);
	root = yaml_document_get_root_node(&next);
	if (root)
		r = m_fail(c, root,
			   "expected a single YAML document, found another");
	yaml_document_delete(&next);
	return r;
}

static char *abs_dir(const char *dir)
{
	_cleanup_free_ char *cwd = NULL;

	if (dir && dir[0] == '/')
		return xstrdup(dir);
	cwd = getcwd(NULL, 0);
	if (!cwd)
		return NULL;
	return m_path_join(cwd, dir ? dir : ".");
}

static int parse_doc(struct mctx *c, yaml_parser_t *p, const char *buf,
		     size_t len, struct manifest *m)
{
	yaml_node_t *root = yaml_document_get_root_node(c->doc);
	int r;

	if (!root || m_is_null(root))
		return err_set(c->err, EINVAL, "%s:1:1: manifest is empty",
			       c->name);
	r = check_single_doc(p, c, buf, len);
	if (r == 0)
		r = check_aliases(c);
	if (r == 0)
		r = schema_parse_root(c, root, m);
	return r;
}

int manifest_parse(const char *name, const char *base_dir, const char *buf,
		   size_t len, struct manifest **out, struct error *err)
{
	_cleanup_free_ char *dir = abs_dir(base_dir);
	struct mctx c = {.name = name ? name : "<manifest>", .err = err};
	yaml_parser_t p;
	yaml_document_t doc;
	struct manifest *m;
	int r;

	if (!dir)
		return err_sys(err, errno,
			       "%s: resolving the manifest's "
			       "directory",
			       c.name);
	if (!yaml_parser_initialize(&p))
		return err_set(err, ENOMEM, "%s: out of memory", c.name);
	yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
	if (!yaml_parser_load(&p, &doc)) {
		r = syntax_error(&p, c.name, buf, len, err);
		yaml_parser_delete(&p);
		return r;
	}
	m = xcalloc(1, sizeof(*m));
	c.base_dir = dir;
	c.doc = &doc;
	c.m = m;
	r = parse_doc(&c, &p, buf, len, m);
	free(c.agent_bottle_pos);
	yaml_document_delete(&doc);
	yaml_parser_delete(&p);
	if (r < 0) {
		manifest_free(m);
		return r;
	}
	m->path = name ? xstrdup(name) : NULL;
	*out = m;
	return 0;
}

static int read_file(const char *path, char **buf, size_t *len,
		     struct error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	_cleanup_free_ char *b = NULL;
	struct stat st;
	size_t n = 0;
	ssize_t got;

	if (fd < 0 || fstat(fd, &st) < 0)
		return err_sys(err, errno, "%s", path);
	if (!S_ISREG(st.st_mode))
		return err_set(err, EINVAL, "%s: not a regular file", path);
	if (st.st_size > MANIFEST_MAX_BYTES)
		return err_set(err, EFBIG, "%s: larger than %d bytes", path,
			       MANIFEST_MAX_BYTES);
	b = xmalloc((size_t)MANIFEST_MAX_BYTES + 1);
	while ((got = read(fd, b + n, MANIFEST_MAX_BYTES + 1 - n)) != 0) {
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return err_sys(err, errno, "%s: read", path);
		n += (size_t)got;
		if (n > MANIFEST_MAX_BYTES)
			return err_set(err, EFBIG, "%s: larger than %d bytes",
				       path, MANIFEST_MAX_BYTES);
	}
	b[n] = '\0';
	*buf = steal_ptr(&b);
	*len = n;
	return 0;
}

int manifest_load(const char *path, struct manifest **out, struct error *err)
{
	_cleanup_free_ char *buf = NULL, *dir = NULL;
	const char *slash = strrchr(path, '/');
	size_t len = 0;
	int r;

	r = read_file(path, &buf, &len, err);
	if (r < 0)
		return r;
	/* The directory as written, not through symlinks: "./skills" next
	 * to a symlinked manifest means next to the link. */
	if (!slash)
		dir = xstrdup(".");
	else if (slash == path)
		dir = xstrdup("/");
	else
		dir = xstrndup(path, (size_t)(slash - path));
	return manifest_parse(path, dir, buf, len, out, err);
}

/* ---- the default, lookup, freeing -------------------------------------- */

static char **dup_strv(char *const *v, size_t n);

struct manifest *manifest_default(const char *token_env)
{
	static const char *const allow[] = {"api.anthropic.com",
					    "registry.npmjs.org"};
	struct manifest *m = xcalloc(1, sizeof(*m));
	struct egress *e;
	struct agent_def *a;

	m->agents = a = xcalloc(1, sizeof(*a));
	m->n_agents = 1;
	a->name = xstrdup("claude");
	a->command = xcalloc(2, sizeof(*a->command));
	a->command[0] = xstrdup("claude");
	a->n_command = 1;
	a->bottle = xstrdup("default");
	m->bottles = xcalloc(1, sizeof(*m->bottles));
	m->n_bottles = 1;
	schema_bottle_defaults(&m->bottles[0], "default");
	e = &m->bottles[0].egress;
	e->allow = dup_strv((char *const *)allow, ARRAY_SIZE(allow));
	e->n_allow = ARRAY_SIZE(allow);
	e->routes = xcalloc(2, sizeof(*e->routes));
	if (token_env) {
		bool oauth = !strcmp(token_env, "CLAUDE_CODE_OAUTH_TOKEN");
		e->routes[0] = (struct egress_route){
		    .host = xstrdup("api.anthropic.com"),
		    .header = xstrdup(oauth ? "Authorization" : "x-api-key"),
		    .value = xasprintf("%s${env:%s}", oauth ? "Bearer " : "",
				       token_env),
		    .placeholder_env = xstrdup(token_env),
		};
		e->n_routes = 1;
	}
	return m;
}

static char *existing(char *path)
{
	if (access(path, F_OK) == 0)
		return path;
	free(path);
	return NULL;
}

char *manifest_find(const char *explicit_path)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	char *p;

	if (explicit_path)
		return xstrdup(explicit_path);
	p = existing(xstrdup("bottle.yaml"));
	if (p)
		return p;
	/* The XDG spec says relative values are to be ignored. */
	if (xdg && xdg[0] == '/')
		return existing(xasprintf("%s/bottle/manifest.yaml", xdg));
	if (home && home[0] == '/')
		return existing(
		    xasprintf("%s/.config/bottle/manifest.yaml", home));
	return NULL;
}

const struct agent_def *manifest_agent(const struct manifest *m,
				       const char *name)
{
	size_t i;

	for (i = 0; m && name && i < m->n_agents; i++)
		if (m->agents[i].name && !strcmp(m->agents[i].name, name))
			return &m->agents[i];
	return NULL;
}

const struct bottle_def *manifest_bottle(const struct manifest *m,
					 const char *name)
{
	size_t i;

	for (i = 0; m && name && i < m->n_bottles; i++)
		if (m->bottles[i].name && !strcmp(m->bottles[i].name, name))
			return &m->bottles[i];
	return NULL;
}

static void agent_names(const struct manifest *m, char *buf, size_t size)
{
	size_t i, o = 0;

	buf[0] = '\0';
	for (i = 0; i < m->n_agents && o < size; i++)
		o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "",
				      m->agents[i].name);
}

const struct agent_def *manifest_pick_agent(const struct manifest *m,
					    const char *name, struct error *err)
{
	const char *where = m->path ? m->path : "the built-in manifest";
	const struct agent_def *a;
	char names[512];

	if (!name)
		name = m->default_agent;
	if (!name && m->n_agents == 1)
		return &m->agents[0];
	agent_names(m, names, sizeof(names));
	if (!name) {
		err_set(err, EINVAL,
			"%s defines %zu agents (%s); name the one to run or "
			"set default_agent",
			where, m->n_agents, names);
		return NULL;
	}
	a = manifest_agent(m, name);
	if (!a)
		err_set(err, ENOENT,
			"no agent named \"%s\" in %s; available: %s", name,
			where, m->n_agents ? names : "none");
	return a;
}

static void free_strv(char **v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++)
		free(v[i]);
	free(v);
}

static void free_kv(struct kv *kv, size_t n)
{
	size_t i;

	for (i = 0; kv && i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

void egress_release(struct egress *e)
{
	size_t i;

	free_strv(e->allow, e->n_allow);
	free_strv(e->inspect, e->n_inspect);
	for (i = 0; e->routes && i < e->n_routes; i++) {
		free(e->routes[i].host);
		free(e->routes[i].header);
		/* Templates name secrets rather than hold them, but a user may
		 * have pasted a literal token anyway. */
		if (e->routes[i].value)
			secure_zero(e->routes[i].value,
				    strlen(e->routes[i].value));
		free(e->routes[i].value);
		free(e->routes[i].placeholder_env);
	}
	free(e->routes);
	for (i = 0; e->patterns && i < e->n_patterns; i++) {
		free(e->patterns[i].name);
		free(e->patterns[i].regex);
	}
	free(e->patterns);
	free_kv(e->resolve, e->n_resolve);
	free(e->ca_file);
	memset(e, 0, sizeof(*e));
}

static char **dup_strv(char *const *v, size_t n)
{
	char **d = xcalloc(n + 1, sizeof(char *));

	for (size_t i = 0; i < n; i++)
		d[i] = xstrdup(v[i]);
	return d;
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

void egress_copy(struct egress *dst, const struct egress *src)
{
	size_t i;

	memset(dst, 0, sizeof(*dst));
	dst->allow = dup_strv(src->allow, src->n_allow);
	dst->n_allow = src->n_allow;
	dst->inspect = dup_strv(src->inspect, src->n_inspect);
	dst->n_inspect = src->n_inspect;
	dst->routes = xcalloc(src->n_routes + 1, sizeof(*dst->routes));
	for (i = 0; i < src->n_routes; i++) {
		const struct egress_route *r = &src->routes[i];
		dst->routes[i] = (struct egress_route){
		    dup_or_null(r->host), dup_or_null(r->header),
		    dup_or_null(r->value), dup_or_null(r->placeholder_env),
		    r->pos};
	}
	dst->n_routes = src->n_routes;
	dst->dlp_builtin = src->dlp_builtin;
	dst->patterns = xcalloc(src->n_patterns + 1, sizeof(*dst->patterns));
	for (i = 0; i < src->n_patterns; i++) {
		const struct dlp_pattern *pt = &src->patterns[i];
		dst->patterns[i] = (struct dlp_pattern){dup_or_null(pt->name),
							dup_or_null(pt->regex),
							pt->action, pt->pos};
	}
	dst->n_patterns = src->n_patterns;
	dst->resolve = xcalloc(src->n_resolve + 1, sizeof(*dst->resolve));
	for (i = 0; i < src->n_resolve; i++)
		dst->resolve[i] = (struct kv){
		    dup_or_null(src->resolve[i].key),
		    dup_or_null(src->resolve[i].value), src->resolve[i].pos};
	dst->n_resolve = src->n_resolve;
	dst->ca_file = dup_or_null(src->ca_file);
}

static void free_upstream(struct git_upstream *u)
{
	free(u->name);
	free(u->url);
	free(u->identity);
	if (u->token)
		secure_zero(u->token, strlen(u->token));
	free(u->token);
	free_strv(u->push, u->n_push);
}

struct git_upstream *upstreams_copy(const struct git_upstream *src, size_t n)
{
	struct git_upstream *d = xcalloc(n + 1, sizeof(*d));

	for (size_t i = 0; i < n; i++) {
		d[i] = src[i];
		d[i].name = dup_or_null(src[i].name);
		d[i].url = dup_or_null(src[i].url);
		d[i].identity = dup_or_null(src[i].identity);
		d[i].token = dup_or_null(src[i].token);
		d[i].push = dup_strv(src[i].push, src[i].n_push);
	}
	return d;
}

void upstreams_release(struct git_upstream *u, size_t n)
{
	for (size_t i = 0; u && i < n; i++)
		free_upstream(&u[i]);
	free(u);
}

static void free_bottle(struct bottle_def *b)
{
	size_t i;

	free(b->name);
	free(b->backend);
	free_kv(b->env, b->n_env);
	for (i = 0; b->mounts && i < b->n_mounts; i++) {
		free(b->mounts[i].source);
		free(b->mounts[i].target);
	}
	free(b->mounts);
	egress_release(&b->egress);
	upstreams_release(b->upstreams, b->n_upstreams);
	free(b->vm.kernel);
	free(b->docker.image);
	free(b->docker.engine);
}

void manifest_free(struct manifest *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; m->agents && i < m->n_agents; i++) {
		struct agent_def *a = &m->agents[i];
		free(a->name);
		free_strv(a->command, a->n_command);
		free(a->prompt);
		free_strv(a->skills, a->n_skills);
		free(a->bottle);
	}
	free(m->agents);
	for (i = 0; m->bottles && i < m->n_bottles; i++)
		free_bottle(&m->bottles[i]);
	free(m->bottles);
	free(m->default_agent);
	free(m->path);
	free(m);
}
