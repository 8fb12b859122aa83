/* The manifest schema, continued: a bottle's egress and git sections,
 * with the host, header and template validators only they use.  See
 * manifest_schema.c for the rest and docs/manifest.md for the reference.
 */
#include <errno.h>
#include "manifest_schema.h"

#include "util.h"

#include <arpa/inet.h>
#include <ctype.h>

/* ---- validators -------------------------------------------------------- */

static bool port_ok(const char *p)
{
	unsigned long v = 0;

	if (!*p)
		return false;
	for (; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return false;
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 65535)
			return false;
	}
	return v > 0;
}

/* DNS-style name: dot-separated labels of letters, digits, '-' and '_'. */
static bool dns_name_ok(const char *s, size_t len)
{
	size_t i, label = 0;

	if (!len || len > 253)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] == '.') {
			if (!label)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)s[i]) || s[i] == '-' ||
			   s[i] == '_') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return label > 0;
}

/* "host", "*.suffix", "[v6]", each optionally with ":port". */
static bool host_ok(const char *s, bool wild, bool port)
{
	const char *end, *colon;
	char v6[INET6_ADDRSTRLEN + 1];
	struct in6_addr a6;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (!end || (size_t)(end - s - 1) >= sizeof(v6))
			return false;
		memcpy(v6, s + 1, (size_t)(end - s - 1));
		v6[end - s - 1] = '\0';
		if (inet_pton(AF_INET6, v6, &a6) != 1)
			return false;
		if (!end[1])
			return true;
		return port && end[1] == ':' && port_ok(end + 2);
	}
	if (wild && s[0] == '*' && s[1] == '.')
		s += 2;
	colon = strchr(s, ':');
	if (colon && (!port || !port_ok(colon + 1)))
		return false;
	return dns_name_ok(s, colon ? (size_t)(colon - s) : strlen(s));
}

int template_next(const char **p, struct template_ref *ref)
{
	const char *q = strstr(*p, "${"), *end;

	if (!q)
		return 0;
	end = strchr(q, '}');
	if (!end)
		return -1;
	ref->start = q;
	ref->end = end + 1;
	if (str_has_prefix(q + 2, "env:")) {
		ref->kind = TEMPLATE_ENV;
		ref->arg = q + 6;
	} else if (str_has_prefix(q + 2, "file:")) {
		ref->kind = TEMPLATE_FILE;
		ref->arg = q + 7;
	} else {
		return -1;
	}
	if (ref->arg > end)
		return -1;
	ref->arg_len = (size_t)(end - ref->arg);
	if (ref->kind == TEMPLATE_ENV ? !m_env_name_ok(ref->arg, ref->arg_len)
				      : ref->arg_len == 0)
		return -1;
	*p = ref->end;
	return 1;
}

/* At least one reference, and every "${" starts a valid one. */
static bool template_ok(const char *s)
{
	struct template_ref ref;
	bool any = false;
	int r;

	while ((r = template_next(&s, &ref)) > 0)
		any = true;
	return r == 0 && any;
}

/* RFC 9110 token characters, for header names. */
static bool header_name_ok(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) &&
		    !strchr("!#$%&'*+-.^_`|~", *s))
			return false;
	return true;
}

/* Hosts compare case-insensitively; store them lower-case. */
static char *lower_dup(const char *s)
{
	char *d = xstrdup(s), *p;

	for (p = d; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	return d;
}

static int conv_host(struct mctx *c, yaml_node_t *n, const char *s, char **out)
{
	if (!host_ok(s, true, true))
		return m_fail(c, n, "expected %s, got %s", W_HOST,
			      m_quote(c, s));
	*out = lower_dup(s);
	return 0;
}

/* "10.0.0.0/8" or "fd00::/8": an address range the bundle may connect to
 * (private ranges are refused unless allowed). */
static bool cidr_ok(const char *s)
{
	const char *slash = strchr(s, '/');
	char addr[INET6_ADDRSTRLEN];
	unsigned char buf[16];
	char *end;
	long bits;
	int fam;

	if (!slash || (size_t)(slash - s) >= sizeof(addr))
		return false;
	memcpy(addr, s, (size_t)(slash - s));
	addr[slash - s] = '\0';
	fam = inet_pton(AF_INET, addr, buf) == 1    ? AF_INET
	      : inet_pton(AF_INET6, addr, buf) == 1 ? AF_INET6
						    : 0;
	errno = 0;
	bits = strtol(slash + 1, &end, 10);
	return fam && slash[1] && !*end && errno == 0 && bits >= 0 &&
	       bits <= (fam == AF_INET ? 32 : 128);
}

static int conv_allow(struct mctx *c, yaml_node_t *n, const char *s, char **out)
{
	if (strchr(s, '/') && cidr_ok(s)) {
		*out = lower_dup(s);
		return 0;
	}
	if (!host_ok(s, true, true))
		return m_fail(c, n,
			      "expected %s, or an address range such as "
			      "10.0.0.0/8, got %s",
			      W_HOST, m_quote(c, s));
	*out = lower_dup(s);
	return 0;
}

static int conv_ref(struct mctx *c, yaml_node_t *n, const char *s, char **out)
{
	if (!str_has_prefix(s, "refs/") || strpbrk(s, " \t\n:?[\\^~") ||
	    strstr(s, ".."))
		return m_fail(c, n,
			      "expected a ref pattern such as "
			      "\"refs/heads/bottle/*\", got %s",
			      m_quote(c, s));
	*out = xstrdup(s);
	return 0;
}

/* ---- bottles: egress ----------------------------------------------------- */

static int egress_allow(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct egress *e = obj;

	return m_string_list(c, n, W_HOST, conv_allow, &e->allow, &e->n_allow);
}

static int egress_inspect(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct egress *e = obj;

	return m_string_list(c, n, W_HOST, conv_host, &e->inspect,
			     &e->n_inspect);
}

static int route_host(struct mctx *c, yaml_node_t *n, void *obj)
{
	const char *s;
	int r = m_scalar(c, n, W_HOST, &s);

	return r < 0 ? r
		     : conv_host(c, n, s, &((struct egress_route *)obj)->host);
}

static bool env_ok(const char *s)
{
	return m_env_name_ok(s, strlen(s));
}

static int route_header(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_check(c, n, "an HTTP header name such as Authorization",
		       header_name_ok, &((struct egress_route *)obj)->header);
}

static int route_value(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_check(c, n, W_TEMPLATE, template_ok,
		       &((struct egress_route *)obj)->value);
}

static int route_placeholder(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_check(c, n, "an environment variable name", env_ok,
		       &((struct egress_route *)obj)->placeholder_env);
}

static const struct mfield route_fields[] = {
    {"host", MK_SCALAR, W_HOST, route_host},
    {"header", MK_SCALAR, "an HTTP header name", route_header},
    {"value", MK_SCALAR, W_TEMPLATE, route_value},
    {"placeholder_env", MK_SCALAR, "an environment variable name",
     route_placeholder},
};

static int route_item(struct mctx *c, yaml_node_t *n, size_t i, void *obj)
{
	struct egress_route *rt = &((struct egress *)obj)->routes[i];
	int r;

	rt->pos = m_pos(n);
	if (n->type != YAML_MAPPING_NODE)
		return m_fail(c, n,
			      "expected a route map with host, header and "
			      "value, got %s",
			      m_kind(c, n));
	r = m_walk_map(c, n, route_fields, ARRAY_SIZE(route_fields), rt);
	if (r == 0)
		r = m_require(c, n, rt->host, "host",
			      "where to add the header");
	if (r == 0)
		r = m_require(c, n, rt->header, "header", "the header name");
	if (r == 0)
		r = m_require(c, n, rt->value, "value", W_TEMPLATE);
	return r;
}

static int egress_routes(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct egress *e = obj;

	e->routes = xcalloc(m_count(n), sizeof(*e->routes));
	e->n_routes = m_count(n);
	return m_each_item(c, n, route_item, e);
}

static int pattern_name(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_nonempty(c, n, W_STRING, &((struct dlp_pattern *)obj)->name);
}

/* NEEDSWORK: the regex is compiled (and its errors reported) by the DLP
 * stage; compiling it here too would need that stage's engine. */
static int pattern_regex(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_nonempty(c, n, "a regular expression",
			  &((struct dlp_pattern *)obj)->regex);
}

static int pattern_action(struct mctx *c, yaml_node_t *n, void *obj)
{
	static const char *const set[] = {"block", "log", NULL};
	int idx, r = m_choice_index(c, n, set, "block or log", &idx);

	if (r == 0)
		((struct dlp_pattern *)obj)->action = idx ? DLP_LOG : DLP_BLOCK;
	return r;
}

static const struct mfield pattern_fields[] = {
    {"name", MK_SCALAR, W_STRING, pattern_name},
    {"regex", MK_SCALAR, "a regular expression", pattern_regex},
    {"action", MK_SCALAR, "block or log", pattern_action},
};

static int pattern_item(struct mctx *c, yaml_node_t *n, size_t i, void *obj)
{
	struct dlp_pattern *p = &((struct egress *)obj)->patterns[i];
	int r;

	p->pos = m_pos(n);
	if (n->type != YAML_MAPPING_NODE)
		return m_fail(c, n,
			      "expected a pattern map with name, regex and "
			      "action, got %s",
			      m_kind(c, n));
	r = m_walk_map(c, n, pattern_fields, ARRAY_SIZE(pattern_fields), p);
	if (r == 0)
		r = m_require(c, n, p->name, "name", "a label for the pattern");
	if (r == 0)
		r = m_require(c, n, p->regex, "regex", "a regular expression");
	return r;
}

static int dlp_builtin(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_bool(c, n, &((struct egress *)obj)->dlp_builtin);
}

static int dlp_patterns(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct egress *e = obj;

	e->patterns = xcalloc(m_count(n), sizeof(*e->patterns));
	e->n_patterns = m_count(n);
	return m_each_item(c, n, pattern_item, e);
}

static const struct mfield dlp_fields[] = {
    {"builtin", MK_SCALAR, W_BOOL, dlp_builtin},
    {"patterns", MK_SEQ, "a list of patterns", dlp_patterns},
};

static int egress_dlp(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_walk_map(c, n, dlp_fields, ARRAY_SIZE(dlp_fields), obj);
}

static int resolve_entry(struct mctx *c, yaml_node_t *k, yaml_node_t *v,
			 size_t i, void *obj)
{
	struct kv *kv = &((struct egress *)obj)->resolve[i];
	unsigned char addr[sizeof(struct in6_addr)];
	const char *s;
	size_t old;
	int r = m_scalar(c, k, "a host name", &s);

	if (r < 0)
		return r;
	if (!host_ok(s, false, false) || s[0] == '[')
		return m_fail(c, k,
			      "expected a host name such as example.com, "
			      "got %s",
			      m_quote(c, s));
	kv->key = lower_dup(s);
	kv->pos = m_pos(k);
	old = m_push(c, "%s", kv->key);
	r = m_scalar(c, v, "an IP address", &s);
	if (r == 0 && inet_pton(AF_INET, s, addr) != 1 &&
	    inet_pton(AF_INET6, s, addr) != 1)
		r = m_fail(c, v,
			   "expected an IPv4 or IPv6 address such as 10.0.0.1 "
			   "or fd00::1, got %s",
			   m_quote(c, s));
	if (r == 0)
		kv->value = xstrdup(s);
	m_pop(c, old);
	return r;
}

static int egress_resolve(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct egress *e = obj;

	e->resolve = xcalloc(m_count(n), sizeof(*e->resolve));
	e->n_resolve = m_count(n);
	return m_each_pair(c, n, resolve_entry, e);
}

static int egress_ca(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_path(c, n, &((struct egress *)obj)->ca_file);
}

static const struct mfield egress_fields[] = {
    {"allow", MK_SEQ, "a list of hosts", egress_allow},
    {"inspect", MK_SEQ, "a list of hosts", egress_inspect},
    {"routes", MK_SEQ, "a list of routes", egress_routes},
    {"dlp", MK_MAP, "a map with builtin and patterns", egress_dlp},
    {"resolve", MK_MAP, "a map of host: IP address", egress_resolve},
    {"ca", MK_SCALAR, W_PATH, egress_ca},
};

int schema_egress(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_walk_map(c, n, egress_fields, ARRAY_SIZE(egress_fields),
			  &((struct bottle_def *)obj)->egress);
}

/* ---- bottles: git ----------------------------------------------------------
 */

static int upstream_name(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct git_upstream *u = obj;
	struct git_upstream *prev = c->bottle->upstreams;
	int r = m_check(c, n, "an upstream name such as origin", m_name_ok,
			&u->name);

	for (; r == 0 && prev < u; prev++)
		if (prev->name && !strcmp(prev->name, u->name))
			return m_fail(c, n,
				      "duplicate upstream name %s (first "
				      "given at line %d); names must be unique",
				      m_quote(c, u->name), prev->pos.line);
	return r;
}

/* Only transports that move data: git's "ext::" runs arbitrary commands
 * and a leading '-' would be read as an option. */
static bool url_ok(const char *s)
{
	static const char *const schemes[] = {"https://", "ssh://",
					      "git+ssh://", "file://"};
	const char *colon = strchr(s, ':'), *slash = strchr(s, '/');
	size_t i;

	if (!*s || s[0] == '-')
		return false;
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c <= ' ' || *c == 0x7f)
			return false;
	for (i = 0; i < ARRAY_SIZE(schemes); i++)
		if (str_has_prefix(s, schemes[i]))
			return s[strlen(schemes[i])] != '\0';
	if (s[0] == '/')
		return true;
	/* scp-like [user@]host:path: a ':' before any '/'. */
	return colon && colon != s && colon[1] && (!slash || colon < slash) &&
	       !strstr(s, "::");
}

static int upstream_url(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_check(c, n,
		       "an ssh, https or file URL such as "
		       "git@github.com:me/app.git",
		       url_ok, &((struct git_upstream *)obj)->url);
}

static int upstream_identity(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_path(c, n, &((struct git_upstream *)obj)->identity);
}

static int upstream_token(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_check(c, n, W_TEMPLATE, template_ok,
		       &((struct git_upstream *)obj)->token);
}

static int upstream_push(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct git_upstream *u = obj;

	return m_string_list(c, n, "a ref pattern", conv_ref, &u->push,
			     &u->n_push);
}

static int upstream_force(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_bool(c, n, &((struct git_upstream *)obj)->allow_force);
}

static int upstream_delete(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_bool(c, n, &((struct git_upstream *)obj)->allow_delete);
}

static const struct mfield upstream_fields[] = {
    {"name", MK_SCALAR, "an upstream name", upstream_name},
    {"url", MK_SCALAR, "a git URL", upstream_url},
    {"identity", MK_SCALAR, W_PATH, upstream_identity},
    {"token", MK_SCALAR, W_TEMPLATE, upstream_token},
    {"push", MK_SEQ, "a list of ref patterns", upstream_push},
    {"allow_force", MK_SCALAR, W_BOOL, upstream_force},
    {"allow_delete", MK_SCALAR, W_BOOL, upstream_delete},
};

static int upstream_item(struct mctx *c, yaml_node_t *n, size_t i, void *obj)
{
	struct git_upstream *u = &((struct bottle_def *)obj)->upstreams[i];
	int r;

	u->pos = m_pos(n);
	if (n->type != YAML_MAPPING_NODE)
		return m_fail(c, n,
			      "expected an upstream map with name and url, "
			      "got %s",
			      m_kind(c, n));
	r = m_walk_map(c, n, upstream_fields, ARRAY_SIZE(upstream_fields), u);
	if (r == 0)
		r = m_require(c, n, u->name, "name", "e.g. origin");
	if (r == 0)
		r = m_require(c, n, u->url, "url", "where to push");
	return r;
}

static int git_upstreams(struct mctx *c, yaml_node_t *n, void *obj)
{
	struct bottle_def *b = obj;

	b->upstreams = xcalloc(m_count(n), sizeof(*b->upstreams));
	b->n_upstreams = m_count(n);
	return m_each_item(c, n, upstream_item, b);
}

static const struct mfield git_fields[] = {
    {"upstreams", MK_SEQ, "a list of upstreams", git_upstreams},
};

int schema_git(struct mctx *c, yaml_node_t *n, void *obj)
{
	return m_walk_map(c, n, git_fields, ARRAY_SIZE(git_fields), obj);
}
