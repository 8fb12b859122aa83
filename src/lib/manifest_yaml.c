/* YAML walking helpers for the manifest schema (declared in
 * manifest_schema.h): error messages with FILE:LINE:COL and a key path,
 * map/list walkers that reject duplicate and unknown keys, scalar
 * conversions, path resolution and parse_size().
 */
#include "manifest_schema.h"

#include "log.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>

/* ---- errors and messages ---------------------------------------------- */

struct srcpos m_pos(const yaml_node_t *n)
{
	struct srcpos p = {(int)n->start_mark.line + 1,
			   (int)n->start_mark.column + 1};
	return p;
}

static int m_vfail(struct mctx *c, struct srcpos pos, const char *fmt,
		   va_list ap) __attribute__((format(printf, 3, 0)));
static int m_vfail(struct mctx *c, struct srcpos pos, const char *fmt,
		   va_list ap)
{
	char what[ERR_MSG_MAX];

	vsnprintf(what, sizeof(what), fmt, ap);
	if (c->path_len)
		return err_set(c->err, EINVAL, "%s:%d:%d: %s: %s", c->name,
			       pos.line, pos.col, c->path, what);
	return err_set(c->err, EINVAL, "%s:%d:%d: %s", c->name, pos.line,
		       pos.col, what);
}

int m_fail_at(struct mctx *c, struct srcpos pos, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = m_vfail(c, pos, fmt, ap);
	va_end(ap);
	return r;
}

int m_fail(struct mctx *c, const yaml_node_t *n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = m_vfail(c, m_pos(n), fmt, ap);
	va_end(ap);
	return r;
}

/* Quote a value for a message: printable ASCII as is, anything else as
 * \xNN, cut short with "..." so one message never drowns the others. */
static void quote_into(char *buf, size_t size, const char *s, size_t len)
{
	size_t o = 0, i;

	buf[o++] = '"';
	for (i = 0; i < len && o + 8 < size; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch == '"' || ch == '\\')
			o += (size_t)snprintf(buf + o, size - o, "\\%c", ch);
		else if (ch >= 0x20 && ch < 0x7f)
			buf[o++] = (char)ch;
		else
			o += (size_t)snprintf(buf + o, size - o, "\\x%02x", ch);
	}
	if (i < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
}

const char *m_quote(struct mctx *c, const char *s)
{
	quote_into(c->quote, sizeof(c->quote), s, strlen(s));
	return c->quote;
}

const char *m_kind(struct mctx *c, const yaml_node_t *n)
{
	if (m_is_null(n))
		return "null";
	switch (n->type) {
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a map";
	case YAML_SCALAR_NODE:
		quote_into(c->quote, sizeof(c->quote),
			   (const char *)n->data.scalar.value,
			   n->data.scalar.length);
		return c->quote;
	default:
		return "nothing";
	}
}

size_t m_push(struct mctx *c, const char *fmt, ...)
{
	size_t old = c->path_len, room = sizeof(c->path) - old;
	va_list ap;
	int w;

	if (old && room > 1 && fmt[0] != '[') {
		c->path[c->path_len++] = '.';
		room--;
	}
	va_start(ap, fmt);
	w = vsnprintf(c->path + c->path_len, room, fmt, ap);
	va_end(ap);
	if (w > 0)
		c->path_len += (size_t)w < room ? (size_t)w : room - 1;
	c->path[c->path_len] = '\0';
	return old;
}

void m_pop(struct mctx *c, size_t old)
{
	c->path_len = old;
	c->path[old] = '\0';
}

/* ---- node access ------------------------------------------------------- */

yaml_node_t *m_node(struct mctx *c, int index)
{
	yaml_node_t *n = yaml_document_get_node(c->doc, index);
	if (!n)
		BUG("yaml node %d out of range", index);
	return n;
}

bool m_is_null(const yaml_node_t *n)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE ||
	    n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return !strcmp(v, "") || !strcmp(v, "~") || !strcmp(v, "null") ||
	       !strcmp(v, "Null") || !strcmp(v, "NULL");
}

size_t m_count(const yaml_node_t *n)
{
	if (n->type == YAML_SEQUENCE_NODE)
		return (size_t)(n->data.sequence.items.top -
				n->data.sequence.items.start);
	if (n->type == YAML_MAPPING_NODE)
		return (size_t)(n->data.mapping.pairs.top -
				n->data.mapping.pairs.start);
	return 0;
}

static unsigned kind_bit(const yaml_node_t *n)
{
	switch (n->type) {
	case YAML_SCALAR_NODE:
		return MK_SCALAR;
	case YAML_SEQUENCE_NODE:
		return MK_SEQ;
	case YAML_MAPPING_NODE:
		return MK_MAP;
	default:
		return 0;
	}
}

/* ---- maps and lists ---------------------------------------------------- */

static int key_cmp(const yaml_node_t *x, const yaml_node_t *y)
{
	size_t lx = x->data.scalar.length, ly = y->data.scalar.length;
	int r = memcmp(x->data.scalar.value, y->data.scalar.value,
		       lx < ly ? lx : ly);

	if (r || lx == ly)
		return r;
	return lx < ly ? -1 : 1;
}

struct keyref {
	const yaml_node_t *key;
	size_t index;
};

static int keyref_cmp(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	int r = key_cmp(x->key, y->key);

	if (r)
		return r;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Keys must be scalars and unique.  Sorting keeps this O(n log n) on
 * hostile input; the error names the earliest repeat in the file. */
static int check_keys(struct mctx *c, yaml_node_t *n)
{
	size_t cnt = m_count(n), i, rep = SIZE_MAX;
	_cleanup_free_ struct keyref *keys = xcalloc(cnt, sizeof(*keys));
	struct srcpos was;

	for (i = 0; i < cnt; i++) {
		yaml_node_pair_t *p = n->data.mapping.pairs.start + i;
		yaml_node_t *k = m_node(c, p->key);
		if (k->type != YAML_SCALAR_NODE)
			return m_fail(c, k, "keys must be strings, got %s",
				      m_kind(c, k));
		keys[i].key = k;
		keys[i].index = i;
	}
	qsort(keys, cnt, sizeof(*keys), keyref_cmp);
	/* Within a group of equal keys, slot 0 is the first occurrence and
	 * slot 1 the first repeat. */
	for (i = 1; i < cnt; i++) {
		if (key_cmp(keys[i - 1].key, keys[i].key) != 0)
			continue;
		if (i >= 2 && key_cmp(keys[i - 2].key, keys[i].key) == 0)
			continue;
		if (rep == SIZE_MAX || keys[i].index < keys[rep].index)
			rep = i;
	}
	if (rep == SIZE_MAX)
		return 0;
	was = m_pos(keys[rep - 1].key);
	return m_fail(c, keys[rep].key,
		      "duplicate key %s (first given at line %d, column %d); "
		      "each key may appear once",
		      m_kind(c, keys[rep].key), was.line, was.col);
}

static const struct mfield *find_field(const struct mfield *f, size_t nf,
				       const yaml_node_t *k)
{
	size_t i;

	for (i = 0; i < nf; i++)
		if (strlen(f[i].key) == k->data.scalar.length &&
		    !memcmp(f[i].key, k->data.scalar.value,
			    k->data.scalar.length))
			return &f[i];
	return NULL;
}

static int unknown_key(struct mctx *c, yaml_node_t *k, const struct mfield *f,
		       size_t nf)
{
	char list[512];
	size_t i, o = 0;

	list[0] = '\0';
	for (i = 0; i < nf && o < sizeof(list); i++)
		o += (size_t)snprintf(list + o, sizeof(list) - o, "%s%s",
				      i ? ", " : "", f[i].key);
	return m_fail(c, k, "unknown key %s; expected one of: %s", m_kind(c, k),
		      list);
}

static int walk_field(struct mctx *c, const struct mfield *fd, yaml_node_t *v,
		      void *obj)
{
	size_t old = m_push(c, "%s", fd->key);
	int r = 0;

	if (m_is_null(v)) {
		if (fd->kinds & MK_SCALAR)
			r = m_fail(c, v, "expected %s, got null", fd->what);
	} else if (!(kind_bit(v) & fd->kinds)) {
		r = m_fail(c, v, "expected %s, got %s", fd->what, m_kind(c, v));
	} else {
		r = fd->parse(c, v, obj);
	}
	m_pop(c, old);
	return r;
}

struct walk_ctx {
	const struct mfield *f;
	size_t nf;
	void *obj;
};

static int walk_pair(struct mctx *c, yaml_node_t *k, yaml_node_t *v, size_t i,
		     void *arg)
{
	struct walk_ctx *w = arg;
	const struct mfield *fd = find_field(w->f, w->nf, k);

	(void)i;
	if (!fd)
		return unknown_key(c, k, w->f, w->nf);
	return walk_field(c, fd, v, w->obj);
}

int m_walk_map(struct mctx *c, yaml_node_t *n, const struct mfield *f,
	       size_t nf, void *obj)
{
	struct walk_ctx w = {f, nf, obj};
	return m_each_pair(c, n, walk_pair, &w);
}

int m_each_pair(struct mctx *c, yaml_node_t *n, m_pair_fn fn, void *obj)
{
	size_t i, cnt;
	int r;

	if (m_is_null(n))
		return 0;
	if (n->type != YAML_MAPPING_NODE)
		return m_fail(c, n, "expected a map, got %s", m_kind(c, n));
	r = check_keys(c, n);
	if (r < 0)
		return r;
	cnt = m_count(n);
	for (i = 0; i < cnt; i++) {
		yaml_node_pair_t *p = n->data.mapping.pairs.start + i;
		r = fn(c, m_node(c, p->key), m_node(c, p->value), i, obj);
		if (r < 0)
			return r;
	}
	return 0;
}

int m_each_item(struct mctx *c, yaml_node_t *n, m_item_fn fn, void *obj)
{
	size_t i, cnt, old;
	int r;

	if (m_is_null(n))
		return 0;
	if (n->type != YAML_SEQUENCE_NODE)
		return m_fail(c, n, "expected a list, got %s", m_kind(c, n));
	cnt = m_count(n);
	for (i = 0; i < cnt; i++) {
		old = m_push(c, "[%zu]", i);
		r = fn(c, m_node(c, n->data.sequence.items.start[i]), i, obj);
		m_pop(c, old);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- scalars ----------------------------------------------------------- */

int m_scalar(struct mctx *c, yaml_node_t *n, const char *what, const char **out)
{
	const char *v = (const char *)n->data.scalar.value;

	if (n->type != YAML_SCALAR_NODE || m_is_null(n))
		return m_fail(c, n, "expected %s, got %s", what, m_kind(c, n));
	/* A "\0" escape would silently cut every C string we make. */
	if (strlen(v) != n->data.scalar.length)
		return m_fail(c, n, "expected %s, got a string with a NUL byte",
			      what);
	*out = v;
	return 0;
}

int m_string(struct mctx *c, yaml_node_t *n, const char *what, char **out)
{
	const char *s;
	int r = m_scalar(c, n, what, &s);

	if (r < 0)
		return r;
	free(*out);
	*out = xstrdup(s);
	return 0;
}

int m_bool(struct mctx *c, yaml_node_t *n, bool *out)
{
	static const char *const yes[] = {"true", "yes"}, *const no[] = {
							      "false", "no"};
	const char *s;
	size_t i;
	int r = m_scalar(c, n, "true or false", &s);

	if (r < 0)
		return r;
	for (i = 0; i < ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return m_fail(c, n, "expected true or false (or yes/no), got %s",
		      m_quote(c, s));
}

int m_size(struct mctx *c, yaml_node_t *n, uint64_t *out)
{
	static const char what[] = "a size such as 512M or 4G";
	const char *s;
	uint64_t v;
	int r = m_scalar(c, n, what, &s);

	if (r < 0)
		return r;
	if (parse_size(s, &v) < 0)
		return m_fail(c, n, "expected %s, got %s", what, m_quote(c, s));
	if (v == 0)
		return m_fail(c, n, "expected %s, got zero", what);
	*out = v;
	return 0;
}

int m_uint(struct mctx *c, yaml_node_t *n, uint64_t max, uint64_t *out)
{
	const char *s, *p;
	uint64_t v = 0;
	int r = m_scalar(c, n, "a positive whole number", &s);

	if (r < 0)
		return r;
	for (p = s; isdigit((unsigned char)*p); p++) {
		v = v * 10 + (uint64_t)(*p - '0');
		if (v > max)
			return m_fail(c, n,
				      "expected a positive whole number up to "
				      "%llu, got %s",
				      (unsigned long long)max, m_quote(c, s));
	}
	if (*p || p == s || v == 0)
		return m_fail(c, n, "expected a positive whole number, got %s",
			      m_quote(c, s));
	*out = v;
	return 0;
}

char *m_path_join(const char *base, const char *rel)
{
	size_t bl = strlen(base);

	while (rel[0] == '.' && (rel[1] == '/' || rel[1] == '\0')) {
		rel += rel[1] ? 2 : 1;
		while (*rel == '/')
			rel++;
	}
	while (bl > 1 && base[bl - 1] == '/')
		bl--;
	if (!*rel)
		return xstrndup(base, bl);
	if (bl == 1 && base[0] == '/')
		bl = 0;
	return xasprintf("%.*s/%s", (int)bl, base, rel);
}

int m_resolve(struct mctx *c, yaml_node_t *n, const char *s, char **out)
{
	const char *home;

	if (!*s)
		return m_fail(c, n, "expected a path, got an empty string");
	if (s[0] == '/') {
		*out = xstrdup(s);
		return 0;
	}
	if (s[0] == '~' && (s[1] == '/' || s[1] == '\0')) {
		home = getenv("HOME");
		if (!home || home[0] != '/')
			return m_fail(c, n,
				      "cannot expand %s: $HOME is not set to "
				      "an absolute path",
				      m_quote(c, s));
		*out = m_path_join(home, s[1] ? s + 2 : "");
		return 0;
	}
	*out = m_path_join(c->base_dir, s);
	return 0;
}

int m_path(struct mctx *c, yaml_node_t *n, char **out)
{
	const char *s;
	char *p = NULL;
	int r = m_scalar(c, n, "a path", &s);

	if (r < 0)
		return r;
	r = m_resolve(c, n, s, &p);
	if (r < 0)
		return r;
	free(*out);
	*out = p;
	return 0;
}

int m_string_list(struct mctx *c, yaml_node_t *n, const char *what,
		  m_str_fn conv, char ***arr, size_t *cnt)
{
	size_t i, total = m_count(n), old;
	int r = 0;

	if (n->type != YAML_SEQUENCE_NODE)
		return m_fail(c, n, "expected a list of %s, got %s", what,
			      m_kind(c, n));
	*arr = xcalloc(st_add(total, 1), sizeof(**arr));
	*cnt = total;
	for (i = 0; i < total && r == 0; i++) {
		yaml_node_t *it = m_node(c, n->data.sequence.items.start[i]);
		const char *s;
		old = m_push(c, "[%zu]", i);
		r = m_scalar(c, it, what, &s);
		if (r == 0 && conv)
			r = conv(c, it, s, &(*arr)[i]);
		else if (r == 0)
			(*arr)[i] = xstrdup(s);
		m_pop(c, old);
	}
	return r;
}

/* ---- sizes ------------------------------------------------------------- */

/* "", "B", or K/M/G/T optionally followed by "B" or "iB"; all binary. */
static int size_suffix(const char *p, uint64_t *mult)
{
	static const char units[] = "kmgt";
	const char *u;

	*mult = 1;
	if (!*p)
		return 0;
	if ((*p == 'B' || *p == 'b') && !p[1])
		return 0;
	u = strchr(units, tolower((unsigned char)*p));
	if (!u || !*u)
		return -EINVAL;
	*mult = 1ULL << (10 * (u - units + 1));
	p++;
	if (*p == 'i' || *p == 'I')
		p++;
	else if (!*p)
		return 0;
	if ((*p == 'B' || *p == 'b') && !p[1])
		return 0;
	return -EINVAL;
}

int parse_size(const char *s, uint64_t *out)
{
	uint64_t ip = 0, frac = 0, scale = 1, mult, v, add;
	const char *p = s;
	int nfrac = 0;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		uint64_t d = (uint64_t)(*p - '0');
		if (ip > (UINT64_MAX - d) / 10)
			return -EINVAL;
		ip = ip * 10 + d;
	}
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return -EINVAL;
		/* Six digits keep frac * 2^40 inside 64 bits. */
		for (; isdigit((unsigned char)*p); p++, nfrac++) {
			if (nfrac == 6)
				return -EINVAL;
			frac = frac * 10 + (uint64_t)(*p - '0');
			scale *= 10;
		}
	}
	if (size_suffix(p, &mult) < 0 || (nfrac && mult == 1))
		return -EINVAL;
	if (ip > UINT64_MAX / mult)
		return -EINVAL;
	v = ip * mult;
	add = frac * mult / scale;
	if (v > UINT64_MAX - add)
		return -EINVAL;
	*out = v + add;
	return 0;
}

/* ---- shared validators ------------------------------------------------- */

/* Agent, bottle and upstream names end up in state directories, unit
 * names and git remotes: keep them to a safe alphabet. */
bool m_name_ok(const char *s)
{
	size_t i;

	if (!isalnum((unsigned char)s[0]))
		return false;
	for (i = 1; s[i]; i++)
		if (!isalnum((unsigned char)s[i]) && !strchr("._-", s[i]))
			return false;
	return i <= NAME_MAX_LEN;
}

bool m_env_name_ok(const char *s, size_t len)
{
	size_t i;

	if (!len || isdigit((unsigned char)s[0]))
		return false;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '_')
			return false;
	return true;
}

int m_choice(struct mctx *c, yaml_node_t *n, const char *const *set,
	     const char *what, char **out)
{
	const char *s;
	int r = m_scalar(c, n, what, &s);

	if (r < 0)
		return r;
	for (; *set; set++) {
		if (!strcmp(s, *set)) {
			free(*out);
			*out = xstrdup(s);
			return 0;
		}
	}
	return m_fail(c, n, "expected %s, got %s", what, m_quote(c, s));
}

int m_choice_index(struct mctx *c, yaml_node_t *n, const char *const *set,
		   const char *what, int *idx)
{
	_cleanup_free_ char *v = NULL;
	int r = m_choice(c, n, set, what, &v), i;

	if (r < 0)
		return r;
	for (i = 0; strcmp(set[i], v); i++)
		;
	*idx = i;
	return 0;
}

int m_nonempty(struct mctx *c, yaml_node_t *n, const char *what, char **out)
{
	int r = m_string(c, n, what, out);

	if (r == 0 && !**out)
		return m_fail(c, n, "expected %s, got an empty string", what);
	return r;
}

int m_check(struct mctx *c, yaml_node_t *n, const char *what,
	    bool (*ok)(const char *), char **out)
{
	const char *s;
	int r = m_scalar(c, n, what, &s);

	if (r < 0)
		return r;
	if (!ok(s))
		return m_fail(c, n, "expected %s, got %s", what, m_quote(c, s));
	free(*out);
	*out = xstrdup(s);
	return 0;
}

int m_require(struct mctx *c, yaml_node_t *n, const void *field,
	      const char *key, const char *hint)
{
	if (field)
		return 0;
	return m_fail(c, n, "missing required key \"%s\" (%s)", key, hint);
}
