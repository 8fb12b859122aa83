/* Loading the stage module, and the bundle's calls into it.  See stage.h.
 *
 * Everything below stage_load() is a trampoline: the function of that
 * name in dlp.h, tls.h, tls_io.h or ca.h, forwarding to the module's
 * copy.  The compiler checks each against its header. */
#include "bundle/stage.h"

#include "lib/ca.h"
#include "lib/util.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

static const struct stage_ops *S;

/* The directory bottle-bundle runs from, where the module is installed. */
static char *module_path(struct error *err)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;

	if (n < 0) {
		err_sys(err, errno, "readlink /proc/self/exe");
		return NULL;
	}
	exe[n] = '\0';
	slash = strrchr(exe, '/');
	if (!slash) {
		err_set(err, EINVAL, "/proc/self/exe is %s", exe);
		return NULL;
	}
	*slash = '\0';
	return xasprintf("%s/" STAGE_MODULE, exe);
}

int stage_load(struct error *err)
{
	_cleanup_free_ char *path = NULL;
	const struct stage_ops *t;
	void *h;

	if (S)
		return 0;
	if (!(path = module_path(err)))
		return -ENOENT;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		return err_set(err, ENOENT,
			       "loading the TLS and DLP stages: %s", dlerror());
	t = dlsym(h, STAGE_SYMBOL);
	if (!t || t->size != sizeof(*t) ||
	    strcmp(t->version, BOTTLE_VERSION) != 0) {
		dlclose(h);
		return err_set(err, ENOEXEC,
			       "%s is not the stage module of bottle-bundle %s "
			       "(reinstall bottle)",
			       path, BOTTLE_VERSION);
	}
	t->log_init("bottle-bundle", log_get_level());
	S = t;
	return 0;
}

bool stage_loaded(void)
{
	return S != NULL;
}

static const struct stage_ops *ops(void)
{
	if (!S)
		BUG("a TLS or DLP stage called before stage_load()");
	return S;
}

int dlp_config_check(const struct dlp_config *c, struct error *err)
{
	return ops()->dlp_config_check(c, err);
}

int dlp_db_new(const struct dlp_config *c, struct dlp_db **out,
	       struct error *err)
{
	return ops()->dlp_db_new(c, out, err);
}

void dlp_db_free(struct dlp_db *db)
{
	if (db)
		ops()->dlp_db_free(db);
}

size_t dlp_db_count(const struct dlp_db *db)
{
	return ops()->dlp_db_count(db);
}

bool dlp_db_from_cache(const struct dlp_db *db)
{
	return ops()->dlp_db_from_cache(db);
}

size_t dlp_db_max_span(const struct dlp_db *db)
{
	return ops()->dlp_db_max_span(db);
}

struct dlp_stream *dlp_stream_new(const struct dlp_db *db)
{
	return ops()->dlp_stream_new(db);
}

int dlp_stream_feed(struct dlp_stream *s, const void *buf, size_t len,
		    struct dlp_hit *hit)
{
	return ops()->dlp_stream_feed(s, buf, len, hit);
}

int dlp_stream_finish(struct dlp_stream *s, struct dlp_hit *hit)
{
	return ops()->dlp_stream_finish(s, hit);
}

const struct dlp_hit *dlp_stream_logged(const struct dlp_stream *s)
{
	return ops()->dlp_stream_logged(s);
}

void dlp_stream_free(struct dlp_stream *s)
{
	if (s)
		ops()->dlp_stream_free(s);
}

int dlp_scan(const struct dlp_db *db, const void *buf, size_t len,
	     struct dlp_hit *hit)
{
	return ops()->dlp_scan(db, buf, len, hit);
}

void dlp_redact(const struct dlp_db *db, char *buf, size_t len)
{
	ops()->dlp_redact(db, buf, len);
}

int ca_ensure(const char *dir, const char *id, struct error *err)
{
	return ops()->ca_ensure(dir, id, err);
}

int ca_make_spare(const char *state_home, struct error *err)
{
	return ops()->ca_make_spare(state_home, err);
}

int tls_ca_load(const char *dir, struct tls_ca **out, struct error *err)
{
	return ops()->tls_ca_load(dir, out, err);
}

void tls_ca_free(struct tls_ca *ca)
{
	if (ca)
		ops()->tls_ca_free(ca);
}

SSL_CTX *tls_ca_server_ctx(struct tls_ca *ca, const char *host,
			   struct error *err)
{
	return ops()->tls_ca_server_ctx(ca, host, err);
}

SSL_CTX *tls_client_ctx_new(const char *extra_ca_file, struct error *err)
{
	return ops()->tls_client_ctx_new(extra_ca_file, err);
}

void tls_client_ctx_free(SSL_CTX *ctx)
{
	if (ctx)
		ops()->tls_client_ctx_free(ctx);
}

struct tls_io *tls_io_server(SSL_CTX *ctx, int fd, const void *held, size_t n)
{
	return ops()->tls_io_server(ctx, fd, held, n);
}

struct tls_io *tls_io_client(SSL_CTX *ctx, const char *host)
{
	return ops()->tls_io_client(ctx, host);
}

void tls_io_set_fd(struct tls_io *t, int fd)
{
	ops()->tls_io_set_fd(t, fd);
}

void tls_io_free(struct tls_io *t)
{
	if (t)
		ops()->tls_io_free(t);
}

enum tls_io_result tls_io_handshake(struct tls_io *t)
{
	return ops()->tls_io_handshake(t);
}

enum tls_io_result tls_io_read(struct tls_io *t, void *buf, size_t len,
			       size_t *got)
{
	return ops()->tls_io_read(t, buf, len, got);
}

bool tls_io_pending(const struct tls_io *t)
{
	return ops()->tls_io_pending(t);
}

enum tls_io_result tls_io_write(struct tls_io *t, const void *buf, size_t len)
{
	return ops()->tls_io_write(t, buf, len);
}

bool tls_io_failure(const struct tls_io *t, char *buf, size_t len)
{
	return ops()->tls_io_failure(t, buf, len);
}
