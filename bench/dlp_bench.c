/* bench/dlp_bench: DLP scan throughput on a realistic 100 MiB request body
 * (source code, JSON, prose, base64 blobs; generated deterministically),
 * with the full pattern set (built-in + 3 custom + 2 literal secrets), fed
 * in 64 KiB chunks like the proxy does.  For a ratio, the same file is
 * searched in the same run by `grep -E -c` with those patterns that POSIX
 * ERE can express.
 *
 *   dlp_bench [--mib N] [--runs R] [--no-grep] [--keep FILE]
 *   dlp_bench --heads N [--runs R]
 *
 * --heads times instead what the proxy does with every request's head
 * (proxy.c: redact_path(), dlp_head()): dlp_redact() over the path, and
 * dlp_scan() over the head and over the percent-decoded target, on N
 * generated heads of about 300 bytes; it prints ns per head.
 */
#include "bundle/dlp.h"
#include "bundle/dlp_builtin.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <ctype.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>

#define CHUNK (64 * 1024)

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static const char *const words[] = {
    "the",     "request",  "handler",	  "returns", "a",     "value",
    "for",     "each",	   "connection",  "buffer",  "and",   "config",
    "timeout", "server",   "client",	  "error",   "index", "string",
    "of",      "with",	   "token_count", "user",    "data",  "network",
    "stream",  "function", "parse",	  "result",  "is",    "not",
    "in",      "response", "header",	  "length",  "query", "cache",
    "update",  "model",
};

static void add_words(struct strbuf *sb, int n)
{
	for (int i = 0; i < n; i++) {
		strbuf_addstr(sb, words[next() % ARRAY_SIZE(words)]);
		strbuf_addch(sb, i + 1 < n ? ' ' : '.');
	}
}

static void add_b64(struct strbuf *sb, size_t nbytes, bool wrap)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqr"
				"stuvwxyz0123456789+/";
	for (size_t i = 0; i < nbytes / 3 * 4; i++) {
		strbuf_addch(sb, a[next() % 64]);
		if (wrap && i % 76 == 75)
			strbuf_addch(sb, '\n');
	}
	strbuf_addstr(sb, "==");
}

static void add_segment(struct strbuf *sb)
{
	unsigned k = next() % 40;

	if (k < 16) { /* source code */
		strbuf_addf(sb,
			    "static int %s_%u(struct %s *p, size_t n)\n{\n"
			    "\tif (n > %u)\n\t\treturn -EINVAL; /* ",
			    words[next() % ARRAY_SIZE(words)],
			    (unsigned)(next() % 1000),
			    words[next() % ARRAY_SIZE(words)],
			    (unsigned)(next() % 65536));
		add_words(sb, 8);
		strbuf_addf(sb, " */\n\tp->%s = %u;\n\treturn 0;\n}\n",
			    words[next() % ARRAY_SIZE(words)],
			    (unsigned)(next() % 100));
	} else if (k < 28) { /* JSON */
		strbuf_addf(sb,
			    "{\"id\": \"%016llx\", \"%s\": %u, \"text\": \"",
			    (unsigned long long)next(),
			    words[next() % ARRAY_SIZE(words)],
			    (unsigned)(next() % 100000));
		add_words(sb, 12);
		strbuf_addstr(sb, "\", \"tags\": [\"a\", \"b\"]}\n");
	} else if (k < 39) { /* prose */
		add_words(sb, 40);
		strbuf_addch(sb, '\n');
	} else { /* base64 blob, JSON or MIME */
		bool mime = next() % 2;

		strbuf_addstr(sb, mime ? "\n" : "{\"data\": \"");
		add_b64(sb, 150 + next() % 600, mime);
		strbuf_addstr(sb, mime ? "\n" : "\"}\n");
	}
}

/* The regex in POSIX ERE, or NULL when it needs what ERE lacks. */
static char *to_ere(const char *re)
{
	struct strbuf sb = STRBUF_INIT;
	bool br = false, dash = false;

	for (const char *p = re; *p; p++) {
		if (str_has_prefix(p, "(?i") ||
		    (br && p[0] == '\\' && p[1] == 'n')) {
			strbuf_release(&sb);
			return NULL;
		}
		if (str_has_prefix(p, "(?:")) {
			strbuf_addch(&sb, '(');
			p += 2;
		} else if (p[0] == '\\' && p[1] == 'd') {
			strbuf_addstr(&sb, br ? "0-9" : "[0-9]");
			p++;
		} else if (p[0] == '\\' && p[1] == 's') {
			strbuf_addstr(&sb, br ? "[:space:]" : "[[:space:]]");
			p++;
		} else if (br && p[0] == '\\' && p[1] == '-') {
			dash = true;
			p++;
		} else if (br && p[0] == '\\') {
			strbuf_addch(&sb, p[1]);
			p++;
		} else if (!br && p[0] == '[') {
			br = true;
			strbuf_addch(&sb, '[');
			if (p[1] == '^')
				strbuf_addch(&sb, *++p);
		} else if (br && p[0] == ']') {
			if (dash)
				strbuf_addch(&sb, '-');
			br = dash = false;
			strbuf_addch(&sb, ']');
		} else {
			strbuf_addch(&sb, *p);
			if (p[0] == '\\' && p[1])
				strbuf_addch(&sb, *++p);
		}
	}
	return strbuf_detach(&sb, NULL);
}

/* CPU time of the calling thread: what the scan costs on one core, without
 * the time the VM's other tenants (steal) or other processes take. */
static uint64_t thread_cpu_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct times {
	double wall, cpu; /* seconds */
};

static double tv_secs(struct timeval tv)
{
	return (double)tv.tv_sec + tv.tv_usec / 1e6;
}

/* grep's wall time, and its CPU time (user + system, from wait4). */
static struct times grep_secs(const char *file, const char *pats, long *count)
{
	char out[64] = "";
	struct rusage ru = {0};
	int pfd[2];
	uint64_t t;
	pid_t pid;
	ssize_t n;

	if (pipe(pfd) < 0)
		die("pipe");
	t = now_ns();
	pid = fork();
	if (pid == 0) {
		dup2(pfd[1], 1);
		setenv("LC_ALL", "C", 1);
		execlp("grep", "grep", "-E", "-c", "-f", pats, file, NULL);
		_exit(127);
	}
	close(pfd[1]);
	n = read(pfd[0], out, sizeof(out) - 1);
	close(pfd[0]);
	if (wait4(pid, NULL, 0, &ru) < 0)
		die("wait4");
	t = now_ns() - t;
	*count = n > 0 ? atol(out) : -1;
	return (struct times){t / 1e9,
			      tv_secs(ru.ru_utime) + tv_secs(ru.ru_stime)};
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* A request head like an agent's: an API call, a search with %XX in the
 * query, a page fetch with a session cookie (a base64 run). */
static void add_head(struct strbuf *sb, unsigned i)
{
	switch (i % 3) {
	case 0:
		strbuf_addf(sb,
			    "POST /v1/messages?beta=true HTTP/1.1\r\n"
			    "Host: api.anthropic.com\r\n"
			    "User-Agent: claude-cli/1.0.%u (external, cli)\r\n"
			    "Accept: application/json\r\n"
			    "Content-Type: application/json\r\n"
			    "Anthropic-Version: 2023-06-01\r\n"
			    "X-Api-Key: bottle-placeholder-%08x\r\n"
			    "Content-Length: %u\r\n"
			    "Connection: keep-alive\r\n\r\n",
			    i % 100, (unsigned)next(),
			    (unsigned)(next() % 90000));
		break;
	case 1:
		strbuf_addf(
		    sb,
		    "GET /search?q=%s%%20%s%%2C%%20%s&page=%u HTTP/1.1\r\n"
		    "Host: search.example.org\r\n"
		    "User-Agent: Mozilla/5.0 (X11; Linux x86_64)\r\n"
		    "Accept: text/html,application/xhtml+xml\r\n"
		    "Accept-Language: en-US,en;q=0.9\r\n"
		    "Accept-Encoding: gzip, deflate\r\n"
		    "Connection: keep-alive\r\n\r\n",
		    words[next() % ARRAY_SIZE(words)],
		    words[next() % ARRAY_SIZE(words)],
		    words[next() % ARRAY_SIZE(words)], i % 10);
		break;
	default:
		strbuf_addf(sb,
			    "GET /docs/%s/%s.html HTTP/1.1\r\n"
			    "Host: docs.example.com\r\n"
			    "User-Agent: curl/8.5.0\r\n"
			    "Accept: */*\r\n"
			    "Cookie: session=",
			    words[next() % ARRAY_SIZE(words)],
			    words[next() % ARRAY_SIZE(words)]);
		add_b64(sb, 36, false);
		strbuf_addstr(sb, "; theme=dark\r\n\r\n");
	}
}

/* The target of a head: from its first space to the next. */
static size_t head_target(const char *h, const char **t)
{
	const char *a = strchr(h, ' ') + 1;

	*t = a;
	return (size_t)(strchr(a, ' ') - a);
}

static size_t pct_decode(const char *s, size_t n, char *out)
{
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n &&
		    isxdigit((unsigned char)s[i + 1]) &&
		    isxdigit((unsigned char)s[i + 2])) {
			char hx[3] = {s[i + 1], s[i + 2], 0};

			out[m++] = (char)strtoul(hx, NULL, 16);
			i += 2;
		} else {
			out[m++] = s[i];
		}
	}
	return m;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* --heads: per head, what the proxy does before it forwards one (see the
 * top); best and median of the runs, ns of thread CPU per head. */
static void bench_heads(const struct dlp_db *db, unsigned n, int runs)
{
	struct strbuf *heads = xcalloc(n, sizeof(*heads));
	uint64_t *t[3];
	size_t bytes = 0, blocks = 0;
	char path[512], dec[512];
	struct dlp_hit hit;
	static const char *const what[3] = {
	    "dlp_redact(path)", "dlp_scan(head)", "dlp_scan(target)"};

	for (unsigned i = 0; i < n; i++) {
		strbuf_init(&heads[i], 0);
		add_head(&heads[i], i);
		bytes += heads[i].len;
	}
	for (int k = 0; k < 3; k++)
		t[k] = xcalloc((size_t)runs, sizeof(*t[k]));
	for (int r = 0; r < runs; r++) {
		for (int k = 0; k < 3; k++) {
			uint64_t c = thread_cpu_ns();

			for (unsigned i = 0; i < n; i++) {
				const char *tg;
				size_t tn = head_target(heads[i].buf, &tg);

				if (k == 0) {
					memcpy(path, tg, tn);
					dlp_redact(db, path, tn);
				} else if (k == 1) {
					blocks += dlp_scan(db, heads[i].buf,
							   heads[i].len, &hit);
				} else {
					blocks += dlp_scan(
					    db, dec, pct_decode(tg, tn, dec),
					    &hit);
				}
			}
			t[k][r] = thread_cpu_ns() - c;
		}
	}
	printf("heads: %u of %.0f bytes on average, %d runs (%zu blocks)\n", n,
	       (double)bytes / n, runs, blocks);
	for (int k = 0; k < 3; k++) {
		qsort(t[k], (size_t)runs, sizeof(*t[k]), cmp_u64);
		printf("  %-17s %6.0f ns per head (median %.0f), thread CPU\n",
		       what[k], (double)t[k][0] / n,
		       (double)t[k][runs / 2] / n);
		free(t[k]);
	}
	for (unsigned i = 0; i < n; i++)
		strbuf_release(&heads[i]);
	free(heads);
}

/* One scan of the body: wall time, and the CPU time of this thread (the
 * scan runs on it alone). */
static struct times scan_secs(const struct dlp_db *db,
			      const struct strbuf *body, size_t *blocks)
{
	struct dlp_stream *s = dlp_stream_new(db);
	struct dlp_hit hit;
	uint64_t t = now_ns(), c = thread_cpu_ns();

	for (size_t off = 0; off < body->len; off += CHUNK) {
		size_t n = body->len - off < CHUNK ? body->len - off : CHUNK;

		if (dlp_stream_feed(s, body->buf + off, n, &hit)) {
			++*blocks; /* a random blob decoded into a match */
			dlp_stream_free(s);
			s = dlp_stream_new(db);
		}
	}
	*blocks += dlp_stream_finish(s, &hit);
	dlp_stream_free(s);
	return (struct times){(now_ns() - t) / 1e9,
			      (thread_cpu_ns() - c) / 1e9};
}

int main(int argc, char **argv)
{
	static const struct dlp_rule_src custom[] = {
	    {"internal-host", "corp-[a-z]{3,12}\\.internal\\.example", DLP_LOG},
	    {"employee-id", "\\bEMP-[0-9]{6}\\b", DLP_BLOCK},
	    {"project-key", "PRJ_[A-F0-9]{24}", DLP_BLOCK},
	};
	static const char *const secrets[] = {
	    "sk-ant-api03-bottlebenchsecretvalue0000000000000000",
	    "ghp_BottleBenchInjectedToken0123456789ab"};
	struct dlp_config c = {
	    true, custom, ARRAY_SIZE(custom), secrets, ARRAY_SIZE(secrets),
	    NULL};
	struct strbuf body = STRBUF_INIT;
	struct error err = ERROR_INIT;
	struct dlp_db *db;
	size_t mib = 100, blocks = 0, n_ere = 0;
	int runs = 3;
	bool grep = true;
	const char *keep = NULL;
	char file[] = "/tmp/dlp-bench-XXXXXX", pats[] = "/tmp/dlp-pats-XXXXXX";
	struct times best = {1e9, 1e9}, gs;
	_cleanup_free_ double *cpus = NULL;
	long gcount;
	uint64_t t;
	unsigned heads = 0;
	FILE *pf;
	int fd;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--mib") && i + 1 < argc)
			mib = strtoul(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--runs") && i + 1 < argc &&
			 (runs = atoi(argv[i + 1])) > 0)
			i++;
		else if (!strcmp(argv[i], "--no-grep"))
			grep = false;
		else if (!strcmp(argv[i], "--keep") && i + 1 < argc)
			keep = argv[++i];
		else if (!strcmp(argv[i], "--heads") && i + 1 < argc &&
			 (heads = (unsigned)atoi(argv[i + 1])) > 0)
			i++;
		else
			die("usage: dlp_bench [--mib N] [--runs R (>= 1)] "
			    "[--no-grep] [--keep FILE] | --heads N [--runs R]");
	}
	t = now_ns();
	if (dlp_db_new(&c, &db, &err) < 0)
		die("%s", err.msg);
	printf("patterns: %zu (built-in %zu, custom %zu, secrets %zu); "
	       "compiled in %.0f ms; max span %zu\n",
	       dlp_db_count(db), dlp_builtin_count, ARRAY_SIZE(custom),
	       ARRAY_SIZE(secrets), (now_ns() - t) / 1e6, dlp_db_max_span(db));
	if (heads) {
		bench_heads(db, heads, runs);
		goto out;
	}
	strbuf_grow(&body, mib << 20);
	while (body.len < mib << 20)
		add_segment(&body);
	body.len = mib << 20;
	body.buf[body.len] = 0;
	cpus = xcalloc((size_t)runs, sizeof(*cpus));
	for (int r = 0; r < runs; r++) {
		struct times s = scan_secs(db, &body, &blocks);

		if (s.wall < best.wall)
			best.wall = s.wall;
		if (s.cpu < best.cpu)
			best.cpu = s.cpu;
		cpus[r] = s.cpu;
	}
	qsort(cpus, (size_t)runs, sizeof(*cpus), cmp_double);
	printf("dlp:  %zu MiB, best of %d (64 KiB feeds; %zu blocks)\n", mib,
	       runs, blocks);
	printf("  wall       %.3f s = %5.0f MB/s\n", best.wall,
	       body.len / best.wall / 1e6);
	printf("  thread CPU %.3f s = %5.0f MB/s per core (median %.0f MB/s)\n",
	       best.cpu, body.len / best.cpu / 1e6,
	       body.len / cpus[runs / 2] / 1e6);
	printf("  target >= 1000 MB/s per core (thread CPU): %s\n",
	       body.len / best.cpu / 1e6 >= 1000 ? "met" : "MISSED");
	if (!grep)
		goto out;
	fd = keep ? open(keep, O_WRONLY | O_CREAT | O_TRUNC, 0644)
		  : mkstemp(file);
	if (fd < 0 || write_all(fd, body.buf, body.len) < 0)
		die("writing the body");
	close(fd);
	fd = mkstemp(pats);
	pf = fd >= 0 ? fdopen(fd, "w") : NULL;
	if (!pf)
		die("pattern file");
	for (size_t i = 0; i < dlp_builtin_count + ARRAY_SIZE(custom); i++) {
		const char *re = i < dlp_builtin_count
				     ? dlp_builtin_rules[i].regex
				     : custom[i - dlp_builtin_count].regex;
		_cleanup_free_ char *e = to_ere(re);

		if (e) {
			fprintf(pf, "%s\n", e);
			n_ere++;
		}
	}
	for (size_t i = 0; i < ARRAY_SIZE(secrets); i++)
		fprintf(pf, "%s\n", secrets[i]);
	fclose(pf);
	gs = grep_secs(keep ? keep : file, pats, &gcount);
	printf("grep -E -c (%zu of %zu patterns, plain only; one run, "
	       "%ld lines)\n",
	       n_ere + ARRAY_SIZE(secrets), dlp_db_count(db), gcount);
	printf("  wall       %.3f s = %5.0f MB/s\n", gs.wall,
	       body.len / gs.wall / 1e6);
	printf("  CPU        %.3f s = %5.0f MB/s (user + system)\n", gs.cpu,
	       body.len / gs.cpu / 1e6);
	printf("ratio dlp/grep: %.1fx by CPU time, %.1fx by wall time\n",
	       gs.cpu / best.cpu, gs.wall / best.wall);
	if (!keep)
		unlink(file);
	unlink(pats);
out:
	strbuf_release(&body);
	dlp_db_free(db);
	return 0;
}
