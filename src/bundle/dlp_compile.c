/* Hyperscan compiles in a forked child (see dlp_compile.h).
 *
 * The child writes one message and exits:
 *   'E' code(int) message-bytes            on error
 *   'K' extra(u64) then n times len(u64) bytes   on success (len 0: NULL)
 * The parent reads it whole (at most MSG_MAX bytes), then reaps the child.
 */
#include "bundle/dlp_compile.h"

#include "bundle/dlp_cache.h"
#include "lib/log.h"
#include "lib/util.h"

#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>
#include <unistd.h>

#define MSG_MAX (256u << 20)

static int send_dbs(int fd, hs_database_t **dbs, size_t n, size_t extra)
{
	uint64_t v = extra;
	int r = write_all(fd, "K", 1);

	if (r == 0)
		r = write_all(fd, &v, sizeof(v));
	for (size_t i = 0; i < n && r == 0; i++) {
		char *bytes = NULL;
		size_t len = 0;

		if (dbs[i] &&
		    hs_serialize_database(dbs[i], &bytes, &len) != HS_SUCCESS)
			return -ENOMEM;
		v = len;
		r = write_all(fd, &v, sizeof(v));
		if (r == 0 && len)
			r = write_all(fd, bytes, len);
		dlp_hs_free(bytes);
	}
	return r;
}

static __attribute__((noreturn)) void child(int fd, dlp_compile_fn fn,
					    void *ctx, size_t n)
{
	hs_database_t *dbs[DLP_COMPILE_MAX_DBS] = {0};
	struct error err = ERROR_INIT;
	size_t extra = 0;
	int r = fn(ctx, dbs, n, &extra, &err), code;

	if (r == 0) {
		r = send_dbs(fd, dbs, n, extra);
		_exit(r == 0 ? 0 : 1);
	}
	if (err.code == 0)
		err_set(&err, -r, "dlp: cannot compile the patterns");
	code = err.code;
	r = write_all(fd, "E", 1);
	if (r == 0)
		r = write_all(fd, &code, sizeof(code));
	if (r == 0)
		r = write_all(fd, err.msg, strlen(err.msg));
	_exit(r == 0 ? 0 : 1);
}

/* Read fd to EOF into *buf (*len bytes); -errno. */
static int read_msg(int fd, uint8_t **buf, size_t *len)
{
	size_t alloc = 0;
	ssize_t k;

	*buf = NULL;
	*len = 0;
	for (;;) {
		if (*len == alloc) {
			if (alloc >= MSG_MAX)
				return -EMSGSIZE;
			alloc = alloc ? 2 * alloc : 64 * 1024;
			*buf = xrealloc(*buf, alloc);
		}
		k = read(fd, *buf + *len, alloc - *len);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			return 0;
		*len += (size_t)k;
	}
}

static bool take(const uint8_t **p, const uint8_t *end, void *out, size_t n)
{
	if ((size_t)(end - *p) < n)
		return false;
	memcpy(out, *p, n);
	*p += n;
	return true;
}

/* Parse a message into dbs / extra / err. */
static int parse(const uint8_t *p, size_t len, hs_database_t **dbs, size_t n,
		 size_t *extra, struct error *err)
{
	const uint8_t *end = p + len;
	uint64_t v;
	int code;

	if (len > 0 && p[0] == 'E') {
		if (len < 1 + sizeof(code))
			return err_set(err, EIO, "dlp: short compiler reply");
		memcpy(&code, p + 1, sizeof(code));
		return err_set(err, code > 0 ? code : EIO, "%.*s",
			       (int)(len - 1 - sizeof(code)),
			       (const char *)p + 1 + sizeof(code));
	}
	if (len == 0 || p[0] != 'K')
		return err_set(err, EIO, "dlp: the compiler child failed");
	p++;
	if (!take(&p, end, &v, sizeof(v)))
		return err_set(err, EIO, "dlp: short compiler reply");
	*extra = (size_t)v;
	for (size_t i = 0; i < n; i++) {
		if (!take(&p, end, &v, sizeof(v)) || v > (size_t)(end - p))
			return err_set(err, EIO, "dlp: short compiler reply");
		if (v && hs_deserialize_database((const char *)p, (size_t)v,
						 &dbs[i]) != HS_SUCCESS)
			return err_set(
			    err, EIO, "dlp: cannot load the compiled database");
		p += v;
	}
	return 0;
}

int dlp_compile_start(dlp_compile_fn fn, void *ctx, size_t n,
		      struct dlp_compile_job *job, struct error *err)
{
	int fds[2], r;

	if (n > DLP_COMPILE_MAX_DBS)
		BUG("dlp_compile_start: %zu databases", n);
	job->pid = -1;
	job->fd = -1;
	job->n = n;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return err_sys(err, errno, "dlp: pipe");
	job->pid = fork();
	if (job->pid < 0) {
		r = err_sys(err, errno, "dlp: fork");
		close(fds[0]);
		close(fds[1]);
		return r;
	}
	if (job->pid == 0) {
		close(fds[0]);
		child(fds[1], fn, ctx, n);
	}
	close(fds[1]);
	job->fd = fds[0];
	return 0;
}

/* Reap the child (killed first if kill). */
static void reap(struct dlp_compile_job *job, bool kill_it)
{
	int status;

	if (job->fd >= 0)
		close(job->fd);
	job->fd = -1;
	if (job->pid <= 0)
		return;
	if (kill_it)
		kill(job->pid, SIGKILL);
	while (waitpid(job->pid, &status, 0) < 0 && errno == EINTR)
		;
	job->pid = -1;
}

int dlp_compile_finish(struct dlp_compile_job *job, hs_database_t **dbs,
		       size_t *extra, struct error *err)
{
	uint8_t *msg = NULL;
	size_t len = 0, n = job->n;
	int r;

	for (size_t i = 0; i < n; i++)
		dbs[i] = NULL;
	r = read_msg(job->fd, &msg, &len);
	reap(job, r < 0);
	if (r < 0)
		r = err_sys(err, -r, "dlp: reading the compiler child");
	else
		r = parse(msg, len, dbs, n, extra, err);
	if (msg)
		secure_zero(msg, len);
	free(msg);
	if (r < 0)
		for (size_t i = 0; i < n; i++) {
			hs_free_database(dbs[i]);
			dbs[i] = NULL;
		}
	return r;
}

void dlp_compile_cancel(struct dlp_compile_job *job)
{
	reap(job, true);
}

int dlp_compile_forked(dlp_compile_fn fn, void *ctx, hs_database_t **dbs,
		       size_t n, size_t *extra, struct error *err)
{
	struct dlp_compile_job job;
	int r = dlp_compile_start(fn, ctx, n, &job, err);

	return r < 0 ? r : dlp_compile_finish(&job, dbs, extra, err);
}
