/* Provisioning of the agent's home before a launch (DESIGN.md,
 * "Lifecycle"): the skills are copied into ~/.claude/skills/, and the
 * supervise MCP server is registered in ~/.claude.json the way
 * `claude mcp add --scope user` would, keeping everything else there.
 *
 * The home belongs to the agent, which may have left symlinks in it for
 * us: every path under it is opened relative to a directory fd with
 * O_NOFOLLOW (through /proc/self/fd for the tree copy), so nothing written
 * here lands outside the home. */
#include "cli/cli.h"

#include "lib/fsutil.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/plan.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLAUDE_JSON	"claude.json"
#define CLAUDE_JSON_MAX (16u << 20)
#define MCP_NAME	"supervise"

/* dir/name as a directory we own the path to: made (for the agent) if
 * missing, refused if it is anything but a directory. */
static int subdir(int dir, const char *name, const struct plan *p,
		  struct error *err)
{
	int fd;

	if (mkdirat(dir, name, 0700) == 0) {
		if (p->host_uid != getuid() &&
		    fchownat(dir, name, p->host_uid, p->host_gid,
			     AT_SYMLINK_NOFOLLOW) < 0)
			return err_sys(err, errno, "chown %s", name);
	} else if (errno != EEXIST) {
		return err_sys(err, errno, "mkdir %s", name);
	}
	fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return err_sys(err, errno, "%s is not a directory", name);
	return fd;
}

static int copy_skills(const struct plan *p, int home, struct error *err)
{
	struct copy_opts o = COPY_OPTS_INIT;
	int claude = -1, skills = -1, r = 0;

	if (!p->n_skills)
		return 0;
	if (p->host_uid != getuid()) {
		o.uid = p->host_uid;
		o.gid = p->host_gid;
	}
	if ((claude = subdir(home, ".claude", p, err)) < 0 ||
	    (skills = subdir(claude, "skills", p, err)) < 0) {
		r = claude < 0 ? claude : skills;
		goto out;
	}
	for (size_t i = 0; i < p->n_skills && r == 0; i++) {
		const char *src = p->skills[i], *name = strrchr(src, '/');
		_cleanup_free_ char *dst = NULL;

		name = name ? name + 1 : src;
		if (!*name || !strcmp(name, ".") || !strcmp(name, "..")) {
			r = err_set(err, EINVAL, "skill %s: no directory name",
				    src);
			break;
		}
		/* A fresh copy each launch: the manifest's skill wins. */
		dst = xasprintf("/proc/self/fd/%d/%s", skills, name);
		if ((r = rm_rf(dst, err)) < 0 ||
		    (r = copy_tree(src, dst, NULL, &o, err)) < 0)
			err_prefix(err, "skill %s", src);
	}
out:
	if (skills >= 0)
		close(skills);
	if (claude >= 0)
		close(claude);
	return r;
}

/* The old ~/.claude.json, or NULL when there is none.  -EINVAL for one
 * that is not a JSON object: the agent's file, left alone. */
static int read_claude_json(int home, struct json_value **out,
			    struct error *err)
{
	_cleanup_free_ char *path = NULL, *buf = NULL;
	int fd = openat(home, "." CLAUDE_JSON,
			O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	size_t len = 0;
	int r;

	*out = NULL;
	if (fd < 0)
		return errno == ENOENT
			   ? 0
			   : err_sys(err, errno, "opening ~/." CLAUDE_JSON);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(err, EINVAL,
			       "~/." CLAUDE_JSON " is not a regular file");
	}
	path = xasprintf("/proc/self/fd/%d", fd);
	r = read_file(path, &buf, &len, CLAUDE_JSON_MAX, err);
	close(fd);
	if (r < 0)
		return r;
	if (json_parse(buf, len, out, err) < 0 ||
	    json_type(*out) != JSON_OBJECT) {
		json_value_free(*out);
		*out = NULL;
		return err_set(err, EINVAL,
			       "~/." CLAUDE_JSON " is not a JSON object");
	}
	return 0;
}

/* old (NULL: none) with mcpServers.supervise set to url, or removed when
 * url is NULL; every other key as it was. */
static char *merge_claude_json(const struct json_value *old, const char *url)
{
	const struct json_value *servers = json_obj_get(old, "mcpServers");
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;

	json_writer_init(&w, &sb, JSON_WRITER_PRETTY);
	json_writer_begin_object(&w);
	for (size_t i = 0; i < json_obj_len(old); i++) {
		size_t kl = 0;
		const char *k = json_obj_key(old, i, &kl);
		if (kl == strlen("mcpServers") && !memcmp(k, "mcpServers", kl))
			continue;
		json_writer_key_len(&w, k, kl);
		json_writer_value(&w, json_obj_value(old, i));
	}
	json_writer_key(&w, "mcpServers");
	json_writer_begin_object(&w);
	for (size_t i = 0; i < json_obj_len(servers); i++) {
		size_t kl = 0;
		const char *k = json_obj_key(servers, i, &kl);
		if (kl == strlen(MCP_NAME) && !memcmp(k, MCP_NAME, kl))
			continue;
		json_writer_key_len(&w, k, kl);
		json_writer_value(&w, json_obj_value(servers, i));
	}
	if (url) {
		json_writer_key(&w, MCP_NAME);
		json_writer_begin_object(&w);
		json_writer_kv_string(&w, "type", "http");
		json_writer_kv_string(&w, "url", url);
		json_writer_end_object(&w);
	}
	json_writer_end_object(&w);
	json_writer_end_object(&w);
	strbuf_addch(&sb, '\n');
	return strbuf_detach(&sb, NULL);
}

/* Register (or, with supervise off, unregister) the MCP server. */
static int register_mcp(const struct plan *p, int home, struct error *err)
{
	_cleanup_free_ char *url = NULL, *data = NULL;
	struct json_value *old = NULL;
	static const char tmp[] = "." CLAUDE_JSON ".bottle-tmp";
	int fd, r;

	if ((r = read_claude_json(home, &old, err)) < 0)
		return r;
	if (!p->supervise &&
	    (!old ||
	     !json_obj_get(json_obj_get(old, "mcpServers"), MCP_NAME))) {
		json_value_free(old);
		return 0;
	}
	if (p->supervise)
		url =
		    xasprintf(SUPERVISE_URL_FMT, p->ports[ENDPOINT_SUPERVISE]);
	data = merge_claude_json(old, url);
	json_value_free(old);
	unlinkat(home, tmp, 0);
	fd = openat(home, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, errno, "creating ~/%s", tmp);
	if (write_all(fd, data, strlen(data)) < 0 ||
	    (p->host_uid != getuid() &&
	     fchown(fd, p->host_uid, p->host_gid) < 0)) {
		r = err_sys(err, errno, "writing ~/%s", tmp);
		close(fd);
		unlinkat(home, tmp, 0);
		return r;
	}
	close(fd);
	if (renameat(home, tmp, home, "." CLAUDE_JSON) < 0) {
		r = err_sys(err, errno, "renaming ~/%s", tmp);
		unlinkat(home, tmp, 0);
		return r;
	}
	return 0;
}

int provision_home(const struct plan *p, struct error *err)
{
	int home =
	    open(p->home_src, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	int r;

	if (home < 0)
		return err_sys(err, errno, "opening %s", p->home_src);
	r = copy_skills(p, home, err);
	if (r == 0 && (r = register_mcp(p, home, err)) == -EINVAL &&
	    !p->supervise) {
		r = 0; /* nothing to remove from a file we cannot read */
	} else if (r == -EINVAL) {
		log_warnx("not registering the supervise MCP server: %s",
			  err->msg);
		r = 0;
	}
	close(home);
	return r < 0 ? err_prefix(err, "provisioning the agent's home") : 0;
}
