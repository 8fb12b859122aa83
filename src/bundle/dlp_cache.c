/* Hyperscan allocator and compiled-database cache for the DLP stage. */
#include "bundle/dlp_cache.h"

#include "lib/log.h"
#include "lib/util.h"

#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* ---- allocator ---- */

/* A 16-byte header keeps malloc's alignment (Hyperscan needs 8) and
 * remembers the size for wiping. */
#define HDR 16

static void *wipe_alloc(size_t n)
{
	unsigned char *p;

	if (n > SIZE_MAX - HDR)
		return NULL;
	p = malloc(n + HDR);
	if (!p)
		return NULL;
	memcpy(p, &n, sizeof(n));
	return p + HDR;
}

static void wipe_free(void *q)
{
	unsigned char *p = q;
	size_t n;

	if (!p)
		return;
	p -= HDR;
	memcpy(&n, p, sizeof(n));
	explicit_bzero(p, n + HDR); /* secure_zero(), a word at a time */
	free(p);
}

void dlp_hs_free(void *p)
{
	wipe_free(p);
}

void dlp_hs_allocator_init(void)
{
	/* Only fails for a NULL function pair. */
	(void)hs_set_allocator(wipe_alloc, wipe_free);
}

/* ---- key ---- */

void dlp_cache_key(const char *const *exprs, const unsigned *flags, size_t n,
		   uint8_t key[DLP_CACHE_KEY_LEN])
{
	static const char tag[] = "bot-bottle dlp cache v3";
	const char *ver = hs_version();
	hs_platform_info_t plat;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned kl = DLP_CACHE_KEY_LEN;

	memset(&plat, 0, sizeof(plat));
	(void)hs_populate_platform(&plat);
	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL))
		BUG("sha256 unavailable");
	EVP_DigestUpdate(md, tag, sizeof(tag));
	EVP_DigestUpdate(md, ver, strlen(ver) + 1);
	EVP_DigestUpdate(md, &plat, sizeof(plat));
	for (size_t i = 0; i < n; i++) {
		EVP_DigestUpdate(md, &flags[i], sizeof(flags[i]));
		EVP_DigestUpdate(md, exprs[i], strlen(exprs[i]) + 1);
	}
	EVP_DigestFinal_ex(md, key, &kl);
	EVP_MD_CTX_free(md);
}

/* ---- file format ----
 * magic[8] | u64 max_span | u64 stream_len | u64 block_len | seal[32] |
 * payload = stream db bytes, block db bytes
 * (native byte order: the key already pins the platform).  The seal is a
 * SHA-256 of the header fields before it and of each serialized
 * database's own header, which holds a CRC32C of its bytecode that
 * hs_deserialize_database() checks: a corrupt byte anywhere is caught
 * without hashing the whole payload at every start. */
static const char magic[8] = "BBDLPDB2";
#define HEADER_LEN (8 + 3 * 8 + 32)
#define SEAL_AT	   (HEADER_LEN - 32)
#define HS_HEADER  64 /* covers Hyperscan's serialized header */
#define MAX_FILE   (512u << 20)

static void seal(const uint8_t *hdr, const void *a, size_t an, const void *b,
		 size_t bn, uint8_t out[32])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned ol = 32;

	if (!md || !EVP_DigestInit_ex(md, EVP_sha256(), NULL) ||
	    !EVP_DigestUpdate(md, hdr, SEAL_AT) ||
	    !EVP_DigestUpdate(md, a, an < HS_HEADER ? an : HS_HEADER) ||
	    !EVP_DigestUpdate(md, b, bn < HS_HEADER ? bn : HS_HEADER) ||
	    !EVP_DigestFinal_ex(md, out, &ol))
		BUG("sha256 failed");
	EVP_MD_CTX_free(md);
}

static void cache_path(char *buf, size_t size, const char *dir,
		       const uint8_t key[DLP_CACHE_KEY_LEN], const char *sfx)
{
	char hex[2 * DLP_CACHE_KEY_LEN + 1];

	for (size_t i = 0; i < DLP_CACHE_KEY_LEN; i++)
		snprintf(hex + 2 * i, 3, "%02x", key[i]);
	snprintf(buf, size, "%s/dlp-%s.hsdb%s", dir, hex, sfx);
}

/* Map fd's regular file read-only into *out (*len bytes). */
static int map_file(int fd, uint8_t **out, size_t *len, struct error *err)
{
	struct stat st;
	void *p;

	if (fstat(fd, &st) < 0)
		return err_sys(err, errno, "stat");
	if (!S_ISREG(st.st_mode) || st.st_size < HEADER_LEN ||
	    (uint64_t)st.st_size > MAX_FILE)
		return err_set(err, EINVAL, "not a cache file");
	p = mmap(NULL, (size_t)st.st_size, PROT_READ,
		 MAP_PRIVATE | MAP_POPULATE, fd, 0);
	if (p == MAP_FAILED)
		return err_sys(err, errno, "mmap");
	*out = p;
	*len = (size_t)st.st_size;
	return 0;
}

static int deserialize(const uint8_t *p, size_t n, hs_database_t **db,
		       struct error *err)
{
	if (hs_deserialize_database((const char *)p, n, db) != HS_SUCCESS)
		return err_set(err, EINVAL, "Hyperscan rejects the database");
	return 0;
}

/* Check and load a mapped entry. */
static int load_entry(const uint8_t *buf, size_t len, hs_database_t **stream_db,
		      hs_database_t **block_db, size_t *max_span,
		      struct error *err)
{
	const uint8_t *a = buf + HEADER_LEN, *b;
	uint64_t h[3];
	uint8_t sum[32];

	memcpy(h, buf + 8, sizeof(h));
	if (memcmp(buf, magic, 8) != 0 || h[1] > len - HEADER_LEN ||
	    h[2] != len - HEADER_LEN - h[1])
		return err_set(err, EINVAL, "bad header");
	b = a + h[1];
	seal(buf, a, (size_t)h[1], b, (size_t)h[2], sum);
	if (memcmp(sum, buf + SEAL_AT, 32) != 0)
		return err_set(err, EINVAL, "checksum mismatch");
	if (deserialize(a, (size_t)h[1], stream_db, err) < 0)
		return -EINVAL;
	if (deserialize(b, (size_t)h[2], block_db, err) < 0) {
		hs_free_database(*stream_db);
		*stream_db = NULL;
		return -EINVAL;
	}
	*max_span = h[0];
	return 0;
}

int dlp_cache_load(const char *dir, const uint8_t key[DLP_CACHE_KEY_LEN],
		   hs_database_t **stream_db, hs_database_t **block_db,
		   size_t *max_span, struct error *err)
{
	char path[PATH_MAX];
	_cleanup_close_ int fd = -1;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	cache_path(path, sizeof(path), dir, key, "");
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return errno == ENOENT
			   ? -ENOENT
			   : err_sys(err, errno, "opening %s", path);
	r = map_file(fd, &buf, &len, err);
	if (r == 0) {
		r = load_entry(buf, len, stream_db, block_db, max_span, err);
		munmap(buf, len);
	}
	return r < 0 ? err_prefix(err, "%s", path) : 0;
}

static int serialize(const hs_database_t *db, char **bytes, size_t *len,
		     struct error *err)
{
	if (hs_serialize_database(db, bytes, len) != HS_SUCCESS)
		return err_set(err, ENOMEM, "serializing the database");
	return 0;
}

static int write_entry(int fd, const char *a, size_t an, const char *b,
		       size_t bn, size_t max_span, struct error *err)
{
	uint8_t hdr[HEADER_LEN];
	uint64_t h[3] = {max_span, an, bn};
	int r;

	memcpy(hdr, magic, 8);
	memcpy(hdr + 8, h, sizeof(h));
	seal(hdr, a, an, b, bn, hdr + SEAL_AT);
	r = write_all(fd, hdr, sizeof(hdr));
	if (r == 0)
		r = write_all(fd, a, an);
	if (r == 0)
		r = write_all(fd, b, bn);
	if (r == 0 && fsync(fd) < 0)
		r = -errno;
	return r < 0 ? err_sys(err, -r, "writing") : 0;
}

int dlp_cache_store(const char *dir, const uint8_t key[DLP_CACHE_KEY_LEN],
		    const hs_database_t *stream_db,
		    const hs_database_t *block_db, size_t max_span,
		    struct error *err)
{
	char path[PATH_MAX], tmp[PATH_MAX + 32], sfx[32];
	char *a = NULL, *b = NULL;
	size_t an = 0, bn = 0;
	int fd, r;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return err_sys(err, errno, "creating %s", dir);
	cache_path(path, sizeof(path), dir, key, "");
	snprintf(sfx, sizeof(sfx), ".%ld.tmp", (long)getpid());
	cache_path(tmp, sizeof(tmp), dir, key, sfx);
	r = serialize(stream_db, &a, &an, err);
	if (r == 0)
		r = serialize(block_db, &b, &bn, err);
	if (r < 0)
		goto out;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
		  0600);
	if (fd < 0) {
		r = err_sys(err, errno, "creating %s", tmp);
		goto out;
	}
	r = write_entry(fd, a, an, b, bn, max_span, err);
	if (close(fd) < 0 && r == 0)
		r = err_sys(err, errno, "closing %s", tmp);
	if (r == 0 && rename(tmp, path) < 0)
		r = err_sys(err, errno, "renaming %s", tmp);
	if (r < 0)
		unlink(tmp);
out:
	wipe_free(a);
	wipe_free(b);
	return r;
}
