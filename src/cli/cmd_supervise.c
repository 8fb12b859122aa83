/* bottle supervise: the human's side of the supervise queue
 * (lib/superq.h, docs/supervise.md).
 *
 *   bottle supervise [ID] [--json] [--list]   pending requests; on a
 *                                              terminal, asks about each
 *   bottle supervise answer REQ (--approve | --deny | --text TEXT)
 *   bottle supervise reports [ID] [--json]     the agents' progress notes
 *
 * Everything shown of a request comes from an agent: see "showing what
 * an agent wrote" below. */
#include "cli/cli.h"

#include "lib/json.h"
#include "lib/strbuf.h"
#include "lib/superq.h"
#include "lib/util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

struct entry {
	char *bottle;	 /* bottle id (the state dir's name) */
	char *queue_dir; /* its STATE/supervise */
	struct superq_req r;
};

struct entries {
	struct entry *v;
	size_t n, alloc;
};

static void entries_release(struct entries *e)
{
	for (size_t i = 0; i < e->n; i++) {
		free(e->v[i].bottle);
		free(e->v[i].queue_dir);
		superq_req_release(&e->v[i].r);
	}
	free(e->v);
	memset(e, 0, sizeof(*e));
}

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->r.created != y->r.created)
		return x->r.created < y->r.created ? -1 : 1;
	return strcmp(x->r.id, y->r.id);
}

/* The ids of the bottles to look at: one (resolved from a prefix) or
 * all.  EXIT_* on failure, after saying why. */
static int bottle_ids(const char *state_home, const char *only, char ***ids)
{
	struct error err = ERROR_INIT;
	size_t n;

	if (only) {
		char *id;
		if (state_resolve(state_home, only, &id, &err) < 0) {
			fprintf(stderr, "bottle: %s\n", err.msg);
			return EXIT_FAIL;
		}
		*ids = xcalloc(2, sizeof(char *));
		(*ids)[0] = id;
		return 0;
	}
	if (state_list(state_home, ids, &n, &err) < 0) {
		fprintf(stderr, "bottle: %s\n", err.msg);
		return EXIT_FAIL;
	}
	return 0;
}

/* Every request of the chosen bottles (pending ones only, or all),
 * oldest first. */
static int gather(const char *only, bool pending_only, struct entries *out)
{
	struct host_facts h;
	char **ids = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	host_facts_gather(&h);
	if ((r = bottle_ids(h.state_home, only, &ids)) != 0) {
		host_facts_release(&h);
		return r;
	}
	for (size_t i = 0; ids[i]; i++) {
		_cleanup_free_ char *sd =
		    xasprintf("%s/%s", h.state_home, ids[i]);
		char *qd = superq_dir(sd);
		struct error err = ERROR_INIT;
		struct superq_req *v;
		size_t n;

		if (superq_list(qd, &v, &n, &err) < 0) {
			fprintf(stderr, "bottle: %s\n", err.msg);
			free(qd);
			continue;
		}
		for (size_t k = 0; k < n; k++) {
			if (pending_only && v[k].verdict != SUPERQ_PENDING) {
				superq_req_release(&v[k]);
				continue;
			}
			ALLOC_GROW(out->v, out->n + 1, out->alloc);
			out->v[out->n].bottle = xstrdup(ids[i]);
			out->v[out->n].queue_dir = xstrdup(qd);
			out->v[out->n++].r = v[k];
		}
		free(v);
		free(qd);
	}
	if (out->n)
		qsort(out->v, out->n, sizeof(*out->v), cmp_entry);
	strv_free(ids);
	host_facts_release(&h);
	return 0;
}

/* ---- showing what an agent wrote ----------------------------------------
 *
 * term_safe() leaves nothing in it that moves the cursor, changes the
 * terminal or reorders text, but newlines and tabs.  Then a text that is
 * not one short line is shown as a block whose every row starts with
 * BAR, folded before the terminal would wrap it and cut after FIELD_ROWS
 * rows: no text can pass for our own lines (a fake request with a fake
 * host after a screenful of blank lines), and the prompt repeats what is
 * being decided. */

#define BAR	   "  | "
#define FIELD_ROWS 20

static unsigned term_cols(void)
{
	struct winsize ws;

	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 24)
		return ws.ws_col;
	return 80;
}

/* s, at most max bytes of it ("..." after a cut), made safe (flags as for
 * term_safe()); malloc'd. */
static char *safe(const char *s, size_t max, unsigned flags)
{
	struct strbuf sb = STRBUF_INIT;
	size_t n = s ? strlen(s) : 0, cut = utf8_cut(s, n, max);

	term_safe(&sb, s ? s : "", cut, flags);
	if (cut < n)
		strbuf_addstr(&sb, "...");
	return strbuf_detach(&sb, NULL);
}

/* The bytes and columns of the character at safe text p: ASCII is one
 * column, anything else counts two (never fewer than a terminal gives it,
 * so a row never wraps). */
static size_t char_len(const unsigned char *p, unsigned *cols)
{
	size_t len = *p < 0x80		   ? 1
		     : (*p & 0xe0) == 0xc0 ? 2
		     : (*p & 0xf0) == 0xe0 ? 3
					   : 4;
	size_t i;

	*cols = *p < 0x80 ? 1 : 2;
	for (i = 1; i < len && p[i]; i++)
		;
	return i;
}

struct rows {
	char **v;
	size_t n, alloc;
};

static void rows_push(struct rows *r, struct strbuf *row)
{
	ALLOC_GROW(r->v, r->n + 1, r->alloc);
	r->v[r->n++] = strbuf_detach(row, NULL);
}

static void rows_release(struct rows *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->v[i]);
	free(r->v);
}

/* Safe text t as rows of at most width columns, tabs expanded, trailing
 * empty rows dropped. */
static void fold(const char *t, unsigned width, struct rows *r)
{
	const unsigned char *p = (const unsigned char *)t;
	struct strbuf row = STRBUF_INIT;
	unsigned col = 0, w;

	memset(r, 0, sizeof(*r));
	while (*p) {
		size_t len;

		if (*p == '\n') {
			rows_push(r, &row);
			col = 0;
			p++;
			continue;
		}
		if (*p == '\t') {
			unsigned to = (col / 8 + 1) * 8;
			if (to > width) {
				rows_push(r, &row);
				col = 0;
			} else {
				for (; col < to; col++)
					strbuf_addch(&row, ' ');
			}
			p++;
			continue;
		}
		len = char_len(p, &w);
		if (col + w > width) {
			rows_push(r, &row);
			col = 0;
		}
		strbuf_add(&row, p, len);
		col += w;
		p += len;
	}
	if (row.len || !r->n)
		rows_push(r, &row);
	strbuf_release(&row);
	while (r->n > 1 && !*r->v[r->n - 1])
		free(r->v[--r->n]);
}

static unsigned cols_of(const char *t)
{
	const unsigned char *p = (const unsigned char *)t;
	unsigned n = 0, w;

	while (*p) {
		p += char_len(p, &w);
		n += w;
	}
	return n;
}

/* Print lead, then what an agent wrote: on the same line when it is one
 * row that fits, else as a block of rows under lead. */
static void show_text(const char *lead, const char *text)
{
	unsigned cols = term_cols();
	_cleanup_free_ char *t =
	    safe(text, SUPERQ_TEXT_MAX, TERM_SAFE_NL | TERM_SAFE_TAB);
	_cleanup_free_ char *head = xstrdup(lead);
	size_t hlen = strlen(head);
	struct rows r;

	fold(t, cols - 1 - (unsigned)strlen(BAR), &r);
	if (r.n == 1 && !strchr(t, '\t') && hlen + cols_of(r.v[0]) < cols) {
		printf("%s%s\n", lead, r.v[0]);
		rows_release(&r);
		return;
	}
	while (hlen && head[hlen - 1] == ' ')
		head[--hlen] = '\0';
	printf("%s\n", head);
	for (size_t i = 0; i < r.n && i < FIELD_ROWS; i++)
		printf(BAR "%s\n", r.v[i]);
	if (r.n > FIELD_ROWS)
		printf(BAR "... %zu more lines (`bottle supervise --json` "
			   "has them all)\n",
		       r.n - FIELD_ROWS);
	rows_release(&r);
}

/* ---- showing requests ---------------------------------------------------- */

/* The argument names of a tool: the main one, then the second. */
static void tool_keys(const char *tool, const char **k1, const char **k2)
{
	*k1 = "message";
	*k2 = NULL;
	if (strcmp(tool, "ask_supervisor") == 0) {
		*k1 = "question";
		*k2 = "context";
	} else if (strcmp(tool, "request_approval") == 0) {
		*k1 = "action";
		*k2 = "reason";
	} else if (strcmp(tool, "request_egress") == 0) {
		*k1 = "host";
		*k2 = "reason";
	}
}

/* One line: the question, action or "host: reason". */
static char *summary(const struct superq_req *r, size_t max)
{
	const char *k1, *k2;
	_cleanup_free_ char *a = NULL, *b = NULL, *all = NULL;

	tool_keys(r->tool, &k1, &k2);
	a = superq_arg(r->args, k1);
	b = k2 && strcmp(r->tool, "request_egress") == 0
		? superq_arg(r->args, k2)
		: NULL;
	all = xasprintf("%s%s%s", a ? a : "", b ? ": " : "", b ? b : "");
	return safe(all, max, TERM_SAFE_ONE_LINE);
}

static void age(char *buf, size_t n, int64_t ms)
{
	format_age(buf, n, (int64_t)time(NULL) - ms / 1000);
}

static void json_entry(struct json_writer *w, const struct entry *e)
{
	struct json_value *args = NULL;
	struct error err = ERROR_INIT;

	json_writer_begin_object(w);
	json_writer_kv_string(w, "bottle", e->bottle);
	json_writer_kv_string(w, "id", e->r.id);
	json_writer_kv_string(w, "tool", e->r.tool);
	json_writer_kv_string(w, "status", superq_verdict_name(e->r.verdict));
	json_writer_kv_int64(w, "created", e->r.created / 1000);
	json_writer_kv_int64(w, "age",
			     (int64_t)time(NULL) - e->r.created / 1000);
	json_writer_key(w, "args");
	if (json_parse(e->r.args, strlen(e->r.args), &args, &err) == 0)
		json_writer_value(w, args);
	else
		json_writer_null(w);
	json_value_free(args);
	json_writer_end_object(w);
}

/* Cut safe one-line text t to at most width columns, "..." marking a
 * cut. */
static void cut_cols(char *t, unsigned width)
{
	unsigned col = 0, w;
	size_t i = 0, keep = 0;

	if (cols_of(t) <= width)
		return;
	while (t[i]) {
		size_t len = char_len((const unsigned char *)t + i, &w);
		if (col + w + 3 > width)
			break;
		col += w;
		i += len;
		keep = i;
	}
	if (width >= 3)
		memcpy(t + keep, "...", 4);
	else
		t[0] = '\0';
}

/* One row per request; on a terminal, rows never wrap, so that a
 * summary cannot continue as a row of its own making. */
static void print_table(const struct entries *es)
{
	static const unsigned lead = 22 + 1 + 8 + 1 + 16 + 1 + 5 + 1;
	unsigned width = term_cols() > lead + 11 ? term_cols() - lead - 1 : 10;
	bool tty = isatty(STDOUT_FILENO);

	if (!es->n) {
		printf("no pending requests\n");
		return;
	}
	printf("%-22s %-8s %-16s %-5s %s\n", "BOTTLE", "REQUEST", "TOOL", "AGE",
	       "QUESTION / ACTION / HOST");
	for (size_t i = 0; i < es->n; i++) {
		_cleanup_free_ char *s = summary(&es->v[i].r, 200);
		_cleanup_free_ char *tool =
		    safe(es->v[i].r.tool, 16, TERM_SAFE_ONE_LINE);
		char a[24];

		if (tty)
			cut_cols(s, width);
		age(a, sizeof(a), es->v[i].r.created);
		printf("%-22s %-8s %-16s %-5s %s\n", es->v[i].bottle,
		       es->v[i].r.id, tool, a, s);
	}
}

/* ---- answering ----------------------------------------------------------- */

static bool color(void)
{
	const char *nc = getenv("NO_COLOR");

	return isatty(STDOUT_FILENO) && !(nc && *nc);
}

/* Write the answer; prints the outcome.  EXIT_*. */
static int answer(const struct entry *e, enum superq_verdict v,
		  const char *text)
{
	struct error err = ERROR_INIT;

	if (superq_answer(e->queue_dir, e->r.id, v, text, &err) < 0) {
		fprintf(stderr, "bottle: %s\n", err.msg);
		return EXIT_FAIL;
	}
	printf("%s %s (%s, %s)\n", superq_verdict_name(v), e->r.id, e->r.tool,
	       e->bottle);
	return EXIT_OK;
}

static char *prompt(const char *what)
{
	char *line = NULL;
	size_t alloc = 0;
	ssize_t n;

	printf("%s", what);
	fflush(stdout);
	n = getline(&line, &alloc, stdin);
	if (n < 0) {
		free(line);
		return NULL;
	}
	if (n > 0 && line[n - 1] == '\n')
		line[n - 1] = '\0';
	return line;
}

/* Ask about one request on the terminal.  1 to go on, 0 to stop. */
static int ask_one(const struct entry *e, size_t i, size_t n)
{
	const char *k1, *k2, *b0 = color() ? "\033[1m" : "", *b1 = "";
	_cleanup_free_ char *a1 = NULL, *a2 = NULL, *tool = NULL;
	_cleanup_free_ char *lead1 = NULL, *lead2 = NULL, *host = NULL;
	_cleanup_free_ char *ask = NULL, *choice = NULL, *text = NULL;
	char when[24];

	if (*b0)
		b1 = "\033[0m";
	tool_keys(e->r.tool, &k1, &k2);
	a1 = superq_arg(e->r.args, k1);
	a2 = k2 ? superq_arg(e->r.args, k2) : NULL;
	tool = safe(e->r.tool, 64, TERM_SAFE_ONE_LINE);
	age(when, sizeof(when), e->r.created);
	printf("\n%s[%zu/%zu] %s %s%s  %s, %s ago\n", b0, i + 1, n, tool,
	       e->r.id, b1, e->bottle, when);
	lead1 = xasprintf("  %s: ", k1);
	show_text(lead1, a1);
	if (a2) {
		lead2 = xasprintf("  %s: ", k2);
		show_text(lead2, a2);
	}
	/* The prompt says again what is decided on: the text above may be
	 * long, and it is the agent's. */
	if (strcmp(e->r.tool, "ask_supervisor") == 0) {
		ask = xasprintf("%s %s: answer (Enter skips, Ctrl-D quits)> ",
				tool, e->r.id);
		text = prompt(ask);
		if (!text)
			return 0;
		if (*text)
			answer(e, SUPERQ_ANSWERED, text);
		return 1;
	}
	if (strcmp(e->r.tool, "request_egress") == 0) {
		host = safe(a1, 256, TERM_SAFE_ONE_LINE);
		ask =
		    xasprintf("%s %s, host %s%s%s: [a]pprove, [d]eny, [s]kip, "
			      "[q]uit? ",
			      tool, e->r.id, b0, host, b1);
	} else {
		ask = xasprintf("%s %s: [a]pprove, [d]eny, [s]kip, [q]uit? ",
				tool, e->r.id);
	}
	choice = prompt(ask);
	if (!choice || choice[0] == 'q')
		return 0;
	if (choice[0] != 'a' && choice[0] != 'd')
		return 1;
	text = prompt("note for the agent (Enter for none)> ");
	if (!text)
		return 0;
	answer(e, choice[0] == 'a' ? SUPERQ_APPROVED : SUPERQ_DENIED,
	       *text ? text : NULL);
	return 1;
}

static int cmd_list(int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {"list", no_argument, NULL, 'l'},
					     {NULL, 0, NULL, 0}};
	bool json = false, list = false;
	struct entries es;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jl", opts, NULL)) != -1) {
		if (c == 'j')
			json = true;
		else if (c == 'l')
			list = true;
		else
			goto usage;
	}
	if (argc - optind > 1)
		goto usage;
	if ((r = gather(optind < argc ? argv[optind] : NULL, true, &es)) != 0)
		return r;
	if (json) {
		struct strbuf sb = STRBUF_INIT;
		struct json_writer w;
		json_writer_init(&w, &sb, 0);
		json_writer_begin_array(&w);
		for (size_t i = 0; i < es.n; i++)
			json_entry(&w, &es.v[i]);
		json_writer_end_array(&w);
		printf("%s\n", sb.buf);
		strbuf_release(&sb);
	} else if (list || !isatty(STDIN_FILENO) || !es.n) {
		print_table(&es);
	} else {
		for (size_t i = 0; i < es.n && ask_one(&es.v[i], i, es.n); i++)
			;
	}
	entries_release(&es);
	return EXIT_OK;
usage:
	cli_usage("supervise", stderr);
	return EXIT_USAGE;
}

/* The request REQ names: an exact id, or a prefix matching one pending
 * request, or else one request at all.  NULL after saying why. */
static const struct entry *find_req(const struct entries *es, const char *req)
{
	const struct entry *any = NULL, *pending = NULL;
	size_t n_any = 0, n_pending = 0;

	for (size_t i = 0; i < es->n; i++) {
		if (strcmp(es->v[i].r.id, req) == 0)
			return &es->v[i];
		if (!*req || !str_has_prefix(es->v[i].r.id, req))
			continue;
		any = &es->v[i];
		n_any++;
		if (es->v[i].r.verdict == SUPERQ_PENDING) {
			pending = &es->v[i];
			n_pending++;
		}
	}
	if (n_pending == 1)
		return pending;
	if (n_any == 1)
		return any;
	if (n_any == 0)
		fprintf(stderr,
			"bottle: no request \"%s\" (see `bottle supervise`)\n",
			req);
	else
		fprintf(stderr,
			"bottle: \"%s\" matches %zu requests; give more of "
			"the id\n",
			req, n_any);
	return NULL;
}

static int cmd_answer(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"approve", no_argument, NULL, 'a'},
	    {"deny", no_argument, NULL, 'd'},
	    {"text", required_argument, NULL, 't'},
	    {NULL, 0, NULL, 0}};
	enum superq_verdict v = SUPERQ_PENDING;
	const char *text = NULL;
	const struct entry *e;
	struct entries es;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "adt:", opts, NULL)) != -1) {
		if ((c == 'a' || c == 'd') && v != SUPERQ_PENDING)
			goto usage;
		if (c == 'a')
			v = SUPERQ_APPROVED;
		else if (c == 'd')
			v = SUPERQ_DENIED;
		else if (c == 't')
			text = optarg;
		else
			goto usage;
	}
	if (argc - optind != 1 || (v == SUPERQ_PENDING && !text))
		goto usage;
	if ((r = gather(NULL, false, &es)) != 0)
		return r;
	if (!(e = find_req(&es, argv[optind]))) {
		entries_release(&es);
		return EXIT_FAIL;
	}
	if (v == SUPERQ_PENDING && strcmp(e->r.tool, "ask_supervisor") != 0) {
		fprintf(stderr,
			"bottle: request %s is %s: answer it with --approve "
			"or --deny (--text adds a note)\n",
			e->r.id, e->r.tool);
		entries_release(&es);
		return EXIT_USAGE;
	}
	r = answer(e, v == SUPERQ_PENDING ? SUPERQ_ANSWERED : v, text);
	entries_release(&es);
	return r;
usage:
	cli_usage("supervise", stderr);
	return EXIT_USAGE;
}

/* ---- reports ------------------------------------------------------------- */

struct report {
	int64_t time;
	char *bottle, *message;
};

struct reports {
	struct report *v;
	size_t n, alloc;
};

static void on_report(int64_t t, const char *bottle, const char *message,
		      void *ctx)
{
	struct reports *rs = ctx;

	ALLOC_GROW(rs->v, rs->n + 1, rs->alloc);
	rs->v[rs->n++] = (struct report){t, xstrdup(bottle), xstrdup(message)};
}

static int cmp_report(const void *a, const void *b)
{
	const struct report *x = a, *y = b;

	return (x->time > y->time) - (x->time < y->time);
}

static void print_reports(const struct reports *rs, bool json)
{
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;

	json_writer_init(&w, &sb, 0);
	if (json)
		json_writer_begin_array(&w);
	for (size_t i = 0; i < rs->n; i++) {
		const struct report *p = &rs->v[i];
		_cleanup_free_ char *lead = NULL;
		char a[24];

		if (json) {
			json_writer_begin_object(&w);
			json_writer_kv_string(&w, "bottle", p->bottle);
			json_writer_kv_int64(&w, "time", p->time / 1000);
			json_writer_kv_string(&w, "message", p->message);
			json_writer_end_object(&w);
			continue;
		}
		age(a, sizeof(a), p->time);
		lead = xasprintf("%-22s %-5s ", p->bottle, a);
		show_text(lead, p->message);
	}
	if (json) {
		json_writer_end_array(&w);
		printf("%s\n", sb.buf);
	}
	strbuf_release(&sb);
}

static int cmd_reports(int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {NULL, 0, NULL, 0}};
	struct host_facts h;
	struct reports rs = {0};
	char **ids = NULL;
	bool json = false;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (c != 'j') {
			cli_usage("supervise", stderr);
			return EXIT_USAGE;
		}
		json = true;
	}
	if (argc - optind > 1) {
		cli_usage("supervise", stderr);
		return EXIT_USAGE;
	}
	host_facts_gather(&h);
	r = bottle_ids(h.state_home, optind < argc ? argv[optind] : NULL, &ids);
	for (size_t i = 0; r == 0 && ids[i]; i++) {
		_cleanup_free_ char *sd =
		    xasprintf("%s/%s", h.state_home, ids[i]);
		_cleanup_free_ char *qd = superq_dir(sd);
		struct error err = ERROR_INIT;

		if (superq_reports(qd, on_report, &rs, &err) < 0)
			fprintf(stderr, "bottle: %s\n", err.msg);
	}
	if (rs.n)
		qsort(rs.v, rs.n, sizeof(*rs.v), cmp_report);
	if (r == 0)
		print_reports(&rs, json);
	for (size_t i = 0; i < rs.n; i++) {
		free(rs.v[i].bottle);
		free(rs.v[i].message);
	}
	free(rs.v);
	strv_free(ids);
	host_facts_release(&h);
	return r;
}

int cmd_supervise(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "answer") == 0)
		return cmd_answer(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "reports") == 0)
		return cmd_reports(argc - 1, argv + 1);
	return cmd_list(argc, argv);
}
