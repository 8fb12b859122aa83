/* The DLP stage: pattern databases and streaming scans (see dlp.h).
 *
 * Three Hyperscan databases:
 *   main    built-in + custom rules, stream mode;
 *   redact  the same rules, block mode with start-of-match, for
 *           dlp_redact(); main and redact are cached on disk together;
 *   sec     the literal secrets and their encoded forms, stream mode;
 *           never cached, so a secret never reaches the disk.
 * A stream scans up to four "lanes": the raw bytes and the base64, hex and
 * URL-decoded bytes the decoders produce.  Each lane carries a Hyperscan
 * stream over main and one over sec, opened on first use, and the last
 * HIST bytes of its input so that a verifier (Luhn, entropy) can look at a
 * match that began in an earlier feed.  The built-in rules marked native
 * (payment-card, generic-secret) are left out of main and matched in C on
 * every lane (dlp_native.h); redact has them all.  The raw bytes are
 * classified once per DLP_PIECE (dlp_simd.h) for the native rules and
 * the decoders.
 */
#include "bundle/dlp.h"

#include "bundle/dlp_builtin.h"
#include "bundle/dlp_cache.h"
#include "bundle/dlp_compile.h"
#include "bundle/dlp_decode.h"
#include "bundle/dlp_native.h"
#include "bundle/dlp_simd.h"
#include "lib/log.h"
#include "lib/util.h"

#include <limits.h>

/* A custom pattern's longest match, in bytes. */
#define DLP_MAX_WIDTH 256
#define HIST	      256
#define SECRET_RULE   "injected-secret"

struct dlp_rule {
	char *name;
	const char *category;
	enum dlp_action action;
	enum dlp_check check;
	bool native;
};

/* One literal form of a secret (plain, hex, base64 core, %XX). */
struct dlp_form {
	uint8_t *bytes;
	size_t len;
	enum dlp_encoding enc;
};

struct dlp_db {
	hs_database_t *main, *redact, *sec;
	hs_scratch_t *scratch;
	struct dlp_rule *rules;
	size_t n_rules;
	struct dlp_form *forms;
	size_t n_forms, n_forms_alloc;
	size_t n_secrets;
	bool form_nl; /* a form has a '\n' (else none ends in the last one) */
	size_t max_span;
	bool from_cache;
	int card_id, secret_id; /* native rules, or -1 */
	/* A stream that dlp_stream_free() kept for the next dlp_stream_new()
	 * (the proxy scans every request head with a stream of its own). */
	struct dlp_stream **spare;
};

struct lane {
	hs_stream_t *hs[2];	/* over db->main, db->sec; kept once opened */
	bool open;		/* scanned bytes since the stream (re)started */
	unsigned long long off; /* stream offset of cur[0] */
	const uint8_t *cur;
	size_t cur_n;
	size_t hist_n;
	struct dlp_carry carry; /* classification state (dlp_simd.h) */
	uint8_t hist[HIST];
};

struct dlp_stream {
	const struct dlp_db *db;
	struct dlp_decoder *dec;
	struct lane lane[DLP_ENC_COUNT];
	bool blocked, finished, has_logged;
	bool ending; /* scanning the line break that ends each lane */
	struct dlp_hit hit, logged;
	/* The classification of the raw piece being fed, and of decoded
	 * bytes (which the raw piece's decoding produces meanwhile). */
	struct dlp_piece raw, decoded;
};

static void stream_destroy(struct dlp_stream *s);

/* ---- building ---- */

static int hs_fail(struct error *err, const char *name, hs_compile_error_t *ce)
{
	int r = err_set(err, EINVAL, "dlp pattern %s: %s", name,
			ce ? ce->message : "cannot compile");

	hs_free_compile_error(ce);
	return r;
}

/* The rules' expressions, flags and ids in id order (borrowed). */
struct exprs {
	const char **re;
	unsigned *flags, *ids;
	size_t n;
};

static int add_rules(struct dlp_db *db, const struct dlp_config *c,
		     struct exprs *x)
{
	size_t nb = c->builtin ? dlp_builtin_count : 0;
	size_t n = st_add(nb, c->n_custom);

	db->rules = calloc(n ? n : 1, sizeof(*db->rules));
	x->re = calloc(n ? n : 1, sizeof(*x->re));
	x->flags = calloc(n ? n : 1, sizeof(*x->flags));
	x->ids = calloc(n ? n : 1, sizeof(*x->ids));
	if (!db->rules || !x->re || !x->flags || !x->ids)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct dlp_rule *r = &db->rules[i];

		if (i < nb) {
			const struct dlp_builtin *b = &dlp_builtin_rules[i];

			r->name = strdup(b->name);
			r->category = b->category;
			r->action = b->action;
			r->check = b->check;
			r->native = b->native;
			if (b->native && b->check == DLP_CHECK_LUHN)
				db->card_id = (int)i;
			else if (b->native)
				db->secret_id = (int)i;
			x->re[i] = b->regex;
			x->flags[i] = b->flags;
		} else {
			const struct dlp_rule_src *u = &c->custom[i - nb];

			r->name = strdup(u->name ? u->name : "(unnamed)");
			r->category = "custom";
			r->action = u->action;
			x->re[i] = u->regex ? u->regex : "";
		}
		if (!r->name)
			return -ENOMEM;
		x->ids[i] = (unsigned)i;
		db->n_rules = i + 1;
	}
	x->n = n;
	return 0;
}

/* Validate every expression and find the longest match any can make. */
static int max_width(const struct dlp_db *db, const struct exprs *x,
		     size_t *out, struct error *err)
{
	hs_expr_info_t *info;
	hs_compile_error_t *ce = NULL;
	size_t w = 0;

	for (size_t i = 0; i < x->n; i++) {
		const char *name = db->rules[i].name;

		if (hs_expression_info(x->re[i], x->flags[i], &info, &ce) !=
		    HS_SUCCESS)
			return hs_fail(err, name, ce);
		if (info->max_width == UINT_MAX ||
		    info->max_width > DLP_MAX_WIDTH) {
			dlp_hs_free(info);
			return err_set(err, EINVAL,
				       "dlp pattern %s: a match can be longer "
				       "than %d bytes; bound every repeat "
				       "(e.g. {0,64} instead of *)",
				       name, DLP_MAX_WIDTH);
		}
		if (info->max_width > w)
			w = info->max_width;
		dlp_hs_free(info); /* from the misc allocator */
	}
	*out = w;
	return 0;
}

/* Compile the rules (without the native ones if skip_native) into *out,
 * which stays NULL when none is left. */
static int compile(const struct dlp_db *db, const struct exprs *x,
		   unsigned extra_flags, unsigned mode, bool skip_native,
		   hs_database_t **out, struct error *err)
{
	_cleanup_free_ unsigned *flags = calloc(x->n, sizeof(*flags));
	_cleanup_free_ unsigned *ids = calloc(x->n, sizeof(*ids));
	_cleanup_free_ const char **re = calloc(x->n, sizeof(*re));
	hs_compile_error_t *ce = NULL;
	size_t n = 0;

	if (!flags || !ids || !re)
		return -ENOMEM;
	for (size_t i = 0; i < x->n; i++) {
		if (skip_native && db->rules[i].native)
			continue;
		flags[n] = x->flags[i] | extra_flags;
		ids[n] = x->ids[i];
		re[n++] = x->re[i];
	}
	if (n == 0)
		return 0;
	if (hs_compile_multi(re, flags, ids, (unsigned)n, mode, NULL, out,
			     &ce) == HS_SUCCESS)
		return 0;
	if (ce && ce->expression >= 0 && (size_t)ce->expression < n)
		return hs_fail(err, db->rules[ids[ce->expression]].name, ce);
	return hs_fail(err, "set", ce);
}

struct main_job {
	const struct dlp_db *db;
	const struct exprs *x;
};

/* In the compiler child: validate, then compile main and redact. */
static int compile_main(void *ctx, hs_database_t **dbs, size_t n, size_t *span,
			struct error *err)
{
	const struct main_job *j = ctx;
	size_t w = 0;
	int r = max_width(j->db, j->x, &w, err);

	(void)n;
	if (r == 0)
		r = compile(j->db, j->x, 0, HS_MODE_STREAM, true, &dbs[0], err);
	if (r == 0)
		r = compile(j->db, j->x, HS_FLAG_SOM_LEFTMOST, HS_MODE_BLOCK,
			    false, &dbs[1], err);
	/* A match of width w spans at most 3w raw bytes in its encoded forms
	 * (%XX triples each byte; hex doubles; base64 is 4/3 plus wrapping). */
	*span = 3 * w;
	return r == -ENOMEM ? err_set(err, ENOMEM, "dlp: out of memory") : r;
}

static int build_main(struct dlp_db *db, const struct dlp_config *c,
		      struct error *err)
{
	struct exprs x = {0};
	uint8_t key[DLP_CACHE_KEY_LEN];
	struct error cerr = ERROR_INIT;
	struct main_job job = {db, &x};
	hs_database_t *dbs[2];
	int r = add_rules(db, c, &x);

	if (r < 0 || x.n == 0)
		goto out;
	if (c->cache_dir) {
		dlp_cache_key(x.re, x.flags, x.n, key);
		r = dlp_cache_load(c->cache_dir, key, &db->main, &db->redact,
				   &db->max_span, &cerr);
		if (r == 0) {
			db->from_cache = true;
			goto out;
		}
		if (r != -ENOENT)
			log_warnx("dlp cache: %s; recompiling", cerr.msg);
	}
	r = dlp_compile_forked(compile_main, &job, dbs, 2, &db->max_span, err);
	if (r < 0)
		goto out;
	db->main = dbs[0];
	db->redact = dbs[1];
	if (c->cache_dir &&
	    dlp_cache_store(c->cache_dir, key, db->main, db->redact,
			    db->max_span, &cerr) < 0)
		log_warnx("dlp cache: %s", cerr.msg);
out:
	free(x.re);
	free(x.flags);
	free(x.ids);
	return r == -ENOMEM ? err_set(err, ENOMEM, "dlp: out of memory") : r;
}

/* ---- secrets ---- */

static uint8_t *memdup(const void *p, size_t n)
{
	uint8_t *q = malloc(n ? n : 1);

	if (q)
		memcpy(q, p, n);
	return q;
}

static int add_form(struct dlp_db *db, uint8_t *bytes, size_t len,
		    enum dlp_encoding enc)
{
	if (!bytes)
		return -ENOMEM;
	/* A form that another already is (a secret of unreserved bytes is
	 * its own %XX-reserved form; a base64 core without '+' or '/' its
	 * url-safe one) costs the scan without finding more: the first
	 * one, which names the encoding, stays. */
	for (size_t i = 0; i < db->n_forms; i++) {
		if (db->forms[i].len == len &&
		    memcmp(db->forms[i].bytes, bytes, len) == 0) {
			secure_zero(bytes, len);
			free(bytes);
			return 0;
		}
	}
	if (db->n_forms == db->n_forms_alloc) {
		size_t na = db->n_forms_alloc ? 2 * db->n_forms_alloc : 16;
		struct dlp_form *f =
		    realloc(db->forms, st_mult(na, sizeof(*f)));

		if (!f) {
			secure_zero(bytes, len);
			free(bytes);
			return -ENOMEM;
		}
		db->forms = f;
		db->n_forms_alloc = na;
	}
	db->forms[db->n_forms++] = (struct dlp_form){bytes, len, enc};
	if (memchr(bytes, '\n', len))
		db->form_nl = true;
	return 0;
}

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The base64 characters of s that do not depend on its neighbours when s
 * starts k bytes (0..2) into a 3-byte group: bits [8k, 8k + 8n) of the
 * encoded stream, whole 6-bit characters only.  url-safe if asked. */
static uint8_t *b64_core(const uint8_t *s, size_t n, unsigned k, bool url,
			 size_t *out_len)
{
	size_t first = (8 * k + 5) / 6, end = (8 * k + 8 * n) / 6;
	uint8_t *o = malloc(end - first + 1);
	size_t m = 0;

	if (!o)
		return NULL;
	for (size_t ci = first; ci < end; ci++) {
		unsigned v = 0;

		for (unsigned b = 0; b < 6; b++) {
			size_t bit = 6 * ci + b - 8 * k; /* bit of s */

			v = v << 1 | ((s[bit / 8] >> (7 - bit % 8)) & 1);
		}
		o[m] = (uint8_t)b64_std[v];
		if (url && o[m] == '+')
			o[m] = '-';
		else if (url && o[m] == '/')
			o[m] = '_';
		m++;
	}
	*out_len = m;
	return o;
}

static bool url_unreserved(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	       c == '~';
}

/* Hex (digits = "0123456789abcdef" or upper) or %XX (all bytes, or only
 * the reserved ones) form of s. */
static uint8_t *hex_form(const uint8_t *s, size_t n, const char *digits,
			 bool pct, bool all, size_t *out_len)
{
	uint8_t *o = malloc(st_mult(n, 3) + 1);
	size_t m = 0;

	if (!o)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (pct && !all && url_unreserved(s[i])) {
			o[m++] = s[i];
			continue;
		}
		if (pct)
			o[m++] = '%';
		o[m++] = (uint8_t)digits[s[i] >> 4];
		o[m++] = (uint8_t)digits[s[i] & 15];
	}
	*out_len = m;
	return o;
}

static int add_secret(struct dlp_db *db, const uint8_t *s, size_t n)
{
	static const char lo[] = "0123456789abcdef", up[] = "0123456789ABCDEF";
	size_t len = n;
	uint8_t *f;
	int r;

	r = add_form(db, memdup(s, n), len, DLP_ENC_PLAIN);
	for (int i = 0; i < 2 && r == 0; i++) {
		f = hex_form(s, n, i ? up : lo, false, true, &len);
		r = add_form(db, f, len, DLP_ENC_HEX);
	}
	for (int i = 0; i < 3 && r == 0; i++) {
		f = hex_form(s, n, i == 1 ? lo : up, true, i < 2, &len);
		r = add_form(db, f, len, DLP_ENC_URL);
	}
	for (unsigned k = 0; k < 3 && r == 0; k++) {
		for (int url = 0; url < 2 && r == 0; url++) {
			f = b64_core(s, n, k, url, &len);
			r = add_form(db, f, len, DLP_ENC_BASE64);
		}
	}
	return r;
}

/* In the compiler child: the literal forms of the secrets. */
static int compile_secrets(void *ctx, hs_database_t **dbs, size_t n,
			   size_t *extra, struct error *err)
{
	const struct dlp_db *db = ctx;
	_cleanup_free_ const char **lits = calloc(db->n_forms, sizeof(*lits));
	_cleanup_free_ unsigned *ids = calloc(db->n_forms, sizeof(*ids));
	_cleanup_free_ unsigned *flags = calloc(db->n_forms, sizeof(*flags));
	_cleanup_free_ size_t *lens = calloc(db->n_forms, sizeof(*lens));
	hs_compile_error_t *ce = NULL;

	(void)n;
	*extra = 0;
	if (!lits || !ids || !flags || !lens)
		return err_set(err, ENOMEM, "dlp: out of memory");
	for (size_t i = 0; i < db->n_forms; i++) {
		lits[i] = (const char *)db->forms[i].bytes;
		lens[i] = db->forms[i].len;
		ids[i] = (unsigned)i;
	}
	if (hs_compile_lit_multi(lits, flags, ids, lens, (unsigned)db->n_forms,
				 HS_MODE_STREAM, NULL, &dbs[0],
				 &ce) != HS_SUCCESS)
		return hs_fail(err, SECRET_RULE, ce);
	return 0;
}

/* Validate the secrets and make their literal forms; *span is the raw
 * span of their longest form. */
static int add_secrets(struct dlp_db *db, const struct dlp_config *c,
		       size_t *span, struct error *err)
{
	int r;

	*span = 0;
	if ((r = dlp_secrets_check(c, err)) < 0)
		return r;
	for (size_t i = 0; i < c->n_secrets; i++) {
		size_t n = strlen(c->secrets[i]);

		if (add_secret(db, (const uint8_t *)c->secrets[i], n) < 0)
			return err_set(err, ENOMEM, "dlp: out of memory");
		if (3 * n > *span)
			*span = 3 * n;
	}
	db->n_secrets = c->n_secrets;
	return 0;
}

/* Build main (from the cache if it can) while a child compiles the
 * secrets. */
static int build(struct dlp_db *db, const struct dlp_config *c,
		 struct error *err)
{
	struct dlp_compile_job job;
	size_t span, unused;
	int r = add_secrets(db, c, &span, err);
	bool sec = db->n_forms > 0;

	if (r == 0 && sec)
		r = dlp_compile_start(compile_secrets, db, 1, &job, err);
	if (r < 0)
		return r;
	r = build_main(db, c, err);
	if (sec && r < 0)
		dlp_compile_cancel(&job);
	else if (sec)
		r = dlp_compile_finish(&job, &db->sec, &unused, err);
	if (span > db->max_span)
		db->max_span = span;
	return r;
}

static int alloc_scratch(struct dlp_db *db, struct error *err)
{
	hs_database_t *dbs[] = {db->main, db->redact, db->sec};

	for (size_t i = 0; i < ARRAY_SIZE(dbs); i++)
		if (dbs[i] &&
		    hs_alloc_scratch(dbs[i], &db->scratch) != HS_SUCCESS)
			return err_set(
			    err, ENOMEM,
			    "dlp: cannot allocate Hyperscan scratch");
	return 0;
}

/* In a child: every custom pattern compiles and is bounded (the
 * Hyperscan compiler stays out of the caller). */
static int check_custom(void *ctx, hs_database_t **dbs, size_t n, size_t *extra,
			struct error *err)
{
	const struct dlp_config *c = ctx;
	struct dlp_config only = {.custom = c->custom, .n_custom = c->n_custom};
	struct dlp_db db = {0};
	struct exprs x = {0};
	size_t w;

	(void)dbs;
	(void)n;
	*extra = 0;
	if (add_rules(&db, &only, &x) < 0)
		return err_set(err, ENOMEM, "dlp: out of memory");
	return max_width(&db, &x, &w, err); /* the child exits: no frees */
}

int dlp_config_check(const struct dlp_config *c, struct error *err)
{
	size_t unused;
	int r;

	if ((r = dlp_secrets_check(c, err)) < 0)
		return r;
	if (c->n_custom == 0)
		return 0;
	dlp_hs_allocator_init();
	return dlp_compile_forked(check_custom, (void *)c, NULL, 0, &unused,
				  err);
}

int dlp_db_new(const struct dlp_config *c, struct dlp_db **out,
	       struct error *err)
{
	struct dlp_db *db;
	int r;

	dlp_hs_allocator_init();
	db = calloc(1, sizeof(*db));
	if (!db)
		return err_set(err, ENOMEM, "dlp: out of memory");
	db->card_id = db->secret_id = -1;
	db->spare = calloc(1, sizeof(*db->spare));
	if (!db->spare) {
		free(db);
		return err_set(err, ENOMEM, "dlp: out of memory");
	}
	r = build(db, c, err);
	if (r == 0)
		r = alloc_scratch(db, err);
	if (r < 0) {
		dlp_db_free(db);
		return r;
	}
	*out = db;
	return 0;
}

void dlp_db_free(struct dlp_db *db)
{
	if (!db)
		return;
	if (*db->spare)
		stream_destroy(*db->spare);
	free(db->spare);
	hs_free_scratch(db->scratch);
	hs_free_database(db->main);
	hs_free_database(db->redact);
	hs_free_database(db->sec);
	for (size_t i = 0; i < db->n_rules; i++)
		free(db->rules[i].name);
	free(db->rules);
	for (size_t i = 0; i < db->n_forms; i++) {
		secure_zero(db->forms[i].bytes, db->forms[i].len);
		free(db->forms[i].bytes);
	}
	free(db->forms);
	free(db);
}

size_t dlp_db_count(const struct dlp_db *db)
{
	return db->n_rules + db->n_secrets;
}

bool dlp_db_from_cache(const struct dlp_db *db)
{
	return db->from_cache;
}

size_t dlp_db_max_span(const struct dlp_db *db)
{
	return db->max_span;
}

/* ---- streams ---- */

struct match_ctx {
	struct dlp_stream *s;
	struct lane *l;
	enum dlp_encoding enc;
};

static __attribute__((noreturn)) void oom(void)
{
	die("out of memory");
}

/* The (up to n) bytes of l that end at stream offset to, in *len: in
 * place when the current input holds them all, else copied into win. */
static const uint8_t *lane_window(const struct lane *l, unsigned long long to,
				  uint8_t *win, size_t n, size_t *len)
{
	unsigned long long start = to > n ? to - n : 0, lo, mid;
	size_t m = 0;

	lo = l->off > l->hist_n ? l->off - l->hist_n : 0;
	if (start < lo)
		start = lo;
	*len = (size_t)(to - start);
	if (start >= l->off)
		return l->cur + (start - l->off);
	mid = to < l->off ? to : l->off;
	m = (size_t)(mid - start);
	memcpy(win, l->hist + l->hist_n - (l->off - start), m);
	if (to > l->off)
		memcpy(win + m, l->cur, (size_t)(to - l->off));
	return win;
}

static int report(struct dlp_stream *s, const char *rule, const char *category,
		  enum dlp_action action, enum dlp_encoding enc)
{
	struct dlp_hit h = {rule, category, action, dlp_encoding_name(enc)};

	if (action == DLP_BLOCK) {
		s->blocked = true;
		s->hit = h;
		return 1; /* stops the scan */
	}
	if (!s->has_logged) {
		s->has_logged = true;
		s->logged = h;
	}
	return 0;
}

static int on_main(unsigned id, unsigned long long from, unsigned long long to,
		   unsigned flags, void *ctx)
{
	struct match_ctx *m = ctx;
	const struct dlp_rule *r = &m->s->db->rules[id];
	uint8_t buf[DLP_CHECK_WINDOW];
	const uint8_t *win;
	size_t n;

	(void)from;
	(void)flags;
	if (r->check != DLP_CHECK_NONE) {
		win = lane_window(m->l, to, buf, sizeof(buf), &n);
		if (!dlp_check_ok(r->check, win, n))
			return 0;
	}
	return report(m->s, r->name, r->category, r->action, m->enc);
}

static int on_secret(unsigned id, unsigned long long from,
		     unsigned long long to, unsigned flags, void *ctx)
{
	struct match_ctx *m = ctx;
	enum dlp_encoding enc = m->s->db->forms[id].enc;

	(void)from;
	(void)to;
	(void)flags;
	return report(m->s, SECRET_RULE, SECRET_RULE, DLP_BLOCK,
		      m->enc != DLP_ENC_PLAIN ? m->enc : enc);
}

static int on_native(void *ctx, enum dlp_check check, size_t to)
{
	struct match_ctx *m = ctx;
	int id =
	    check == DLP_CHECK_LUHN ? m->s->db->card_id : m->s->db->secret_id;
	const struct dlp_rule *r = &m->s->db->rules[id];
	uint8_t buf[DLP_CHECK_WINDOW];
	size_t n;
	const uint8_t *win =
	    lane_window(m->l, m->l->off + to, buf, sizeof(buf), &n);

	if (!dlp_native_ok(check, win, n))
		return 0;
	return report(m->s, r->name, r->category, r->action, m->enc);
}

static void lane_open(struct dlp_stream *s, struct lane *l)
{
	const hs_database_t *dbs[2] = {s->db->main, s->db->sec};

	for (int i = 0; i < 2; i++)
		if (dbs[i] && !l->hs[i] &&
		    hs_open_stream(dbs[i], 0, &l->hs[i]) != HS_SUCCESS)
			oom();
	l->open = true;
}

static void hist_keep(struct lane *l, const uint8_t *p, size_t n)
{
	size_t keep;

	if (n >= HIST) {
		memcpy(l->hist, p + n - HIST, HIST);
		l->hist_n = HIST;
		return;
	}
	keep = HIST - n < l->hist_n ? HIST - n : l->hist_n;
	memmove(l->hist, l->hist + l->hist_n - keep, keep);
	memcpy(l->hist + keep, p, n);
	l->hist_n = keep + n;
}

/* Any Hyperscan failure other than our own stop fails closed. */
static void scan_failed(struct dlp_stream *s, hs_error_t rc)
{
	if (rc != HS_SUCCESS && rc != HS_SCAN_TERMINATED && !s->blocked)
		report(s, "dlp-scan-error", "internal", DLP_BLOCK,
		       DLP_ENC_PLAIN);
}

/* Scan the next n bytes p of a lane; pc: dlp_classify_piece(p, n,
 * &l->carry), or NULL to classify here when the native rules need it. */
static void lane_scan(struct dlp_stream *s, enum dlp_encoding enc,
		      const uint8_t *p, size_t n, const struct dlp_piece *pc)
{
	static match_event_handler const cb[2] = {on_main, on_secret};
	const struct dlp_db *db = s->db;
	struct lane *l = &s->lane[enc];
	struct match_ctx m = {s, l, enc};
	bool card = db->card_id >= 0, secret = db->secret_id >= 0;

	if (s->blocked || n == 0)
		return;
	if (!pc && n > DLP_PIECE) {
		for (size_t i = 0; i < n; i += DLP_PIECE)
			lane_scan(s, enc, p + i,
				  n - i < DLP_PIECE ? n - i : DLP_PIECE, NULL);
		return;
	}
	if (!pc && (card || secret)) {
		dlp_classify_piece(p, n, &l->carry, &s->decoded);
		pc = &s->decoded;
	}
	if (!l->open)
		lane_open(s, l);
	l->cur = p;
	l->cur_n = n;
	for (int i = 0; i < 2 && !s->blocked; i++)
		if (l->hs[i] && !(i == 1 && s->ending && !db->form_nl))
			scan_failed(s,
				    hs_scan_stream(l->hs[i], (const char *)p,
						   (unsigned)n, 0,
						   s->db->scratch, cb[i], &m));
	if (!s->blocked && (card || secret))
		(void)dlp_native_scan(pc, p, card, secret, on_native, &m);
	l->off += n;
	hist_keep(l, p, n);
}

static void on_decoded(void *ctx, enum dlp_encoding enc, const uint8_t *p,
		       size_t n)
{
	lane_scan(ctx, enc, p, n, NULL);
}

struct dlp_stream *dlp_stream_new(const struct dlp_db *db)
{
	struct dlp_stream *s = *db->spare;

	if (s) { /* reset by dlp_stream_free() */
		*db->spare = NULL;
		return s;
	}
	s = xmalloc(sizeof(*s));

	/* The pieces are written before they are read: only the rest is
	 * zeroed (a stream per URL and header block). */
	memset(s, 0, offsetof(struct dlp_stream, raw));

	s->db = db;
	s->dec = dlp_decoder_new(on_decoded, s);
	if (!s->dec)
		oom();
	return s;
}

static int verdict(const struct dlp_stream *s, struct dlp_hit *hit)
{
	if (!s->blocked)
		return 0;
	if (hit)
		*hit = s->hit;
	return 1;
}

int dlp_stream_feed(struct dlp_stream *s, const void *buf, size_t len,
		    struct dlp_hit *hit)
{
	const uint8_t *p = buf;

	/* Pieces small enough for their masks to stay in cache. */
	while (len > 0 && !s->blocked && !s->finished) {
		size_t n = len > DLP_PIECE ? DLP_PIECE : len;

		/* Classified once: for the native rules and the decoders. */
		dlp_classify_piece(p, n, &s->lane[DLP_ENC_PLAIN].carry,
				   &s->raw);
		lane_scan(s, DLP_ENC_PLAIN, p, n, &s->raw);
		if (!s->blocked)
			dlp_decoder_feed_piece(s->dec, p, &s->raw);
		p += n;
		len -= n;
	}
	return verdict(s, hit);
}

/* End a lane's data: its Hyperscan streams report their end-of-data
 * matches if asked (hs_reset_stream() is hs_close_stream() and
 * hs_open_stream() in one) and are ready for the stream's next use. */
static void lane_end(struct dlp_stream *s, struct lane *l,
		     enum dlp_encoding enc, bool report_eod)
{
	static match_event_handler const cb[2] = {on_main, on_secret};
	struct match_ctx m = {s, l, enc};

	for (int i = 0; i < 2; i++) {
		if (!l->hs[i])
			continue;
		/* A literal ends where its last byte is: the secrets' end of
		 * data reports nothing (nor does the line break before it,
		 * when no form has one: lane_scan()). */
		if (report_eod && !s->blocked && (i == 0 || s->db->form_nl))
			scan_failed(s,
				    hs_reset_stream(l->hs[i], 0, s->db->scratch,
						    cb[i], &m));
		else
			hs_reset_stream(l->hs[i], 0, NULL, NULL, NULL);
	}
	l->open = false;
	l->off = 0;
	l->hist_n = 0;
	memset(&l->carry, 0, sizeof(l->carry));
}

int dlp_stream_finish(struct dlp_stream *s, struct dlp_hit *hit)
{
	if (s->finished)
		return verdict(s, hit);
	s->finished = true;
	if (!s->blocked)
		dlp_decoder_finish(s->dec);
	for (int e = 0; e < DLP_ENC_COUNT; e++) {
		/* A line break ends patterns that need a delimiter after the
		 * value (generic-secret) at the end of the data. */
		if (!s->lane[e].open)
			continue;
		s->ending = true;
		lane_scan(s, (enum dlp_encoding)e, (const uint8_t *)"\n", 1,
			  NULL);
		s->ending = false;
		lane_end(s, &s->lane[e], (enum dlp_encoding)e, true);
	}
	return verdict(s, hit);
}

const struct dlp_hit *dlp_stream_logged(const struct dlp_stream *s)
{
	return s->has_logged ? &s->logged : NULL;
}

static void stream_destroy(struct dlp_stream *s)
{
	for (int e = 0; e < DLP_ENC_COUNT; e++)
		for (int i = 0; i < 2; i++)
			if (s->lane[e].hs[i])
				hs_close_stream(s->lane[e].hs[i], NULL, NULL,
						NULL);
	dlp_decoder_free(s->dec);
	free(s);
}

/* Keep s as the db's spare, as dlp_stream_new() would make it, or free
 * it when the db has one. */
void dlp_stream_free(struct dlp_stream *s)
{
	if (!s)
		return;
	if (*s->db->spare) {
		stream_destroy(s);
		return;
	}
	for (int e = 0; e < DLP_ENC_COUNT; e++)
		if (s->lane[e].open)
			lane_end(s, &s->lane[e], (enum dlp_encoding)e, false);
	dlp_decoder_reset(s->dec);
	s->blocked = s->finished = s->has_logged = s->ending = false;
	*s->db->spare = s;
}

int dlp_scan(const struct dlp_db *db, const void *buf, size_t len,
	     struct dlp_hit *hit)
{
	struct dlp_stream *s = dlp_stream_new(db);
	int r = dlp_stream_feed(s, buf, len, hit);

	if (r == 0)
		r = dlp_stream_finish(s, hit);
	dlp_stream_free(s);
	return r;
}

/* ---- redaction ---- */

struct redact_ctx {
	const struct dlp_db *db;
	const uint8_t *copy; /* what Hyperscan scans */
	char *buf;	     /* what we overwrite */
	size_t len;
};

static bool token_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '-';
}

static int on_redact(unsigned id, unsigned long long from,
		     unsigned long long to, unsigned flags, void *ctx)
{
	struct redact_ctx *c = ctx;
	const struct dlp_rule *r = &c->db->rules[id];
	size_t n = to > DLP_CHECK_WINDOW ? DLP_CHECK_WINDOW : (size_t)to;

	(void)flags;
	if (!dlp_check_ok(r->check, c->copy + to - n, n))
		return 0;
	if (r->check == DLP_CHECK_ENTROPY)
		to--; /* keep the delimiter after the value */
	else	      /* patterns match a token's prefix: hide all of it */
		while (to < c->len && token_char(c->copy[to]))
			to++;
	memset(c->buf + from, '*', to - from);
	return 0;
}

void dlp_redact(const struct dlp_db *db, char *buf, size_t len)
{
	_cleanup_free_ uint8_t *copy = NULL;
	struct redact_ctx c = {db, NULL, buf, len};

	if (len == 0)
		return;
	copy = xmalloc(len);
	memcpy(copy, buf, len);
	c.copy = copy;
	if (db->redact &&
	    (len > UINT_MAX ||
	     hs_scan(db->redact, (const char *)copy, (unsigned)len, 0,
		     db->scratch, on_redact, &c) != HS_SUCCESS))
		memset(buf, '*', len); /* cannot tell: hide it all */
	for (size_t i = 0; i < db->n_forms; i++) {
		const struct dlp_form *f = &db->forms[i];
		const uint8_t *p = copy, *q;

		while ((q = memmem(p, len - (size_t)(p - copy), f->bytes,
				   f->len))) {
			memset(buf + (q - copy), '*', f->len);
			p = q + 1;
		}
	}
	secure_zero(copy, len);
}
