/* bottle supervise: the human's side of the supervise queue
 * (lib/superq.h, docs/supervise.md).
 *
 *   bottle supervise [ID] [--json] [--list]   pending requests; on a
 *                                              terminal, asks about each
 *   bottle supervise answer REQ (--approve | --deny | --text TEXT)
 *   bottle supervise reports [ID] [--json]     the agents' progress notes
 *
 * Everything shown comes from an agent, so control characters are
 * replaced before they reach the terminal (no escape sequences). */
#include "cli/cli.h"

#include "lib/json.h"
#include "lib/strbuf.h"
#include "lib/superq.h"
#include "lib/util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
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

/* ---- showing requests ---------------------------------------------------- */

/* s with C0, DEL and C1 controls replaced (by ' ' where one_line, else
 * '?', newlines kept), cut after max bytes with "...". */
static char *clean(const char *s, size_t max, bool one_line)
{
	struct strbuf sb = STRBUF_INIT;
	const unsigned char *p = (const unsigned char *)(s ? s : "");

	for (; *p && sb.len < max; p++) {
		if (*p == '\n' && !one_line)
			strbuf_addch(&sb, '\n');
		else if (*p < 0x20 || *p == 0x7f)
			strbuf_addch(&sb, one_line ? ' ' : '?');
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			strbuf_addch(&sb, '?'); /* U+0080..U+009F */
			p++;
		} else
			strbuf_addch(&sb, (char)*p);
	}
	if (*p)
		strbuf_addstr(&sb, "...");
	return strbuf_detach(&sb, NULL);
}

static char *arg_of(const struct superq_req *r, const char *key)
{
	struct json_value *v = NULL;
	struct error err = ERROR_INIT;
	char *s;

	if (json_parse(r->args, strlen(r->args), &v, &err) < 0)
		return NULL;
	s = json_obj_strdup(v, key);
	json_value_free(v);
	return s;
}

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
	a = arg_of(r, k1);
	b = k2 && strcmp(r->tool, "request_egress") == 0 ? arg_of(r, k2) : NULL;
	all = xasprintf("%s%s%s", a ? a : "", b ? ": " : "", b ? b : "");
	return clean(all, max, true);
}

static void age(char *buf, size_t n, int64_t ms)
{
	int64_t d = (int64_t)time(NULL) - ms / 1000;

	if (d < 0)
		d = 0;
	if (d < 120)
		snprintf(buf, n, "%llds", (long long)d);
	else if (d < 7200)
		snprintf(buf, n, "%lldm", (long long)d / 60);
	else if (d < 172800)
		snprintf(buf, n, "%lldh", (long long)d / 3600);
	else
		snprintf(buf, n, "%lldd", (long long)d / 86400);
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

static void print_table(const struct entries *es)
{
	if (!es->n) {
		printf("no pending requests\n");
		return;
	}
	printf("%-22s %-8s %-16s %-5s %s\n", "BOTTLE", "REQUEST", "TOOL", "AGE",
	       "QUESTION / ACTION / HOST");
	for (size_t i = 0; i < es->n; i++) {
		_cleanup_free_ char *s = summary(&es->v[i].r, 200);
		char a[24];

		age(a, sizeof(a), es->v[i].r.created);
		printf("%-22s %-8s %-16s %-5s %s\n", es->v[i].bottle,
		       es->v[i].r.id, es->v[i].r.tool, a, s);
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
	_cleanup_free_ char *a1 = NULL, *a2 = NULL, *c1 = NULL, *c2 = NULL;
	_cleanup_free_ char *choice = NULL, *text = NULL;
	char when[24];

	if (*b0)
		b1 = "\033[0m";
	tool_keys(e->r.tool, &k1, &k2);
	a1 = arg_of(&e->r, k1);
	a2 = k2 ? arg_of(&e->r, k2) : NULL;
	c1 = clean(a1, SUPERQ_TEXT_MAX, false);
	c2 = a2 ? clean(a2, SUPERQ_TEXT_MAX, false) : NULL;
	age(when, sizeof(when), e->r.created);
	printf("\n%s[%zu/%zu] %s %s%s  %s, %s ago\n  %s: %s\n", b0, i + 1, n,
	       e->r.tool, e->r.id, b1, e->bottle, when, k1, c1);
	if (c2)
		printf("  %s: %s\n", k2, c2);
	if (strcmp(e->r.tool, "ask_supervisor") == 0) {
		text = prompt("answer (Enter skips, Ctrl-D quits)> ");
		if (!text)
			return 0;
		if (*text)
			answer(e, SUPERQ_ANSWERED, text);
		return 1;
	}
	choice = prompt("[a]pprove, [d]eny, [s]kip, [q]uit? ");
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
		_cleanup_free_ char *m = NULL;
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
		m = clean(p->message, SUPERQ_TEXT_MAX, false);
		printf("%-22s %-5s %s\n", p->bottle, a, m);
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
