/* Git upstreams from the host: identity environment and mirrors.  See
 * gitup.h. */
#include "lib/gitup.h"

#include "lib/fsutil.h"
#include "lib/secret.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

char *gitup_mirror_path(const char *state_dir, const char *name)
{
	return xasprintf("%s/git/%s.git", state_dir, name);
}

/* ---- the URL ---------------------------------------------------------- */

enum url_kind { URL_LOCAL, URL_HTTPS, URL_SSH };

struct url_parts {
	enum url_kind kind;
	char host[256];
	unsigned port; /* https: 443 unless given */
	bool has_user; /* user@ in the URL */
};

/* https://[user@]host[:port]/..., ssh://[user@]host[:port]/...,
 * git+ssh://..., [user@]host:path; file:// and paths are local. */
static void url_parse(const char *url, struct url_parts *u)
{
	const char *h, *end, *at, *colon;
	bool scp = false;
	size_t n;

	memset(u, 0, sizeof(*u));
	if (str_has_prefix(url, "https://")) {
		u->kind = URL_HTTPS;
		u->port = 443;
		h = url + 8;
	} else if (str_has_prefix(url, "ssh://") ||
		   str_has_prefix(url, "git+ssh://")) {
		u->kind = URL_SSH;
		h = strstr(url, "://") + 3;
	} else if (url[0] != '/' && !str_has_prefix(url, "file://") &&
		   strchr(url, ':')) {
		u->kind = URL_SSH;
		scp = true;
		h = url;
	} else {
		return;
	}
	end = h + strcspn(h, scp ? ":" : "/");
	if ((at = memchr(h, '@', (size_t)(end - h)))) {
		u->has_user = true;
		h = at + 1;
	}
	n = (size_t)(end - h);
	colon = scp || h[0] == '[' ? NULL : memchr(h, ':', n);
	if (colon) {
		u->port = (unsigned)atoi(colon + 1);
		n = (size_t)(colon - h);
	}
	if (n >= sizeof(u->host))
		n = sizeof(u->host) - 1;
	memcpy(u->host, h, n);
	u->host[n] = '\0';
}

static const char *resolve_pin(const struct kv *resolve, size_t n,
			       const char *host)
{
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(resolve[i].key, host) == 0)
			return resolve[i].value;
	return NULL;
}

/* ---- the environment -------------------------------------------------- */

/* Variables of ours, git's that name a repository or carry config (git's
 * local_repo_env and a few more), and its tracing, whose output would reach
 * the agent through the hook's stderr: never passed through. */
static bool dropped(const char *kv)
{
	static const char *const names[] = {
	    "GIT_DIR",
	    "GIT_WORK_TREE",
	    "GIT_IMPLICIT_WORK_TREE",
	    "GIT_INDEX_FILE",
	    "GIT_OBJECT_DIRECTORY",
	    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
	    "GIT_COMMON_DIR",
	    "GIT_GRAFT_FILE",
	    "GIT_NO_REPLACE_OBJECTS",
	    "GIT_REPLACE_REF_BASE",
	    "GIT_PREFIX",
	    "GIT_SHALLOW_FILE",
	    "GIT_QUARANTINE_PATH",
	    "GIT_NAMESPACE",
	    "GIT_PROTOCOL",
	    "GIT_CONFIG",
	    "GIT_CONFIG_PARAMETERS",
	    "GIT_CONFIG_COUNT",
	    "GIT_TERMINAL_PROMPT",
	    GITUP_TOKEN_ENV,
	};
	size_t n = strcspn(kv, "=");

	if (str_has_prefix(kv, "GIT_CONFIG_KEY_") ||
	    str_has_prefix(kv, "GIT_CONFIG_VALUE_") ||
	    str_has_prefix(kv, "GIT_TRACE") ||
	    str_has_prefix(kv, "BOTTLE_GATE_"))
		return true;
	for (size_t i = 0; i < ARRAY_SIZE(names); i++)
		if (strlen(names[i]) == n && memcmp(kv, names[i], n) == 0)
			return true;
	return false;
}

/* 'text' for sh, with ' written as '\''. */
static void add_quoted(struct strbuf *sb, const char *s)
{
	strbuf_addch(sb, '\'');
	for (; *s; s++)
		if (*s == '\'')
			strbuf_addstr(sb, "'\\''");
		else
			strbuf_addch(sb, *s);
	strbuf_addch(sb, '\'');
}

struct env_build {
	char **v;
	size_t n, alloc;
	unsigned n_config;
};

static void env_add(struct env_build *e, char *kv)
{
	ALLOC_GROW(e->v, e->n + 2, e->alloc);
	e->v[e->n++] = kv;
	e->v[e->n] = NULL;
}

/* Add kv, replacing the variable of the same name if there is one. */
static void env_set(struct env_build *e, char *kv)
{
	size_t n = strcspn(kv, "=") + 1;

	for (size_t i = 0; i < e->n; i++)
		if (strncmp(e->v[i], kv, n) == 0) {
			free(e->v[i]);
			e->v[i] = kv;
			return;
		}
	env_add(e, kv);
}

static void env_config(struct env_build *e, const char *key, const char *val)
{
	env_add(e, xasprintf("GIT_CONFIG_KEY_%u=%s", e->n_config, key));
	env_add(e, xasprintf("GIT_CONFIG_VALUE_%u=%s", e->n_config, val));
	e->n_config++;
}

static void env_ssh(struct env_build *e, const struct git_upstream *u,
		    const struct url_parts *url, const char *pin)
{
	const char *host_cmd = getenv("GIT_SSH_COMMAND");
	struct strbuf sb = STRBUF_INIT;

	if (!u->identity && !pin)
		return; /* the host's own ssh set-up, untouched */
	/* Options of the host's own command (a known-hosts file, a proxy)
	 * stay; ours follow. */
	strbuf_addf(&sb, "GIT_SSH_COMMAND=%s",
		    host_cmd && *host_cmd ? host_cmd : "ssh");
	if (u->identity) {
		strbuf_addstr(&sb, " -i ");
		add_quoted(&sb, u->identity);
		strbuf_addstr(&sb, " -o IdentitiesOnly=yes -o BatchMode=yes");
	}
	if (pin) {
		/* Known hosts are still checked under the upstream's name. */
		strbuf_addstr(&sb, " -o HostName=");
		add_quoted(&sb, pin);
		strbuf_addstr(&sb, " -o HostKeyAlias=");
		add_quoted(&sb, url->host);
	}
	env_set(e, strbuf_detach(&sb, NULL));
}

/* A credential helper that answers "get" with the token from the
 * environment; an empty helper first drops the host's helpers. */
static void env_token(struct env_build *e, const struct url_parts *url,
		      char *token)
{
	env_add(e, xasprintf("%s=%s", GITUP_TOKEN_ENV, token));
	env_config(e, "credential.helper", "");
	env_config(e, "credential.helper",
		   url->has_user
		       ? "!f() { test \"$1\" = get && printf 'password=%s\\n' "
			 "\"$" GITUP_TOKEN_ENV "\"; }; f"
		       : "!f() { test \"$1\" = get && printf "
			 "'username=x-access-token\\npassword=%s\\n' "
			 "\"$" GITUP_TOKEN_ENV "\"; }; f");
}

static void env_base(struct env_build *e)
{
	for (char **p = environ; *p; p++)
		if (!dropped(*p))
			env_add(e, xstrdup(*p));
	env_add(e, xstrdup("GIT_TERMINAL_PROMPT=0"));
}

char **gitup_env_plain(void)
{
	struct env_build e = {0};

	env_base(&e);
	return e.v;
}

int gitup_env(const struct git_upstream *u, const struct kv *resolve,
	      size_t n_resolve, char ***out, struct error *err)
{
	struct env_build e = {0};
	struct url_parts url;
	const char *pin;
	char *token = NULL;

	url_parse(u->url, &url);
	pin = url.kind == URL_LOCAL ? NULL
				    : resolve_pin(resolve, n_resolve, url.host);
	if (u->identity && access(u->identity, R_OK) != 0)
		return err_sys(err, errno, "identity %s", u->identity);
	if (u->token && !(token = secret_render(u->token, NULL, NULL, err)))
		return err_prefix(err, "token");
	if (token && !*token) {
		secret_free(token);
		return err_set(err, EINVAL, "token: empty");
	}
	env_base(&e);
	if (url.kind == URL_SSH)
		env_ssh(&e, u, &url, pin);
	if (token)
		env_token(&e, &url, token);
	secret_free(token);
	if (url.kind == URL_HTTPS && pin) {
		_cleanup_free_ char *rv =
		    xasprintf("%s:%u:%s", url.host, url.port, pin);
		env_config(&e, "http.curloptResolve", rv);
	}
	if (e.n_config)
		env_add(&e, xasprintf("GIT_CONFIG_COUNT=%u", e.n_config));
	*out = e.v;
	return 0;
}

void gitup_env_free(char **env)
{
	if (!env)
		return;
	for (char **p = env; *p; p++)
		if (str_has_prefix(*p, GITUP_TOKEN_ENV "="))
			secure_zero(*p, strlen(*p));
	strv_free(env);
}

/* ---- mirrors ---------------------------------------------------------- */

void gitup_fetch_argv(const char *argv[GITUP_FETCH_ARGC], const char *mirror,
		      bool quiet)
{
	int i = 0;

	argv[i++] = "git";
	argv[i++] = "-C";
	argv[i++] = mirror;
	argv[i++] = "fetch";
	argv[i++] = "--prune";
	if (quiet)
		argv[i++] = "--quiet";
	argv[i++] = "origin";
	argv[i] = NULL;
}

pid_t gitup_spawn(const char *const *argv, char **env, int out_fd)
{
	posix_spawn_file_actions_t fa;
	pid_t pid;
	int r;

	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null",
					 O_RDONLY, 0);
	if (out_fd >= 0) {
		posix_spawn_file_actions_adddup2(&fa, out_fd, STDOUT_FILENO);
		posix_spawn_file_actions_adddup2(&fa, out_fd, STDERR_FILENO);
	}
	r = posix_spawnp(&pid, argv[0], &fa, NULL, (char *const *)argv, env);
	posix_spawn_file_actions_destroy(&fa);
	return r != 0 ? -r : pid;
}

int gitup_wait(pid_t pid)
{
	int st;

	if (pid < 0)
		return pid;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
}

static int run_git(const char *const *argv, char **env)
{
	return gitup_wait(gitup_spawn(argv, env, -1));
}

static int git_failed(struct error *err, int r, const char *what,
		      const struct git_upstream *u)
{
	if (r < 0)
		return err_sys(err, -r, "git upstream %s: running git",
			       u->name);
	return err_set(err, EIO,
		       "git upstream %s: %s %s failed (git exited %d)", u->name,
		       what, u->url, r);
}

/* git clone --bare into a temporary name, then mirror branches and tags
 * from then on, then rename into place. */
static int clone_mirror(const struct git_upstream *u, const char *path,
			char **env, struct error *err)
{
	_cleanup_free_ char *tmp = xasprintf("%s.tmp", path);
	const char *clone[] = {"git", "clone", "--bare", "--quiet",
			       "--",  u->url,  tmp,	 NULL};
	const char *heads[] = {"git",
			       "-C",
			       tmp,
			       "config",
			       "--replace-all",
			       "remote.origin.fetch",
			       "+refs/heads/*:refs/heads/*",
			       NULL};
	const char *tags[] = {"git",
			      "-C",
			      tmp,
			      "config",
			      "--add",
			      "remote.origin.fetch",
			      "+refs/tags/*:refs/tags/*",
			      NULL};
	int r;

	if (isatty(STDERR_FILENO))
		clone[3] = "--progress";
	if ((r = rm_rf(tmp, err)) < 0)
		return r;
	if ((r = run_git(clone, env)) != 0) {
		struct error ignored = ERROR_INIT;
		if (rm_rf(tmp, &ignored) < 0)
			log_warnx("%s", ignored.msg);
		return git_failed(err, r, "cloning", u);
	}
	if ((r = run_git(heads, env)) != 0 || (r = run_git(tags, env)) != 0)
		return git_failed(err, r, "configuring the mirror of", u);
	if (rename(tmp, path) < 0)
		return err_sys(err, errno, "git upstream %s: renaming %s",
			       u->name, tmp);
	return 0;
}

static int update_mirror(const struct git_upstream *u, const char *path,
			 char **env, struct error *err)
{
	const char *seturl[] = {"git",	   "-C",     path,   "remote",
				"set-url", "origin", u->url, NULL};
	const char *fetch[GITUP_FETCH_ARGC];
	int r;

	gitup_fetch_argv(fetch, path, !isatty(STDERR_FILENO));
	if ((r = run_git(seturl, env)) != 0)
		return git_failed(err, r, "setting the URL", u);
	if ((r = run_git(fetch, env)) != 0) {
		struct error e = ERROR_INIT;
		git_failed(&e, r, "fetching", u);
		log_warnx("%s; the mirror is used as it is", e.msg);
	}
	return 0;
}

int gitup_sync(const char *state_dir, const struct git_upstream *ups, size_t n,
	       const struct kv *resolve, size_t n_resolve, bool show,
	       struct error *err)
{
	_cleanup_free_ char *dir = xasprintf("%s/git", state_dir);
	int r;

	if (n && (r = mkdir_p(dir, 0700, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		const struct git_upstream *u = &ups[i];
		_cleanup_free_ char *path =
		    gitup_mirror_path(state_dir, u->name);
		char **env = NULL;
		struct stat st;
		bool exists = stat(path, &st) == 0;

		if ((r = gitup_env(u, resolve, n_resolve, &env, err)) < 0)
			return err_prefix(err, "git upstream %s", u->name);
		if (show)
			fprintf(stderr, "bottle: %s git upstream %s (%s)\n",
				exists ? "updating" : "mirroring", u->name,
				u->url);
		r = exists ? update_mirror(u, path, env, err)
			   : clone_mirror(u, path, env, err);
		gitup_env_free(env);
		if (r < 0)
			return r;
	}
	return 0;
}
