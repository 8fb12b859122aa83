/* JSON-lines audit sink.  See audit.h. */
#include "bundle/audit.h"

#include "lib/json.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

/* Write out when this much is buffered, whatever the timer says. */
#define AUDIT_FLUSH_AT (64u << 10)

struct audit {
	int fd;
	char *bottle;
	struct strbuf buf;
	time_t when_sec; /* the second when[] was formatted for */
	char when[32];	 /* "2026-11-22T16:36:40." */
};

int audit_open(const char *path, const char *bottle, struct audit **out,
	       struct error *err)
{
	struct audit *a;
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

	if (fd < 0)
		return err_sys(err, errno, "opening %s", path);
	a = xcalloc(1, sizeof(*a));
	a->fd = fd;
	a->bottle = xstrdup(bottle ? bottle : "");
	strbuf_init(&a->buf, 0);
	*out = a;
	return 0;
}

static void kv_opt(struct json_writer *w, const char *k, const char *v)
{
	if (v)
		json_writer_kv_string(w, k, v);
}

void audit_begin(struct audit *a, struct json_writer *w)
{
	struct timespec ts;
	char when[40];
	size_t n;
	int ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (ts.tv_sec != a->when_sec) {
		/* Formatting the date is the costly part: once a second. */
		struct tm tm;
		gmtime_r(&ts.tv_sec, &tm);
		strftime(a->when, sizeof(a->when), "%Y-%m-%dT%H:%M:%S.", &tm);
		a->when_sec = ts.tv_sec;
	}
	n = strlen(a->when);
	memcpy(when, a->when, n);
	ms = (int)(ts.tv_nsec / 1000000);
	when[n] = (char)('0' + ms / 100);
	when[n + 1] = (char)('0' + ms / 10 % 10);
	when[n + 2] = (char)('0' + ms % 10);
	when[n + 3] = 'Z';
	when[n + 4] = '\0';
	json_writer_init(w, &a->buf, 0);
	json_writer_begin_object(w);
	json_writer_kv_string(w, "time", when);
	json_writer_kv_string(w, "bottle", a->bottle);
}

void audit_end(struct audit *a, struct json_writer *w)
{
	json_writer_end_object(w);
	strbuf_addch(&a->buf, '\n');
	if (a->buf.len >= AUDIT_FLUSH_AT)
		audit_flush(a);
}

void audit_log(struct audit *a, const struct audit_event *e)
{
	struct json_writer w;

	if (!a)
		return;
	audit_begin(a, &w);
	kv_opt(&w, "method", e->method);
	kv_opt(&w, "host", e->host);
	if (e->port)
		json_writer_kv_uint64(&w, "port", e->port);
	kv_opt(&w, "path", e->path);
	kv_opt(&w, "mode", e->mode);
	kv_opt(&w, "verdict", e->verdict);
	if (e->status)
		json_writer_kv_int64(&w, "status", e->status);
	kv_opt(&w, "rule", e->rule);
	kv_opt(&w, "reason", e->reason);
	json_writer_kv_uint64(&w, "bytes_up", e->bytes_up);
	json_writer_kv_uint64(&w, "bytes_down", e->bytes_down);
	json_writer_kv_uint64(&w, "ms", e->usec / 1000);
	audit_end(a, &w);
}

void audit_flush(struct audit *a)
{
	int r;

	if (!a || !a->buf.len)
		return;
	if ((r = write_all(a->fd, a->buf.buf, a->buf.len)) < 0)
		log_warnx("audit: %s", strerror(-r));
	strbuf_reset(&a->buf);
}

void audit_close(struct audit *a)
{
	if (!a)
		return;
	audit_flush(a);
	close(a->fd);
	free(a->bottle);
	strbuf_release(&a->buf);
	free(a);
}
