/* Filesystem helpers for the host side: atomic writes, bounded reads,
 * mkdir -p, rm -rf, tree copies and lock files.
 *
 * All return 0 or a negative errno and fill err (the message names the
 * path).  Every fd they open is O_CLOEXEC.  Allocation failure dies.
 */
#ifndef BOTTLE_FSUTIL_H
#define BOTTLE_FSUTIL_H

#include "err.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/types.h>

/* Replace path with data: write a temp file ".<base>.tmp.<pid>" in the same
 * directory, fsync it, rename it over path and fsync the directory, so a
 * reader sees the old or the new content, never a mix.  The file gets
 * exactly mode (umask does not apply).  The temp file is removed on
 * failure.  Not for concurrent writers of one path within one process
 * (they would share the temp name). */
int write_file_atomic(const char *path, const void *data, size_t len,
		      mode_t mode, struct error *err)
    __attribute__((warn_unused_result));

/* The same without the fsyncs: readers still see the old or the new file
 * and a killed writer leaves at worst a temp file, but a power loss may
 * lose the update.  For runtime state that a reboot makes stale anyway,
 * where two fsyncs per write would dominate a bottle's launch time. */
int write_file_replace(const char *path, const void *data, size_t len,
		       mode_t mode, struct error *err)
    __attribute__((warn_unused_result));

/* Read all of path into *out (NUL-terminated, caller frees; *len excludes
 * the NUL, len may be NULL).  -EFBIG if the file holds more than max
 * bytes, checked while reading too (for files whose size is unknown, as in
 * /proc).  *out is NULL on error. */
int read_file(const char *path, char **out, size_t *len, size_t max,
	      struct error *err) __attribute__((warn_unused_result));

/* path with every symlink in its existing part resolved and the rest
 * appended as is (realpath(3) that also works for paths yet to be
 * created).  Malloc'd; NULL only for an empty or relative path. */
char *canonical_path(const char *path);

/* A helper executable (bottle-probe, bottle-bundle, bottle-init) next to
 * the running binary (the build tree) or in its ../libexec/bottle (an
 * installed tree): its canonical path, malloc'd; NULL if neither. */
char *helper_path(const char *name);

/* mkdir -p: create path and missing parents with mode (umask applies).
 * Existing directories (or symlinks to them) are fine; -ENOTDIR if a
 * component exists and is not a directory. */
int mkdir_p(const char *path, mode_t mode, struct error *err)
    __attribute__((warn_unused_result));

/* rm -rf --one-file-system: remove path and everything under it.  Never
 * follows symlinks (a symlink is removed, not its target), never descends
 * into another mount (-EXDEV, with nothing on the other mount touched),
 * and makes directories of the tree writable as needed, so trees with
 * read-only directories (git objects) go too.  A missing path is success.
 * "/", "." and ".." as the last component are refused (-EINVAL).
 * NEEDSWORK: holds one fd per directory level, so trees deeper than the fd
 * limit fail with -EMFILE. */
int rm_rf(const char *path, struct error *err)
    __attribute__((warn_unused_result));

struct copy_stats {
	uint64_t files;	    /* regular files written (not hard links) */
	uint64_t dirs;	    /* including the top one */
	uint64_t symlinks;  /* copied as symlinks */
	uint64_t hardlinks; /* extra names of a file already copied */
	uint64_t bytes;	    /* content of regular files */
	uint64_t skipped;   /* sockets, fifos, devices */
	uint64_t reflinked; /* files whose content was cloned (FICLONE) */
};

#define COPY_STATS_INIT                                                        \
	{                                                                      \
		0                                                              \
	}

typedef void (*copy_on_progress_fn)(const struct copy_stats *stats, void *arg);

struct copy_opts {
	/* chown every created entry to these (-1: keep the caller's) */
	uid_t uid;
	gid_t gid;
	/* called between entries, at most every ~100 ms; may be NULL */
	copy_on_progress_fn on_progress;
	void *progress_arg;
};

#define COPY_OPTS_INIT                                                         \
	{                                                                      \
		.uid = (uid_t)-1, .gid = (gid_t)-1                             \
	}

/* Copy the directory tree src to dst, which must not exist (-EEXIST) and
 * is created.  Regular files (content cloned with FICLONE where the
 * filesystem can, else copy_file_range, else read/write), directories and
 * symlinks (as symlinks, never followed) are copied with their permission
 * bits (setuid/setgid/sticky included) and atime/mtime; hard links within
 * the tree stay hard links.  Sockets, fifos and devices are skipped and
 * counted.  Only src itself may be a symlink (it is followed); the walk
 * uses fds (openat, O_NOFOLLOW), so it neither follows symlinks out of the
 * tree nor has a path length limit.  Other mounts under src are copied as
 * plain directories.  On failure dst is removed again.  stats (may be NULL)
 * is filled in as far as the copy got; opts may be NULL for the defaults.
 * Copying a tree into itself is refused (-EINVAL). */
int copy_tree(const char *src, const char *dst, struct copy_stats *stats,
	      const struct copy_opts *opts, struct error *err)
    __attribute__((warn_unused_result));

/* Open (creating it 0600 if missing; a symlink is refused) and flock() path
 * with flags LOCK_SH or LOCK_EX.  timeout_ms < 0 waits for ever, 0 tries
 * once, > 0 retries with short sleeps for that long.  Returns 0 with the
 * locked fd (O_CLOEXEC) in *fd_out, -ETIMEDOUT if another holder kept the
 * lock for the whole timeout (including timeout 0), or another -errno.
 * Release the lock by closing the fd.  *fd_out is -1 on error. */
int lock_file(const char *path, int flags, int timeout_ms, int *fd_out,
	      struct error *err) __attribute__((warn_unused_result));

#endif
