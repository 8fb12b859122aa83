#include "json.h"

#include "log.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>

struct json_member;

struct json_value {
	enum json_type type;
	union {
		bool b;
		struct {
			double d;
			int64_t i;
			bool is_int; /* the literal is exactly the integer i */
		} num;
		struct {
			const char *s;
			size_t len;
		} str;
		struct {
			struct json_value *items;
			size_t n;
		} arr;
		struct {
			struct json_member *members;
			size_t n;
		} obj;
	} u;
};

struct json_member {
	const char *key;
	size_t keylen;
	struct json_value val;
};

/* The whole tree of one json_parse() lives in a list of arena chunks, so
 * that a request's data is freed at once (STYLE rule 13) and a tree of many
 * small values costs few mallocs. */
#define ARENA_CHUNK (64 * 1024)

struct arena_chunk {
	struct arena_chunk *next;
	size_t used, size;
	max_align_t data[];
};

struct json_doc {
	struct arena_chunk *chunks;
	struct json_value root;
};

static void *arena_alloc(struct json_doc *d, size_t n)
{
	struct arena_chunk *c = d->chunks;
	void *p;

	if (n == 0)
		return NULL;
	n = st_add(n, sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
	if (!c || c->size - c->used < n) {
		bool big = n > ARENA_CHUNK / 4;
		size_t sz = big ? n : ARENA_CHUNK;

		c = xmalloc(st_add(sizeof(*c), sz));
		c->size = sz;
		c->used = 0;
		if (big && d->chunks) {
			/* keep filling the current chunk after this one */
			c->next = d->chunks->next;
			d->chunks->next = c;
		} else {
			c->next = d->chunks;
			d->chunks = c;
		}
	}
	p = (char *)c->data + c->used;
	c->used += n;
	return p;
}

void json_value_free(struct json_value *root)
{
	struct json_doc *d;
	struct arena_chunk *c;

	if (!root)
		return;
	d = (struct json_doc *)((char *)root - offsetof(struct json_doc, root));
	while ((c = d->chunks)) {
		d->chunks = c->next;
		free(c);
	}
	free(d);
}

/* Numbers are converted in the C locale whatever setlocale() the program
 * did: JSON's decimal point is always '.'. */
static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void c_locale_init(void)
{
	c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
	if (!c_locale)
		die("out of memory creating the C locale");
}

static locale_t get_c_locale(void)
{
	pthread_once(&c_locale_once, c_locale_init);
	return c_locale;
}

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0 if there is none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t need, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		need = 1;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		need = 2;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		need = 3;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if (n <= need || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i <= need; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return need + 1;
}

static size_t utf8_encode(char *o, uint32_t cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | (cp >> 6));
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | (cp >> 12));
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | (cp >> 18));
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* ---- parser ---- */

struct parser {
	const char *buf;
	size_t len, pos;
	struct json_doc *doc;
	/* members of all open containers, innermost last; a container's
	 * members move to the arena, sized exactly, when it closes */
	struct json_member *stack;
	size_t nstack, alloc;
	struct error *err;
};

static int parse_value(struct parser *p, struct json_value *out, int depth);

__attribute__((format(printf, 3, 4))) static int
fail_at(struct parser *p, size_t pos, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return err_set(p->err, EINVAL, "byte %zu: %s", pos, msg);
}

/* "expected X, found Y" at the current position; Y is escaped since the
 * input is untrusted and the message may reach a log. */
static int expected(struct parser *p, const char *what)
{
	char found[32];
	unsigned char c;

	if (p->pos >= p->len) {
		snprintf(found, sizeof(found), "end of input");
	} else {
		c = (unsigned char)p->buf[p->pos];
		if (c > 0x20 && c < 0x7f)
			snprintf(found, sizeof(found), "'%c'", c);
		else
			snprintf(found, sizeof(found), "byte 0x%02x", c);
	}
	return fail_at(p, p->pos, "expected %s, found %s", what, found);
}

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len) {
		char c = p->buf[p->pos];
		if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
			break;
		p->pos++;
	}
}

static int peek(const struct parser *p)
{
	return p->pos < p->len ? (unsigned char)p->buf[p->pos] : -1;
}

static int hex4(const char *s, uint32_t *out)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (uint32_t)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (uint32_t)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* A \uXXXX escape at q (with q + 1 < end), possibly the first half of a
 * surrogate pair (RFC 8259 section 7).  Lone surrogates are rejected: they
 * have no UTF-8 form. */
static int decode_u_escape(struct parser *p, size_t *q, size_t end, char **o)
{
	const char *b = p->buf;
	uint32_t cp, lo;

	if (end - *q < 6 || hex4(b + *q + 2, &cp) < 0)
		return fail_at(p, *q, "expected 4 hex digits after \\u");
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return fail_at(p, *q, "unpaired low surrogate \\u%04x", cp);
	if (cp >= 0xd800 && cp <= 0xdbff) {
		if (end - *q < 12 || b[*q + 6] != '\\' || b[*q + 7] != 'u' ||
		    hex4(b + *q + 8, &lo) < 0 || lo < 0xdc00 || lo > 0xdfff)
			return fail_at(p, *q, "unpaired high surrogate \\u%04x",
				       cp);
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
		*q += 6;
	}
	*q += 6;
	*o += utf8_encode(*o, cp);
	return 0;
}

static int decode_escape(struct parser *p, size_t *q, size_t end, char **o)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	char c = p->buf[*q + 1];
	const char *hit;

	if (c == 'u')
		return decode_u_escape(p, q, end, o);
	hit = c ? strchr(from, c) : NULL;
	if (!hit)
		return fail_at(p, *q, "invalid escape in string");
	*(*o)++ = to[hit - from];
	*q += 2;
	return 0;
}

/* The string starting at the '"' at p->pos; stores a NUL-terminated copy in
 * the arena. */
static int parse_string(struct parser *p, const char **out, size_t *outlen)
{
	const char *b = p->buf;
	size_t start = p->pos + 1, end = start, q, n;
	char *s, *o;
	int r;

	/* Find the closing quote first: the decoded string is never longer
	 * than the raw one, which bounds the allocation. */
	while (end < p->len && b[end] != '"')
		end += b[end] == '\\' ? 2 : 1;
	if (end >= p->len)
		return fail_at(p, p->pos, "unterminated string");

	s = o = arena_alloc(p->doc, end - start + 1);
	for (q = start; q < end;) {
		unsigned char c = (unsigned char)b[q];
		if (c == '\\') {
			r = decode_escape(p, &q, end, &o);
			if (r < 0)
				return r;
		} else if (c < 0x20) {
			return fail_at(p, q,
				       "unescaped control character "
				       "0x%02x in string",
				       c);
		} else {
			n = utf8_len((const unsigned char *)b + q, end - q);
			if (!n)
				return fail_at(p, q, "invalid UTF-8 in string");
			memcpy(o, b + q, n);
			o += n;
			q += n;
		}
	}
	*o = '\0';
	*out = s;
	*outlen = (size_t)(o - s);
	p->pos = end + 1;
	return 0;
}

/* Whether the number literal s (already validated) is exactly an integer
 * in int64 range, without going through a double: value = m * 10^exp10
 * where m holds the significant digits without trailing zeros. */
static bool number_to_int64(const char *s, size_t n, int64_t *out)
{
	bool neg = false, frac = false, eneg = false;
	uint64_t m = 0;
	long exp10 = 0, zeros = 0, e = 0;
	int nsig = 0;
	size_t i = 0;

	if (s[i] == '-') {
		neg = true;
		i++;
	}
	for (; i < n && s[i] != 'e' && s[i] != 'E'; i++) {
		if (s[i] == '.') {
			frac = true;
			continue;
		}
		if (frac)
			exp10--;
		if (s[i] == '0') {
			zeros += nsig > 0;
			continue;
		}
		/* the zeros were not trailing after all; 10^19 > INT64_MAX */
		for (; zeros >= 0; zeros--) {
			if (++nsig > 19)
				return false;
			m *= 10;
		}
		zeros = 0;
		m += (uint64_t)(s[i] - '0');
	}
	exp10 += zeros;
	if (i < n) {
		i++;
		if (s[i] == '-' || s[i] == '+')
			eneg = s[i++] == '-';
		for (; i < n; i++)
			if (e < 1000000)
				e = e * 10 + (s[i] - '0');
		exp10 += eneg ? -e : e;
	}
	if (m == 0) {
		*out = 0;
		return true;
	}
	if (exp10 < 0)
		return false;
	for (; exp10 > 0; exp10--) {
		if (m > UINT64_MAX / 10)
			return false;
		m *= 10;
	}
	if (m > (uint64_t)INT64_MAX + (neg ? 1 : 0))
		return false;
	*out = neg ? -(int64_t)(m - 1) - 1 : (int64_t)m;
	return true;
}

static bool is_digit(const struct parser *p, size_t i)
{
	return i < p->len && p->buf[i] >= '0' && p->buf[i] <= '9';
}

static int parse_number(struct parser *p, struct json_value *out)
{
	const char *b = p->buf;
	size_t start = p->pos, i = p->pos, n;
	char small[64], *tok = small;
	int saved_errno;

	/* RFC 8259 section 6: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
	if (i < p->len && b[i] == '-')
		i++;
	if (!is_digit(p, i))
		goto bad_digit;
	if (b[i++] != '0')
		while (is_digit(p, i))
			i++;
	if (i < p->len && b[i] == '.') {
		if (!is_digit(p, ++i))
			goto bad_digit;
		while (is_digit(p, i))
			i++;
	}
	if (i < p->len && (b[i] == 'e' || b[i] == 'E')) {
		i++;
		if (i < p->len && (b[i] == '+' || b[i] == '-'))
			i++;
		if (!is_digit(p, i))
			goto bad_digit;
		while (is_digit(p, i))
			i++;
	}
	p->pos = i;
	n = i - start;

	/* strtod needs a terminated copy: buf is not NUL-terminated */
	if (n >= sizeof(small))
		tok = xmalloc(n + 1);
	memcpy(tok, b + start, n);
	tok[n] = '\0';
	saved_errno = errno;
	errno = 0;
	out->type = JSON_NUMBER;
	out->u.num.d = strtod_l(tok, NULL, get_c_locale());
	if (errno == ERANGE && isinf(out->u.num.d)) {
		if (tok != small)
			free(tok);
		return fail_at(p, start, "number out of range");
	}
	errno = saved_errno;
	if (tok != small)
		free(tok);
	out->u.num.is_int = number_to_int64(b + start, n, &out->u.num.i);
	return 0;

bad_digit:
	p->pos = i;
	return expected(p, "a digit");
}

static int parse_literal(struct parser *p, struct json_value *out,
			 const char *word, enum json_type t, bool b)
{
	size_t n = strlen(word);

	if (p->len - p->pos < n || memcmp(p->buf + p->pos, word, n) != 0)
		return expected(p, "a value");
	p->pos += n;
	out->type = t;
	out->u.b = b;
	return 0;
}

static void push_member(struct parser *p, const char *key, size_t keylen,
			const struct json_value *v)
{
	ALLOC_GROW(p->stack, p->nstack + 1, p->alloc);
	p->stack[p->nstack].key = key;
	p->stack[p->nstack].keylen = keylen;
	p->stack[p->nstack].val = *v;
	p->nstack++;
}

static int parse_array(struct parser *p, struct json_value *out, int depth)
{
	size_t base = p->nstack, n, i;
	struct json_value v;
	int r;

	p->pos++; /* '[' */
	skip_ws(p);
	if (peek(p) != ']') {
		for (;;) {
			r = parse_value(p, &v, depth);
			if (r < 0)
				return r;
			push_member(p, NULL, 0, &v);
			skip_ws(p);
			if (peek(p) == ']')
				break;
			if (peek(p) != ',')
				return expected(p, "',' or ']'");
			p->pos++;
		}
	}
	p->pos++; /* ']' */
	n = p->nstack - base;
	out->type = JSON_ARRAY;
	out->u.arr.n = n;
	out->u.arr.items = arena_alloc(p->doc, st_mult(n, sizeof(v)));
	for (i = 0; i < n; i++)
		out->u.arr.items[i] = p->stack[base + i].val;
	p->nstack = base;
	return 0;
}

static int cmp_member_ptr(const void *a, const void *b)
{
	const struct json_member *x = *(const struct json_member *const *)a;
	const struct json_member *y = *(const struct json_member *const *)b;
	size_t n = x->keylen < y->keylen ? x->keylen : y->keylen;
	int c = memcmp(x->key, y->key, n);

	if (c)
		return c;
	return (x->keylen > y->keylen) - (x->keylen < y->keylen);
}

/* Duplicate keys are rejected: parsers disagree on which one wins, and such
 * disagreement between a checker and a consumer is an exploit primitive. */
static int check_duplicates(struct parser *p, size_t objpos,
			    struct json_member *m, size_t n)
{
	struct json_member **sorted;
	char shown[40];
	size_t i, j;

	if (n < 2)
		return 0;
	sorted = xmalloc(st_mult(n, sizeof(*sorted)));
	for (i = 0; i < n; i++)
		sorted[i] = &m[i];
	qsort(sorted, n, sizeof(*sorted), cmp_member_ptr);
	for (i = 1; i < n; i++)
		if (cmp_member_ptr(&sorted[i - 1], &sorted[i]) == 0)
			break;
	if (i == n) {
		free(sorted);
		return 0;
	}
	/* show the key escaped and truncated: it is untrusted */
	for (j = 0; j < sorted[i]->keylen && j < sizeof(shown) - 1; j++) {
		char c = sorted[i]->key[j];
		shown[j] = c >= 0x20 && c < 0x7f ? c : '?';
	}
	shown[j] = '\0';
	free(sorted);
	return fail_at(p, objpos, "duplicate object key \"%s\"", shown);
}

static int parse_object(struct parser *p, struct json_value *out, int depth)
{
	size_t base = p->nstack, objpos = p->pos, n, keylen;
	struct json_value v;
	const char *key;
	int r;

	p->pos++; /* '{' */
	skip_ws(p);
	if (peek(p) != '}') {
		for (;;) {
			skip_ws(p);
			if (peek(p) != '"')
				return expected(p, "a string key");
			r = parse_string(p, &key, &keylen);
			if (r < 0)
				return r;
			skip_ws(p);
			if (peek(p) != ':')
				return expected(p, "':' after the key");
			p->pos++;
			r = parse_value(p, &v, depth);
			if (r < 0)
				return r;
			push_member(p, key, keylen, &v);
			skip_ws(p);
			if (peek(p) == '}')
				break;
			if (peek(p) != ',')
				return expected(p, "',' or '}'");
			p->pos++;
		}
	}
	p->pos++; /* '}' */
	n = p->nstack - base;
	out->type = JSON_OBJECT;
	out->u.obj.n = n;
	out->u.obj.members =
	    arena_alloc(p->doc, st_mult(n, sizeof(*out->u.obj.members)));
	if (n)
		memcpy(out->u.obj.members, p->stack + base,
		       n * sizeof(*out->u.obj.members));
	p->nstack = base;
	return check_duplicates(p, objpos, out->u.obj.members, n);
}

/* depth: number of containers enclosing this value */
static int parse_value(struct parser *p, struct json_value *out, int depth)
{
	skip_ws(p);
	switch (peek(p)) {
	case '{':
	case '[':
		if (depth >= JSON_MAX_DEPTH)
			return fail_at(p, p->pos, "nesting deeper than %d",
				       JSON_MAX_DEPTH);
		if (peek(p) == '{')
			return parse_object(p, out, depth + 1);
		return parse_array(p, out, depth + 1);
	case '"':
		out->type = JSON_STRING;
		return parse_string(p, &out->u.str.s, &out->u.str.len);
	case 't':
		return parse_literal(p, out, "true", JSON_BOOL, true);
	case 'f':
		return parse_literal(p, out, "false", JSON_BOOL, false);
	case 'n':
		return parse_literal(p, out, "null", JSON_NULL, false);
	default:
		if (peek(p) == '-' || is_digit(p, p->pos))
			return parse_number(p, out);
		return expected(p, "a value");
	}
}

int json_parse(const char *buf, size_t len, struct json_value **out,
	       struct error *err)
{
	struct json_doc *doc;
	struct parser p;
	int r;

	*out = NULL;
	if (len > JSON_MAX_LEN)
		return err_set(err, EMSGSIZE,
			       "JSON text of %zu bytes exceeds the limit of %u",
			       len, JSON_MAX_LEN);
	doc = xcalloc(1, sizeof(*doc));
	p = (struct parser){.buf = buf, .len = len, .doc = doc, .err = err};
	r = parse_value(&p, &doc->root, 0);
	if (r == 0) {
		skip_ws(&p);
		if (p.pos < p.len)
			r = expected(&p, "end of input after the value");
	}
	free(p.stack);
	if (r < 0) {
		json_value_free(&doc->root);
		return r;
	}
	*out = &doc->root;
	return 0;
}

/* ---- accessors ---- */

enum json_type json_type(const struct json_value *v)
{
	return v ? v->type : JSON_NONE;
}

const char *json_type_name(enum json_type t)
{
	switch (t) {
	case JSON_NONE:
		return "nothing";
	case JSON_NULL:
		return "null";
	case JSON_BOOL:
		return "boolean";
	case JSON_NUMBER:
		return "number";
	case JSON_STRING:
		return "string";
	case JSON_ARRAY:
		return "array";
	case JSON_OBJECT:
		return "object";
	}
	return "unknown";
}

const char *json_as_string(const struct json_value *v, size_t *len)
{
	if (json_type(v) != JSON_STRING)
		return NULL;
	if (len)
		*len = v->u.str.len;
	return v->u.str.s;
}

int json_as_double(const struct json_value *v, double *out)
{
	if (json_type(v) != JSON_NUMBER)
		return -EINVAL;
	*out = v->u.num.d;
	return 0;
}

int json_as_int64(const struct json_value *v, int64_t *out)
{
	if (json_type(v) != JSON_NUMBER)
		return -EINVAL;
	if (!v->u.num.is_int)
		return -ERANGE;
	*out = v->u.num.i;
	return 0;
}

int json_as_bool(const struct json_value *v, bool *out)
{
	if (json_type(v) != JSON_BOOL)
		return -EINVAL;
	*out = v->u.b;
	return 0;
}

size_t json_array_len(const struct json_value *v)
{
	return json_type(v) == JSON_ARRAY ? v->u.arr.n : 0;
}

size_t json_obj_len(const struct json_value *v)
{
	return json_type(v) == JSON_OBJECT ? v->u.obj.n : 0;
}

const struct json_value *json_array_get(const struct json_value *v, size_t i)
{
	return i < json_array_len(v) ? &v->u.arr.items[i] : NULL;
}

const struct json_value *json_obj_get(const struct json_value *v,
				      const char *key)
{
	size_t i, n = json_obj_len(v), klen = strlen(key);

	for (i = 0; i < n; i++) {
		const struct json_member *m = &v->u.obj.members[i];
		if (m->keylen == klen && memcmp(m->key, key, klen) == 0)
			return &m->val;
	}
	return NULL;
}

const char *json_obj_key(const struct json_value *v, size_t i, size_t *keylen)
{
	if (i >= json_obj_len(v))
		return NULL;
	if (keylen)
		*keylen = v->u.obj.members[i].keylen;
	return v->u.obj.members[i].key;
}

const struct json_value *json_obj_value(const struct json_value *v, size_t i)
{
	return i < json_obj_len(v) ? &v->u.obj.members[i].val : NULL;
}

/* ---- writer ---- */

void json_writer_init(struct json_writer *w, struct strbuf *sb,
		      enum json_writer_flags flags)
{
	memset(w, 0, sizeof(*w));
	w->sb = sb;
	w->flags = flags;
}

static void newline_indent(struct json_writer *w)
{
	int i;

	strbuf_addch(w->sb, '\n');
	for (i = 0; i < w->depth; i++)
		strbuf_add(w->sb, "  ", 2);
}

/* Separator before a key, or before a value that does not follow a key. */
static void before_item(struct json_writer *w, bool is_key)
{
	char kind = w->depth ? w->kind[w->depth] : 0;

	if (w->after_key) {
		if (is_key)
			BUG("json_writer: key after key");
		w->after_key = false;
		return;
	}
	if (is_key != (kind == 'o'))
		BUG("json_writer: %s", is_key ? "key outside an object"
					      : "object value without a key");
	if (!kind)
		return;
	if (w->nonempty[w->depth])
		strbuf_addch(w->sb, ',');
	w->nonempty[w->depth] = true;
	if (w->flags & JSON_WRITER_PRETTY)
		newline_indent(w);
}

static void begin(struct json_writer *w, char kind)
{
	before_item(w, false);
	if (w->depth >= JSON_MAX_DEPTH)
		BUG("json_writer: nesting deeper than %d", JSON_MAX_DEPTH);
	w->depth++;
	w->kind[w->depth] = kind;
	w->nonempty[w->depth] = false;
	strbuf_addch(w->sb, kind == 'o' ? '{' : '[');
}

static void end(struct json_writer *w, char kind)
{
	bool nonempty;

	if (!w->depth || w->kind[w->depth] != kind || w->after_key)
		BUG("json_writer: unbalanced end of %s",
		    kind == 'o' ? "object" : "array");
	nonempty = w->nonempty[w->depth];
	w->depth--;
	if (nonempty && (w->flags & JSON_WRITER_PRETTY))
		newline_indent(w);
	strbuf_addch(w->sb, kind == 'o' ? '}' : ']');
}

void json_writer_begin_object(struct json_writer *w)
{
	begin(w, 'o');
}

void json_writer_end_object(struct json_writer *w)
{
	end(w, 'o');
}

void json_writer_begin_array(struct json_writer *w)
{
	begin(w, 'a');
}

void json_writer_end_array(struct json_writer *w)
{
	end(w, 'a');
}

/* RFC 8259 section 7.  DEL is escaped too, to keep output that reaches a
 * terminal or log free of control characters. */
static void write_escaped(struct strbuf *sb, const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0, run = 0, n;
	char ubuf[8];
	const char *esc;

	strbuf_addch(sb, '"');
	while (i < len) {
		unsigned char c = s[i];
		if (c >= 0x80 && (n = utf8_len(s + i, len - i)) > 0) {
			i += n;
			continue;
		}
		if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
			i++;
			continue;
		}
		switch (c) {
		case '"':
			esc = "\\\"";
			break;
		case '\\':
			esc = "\\\\";
			break;
		case '\b':
			esc = "\\b";
			break;
		case '\f':
			esc = "\\f";
			break;
		case '\n':
			esc = "\\n";
			break;
		case '\r':
			esc = "\\r";
			break;
		case '\t':
			esc = "\\t";
			break;
		default: /* control, DEL, or a byte of invalid UTF-8 */
			snprintf(ubuf, sizeof(ubuf), "\\u%04x", c);
			esc = ubuf;
		}
		strbuf_add(sb, s + run, i - run);
		strbuf_addstr(sb, esc);
		run = ++i;
	}
	strbuf_add(sb, s + run, i - run);
	strbuf_addch(sb, '"');
}

void json_writer_key_len(struct json_writer *w, const char *key, size_t len)
{
	before_item(w, true);
	write_escaped(w->sb, key, len);
	strbuf_addch(w->sb, ':');
	if (w->flags & JSON_WRITER_PRETTY)
		strbuf_addch(w->sb, ' ');
	w->after_key = true;
}

void json_writer_key(struct json_writer *w, const char *key)
{
	json_writer_key_len(w, key, strlen(key));
}

void json_writer_string_len(struct json_writer *w, const char *s, size_t len)
{
	before_item(w, false);
	write_escaped(w->sb, s, len);
}

void json_writer_string(struct json_writer *w, const char *s)
{
	json_writer_string_len(w, s, strlen(s));
}

void json_writer_int64(struct json_writer *w, int64_t v)
{
	before_item(w, false);
	strbuf_addf(w->sb, "%" PRId64, v);
}

void json_writer_uint64(struct json_writer *w, uint64_t v)
{
	before_item(w, false);
	strbuf_addf(w->sb, "%" PRIu64, v);
}

void json_writer_double(struct json_writer *w, double v)
{
	locale_t old;
	char buf[32];
	int prec;

	if (!isfinite(v)) {
		json_writer_null(w);
		return;
	}
	before_item(w, false);
	/* %.15g is exact for every double that has a <=15-digit form (it
	 * strips trailing zeros); otherwise 16 or 17 digits round-trip. */
	old = uselocale(get_c_locale());
	for (prec = 15;; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, v);
		if (prec == 17 || strtod(buf, NULL) == v)
			break;
	}
	uselocale(old);
	strbuf_addstr(w->sb, buf);
}

void json_writer_bool(struct json_writer *w, bool v)
{
	before_item(w, false);
	strbuf_addstr(w->sb, v ? "true" : "false");
}

void json_writer_null(struct json_writer *w)
{
	before_item(w, false);
	strbuf_addstr(w->sb, "null");
}

void json_writer_raw(struct json_writer *w, const char *json)
{
	before_item(w, false);
	strbuf_addstr(w->sb, json);
}

void json_writer_value(struct json_writer *w, const struct json_value *v)
{
	size_t i;

	switch (json_type(v)) {
	case JSON_NONE:
		BUG("json_writer_value: no value");
	case JSON_NULL:
		json_writer_null(w);
		break;
	case JSON_BOOL:
		json_writer_bool(w, v->u.b);
		break;
	case JSON_NUMBER:
		if (v->u.num.is_int)
			json_writer_int64(w, v->u.num.i);
		else
			json_writer_double(w, v->u.num.d);
		break;
	case JSON_STRING:
		json_writer_string_len(w, v->u.str.s, v->u.str.len);
		break;
	case JSON_ARRAY:
		json_writer_begin_array(w);
		for (i = 0; i < v->u.arr.n; i++)
			json_writer_value(w, &v->u.arr.items[i]);
		json_writer_end_array(w);
		break;
	case JSON_OBJECT:
		json_writer_begin_object(w);
		for (i = 0; i < v->u.obj.n; i++) {
			const struct json_member *m = &v->u.obj.members[i];
			json_writer_key_len(w, m->key, m->keylen);
			json_writer_value(w, &m->val);
		}
		json_writer_end_object(w);
		break;
	}
}

void json_writer_kv_string(struct json_writer *w, const char *key,
			   const char *v)
{
	json_writer_key(w, key);
	if (v)
		json_writer_string(w, v);
	else
		json_writer_null(w);
}

void json_writer_kv_int64(struct json_writer *w, const char *key, int64_t v)
{
	json_writer_key(w, key);
	json_writer_int64(w, v);
}

void json_writer_kv_uint64(struct json_writer *w, const char *key, uint64_t v)
{
	json_writer_key(w, key);
	json_writer_uint64(w, v);
}

void json_writer_kv_bool(struct json_writer *w, const char *key, bool v)
{
	json_writer_key(w, key);
	json_writer_bool(w, v);
}

void json_writer_kv_strv(struct json_writer *w, const char *key, char *const *v)
{
	json_writer_key(w, key);
	if (!v) {
		json_writer_null(w);
		return;
	}
	json_writer_begin_array(w);
	for (; *v; v++)
		json_writer_string(w, *v);
	json_writer_end_array(w);
}

char *json_obj_strdup(const struct json_value *o, const char *key)
{
	const char *s = json_as_string(json_obj_get(o, key), NULL);
	return s ? xstrdup(s) : NULL;
}

int64_t json_obj_int64(const struct json_value *o, const char *key)
{
	int64_t v = 0;
	return json_as_int64(json_obj_get(o, key), &v) < 0 ? 0 : v;
}

bool json_obj_bool(const struct json_value *o, const char *key)
{
	bool v = false;
	return json_as_bool(json_obj_get(o, key), &v) < 0 ? false : v;
}

char **json_obj_strv(const struct json_value *o, const char *key, size_t *n)
{
	const struct json_value *a = json_obj_get(o, key);
	size_t len;
	char **v;

	if (n)
		*n = 0;
	if (json_type(a) != JSON_ARRAY)
		return NULL;
	len = json_array_len(a);
	v = xcalloc(len + 1, sizeof(char *));
	for (size_t i = 0; i < len; i++) {
		const char *s = json_as_string(json_array_get(a, i), NULL);
		v[i] = xstrdup(s ? s : "");
	}
	if (n)
		*n = len;
	return v;
}
