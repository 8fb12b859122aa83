/* Provisioning of the agent's home before a launch (DESIGN.md,
 * "Lifecycle"): the skills are copied into ~/.claude/skills/, and the
 * supervise MCP server is registered in ~/.claude.json the way
 * `claude mcp add --scope user` would, keeping everything else there, and,
 * for an agent whose command is `codex`, in ~/.codex/config.toml too.
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
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define CLAUDE_JSON   "claude.json"
#define HOME_FILE_MAX (16u << 20)
#define MCP_NAME      "supervise"
#define CODEX_DIR     ".codex"
#define CODEX_CONFIG  "config.toml"
/* The lines around the table bottle owns in ~/.codex/config.toml. */
#define CODEX_BEGIN                                                            \
	"# BEGIN bottle: the supervise MCP server (bottle rewrites this "      \
	"block at each launch)\n"
#define CODEX_END "# END bottle\n"
/* How much longer than the bundle Codex waits for a supervise call: the
 * bundle's "no answer" result, not Codex's own timeout, should end it. */
#define CODEX_TOOL_TIMEOUT_SLACK 30

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

/* dir/name (shown as ~/shown in errors) into *buf, or *buf NULL when there
 * is none.  Never follows a symlink; -EINVAL for anything but a regular
 * file: the agent's, left alone. */
static int read_home_file(int dir, const char *name, const char *shown,
			  char **buf, size_t *len, struct error *err)
{
	_cleanup_free_ char *path = NULL;
	int fd =
	    openat(dir, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	int r;

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return errno == ENOENT
			   ? 0
			   : err_sys(err, errno, "opening ~/%s", shown);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return err_set(err, EINVAL, "~/%s is not a regular file",
			       shown);
	}
	path = xasprintf("/proc/self/fd/%d", fd);
	r = read_file(path, buf, len, HOME_FILE_MAX, err);
	close(fd);
	return r;
}

/* Replace dir/name with data: written beside it and renamed over it, so
 * the agent never sees half a file and a symlink there is replaced, not
 * followed. */
static int replace_home_file(const struct plan *p, int dir, const char *name,
			     const char *shown, const char *data,
			     struct error *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.bottle-tmp", name);
	int fd, r;

	unlinkat(dir, tmp, 0);
	fd = openat(dir, tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return err_sys(err, errno, "creating ~/%s.bottle-tmp", shown);
	if (write_all(fd, data, strlen(data)) < 0 ||
	    (p->host_uid != getuid() &&
	     fchown(fd, p->host_uid, p->host_gid) < 0)) {
		r = err_sys(err, errno, "writing ~/%s.bottle-tmp", shown);
		close(fd);
		unlinkat(dir, tmp, 0);
		return r;
	}
	close(fd);
	if (renameat(dir, tmp, dir, name) < 0) {
		r = err_sys(err, errno, "renaming ~/%s.bottle-tmp", shown);
		unlinkat(dir, tmp, 0);
		return r;
	}
	return 0;
}

/* The old ~/.claude.json, or NULL when there is none.  -EINVAL for one
 * that is not a JSON object: the agent's file, left alone. */
static int read_claude_json(int home, struct json_value **out,
			    struct error *err)
{
	_cleanup_free_ char *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	r = read_home_file(home, "." CLAUDE_JSON, "." CLAUDE_JSON, &buf, &len,
			   err);
	if (r < 0 || !buf)
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

/* Register (or, with supervise off, unregister) the MCP server in
 * ~/.claude.json. */
static int register_mcp_claude(const struct plan *p, int home,
			       struct error *err)
{
	_cleanup_free_ char *url = NULL, *data = NULL;
	struct json_value *old = NULL;
	int r;

	if ((r = read_claude_json(home, &old, err)) < 0)
		return r;
	if (!p->supervise &&
	    (!old ||
	     !json_obj_get(json_obj_get(old, "mcpServers"), MCP_NAME))) {
		json_value_free(old);
		return 0;
	}
	if (p->supervise)
		url = xasprintf(SUPERVISE_URL_FMT, p->endpoint_addr,
				p->ports[ENDPOINT_SUPERVISE]);
	data = merge_claude_json(old, url);
	json_value_free(old);
	return replace_home_file(p, home, "." CLAUDE_JSON, "." CLAUDE_JSON,
				 data, err);
}

/* Whether the agent is OpenAI's Codex CLI (docs/codex.md): its command's
 * last path component is `codex`. */
static bool agent_is_codex(const struct plan *p)
{
	const char *cmd = p->argc ? p->argv[0] : NULL, *base;

	if (!cmd)
		return false;
	base = strrchr(cmd, '/');
	return !strcmp(base ? base + 1 : cmd, "codex");
}

/* The first line of text that starts with line (which ends in '\n'). */
static const char *find_line(const char *text, const char *line)
{
	for (const char *q = text; (q = strstr(q, line)); q++)
		if (q == text || q[-1] == '\n')
			return q;
	return NULL;
}

/* text without bottle's block (CODEX_BEGIN up to the next CODEX_END line);
 * *found says whether there was one.  Malloc'd. */
static char *codex_strip_block(const char *text, bool *found)
{
	const char *b = find_line(text, CODEX_BEGIN), *e = NULL;
	struct strbuf sb = STRBUF_INIT;

	if (b)
		e = find_line(b + strlen(CODEX_BEGIN), CODEX_END);
	*found = e != NULL;
	strbuf_add(&sb, text, e ? (size_t)(b - text) : strlen(text));
	if (e)
		strbuf_addstr(&sb, e + strlen(CODEX_END));
	return strbuf_detach(&sb, NULL);
}

/* Append s[0..n) to out as a plain dotted TOML key: blanks and quotes
 * dropped (escapes in quoted keys are not decoded). */
static void toml_key_add(struct strbuf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '"' && s[i] != '\'')
			strbuf_addch(out, s[i]);
}

/* Whether key (dotted, from the top) is or is inside
 * mcp_servers.supervise. */
static bool toml_key_is_supervise(const char *key)
{
	static const char pre[] = "mcp_servers." MCP_NAME;
	size_t n = strlen(pre);

	return !strncmp(key, pre, n) && (key[n] == '\0' || key[n] == '.');
}

/* Whether the agent's config.toml defines a supervise server itself, or
 * makes mcp_servers an inline table (which no [table] may extend).  Line
 * by line: table headers, and each key with its table.  It errs towards
 * yes (a line of a multi-line string may look like a header): then bottle
 * only warns, where a second [mcp_servers.supervise] would make Codex
 * refuse the whole file. */
static bool codex_has_supervise(const char *text)
{
	struct strbuf table = STRBUF_INIT, key = STRBUF_INIT;
	bool found = false;

	for (const char *l = text; *l && !found;) {
		const char *end = strchrnul(l, '\n'), *q = l, *stop;

		while (q < end && (*q == ' ' || *q == '\t'))
			q++;
		if (q < end && *q == '[') {
			while (q < end && *q == '[')
				q++;
			stop = memchr(q, ']', (size_t)(end - q));
			strbuf_reset(&table);
			toml_key_add(&table, q,
				     (size_t)((stop ? stop : end) - q));
			found = toml_key_is_supervise(table.buf);
		} else if (q < end && *q != '#' &&
			   (stop = memchr(q, '=', (size_t)(end - q)))) {
			strbuf_reset(&key);
			if (table.len) {
				strbuf_addstr(&key, table.buf);
				strbuf_addch(&key, '.');
			}
			toml_key_add(&key, q, (size_t)(stop - q));
			found = toml_key_is_supervise(key.buf) ||
				!strcmp(key.buf, "mcp_servers");
		}
		l = *end ? end + 1 : end;
	}
	strbuf_release(&table);
	strbuf_release(&key);
	return found;
}

/* The new ~/.codex/config.toml: old (NUL-free) without bottle's block and,
 * with supervise on, with a fresh one at the end.  NULL when nothing
 * changes; -EINVAL with err when the agent registered supervise itself. */
static int codex_config(const struct plan *p, const char *old, char **out,
			struct error *err)
{
	bool had = false;
	_cleanup_free_ char *rest = codex_strip_block(old, &had);
	unsigned timeout = p->supervise_timeout ? p->supervise_timeout
						: SUPERVISE_TIMEOUT_DEFAULT;
	struct strbuf sb = STRBUF_INIT;

	*out = NULL;
	if (!p->supervise) {
		if (had)
			*out = steal_ptr(&rest);
		return 0;
	}
	if (codex_has_supervise(rest))
		return err_set(err, EINVAL,
			       "~/" CODEX_DIR "/" CODEX_CONFIG
			       " has its own [mcp_servers." MCP_NAME "]");
	strbuf_addstr(&sb, rest);
	if (sb.len && sb.buf[sb.len - 1] != '\n')
		strbuf_addch(&sb, '\n');
	strbuf_addstr(&sb, CODEX_BEGIN "[mcp_servers." MCP_NAME "]\n");
	strbuf_addf(&sb, "url = \"" SUPERVISE_URL_FMT "\"\n", p->endpoint_addr,
		    p->ports[ENDPOINT_SUPERVISE]);
	/* The tools reach the human: Codex asking its user first would be a
	 * second approval, and exec mode ("never") would refuse the call. */
	strbuf_addstr(&sb, "default_tools_approval_mode = \"approve\"\n");
	strbuf_addf(&sb, "tool_timeout_sec = %u\n",
		    timeout + CODEX_TOOL_TIMEOUT_SLACK);
	strbuf_addstr(&sb, CODEX_END);
	if (!strcmp(sb.buf, old)) {
		strbuf_release(&sb);
		return 0;
	}
	*out = strbuf_detach(&sb, NULL);
	return 0;
}

/* Register (or, with supervise off, unregister) the MCP server in
 * ~/.codex/config.toml, a TOML file bottle does not parse: its own block,
 * between two comment lines, is the only part it writes. */
static int register_mcp_codex(const struct plan *p, int home, struct error *err)
{
	static const char shown[] = CODEX_DIR "/" CODEX_CONFIG;
	_cleanup_free_ char *old = NULL, *data = NULL;
	_cleanup_close_ int dir = -1;
	size_t len = 0;
	int r;

	if (p->supervise)
		dir = subdir(home, CODEX_DIR, p, err);
	else
		dir = openat(home, CODEX_DIR,
			     O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dir < 0)
		return p->supervise ? dir : 0;
	if ((r = read_home_file(dir, CODEX_CONFIG, shown, &old, &len, err)) < 0)
		return r;
	if (old && memchr(old, '\0', len))
		return err_set(err, EINVAL, "~/%s holds a NUL byte", shown);
	if ((r = codex_config(p, old ? old : "", &data, err)) < 0 || !data)
		return r;
	return replace_home_file(p, dir, CODEX_CONFIG, shown, data, err);
}

/* r from registering the MCP server: a file of the agent's that is not as
 * expected (-EINVAL) is left alone, with a warning if it mattered. */
static int registered(const struct plan *p, int r, const struct error *err)
{
	if (r != -EINVAL)
		return r;
	if (p->supervise)
		log_warnx("not registering the supervise MCP server: %s",
			  err->msg);
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
	if (r == 0)
		r = registered(p, register_mcp_claude(p, home, err), err);
	if (r == 0 && agent_is_codex(p))
		r = registered(p, register_mcp_codex(p, home, err), err);
	close(home);
	return r < 0 ? err_prefix(err, "provisioning the agent's home") : 0;
}
