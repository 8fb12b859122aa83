#include "util.h"

#include "log.h"
#include "strbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <time.h>

size_t st_add(size_t a, size_t b)
{
	if (a > SIZE_MAX - b)
		BUG("size_t overflow: %zu + %zu", a, b);
	return a + b;
}

size_t st_mult(size_t a, size_t b)
{
	if (a && b > SIZE_MAX / a)
		BUG("size_t overflow: %zu * %zu", a, b);
	return a * b;
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		die("out of memory allocating %zu bytes", n);
	return p;
}

void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		die("out of memory allocating %zu*%zu bytes", n, size);
	return p;
}

void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		die("out of memory allocating %zu bytes", n);
	return q;
}

char *xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		die("out of memory");
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		die("out of memory");
	return p;
}

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&p, fmt, ap);
	va_end(ap);
	if (r < 0)
		die("out of memory");
	return p;
}

void strv_free(char **v)
{
	if (!v)
		return;
	for (char **q = v; *q; q++)
		free(*q);
	free(v);
}

void strv_push(char ***v, char *s)
{
	size_t n = 0;

	while (*v && (*v)[n])
		n++;
	*v = xrealloc(*v, st_mult(n + 2, sizeof(char *)));
	(*v)[n] = s;
	(*v)[n + 1] = NULL;
}

void secure_zero(void *p, size_t n)
{
	volatile unsigned char *v = p;
	while (n--)
		*v++ = 0;
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
	size_t ls = strlen(s), lx = strlen(suffix);
	return ls >= lx && memcmp(s + ls - lx, suffix, lx) == 0;
}

int write_all(int fd, const void *buf, size_t n)
{
	const char *p = buf;
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

char *path_find(const char *name)
{
	const char *path = getenv("PATH");

	for (const char *p = path ? path : ""; *p;) {
		size_t n = strcspn(p, ":");
		char *f = xasprintf("%.*s/%s", (int)n, p, name);
		if (n && access(f, X_OK) == 0)
			return f;
		free(f);
		p += n + (p[n] == ':');
	}
	return NULL;
}

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Start time (field 22 of /proc/PID/stat) and state letter of pid. */
static uint64_t proc_stat(pid_t pid, char *state)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	_cleanup_close_ int fd = -1;
	ssize_t n;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* comm may contain spaces and parens: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* Fields after comm start at 3 (state); starttime is field 22. */
	if (sscanf(p + 2,
		   "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d "
		   "%*d %*d %*d %*d %*d %llu",
		   state, &start) != 2)
		return 0;
	return start;
}

uint64_t proc_start_time(pid_t pid)
{
	char state;
	return proc_stat(pid, &state);
}

bool proc_alive(pid_t pid, uint64_t start)
{
	char state = '?';
	uint64_t now = proc_stat(pid, &state);

	/* A zombie has exited; only its parent has not reaped it yet. */
	return now != 0 && (start == 0 || now == start) && state != 'Z' &&
	       state != 'X';
}

/* The code point of the UTF-8 sequence at s[0..n), strictly (no
 * overlongs, surrogates or values past U+10FFFF), and its length in *len;
 * -1 when it is not valid UTF-8. */
static int32_t utf8_decode(const unsigned char *s, size_t n, size_t *len)
{
	static const int32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
	size_t l = s[0] < 0x80		   ? 1
		   : (s[0] & 0xe0) == 0xc0 ? 2
		   : (s[0] & 0xf0) == 0xe0 ? 3
		   : (s[0] & 0xf8) == 0xf0 ? 4
					   : 0;
	int32_t cp;

	if (l == 0 || l > n)
		return -1;
	cp = l == 1 ? s[0] : s[0] & (0x7f >> l);
	for (size_t i = 1; i < l; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return -1;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if (cp < min[l] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return -1;
	*len = l;
	return cp;
}

/* C1 controls and the invisible format characters that reorder or hide
 * text (Unicode's Cf among them that a terminal may act on). */
static bool unsafe_code_point(int32_t cp)
{
	return (cp >= 0x80 && cp <= 0x9f) || cp == 0x061c || cp == 0x200b ||
	       (cp >= 0x200e && cp <= 0x200f) ||
	       (cp >= 0x2028 && cp <= 0x202e) ||
	       (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
	       (cp >= 0xfff9 && cp <= 0xfffb) ||
	       (cp >= 0xe0000 && cp <= 0xe007f);
}

void term_safe(struct strbuf *out, const char *s, size_t n, unsigned flags)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0; i < n;) {
		unsigned char c = p[i];
		size_t len = 1;
		int32_t cp;

		if ((flags & TERM_SAFE_ONE_LINE) &&
		    (c == '\n' || c == '\t' ||
		     (c == '\r' && i + 1 < n && p[i + 1] == '\n'))) {
			if (c == '\r')
				i++;
			strbuf_addch(out, ' ');
		} else if ((flags & TERM_SAFE_NL) && c == '\r' && i + 1 < n &&
			   p[i + 1] == '\n') {
			/* A pty's CRLF line end is a line end. */
			i++;
			strbuf_addch(out, '\n');
		} else if ((c == '\n' && (flags & TERM_SAFE_NL)) ||
			   (c == '\t' && (flags & TERM_SAFE_TAB))) {
			strbuf_addch(out, (char)c);
		} else if (c < 0x20 || c == 0x7f) {
			strbuf_addf(out, "\\x%02x", c);
		} else if (c < 0x80) {
			strbuf_addch(out, (char)c);
		} else if ((cp = utf8_decode(p + i, n - i, &len)) < 0) {
			len = 1;
			strbuf_addf(out, "\\x%02x", c);
		} else if (unsafe_code_point(cp) && cp > 0xffff) {
			strbuf_addf(out, "\\U%08x", (unsigned)cp);
		} else if (unsafe_code_point(cp)) {
			strbuf_addf(out, "\\u%04x", (unsigned)cp);
		} else {
			strbuf_add(out, p + i, len);
		}
		i += len;
	}
}

size_t utf8_cut(const char *s, size_t n, size_t max)
{
	if (n <= max)
		return n;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return max;
}

void format_age(char *buf, size_t n, int64_t d)
{
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
