/* Probes of the filesystem view: host-paths, ro-system, writes-contained,
 * sys-absent. */
#include "guest/probes.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <unistd.h>

#ifndef SYSFS_MAGIC
#define SYSFS_MAGIC 0x62656572
#endif

/* Entries of a directory other than "." and "..", or -errno. */
static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -errno;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Whether a unix socket accepts connections.  Nothing is sent. */
static bool socket_connectable(const char *path)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	bool ok;

	if (strlen(path) >= sizeof(sa.sun_path))
		return false;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return false;
	ok = !connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ||
	     errno == EINPROGRESS || errno == EAGAIN;
	close(fd);
	return ok;
}

/* Describe how path is exposed into why; false if it is absent, empty or
 * unreadable (which is what a bottle must give). */
static bool path_exposed(const char *path, char *why, size_t n)
{
	struct stat st;

	if (stat(path, &st) < 0) {
		snprintf(why, n, "%s", errno_name(errno));
		return false;
	}
	if (S_ISDIR(st.st_mode)) {
		int e = count_entries(path);
		if (e < 0)
			snprintf(why, n, "unreadable directory");
		else
			snprintf(why, n, "directory with %d entries", e);
		return e > 0;
	}
	if (S_ISSOCK(st.st_mode)) {
		bool ok = socket_connectable(path);
		snprintf(why, n, "socket %s connections",
			 ok ? "accepts" : "refuses");
		return ok;
	}
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(why, n, "exists, not readable (%s)",
			 errno_name(errno));
		return false;
	}
	close(fd);
	snprintf(why, n, "readable");
	return true;
}

static void check_host_path(const char *path, struct probe_report *r)
{
	char why[64];

	if (path_exposed(path, why, sizeof(why)))
		report_fail(r, "%s: %s", path, why);
	else if (strcmp(why, "ENOENT"))
		report_note(r, "%s: %s", path, why);
}

/* Host secrets, other users' homes and the host's control sockets. */
static const char *const host_paths[] = {
    "/root",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/ssh/ssh_host_rsa_key",
    "/etc/ssh/ssh_host_ecdsa_key",
    "/etc/ssh/ssh_host_ed25519_key",
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/run/podman/podman.sock",
    "/run/user",
    "/sys",
};

/* The /home entry that leads to our own home ("agent" for
 * /home/agent/...), or "" if home is not under /home. */
static void own_home_entry(const char *home, char *out, size_t n)
{
	out[0] = '\0';
	if (!home || strncmp(home, "/home/", 6))
		return;
	home += 6;
	size_t len = strcspn(home, "/");
	if (len < n) {
		memcpy(out, home, len);
		out[len] = '\0';
	}
}

static void check_homes(const char *home, struct probe_report *r)
{
	char own[NAME_MAX + 1], path[PATH_MAX];
	struct dirent *de;

	DIR *d = opendir("/home");
	if (!d)
		return; /* absent or unreadable: nothing to see */
	own_home_entry(home, own, sizeof(own));
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..") ||
		    !strcmp(de->d_name, own))
			continue;
		snprintf(path, sizeof(path), "/home/%s", de->d_name);
		check_host_path(path, r);
	}
	closedir(d);
}

void probe_host_paths(const struct probe_opts *opts, struct probe_report *r)
{
	for (size_t i = 0; i < ARRAY_SIZE(host_paths); i++)
		check_host_path(host_paths[i], r);
	check_homes(opts->home, r);
	if (!r->nfail)
		report_note(r, "%zu host paths absent or unreadable",
			    ARRAY_SIZE(host_paths));
}

/* ---- ro-system --------------------------------------------------------- */

/* Try to create a file in dir and remove it again.  O_TMPFILE first: it
 * leaves no name behind even if we die; fall back to a named file where
 * the filesystem does not support it.  Returns 0 if a file was created,
 * else -errno. */
static int try_create(const char *dir, bool named)
{
	char path[PATH_MAX];
	int fd = -1;

	if (!named) {
		fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EOPNOTSUPP && errno != EISDIR &&
		    errno != EINVAL)
			return -errno;
	}
	if (fd < 0) {
		snprintf(path, sizeof(path), "%s/.bottle-probe-%d",
			 strcmp(dir, "/") ? dir : "", (int)getpid());
		fd = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		unlink(path);
	}
	int ok = write(fd, "x", 1) == 1 ? 0 : -errno;
	close(fd);
	return ok;
}

static bool refused_write(int err)
{
	return err == EROFS || err == EACCES || err == EPERM;
}

static void expect_no_create(const char *dir, struct probe_report *r)
{
	int e = try_create(dir, false);

	if (e == 0)
		report_fail(r, "created a file in %s", dir);
	else if (e == -ENOENT)
		report_note(r, "%s absent", dir);
	else if (!refused_write(-e))
		report_fail(r, "create in %s: unexpected %s", dir,
			    errno_name(-e));
	else
		report_note(r, "%s: %s", dir, errno_name(-e));
}

/* Opening for writing is the test; nothing is ever written. */
static void expect_no_write(const char *path, struct probe_report *r)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_NOCTTY | O_CLOEXEC);

	if (fd >= 0) {
		close(fd);
		report_fail(r, "%s opened for writing", path);
	} else if (errno == ENOENT) {
		report_note(r, "%s absent", path);
	} else if (!refused_write(errno)) {
		report_fail(r, "write %s: unexpected %s", path,
			    errno_name(errno));
	} else {
		report_note(r, "%s: %s", path, errno_name(errno));
	}
}

void probe_ro_system(const struct probe_opts *opts, struct probe_report *r)
{
	static const char *const dirs[] = {"/", "/usr", "/usr/bin", "/usr/lib",
					   "/etc"};
	static const char *const files[] = {"/etc/passwd", "/etc/hosts",
					    "/usr/bin/env"};
	(void)opts;

	for (size_t i = 0; i < ARRAY_SIZE(dirs); i++)
		expect_no_create(dirs[i], r);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		expect_no_write(files[i], r);
}

/* ---- writes-contained -------------------------------------------------- */

static void write_marker(const char *dir, const char *name,
			 struct probe_report *r)
{
	static const char text[] = "bottle-probe marker\n";
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	int fd = open(
	    path, O_CREAT | O_TRUNC | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		report_fail(r, "marker %s: %s", path, errno_name(errno));
		return;
	}
	if (write(fd, text, sizeof(text) - 1) != (ssize_t)sizeof(text) - 1)
		report_fail(r, "marker %s: short write", path);
	else
		report_note(r, "marker %s left", path);
	close(fd);
}

static void expect_writable(const char *what, const char *dir,
			    const char *marker, struct probe_report *r)
{
	if (!dir) {
		report_fail(r, "%s: not set", what);
		return;
	}
	int e = try_create(dir, true);
	if (e < 0) {
		report_fail(r, "%s %s: %s", what, dir, errno_name(-e));
		return;
	}
	report_note(r, "%s %s writable", what, dir);
	if (marker)
		write_marker(dir, marker, r);
}

void probe_writes_contained(const struct probe_opts *opts,
			    struct probe_report *r)
{
	expect_writable("workspace", opts->workspace, opts->marker, r);
	expect_writable("home", opts->home, opts->marker, r);
}

/* ---- sys-absent -------------------------------------------------------- */

void probe_sys_absent(const struct probe_opts *opts, struct probe_report *r)
{
	struct statfs sf;
	(void)opts;

	if (statfs("/sys", &sf) < 0) {
		if (errno == ENOENT)
			report_note(r, "/sys absent");
		else
			report_note(r, "/sys: %s", errno_name(errno));
		return;
	}
	if (sf.f_type == SYSFS_MAGIC)
		report_fail(r, "sysfs mounted on /sys");
	int n = count_entries("/sys");
	if (n > 0)
		report_fail(r, "/sys has %d entries", n);
	int e = try_create("/sys", false);
	if (e == 0)
		report_fail(r, "/sys is writable");
	if (!r->nfail)
		report_note(r, "/sys empty and not writable (%s)",
			    errno_name(-e));
}
