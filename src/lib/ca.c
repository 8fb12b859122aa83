/* The per-bottle CA: creation (CLI) and loading (bundle). */
#include "lib/ca.h"

#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <dirent.h>
#include <signal.h>
#include <stdlib.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdarg.h>
#include <string.h>
#include <sys/stat.h>

#define CA_DAYS	     3650
#define CA_PEM_MAX   16384 /* a P-256 key or cert PEM is < 1 KiB */
#define CA_MIN_LEFT  86400 /* replace a CA that expires within a day */
#define CA_CN_PREFIX "bot-bottle CA "

const char *ca_ssl_error(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown error");
	ERR_clear_error();
	return buf;
}

/* err_set with the queued OpenSSL error appended. */
__attribute__((format(printf, 3, 4))) static int
ssl_fail(struct error *err, int code, const char *fmt, ...)
{
	char what[512], why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return err_set(err, code, "%s: %s", what,
		       ca_ssl_error(why, sizeof(why)));
}

int ca_random_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -ENOMEM;
	b[0] &= 0x7f; /* 16 DER octets: no leading zero needed */
	b[0] |= 0x01; /* and never an all-zero (or short) serial */
	bn = BN_bin2bn(b, sizeof(b), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -ENOMEM;
}

static int ca_path(char *buf, const char *dir, const char *file,
		   struct error *err)
{
	int n = snprintf(buf, PATH_MAX, "%s/%s", dir, file);

	if (n < 0 || n >= PATH_MAX)
		return err_set(err, ENAMETOOLONG, "%s/%s: path too long", dir,
			       file);
	return 0;
}

/* Read a small PEM file into buf (NUL-terminated); *len its size.  With
 * secret, insist on a private, caller-owned regular file. */
static int read_pem(const char *path, bool secret, char *buf, size_t *len,
		    struct error *err)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	ssize_t n;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
	if (fd < 0 && errno == ELOOP)
		return err_set(err, EACCES, "%s: is a symlink; refusing it",
			       path);
	if (fd < 0 || fstat(fd, &st) < 0)
		return err_sys(err, errno, "opening %s", path);
	if (!S_ISREG(st.st_mode))
		return err_set(err, EINVAL, "%s: not a regular file", path);
	if (secret && st.st_uid != geteuid())
		return err_set(err, EACCES,
			       "%s: owned by uid %u, not by us (uid %u); "
			       "refusing to use this private key",
			       path, (unsigned)st.st_uid, (unsigned)geteuid());
	if (secret && (st.st_mode & 077))
		return err_set(err, EACCES,
			       "%s: accessible to group or others (mode %04o); "
			       "refusing to use this private key (chmod 600)",
			       path, (unsigned)(st.st_mode & 07777));
	if (st.st_size >= CA_PEM_MAX)
		return err_set(err, EFBIG, "%s: too large for a PEM file",
			       path);
	*len = 0;
	while ((n = read(fd, buf + *len, CA_PEM_MAX - 1 - *len)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return err_sys(err, errno, "reading %s", path);
		*len += (size_t)n;
		if (*len == CA_PEM_MAX - 1)
			return err_set(err, EFBIG, "%s: grew while reading",
				       path);
	}
	buf[*len] = '\0';
	return 0;
}

static int load_key(const char *dir, EVP_PKEY **key, struct error *err)
{
	char path[PATH_MAX], pem[CA_PEM_MAX];
	size_t len = 0;
	BIO *bio;
	int r;

	r = ca_path(path, dir, CA_KEY_FILE, err);
	if (r == 0)
		r = read_pem(path, true, pem, &len, err);
	if (r == 0) {
		bio = BIO_new_mem_buf(pem, (int)len);
		*key =
		    bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
		BIO_free(bio);
		if (!*key)
			r = ssl_fail(err, EINVAL, "%s: not a PEM private key",
				     path);
	}
	OPENSSL_cleanse(pem, sizeof(pem));
	return r;
}

static int load_cert(const char *dir, X509 **cert, struct error *err)
{
	char path[PATH_MAX], pem[CA_PEM_MAX];
	size_t len;
	BIO *bio;
	int r;

	r = ca_path(path, dir, CA_CERT_FILE, err);
	if (r == 0)
		r = read_pem(path, false, pem, &len, err);
	if (r < 0)
		return r;
	bio = BIO_new_mem_buf(pem, (int)len);
	*cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
	BIO_free(bio);
	if (!*cert)
		return ssl_fail(err, EINVAL, "%s: not a PEM certificate", path);
	return 0;
}

/* Seconds left before cert expires (negative: expired or not yet valid). */
static long long seconds_left(X509 *cert)
{
	int days, secs;

	if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0)
		return -1;
	if (!ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(cert)))
		return -1;
	return (long long)days * 86400 + secs;
}

int ca_load(const char *dir, EVP_PKEY **key, X509 **cert, struct error *err)
{
	int r;

	*key = NULL;
	*cert = NULL;
	r = load_key(dir, key, err);
	if (r == 0)
		r = load_cert(dir, cert, err);
	if (r == 0 && X509_check_private_key(*cert, *key) != 1)
		r = ssl_fail(err, EINVAL, "%s: %s does not match %s", dir,
			     CA_CERT_FILE, CA_KEY_FILE);
	if (r == 0 && seconds_left(*cert) <= 0)
		r = err_set(err, EINVAL, "%s/%s: expired or not yet valid", dir,
			    CA_CERT_FILE);
	if (r < 0) {
		EVP_PKEY_free(steal_ptr(key));
		X509_free(steal_ptr(cert));
	}
	return r;
}

static int add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	ok = ext && X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -EINVAL;
}

static X509 *make_cert(EVP_PKEY *key, const char *id)
{
	char cn[64 + 1];
	X509_NAME *name;
	X509 *x = X509_new();

	snprintf(cn, sizeof(cn), CA_CN_PREFIX "%s", id);
	if (!x || !X509_set_version(x, X509_VERSION_3) ||
	    ca_random_serial(x) < 0 || !(name = X509_get_subject_name(x)) ||
	    !X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
					(const unsigned char *)"bot-bottle", -1,
					-1, 0) ||
	    !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
					(const unsigned char *)cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, name) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
	    !X509_time_adj_ex(X509_getm_notAfter(x), CA_DAYS, 0, NULL) ||
	    !X509_set_pubkey(x, key) ||
	    add_ext(x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    add_ext(x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(x, NID_subject_key_identifier, "hash") ||
	    !X509_sign(x, key, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

/* PEM-encode (key or cert) and write atomically with mode.  The key's PEM
 * lives in a secure-memory BIO, wiped when freed. */
static int write_pem(const char *dir, const char *file, EVP_PKEY *key,
		     X509 *cert, mode_t mode, struct error *err)
{
	char path[PATH_MAX];
	BIO *bio = BIO_new(key ? BIO_s_secmem() : BIO_s_mem());
	BUF_MEM *bm = NULL;
	int r, ok;

	r = ca_path(path, dir, file, err);
	if (r < 0) {
		BIO_free(bio);
		return r;
	}
	ok = bio && (key ? PEM_write_bio_PrivateKey(bio, key, NULL, NULL, 0,
						    NULL, NULL)
			 : PEM_write_bio_X509(bio, cert));
	/* No fsync: a pair lost to a power cut is found missing or
	 * mismatched by ca_ensure() and made again (the bottle's CA bundle
	 * follows ca.crt), while two fsyncs per file cost more than the
	 * rest of a launch. */
	if (ok && BIO_get_mem_ptr(bio, &bm) == 1 && bm)
		r = write_file_replace(path, bm->data, bm->length, mode, err);
	else
		r = ssl_fail(err, ENOMEM, "encoding %s", path);
	BIO_free(bio);
	return r;
}

static int ca_create(const char *dir, const char *id, struct error *err)
{
	EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	X509 *cert = key ? make_cert(key, id) : NULL;
	int r;

	if (!cert)
		r = ssl_fail(err, ENOMEM, "creating the bottle CA");
	else
		r = write_pem(dir, CA_KEY_FILE, key, NULL, 0600, err);
	/* the certificate last: a crash in between leaves a pair that does
	 * not load, which the next ca_ensure() replaces */
	if (r == 0)
		r = write_pem(dir, CA_CERT_FILE, NULL, cert, 0644, err);
	EVP_PKEY_free(key);
	X509_free(cert);
	return r;
}

/* Temp dirs of makers that were killed midway (SIGKILL): theirs to
 * remove no more. */
static void drop_stale_spares(const char *state_home)
{
	DIR *d = opendir(state_home);
	struct error ignored = ERROR_INIT;
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		const char *pfx = CA_SPARE_DIR ".tmp.";
		long pid;
		if (strncmp(e->d_name, pfx, strlen(pfx)) != 0)
			continue;
		pid = strtol(e->d_name + strlen(pfx), NULL, 10);
		if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		_cleanup_free_ char *path =
		    xasprintf("%s/%s", state_home, e->d_name);
		if (rm_rf(path, &ignored) < 0)
			log_debug("%s", ignored.msg);
	}
	closedir(d);
}

int ca_make_spare(const char *state_home, struct error *err)
{
	_cleanup_free_ char *spare = xasprintf("%s/" CA_SPARE_DIR, state_home);
	_cleanup_free_ char *tmp =
	    xasprintf("%s/" CA_SPARE_DIR ".tmp.%d", state_home, (int)getpid());
	struct stat st;
	int r;

	struct error ignored = ERROR_INIT;

	if (stat(spare, &st) == 0)
		return 0;
	drop_stale_spares(state_home);
	if (rm_rf(tmp, &ignored) < 0)
		log_debug("%s", ignored.msg);
	if (mkdir(tmp, 0700) < 0)
		return err_sys(err, errno, "mkdir %s", tmp);
	if ((r = ca_create(tmp, "spare", err)) < 0) {
		if (rm_rf(tmp, &ignored) < 0)
			log_debug("%s", ignored.msg);
		return r;
	}
	/* A concurrent maker may have won: then ours goes (ENOTEMPTY). */
	if (rename(tmp, spare) < 0) {
		r = errno;
		if (rm_rf(tmp, &ignored) < 0)
			log_debug("%s", ignored.msg);
		return r == ENOTEMPTY || r == EEXIST
			   ? 0
			   : err_sys(err, r, "rename %s", spare);
	}
	return 0;
}

int ca_ensure(const char *dir, const char *id, struct error *err)
{
	struct error lerr = ERROR_INIT;
	EVP_PKEY *key;
	X509 *cert;
	int r;

	if (strlen(id) > 64 - strlen(CA_CN_PREFIX))
		return err_set(err, EINVAL, "CA id too long: %s", id);
	r = ca_load(dir, &key, &cert, &lerr);
	if (r == 0) {
		r = seconds_left(cert) > CA_MIN_LEFT ? 0 : -EINVAL;
		EVP_PKEY_free(key);
		X509_free(cert);
		if (r == 0)
			return 0;
	}
	if (r == -EACCES) { /* someone else's or a leaked key: keep hands off */
		*err = lerr;
		return r;
	}
	return ca_create(dir, id, err);
}
