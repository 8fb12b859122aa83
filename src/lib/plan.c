#include "plan.h"

#include "fsutil.h"
#include "log.h"
#include "strbuf.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* /etc entries the bottle never sees: credentials of the host's users and
 * its privilege configuration, plus the files we generate ourselves. */
static const char *const etc_hidden[] = {
    "shadow",
    "shadow-",
    "gshadow",
    "gshadow-",
    "sudoers",
    "sudoers.d",
    "subuid",
    "subgid",
    "subuid-",
    "subgid-",
    "ssh",
    "passwd",
    "passwd-",
    "group",
    "group-",
    "hosts",
    "resolv.conf",
    "hostname",
    "machine-id",
    "security",
    "polkit-1",
    "docker",
    "containerd",
    "credstore",
    "credstore.encrypted",
    "bottle",
    "gitconfig",
    NULL,
};

/* Where the host's CA bundle appears inside; an override is bound here. */
#define CA_BUNDLE_PATH "/etc/ssl/certs/ca-certificates.crt"

const char *setup_op_type_name(enum setup_op_type t)
{
	static const char *const names[] = {
	    [SETUP_TMPFS] = "tmpfs",	   [SETUP_DIR] = "dir",
	    [SETUP_RO_BIND] = "ro-bind",   [SETUP_BIND] = "bind",
	    [SETUP_DEV_BIND] = "dev-bind", [SETUP_RO_BIND_DIR] = "ro-bind-dir",
	    [SETUP_FILE] = "file",	   [SETUP_SYMLINK] = "symlink",
	    [SETUP_PROC] = "proc",	   [SETUP_DEVPTS] = "devpts",
	    [SETUP_MQUEUE] = "mqueue",	   [SETUP_REMOUNT_RO] = "remount-ro",
	};
	if ((size_t)t >= ARRAY_SIZE(names) || !names[t])
		BUG("bad setup op %d", (int)t);
	return names[t];
}

const char *limit_mech_name(enum limit_mech m)
{
	switch (m) {
	case LIMIT_CGROUP2:
		return "cgroup v2";
	case LIMIT_CGROUP1:
		return "cgroup v1";
	case LIMIT_RLIMIT:
		return "rlimit";
	case LIMIT_VM:
		return "the vm's size";
	case LIMIT_NONE:
		break;
	}
	return "not enforced";
}

/* ---- building the op list ---------------------------------------------- */

struct ops_builder {
	struct setup_op *ops;
	size_t n, alloc;
};

static struct setup_op *op_add(struct ops_builder *b, enum setup_op_type t,
			       const char *source, const char *target)
{
	struct setup_op *op;

	ALLOC_GROW(b->ops, b->n + 1, b->alloc);
	op = &b->ops[b->n++];
	memset(op, 0, sizeof(*op));
	op->type = t;
	op->source = source ? xstrdup(source) : NULL;
	op->target = xstrdup(target);
	return op;
}

static void op_file(struct ops_builder *b, const char *target, char *content,
		    mode_t mode)
{
	struct setup_op *op = op_add(b, SETUP_FILE, NULL, target);
	op->data = content;
	op->data_len = strlen(content);
	op->mode = mode;
}

static char *gen_passwd(void)
{
	return xasprintf("root:x:0:0:root:/root:/usr/sbin/nologin\n"
			 "%s:x:%u:%u:bottle agent:%s:/bin/sh\n"
			 "nobody:x:65534:65534:nobody:/nonexistent:"
			 "/usr/sbin/nologin\n",
			 AGENT_USER, AGENT_UID, AGENT_GID, AGENT_HOME);
}

static char *gen_group(void)
{
	return xasprintf("root:x:0:\n%s:x:%u:\nnogroup:x:65534:\n", AGENT_USER,
			 AGENT_GID);
}

static char *gen_hosts(const char *hostname)
{
	return xasprintf("127.0.0.1\tlocalhost\n127.0.1.1\t%s\n"
			 "::1\tlocalhost ip6-localhost ip6-loopback\n",
			 hostname);
}

/* A gitconfig value, quoted (the manifest refuses control characters). */
static void add_git_quoted(struct strbuf *sb, const char *v)
{
	strbuf_addch(sb, '"');
	for (; *v; v++) {
		if (*v == '"' || *v == '\\')
			strbuf_addch(sb, '\\');
		strbuf_addch(sb, *v);
	}
	strbuf_addstr(sb, "\"\n");
}

/* git-gate (DESIGN.md): each upstream's URL is rewritten to the gate, so
 * `git clone/fetch/push URL`, and a copied repository's own remote, reach
 * it unchanged.  A local upstream is matched both as a path and as a
 * file:// URL.  NULL when the bottle declares no upstreams. */
static char *gen_gitconfig(const struct plan *p)
{
	struct strbuf sb;

	if (!p->n_upstreams)
		return NULL;
	strbuf_init(&sb, 256);
	strbuf_addstr(&sb, "# bottle: the git upstreams are reached through "
			   "the git gate\n");
	for (size_t i = 0; i < p->n_upstreams; i++) {
		const char *url = p->upstreams[i].url;

		strbuf_addf(&sb, "[url \"" GIT_GATE_URL_FMT "\"]\n",
			    p->endpoint_addr, p->ports[ENDPOINT_GIT],
			    p->upstreams[i].name);
		strbuf_addstr(&sb, "\tinsteadOf = ");
		add_git_quoted(&sb, url);
		if (url[0] == '/' || str_has_prefix(url, "file:///")) {
			_cleanup_free_ char *alt =
			    url[0] == '/' ? xasprintf("file://%s", url)
					  : xstrdup(url + strlen("file://"));
			strbuf_addstr(&sb, "\tinsteadOf = ");
			add_git_quoted(&sb, alt);
		}
	}
	return strbuf_detach(&sb, NULL);
}

static void add_system_ops(struct ops_builder *b, const struct host_facts *h,
			   const char *hostname, char *gitconfig)
{
	struct setup_op *op;
	size_t i;

	op = op_add(b, SETUP_TMPFS, NULL, "/");
	op->mode = 0755;
	op->size = 16u << 20;

	op_add(b, SETUP_RO_BIND, "/usr", "/usr");
	for (i = 0; i < ARRAY_SIZE(h->usr_links) && h->usr_links[i]; i++) {
		const char *l = h->usr_links[i];
		const char *eq = strchr(l, '=');
		_cleanup_free_ char *target = NULL;

		if (eq) {
			target = xasprintf("/%.*s", (int)(eq - l), l);
			op_add(b, SETUP_SYMLINK, eq + 1, target);
		} else {
			target = xasprintf("/%s", l);
			op_add(b, SETUP_RO_BIND, target, target)->flags =
			    SETUP_OPTIONAL;
		}
	}

	/* /etc is a tmpfs of its own: our generated files first, then the
	 * host's entries around them, then one recursive read-only remount. */
	op = op_add(b, SETUP_TMPFS, NULL, "/etc");
	op->mode = 0755;
	op->size = 1u << 20;
	op_file(b, "/etc/passwd", gen_passwd(), 0644);
	op_file(b, "/etc/group", gen_group(), 0644);
	op_file(b, "/etc/hosts", gen_hosts(hostname), 0644);
	op_file(b, "/etc/hostname", xasprintf("%s\n", hostname), 0644);
	/* No nameserver: names resolve only through the bundle's proxy. */
	op_file(b, "/etc/resolv.conf",
		xstrdup("# bottle: no DNS inside; the proxy resolves names\n"
			"options timeout:1 attempts:1\n"),
		0644);
	if (gitconfig)
		op_file(b, "/etc/gitconfig", gitconfig, 0644);
	op = op_add(b, SETUP_RO_BIND_DIR, "/etc", "/etc");
	op->except = xcalloc(ARRAY_SIZE(etc_hidden), sizeof(char *));
	for (i = 0; etc_hidden[i]; i++)
		op->except[i] = xstrdup(etc_hidden[i]);
	op_add(b, SETUP_REMOUNT_RO, NULL, "/etc")->flags = SETUP_RECURSIVE;
}

static void add_dev_ops(struct ops_builder *b)
{
	static const char *const devs[] = {"null",   "zero",	"full",
					   "random", "urandom", "tty"};
	static const char *const links[][2] = {
	    {"pts/ptmx", "/dev/ptmx"},
	    {"/proc/self/fd", "/dev/fd"},
	    {"/proc/self/fd/0", "/dev/stdin"},
	    {"/proc/self/fd/1", "/dev/stdout"},
	    {"/proc/self/fd/2", "/dev/stderr"},
	};
	struct setup_op *op;
	size_t i;

	op = op_add(b, SETUP_TMPFS, NULL, "/dev");
	op->mode = 0755;
	op->size = 1u << 20;
	op->flags = SETUP_NOEXEC;
	for (i = 0; i < ARRAY_SIZE(devs); i++) {
		_cleanup_free_ char *p = xasprintf("/dev/%s", devs[i]);
		op_add(b, SETUP_DEV_BIND, p, p);
	}
	op_add(b, SETUP_DEVPTS, NULL, "/dev/pts");
	for (i = 0; i < ARRAY_SIZE(links); i++)
		op_add(b, SETUP_SYMLINK, links[i][0], links[i][1]);
	op = op_add(b, SETUP_TMPFS, NULL, "/dev/shm");
	op->mode = 01777;
	op->flags = SETUP_NOEXEC;
	op_add(b, SETUP_MQUEUE, NULL, "/dev/mqueue");
	/* Nothing inside may replace /dev/ptmx or its siblings: `bottle exec`
	 * opens /dev/ptmx before it drops its privileges. */
	op_add(b, SETUP_REMOUNT_RO, NULL, "/dev");
}

static int check_mount_target(const char *file, const struct mount_spec *m,
			      struct error *err)
{
	static const char *const reserved[] = {
	    "/proc", "/dev", "/run/bottle", "/etc", BOTTLE_WORKDIR, AGENT_HOME};
	size_t i;

	if (m->target[0] != '/' || strstr(m->target, "/../") ||
	    str_has_suffix(m->target, "/.."))
		return err_set(err, EINVAL,
			       "%s:%d:%d: mount target %s: expected an "
			       "absolute path without '..'",
			       file, m->pos.line, m->pos.col, m->target);
	if (strcmp(m->target, "/") == 0)
		return err_set(err, EINVAL,
			       "%s:%d:%d: mount target / would hide the "
			       "bottle's root",
			       file, m->pos.line, m->pos.col);
	for (i = 0; i < ARRAY_SIZE(reserved); i++) {
		size_t l = strlen(reserved[i]);
		if (strncmp(m->target, reserved[i], l) == 0 &&
		    (m->target[l] == '\0' || m->target[l] == '/'))
			return err_set(err, EINVAL,
				       "%s:%d:%d: mount target %s is managed "
				       "by the bottle (%s)",
				       file, m->pos.line, m->pos.col, m->target,
				       reserved[i]);
	}
	return 0;
}

/* The agent's prompt, when it has a non-empty one. */
static const char *agent_prompt(const struct spec *spec)
{
	const char *s = spec->agent->prompt;

	return s && s[strspn(s, " \t\r\n")] ? s : NULL;
}

static int add_user_ops(struct ops_builder *b, const struct spec *spec,
			const struct plan *p, const struct host_facts *h,
			struct error *err)
{
	const struct bottle_def *bd = spec->bottle;
	struct setup_op *op;
	size_t i;
	int r;

	for (i = 0; i < bd->n_mounts; i++) {
		const struct mount_spec *m = &bd->mounts[i];
		if ((r = check_mount_target(spec->manifest->path
						? spec->manifest->path
						: "manifest",
					    m, err)) < 0)
			return r;
		op = op_add(b, m->readonly ? SETUP_RO_BIND : SETUP_BIND,
			    m->source, m->target);
		if (m->optional)
			op->flags |= SETUP_OPTIONAL;
	}
	op_add(b, SETUP_BIND, p->workspace_src, BOTTLE_WORKDIR);
	op_add(b, SETUP_DIR, NULL, "/home")->mode = 0755;
	op_add(b, SETUP_BIND, p->home_src, AGENT_HOME);
	op = op_add(b, SETUP_TMPFS, NULL, "/tmp");
	op->mode = 01777;
	op->size = p->tmp_size;
	op_add(b, SETUP_DIR, NULL, "/var")->mode = 0755;
	op_add(b, SETUP_SYMLINK, "../tmp", "/var/tmp");
	op_add(b, SETUP_DIR, NULL, "/run/bottle")->mode = 0755;
	if (agent_prompt(spec))
		op_file(b, BOTTLE_PROMPT, xstrdup(spec->agent->prompt), 0644);
	if (h->probe_path)
		op_add(b, SETUP_RO_BIND, h->probe_path, BOTTLE_PROBE)->flags =
		    SETUP_OPTIONAL;
	{
		/* Always there: it carries the bundle's CA even when the host
		 * has no bundle of its own. */
		_cleanup_free_ char *ca =
		    xasprintf("%s/ca-bundle.crt", p->run_dir);
		op_add(b, SETUP_RO_BIND, ca, BOTTLE_CA_BUNDLE);
	}
	return 0;
}

/* ---- env and argv ------------------------------------------------------ */

static int env_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t lx = strcspn(x, "="), ly = strcspn(y, "=");
	int c = strncmp(x, y, lx < ly ? lx : ly);
	return c ? c : (int)lx - (int)ly;
}

struct env_builder {
	char **v;
	size_t n, alloc;
};

/* Set NAME=value, replacing an earlier value of NAME. */
static void env_set(struct env_builder *e, const char *name, const char *value)
{
	size_t l = strlen(name), i;
	char *kv = xasprintf("%s=%s", name, value);

	for (i = 0; i < e->n; i++) {
		if (strncmp(e->v[i], name, l) == 0 && e->v[i][l] == '=') {
			free(e->v[i]);
			e->v[i] = kv;
			return;
		}
	}
	ALLOC_GROW(e->v, e->n + 2, e->alloc);
	e->v[e->n++] = kv;
	e->v[e->n] = NULL;
}

/* The one way out (DESIGN.md): every client inside is pointed at the
 * bundle's proxy and trusts its CA through the bottle's CA bundle.  A
 * routed credential's env var holds only a placeholder; the bundle swaps
 * in the real value on the host side. */
static void add_proxy_env(struct env_builder *e, const struct plan *p)
{
	static const char *const proxy_vars[] = {"HTTP_PROXY", "HTTPS_PROXY",
						 "http_proxy", "https_proxy"};
	static const char *const ca_vars[] = {
	    "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "REQUESTS_CA_BUNDLE",
	    "CURL_CA_BUNDLE", "GIT_SSL_CAINFO"};
	_cleanup_free_ char *url = xasprintf("http://%s:%u", p->endpoint_addr,
					     p->ports[ENDPOINT_PROXY]);
	_cleanup_free_ char *no_proxy =
	    strcmp(p->endpoint_addr, PROXY_ADDR) == 0
		? xstrdup("localhost,127.0.0.1,::1")
		: xasprintf("localhost,127.0.0.1,::1,%s", p->endpoint_addr);
	size_t i;

	for (i = 0; i < ARRAY_SIZE(proxy_vars); i++)
		env_set(e, proxy_vars[i], url);
	env_set(e, "NO_PROXY", no_proxy);
	env_set(e, "no_proxy", no_proxy);
	for (i = 0; i < ARRAY_SIZE(ca_vars); i++)
		env_set(e, ca_vars[i], BOTTLE_CA_BUNDLE);
	for (i = 0; i < p->egress.n_routes; i++) {
		const char *name = p->egress.routes[i].placeholder_env;
		_cleanup_free_ char *v = NULL;
		if (!name)
			continue;
		v = xasprintf(PLACEHOLDER_PREFIX "%s", name);
		env_set(e, name, v);
	}
}

/* The manifest's egress, with the command line's --resolve on top. */
static void build_egress(struct plan *p, const struct spec *spec)
{
	struct egress *e = &p->egress;

	egress_copy(e, &spec->bottle->egress);
	for (size_t i = 0; i < spec->n_resolve; i++) {
		const struct kv *o = &spec->resolve[i];
		size_t k;
		for (k = 0; k < e->n_resolve; k++)
			if (strcmp(e->resolve[k].key, o->key) == 0)
				break;
		if (k == e->n_resolve) {
			e->resolve = xrealloc(
			    e->resolve, st_mult(k + 2, sizeof(*e->resolve)));
			e->resolve[k] =
			    (struct kv){xstrdup(o->key), NULL, o->pos};
			e->n_resolve++;
		}
		free(e->resolve[k].value);
		e->resolve[k].value = xstrdup(o->value);
	}
}

static void build_env(struct plan *p, const struct spec *spec,
		      const struct host_facts *h)
{
	struct env_builder e = {0};
	size_t i;

	env_set(&e, "PATH",
		"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
	env_set(&e, "HOME", AGENT_HOME);
	env_set(&e, "USER", AGENT_USER);
	env_set(&e, "LOGNAME", AGENT_USER);
	env_set(&e, "SHELL", "/bin/sh");
	env_set(&e, "TERM", h->term ? h->term : "xterm-256color");
	env_set(&e, "LANG", h->lang ? h->lang : "C.UTF-8");
	if (h->tz)
		env_set(&e, "TZ", h->tz);
	env_set(&e, "BOTTLE_ID", p->id);
	env_set(&e, "BOTTLE_BACKEND", p->backend);
	/* Claude Code: no telemetry, error reporting or update checks; only
	 * the API calls the allowlist is there for. */
	env_set(&e, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
	if (agent_prompt(spec))
		env_set(&e, "BOTTLE_PROMPT_FILE", BOTTLE_PROMPT);
	add_proxy_env(&e, p);
	for (i = 0; i < spec->bottle->n_env; i++)
		env_set(&e, spec->bottle->env[i].key,
			spec->bottle->env[i].value);
	if (!e.v)
		BUG("empty env");
	qsort(e.v, e.n, sizeof(char *), env_cmp);
	p->env = e.v;
	p->n_env = e.n;
}

static bool is_claude(const char *argv0)
{
	const char *base = strrchr(argv0, '/');

	return strcmp(base ? base + 1 : argv0, "claude") == 0;
}

/* The command as written: a --dangerously-skip-permissions is there only
 * when the manifest says so.  The agent's own command gets its prompt:
 * Claude Code as --append-system-prompt-file, any agent through
 * $BOTTLE_PROMPT_FILE. */
static void build_argv(struct plan *p, const struct spec *spec)
{
	char **src = spec->cmd ? spec->cmd : spec->agent->command;
	size_t n = spec->cmd ? spec->n_cmd : spec->agent->n_command, i;
	bool prompt =
	    !spec->cmd && n && agent_prompt(spec) && is_claude(src[0]);

	p->argv = xcalloc(n + 3, sizeof(char *));
	for (i = 0; i < n; i++)
		p->argv[i] = xstrdup(src[i]);
	if (prompt) {
		p->argv[n++] = xstrdup("--append-system-prompt-file");
		p->argv[n++] = xstrdup(BOTTLE_PROMPT);
	}
	p->argc = n;
	p->skills = xcalloc(spec->agent->n_skills + 1, sizeof(char *));
	for (i = 0; i < spec->agent->n_skills; i++)
		p->skills[i] = xstrdup(spec->agent->skills[i]);
	p->n_skills = spec->agent->n_skills;
}

static void add_note(struct plan *p, char *note)
{
	p->notes = xrealloc(p->notes, st_mult(p->n_notes + 2, sizeof(char *)));
	p->notes[p->n_notes++] = note;
	p->notes[p->n_notes] = NULL;
}

/* Sections the manifest schema has but this version does not act on yet:
 * say so instead of silently ignoring them. */
static void add_notes(struct plan *p, const struct spec *spec,
		      const struct host_facts *h)
{
	const struct bottle_def *bd = spec->bottle;
	const struct egress *e = &bd->egress;
	const char *mf = spec->manifest->path;
	size_t n = strlen(spec->cwd);

	if (!spec->copy_cwd && mf &&
	    (mf[0] != '/' || (strncmp(mf, spec->cwd, n) == 0 && mf[n] == '/')))
		add_note(p, xasprintf("%s is inside the directory the agent "
				      "writes: it can change this plan for "
				      "the next run; read it before saying yes",
				      mf));

	if (!h->bundle_path)
		add_note(p, xstrdup("bottle-bundle is not installed next to "
				    "bottle: the launch will fail"));
	else if (!e->n_allow && !e->n_routes)
		add_note(p, xstrdup("egress allows no host: every request "
				    "through the proxy gets a 403"));
	if (h->uid == 0) {
		bool rw = !spec->copy_cwd;
		for (size_t i = 0; i < bd->n_mounts; i++)
			rw |= !bd->mounts[i].readonly;
		if (rw)
			add_note(p, xasprintf("as root the agent is host uid "
					      "%u: read-write binds must be "
					      "writable by it",
					      ROOT_AGENT_HOST_ID));
	}
	if (p->memory.mech == LIMIT_RLIMIT || p->pids.mech == LIMIT_RLIMIT)
		add_note(p, xstrdup("rlimits are the fallback here: memory is "
				    "capped per process (RLIMIT_DATA), not per "
				    "bottle"));
}

static struct limit_plan limit(uint64_t value, enum limit_mech mech)
{
	struct limit_plan l = {value, value ? mech : LIMIT_NONE};
	return l;
}

int plan_build(const struct spec *spec, const struct host_facts *h,
	       struct plan **out, struct error *err)
{
	const struct bottle_def *bd = spec->bottle;
	struct ops_builder b = {0};
	struct plan *p;
	int r;

	if (strcmp(bd->backend, "ns") != 0 && strcmp(bd->backend, "vm") != 0)
		return err_set(err, ENOTSUP,
			       "bottle %s: backend \"%s\" is not available in "
			       "this version (only \"ns\" and \"vm\")",
			       bd->name, bd->backend);
	if ((spec->cmd ? spec->n_cmd : spec->agent->n_command) == 0)
		return err_set(err, EINVAL, "agent %s: empty command",
			       spec->agent->name);

	p = xcalloc(1, sizeof(*p));
	p->id = xstrdup(spec->id);
	p->agent = xstrdup(spec->agent->name);
	p->bottle = xstrdup(bd->name);
	p->backend = xstrdup(bd->backend);
	p->cwd = xstrdup(spec->cwd);
	p->copy_cwd = spec->copy_cwd;
	p->detach = spec->detach;
	p->state_dir = xasprintf("%s/%s", h->state_home, spec->id);
	p->workspace_src = spec->copy_cwd
			       ? xasprintf("%s/workspace", p->state_dir)
			       : xstrdup(spec->cwd);
	p->home_src = xasprintf("%s/home", p->state_dir);
	p->log_dir = xasprintf("%s/logs", p->state_dir);
	p->run_dir = xasprintf("%s/run", p->state_dir);
	p->host_uid = h->uid == 0 ? ROOT_AGENT_HOST_ID : h->uid;
	p->host_gid = h->uid == 0 ? ROOT_AGENT_HOST_ID : h->gid;
	p->hostname = xstrndup(spec->id, 63);
	p->memory = limit(bd->limits.memory, h->mem_mech);
	p->pids = limit(bd->limits.pids, h->pids_mech);
	p->cpu = limit(bd->limits.cpus_milli, h->cpu_mech);
	p->tmp_size =
	    bd->limits.tmp_size ? bd->limits.tmp_size : DEFAULT_TMP_SIZE;
	p->bundle_path = h->bundle_path ? xstrdup(h->bundle_path) : NULL;
	p->endpoint_addr =
	    xstrdup(strcmp(bd->backend, "vm") == 0 ? VM_GATEWAY : PROXY_ADDR);
	if (strcmp(bd->backend, "vm") == 0) {
		static const char *const accel[] = {"auto", "kvm", "tcg"};
		p->vm_kernel = bd->vm.kernel ? xstrdup(bd->vm.kernel) : NULL;
		p->vm_accel = xstrdup(accel[bd->vm.accel]);
		p->vm_memory = bd->vm.memory	   ? bd->vm.memory
			       : bd->limits.memory ? bd->limits.memory
						   : VM_MEMORY_DEFAULT;
	}
	p->ports[ENDPOINT_PROXY] = PROXY_PORT;
	if (bd->n_upstreams) {
		p->ports[ENDPOINT_GIT] = GIT_GATE_PORT;
		p->upstreams = upstreams_copy(bd->upstreams, bd->n_upstreams);
		p->n_upstreams = bd->n_upstreams;
	}
	if (bd->supervise) {
		p->ports[ENDPOINT_SUPERVISE] = SUPERVISE_PORT;
		p->supervise = true;
		p->supervise_timeout = bd->supervise_timeout;
	}
	build_egress(p, spec);
	build_argv(p, spec);
	build_env(p, spec, h);
	add_notes(p, spec, h);

	add_system_ops(&b, h, p->hostname, gen_gitconfig(p));
	add_dev_ops(&b);
	op_add(&b, SETUP_PROC, NULL, "/proc");
	r = add_user_ops(&b, spec, p, h, err);
	op_add(&b, SETUP_REMOUNT_RO, NULL, "/");
	p->ops = b.ops;
	p->n_ops = b.n;
	if (r < 0) {
		plan_free(p);
		return r;
	}
	*out = p;
	return 0;
}

void plan_free(struct plan *p)
{
	size_t i;

	if (!p)
		return;
	for (i = 0; i < p->n_ops; i++) {
		free(p->ops[i].source);
		free(p->ops[i].target);
		free(p->ops[i].data);
		strv_free(p->ops[i].except);
	}
	free(p->ops);
	strv_free(p->argv);
	strv_free(p->skills);
	strv_free(p->env);
	strv_free(p->notes);
	egress_release(&p->egress);
	upstreams_release(p->upstreams, p->n_upstreams);
	free(p->bundle_path);
	free(p->endpoint_addr);
	free(p->vm_kernel);
	free(p->vm_accel);
	free(p->id);
	free(p->agent);
	free(p->bottle);
	free(p->backend);
	free(p->cwd);
	free(p->state_dir);
	free(p->workspace_src);
	free(p->home_src);
	free(p->log_dir);
	free(p->run_dir);
	free(p->hostname);
	free(p);
}

const char *plan_getenv(const struct plan *p, const char *name)
{
	size_t l = strlen(name), i;
	for (i = 0; i < p->n_env; i++)
		if (strncmp(p->env[i], name, l) == 0 && p->env[i][l] == '=')
			return p->env[i] + l + 1;
	return NULL;
}

/* ---- printing ---------------------------------------------------------- */

static void print_size(struct strbuf *sb, uint64_t v)
{
	static const char units[] = "KMGT";
	int u = -1;
	double d = (double)v;

	while (d >= 1024 && u < 3) {
		d /= 1024;
		u++;
	}
	if (u < 0)
		strbuf_addf(sb, "%llu B", (unsigned long long)v);
	else
		strbuf_addf(sb, "%.4g %ciB", d, units[u]);
}

static void print_limit(FILE *f, const char *name, const struct limit_plan *l,
			int kind)
{
	struct strbuf sb = STRBUF_INIT;

	if (!l->value)
		strbuf_addstr(&sb, "unlimited");
	else if (kind == 0)
		print_size(&sb, l->value);
	else if (kind == 1)
		strbuf_addf(&sb, "%llu", (unsigned long long)l->value);
	else
		strbuf_addf(&sb, "%.3g", (double)l->value / 1000.0);
	if (l->value)
		strbuf_addf(&sb, " (%s)", limit_mech_name(l->mech));
	fprintf(f, "  %-9s %s\n", name, sb.buf);
	strbuf_release(&sb);
}

static void print_op(FILE *f, const struct setup_op *op)
{
	fprintf(f, "    %-12s", setup_op_type_name(op->type));
	switch (op->type) {
	case SETUP_RO_BIND:
	case SETUP_BIND:
	case SETUP_DEV_BIND:
		if (strcmp(op->source, op->target) == 0)
			fprintf(f, "%s", op->target);
		else
			fprintf(f, "%s <- %s", op->target, op->source);
		break;
	case SETUP_RO_BIND_DIR: {
		char **e;
		fprintf(f, "%s/* <- %s/* except", op->target, op->source);
		for (e = op->except; e && *e; e++)
			fprintf(f, " %s", *e);
		break;
	}
	case SETUP_SYMLINK:
		fprintf(f, "%s -> %s", op->target, op->source);
		break;
	case SETUP_FILE:
		fprintf(f, "%s (%zu bytes, generated)", op->target,
			op->data_len);
		break;
	case SETUP_TMPFS:
		fprintf(f, "%s", op->target);
		if (op->size) {
			struct strbuf sb = STRBUF_INIT;
			print_size(&sb, op->size);
			fprintf(f, " (%s)", sb.buf);
			strbuf_release(&sb);
		}
		break;
	default:
		fprintf(f, "%s", op->target);
	}
	if (op->flags & SETUP_OPTIONAL)
		fprintf(f, " [if present]");
	fputc('\n', f);
}

static void print_list(FILE *f, const char *label, char *const *v, size_t n)
{
	if (!n)
		return;
	fprintf(f, "  %-9s", label);
	for (size_t i = 0; i < n; i++)
		fprintf(f, " %s", v[i]);
	fputc('\n', f);
}

/* The one way out, as the user should check it before saying yes. */
static void print_egress(const struct plan *p, FILE *f)
{
	const struct egress *e = &p->egress;
	size_t i;

	if (strcmp(p->endpoint_addr, PROXY_ADDR) == 0)
		fprintf(f,
			"  network   loopback only; the bundle's proxy at "
			"%s:%u is the way out\n",
			p->endpoint_addr, p->ports[ENDPOINT_PROXY]);
	else
		fprintf(f,
			"  network   one link to the bundle; its proxy at "
			"%s:%u is the way out\n",
			p->endpoint_addr, p->ports[ENDPOINT_PROXY]);
	if (!e->n_allow && !e->n_routes)
		fprintf(f, "  allow     nothing (every request gets a 403)\n");
	print_list(f, "allow", e->allow, e->n_allow);
	print_list(f, "inspect", e->inspect, e->n_inspect);
	for (i = 0; i < e->n_routes; i++)
		fprintf(
		    f, "  route     %s: %s from %s%s%s%s\n", e->routes[i].host,
		    e->routes[i].header, e->routes[i].value,
		    e->routes[i].placeholder_env ? " (the agent's $" : "",
		    e->routes[i].placeholder_env ? e->routes[i].placeholder_env
						 : "",
		    e->routes[i].placeholder_env ? " is a placeholder)" : "");
	for (i = 0; i < e->n_resolve; i++)
		fprintf(f, "  resolve   %s -> %s\n", e->resolve[i].key,
			e->resolve[i].value);
	fprintf(f, "  dlp       %s%zu pattern(s) of yours, block on a hit\n",
		e->dlp_builtin ? "built-in patterns + " : "", e->n_patterns);
}

/* What may be pushed where: the git gate's upstreams and their policy. */
static void print_gate(const struct plan *p, FILE *f)
{
	for (size_t i = 0; i < p->n_upstreams; i++) {
		const struct git_upstream *u = &p->upstreams[i];

		fprintf(f, "  git       %s = %s via " GIT_GATE_URL_FMT "%s%s\n",
			u->name, u->url, p->endpoint_addr,
			p->ports[ENDPOINT_GIT], u->name,
			u->identity ? ", key " : "",
			u->identity ? u->identity : "");
		if (!u->n_push)
			fprintf(f, "  push      %s: nothing\n", u->name);
		else
			fprintf(f, "  push      %s:", u->name);
		for (size_t k = 0; k < u->n_push; k++)
			fprintf(f, " %s", u->push[k]);
		if (u->n_push)
			fprintf(f, "%s%s\n", u->allow_force ? " (force)" : "",
				u->allow_delete ? " (delete)" : "");
	}
}

void plan_print(const struct plan *p, FILE *f)
{
	size_t i;

	fprintf(f, "bottle %s\n", p->id);
	fprintf(f, "  agent     %s (bottle %s, backend %s)\n", p->agent,
		p->bottle, p->backend);
	fprintf(f, "  command  ");
	for (i = 0; i < p->argc; i++)
		fprintf(f, " %s", p->argv[i]);
	fputc('\n', f);
	if (p->copy_cwd)
		fprintf(f,
			"  workspace %s copied to %s (your files stay "
			"untouched)\n",
			p->cwd, BOTTLE_WORKDIR);
	else
		fprintf(f,
			"  workspace %s bound read-write at %s (the agent "
			"edits your files)\n",
			p->cwd, BOTTLE_WORKDIR);
	fprintf(f, "  state     %s\n", p->state_dir);
	fprintf(f, "  user      %s (uid %u inside, host uid %u)\n", AGENT_USER,
		AGENT_UID, (unsigned)p->host_uid);
	print_egress(p, f);
	print_gate(p, f);
	if (p->supervise)
		fprintf(f,
			"  supervise " SUPERVISE_URL_FMT
			" (answer with `bottle supervise`)\n",
			p->endpoint_addr, p->ports[ENDPOINT_SUPERVISE]);
	print_limit(f, "memory", &p->memory, 0);
	print_limit(f, "pids", &p->pids, 1);
	print_limit(f, "cpus", &p->cpu, 2);
	fprintf(f, "  env      ");
	for (i = 0; i < p->n_env; i++)
		fprintf(f, " %.*s", (int)strcspn(p->env[i], "="), p->env[i]);
	fputc('\n', f);
	for (i = 0; i < p->n_notes; i++)
		fprintf(f, "  note      %s\n", p->notes[i]);
	fprintf(f, "  filesystem (in order):\n");
	for (i = 0; i < p->n_ops; i++)
		print_op(f, &p->ops[i]);
}

/* ---- host facts -------------------------------------------------------- */

void host_facts_gather(struct host_facts *h)
{
	static const char *const roots[] = {"bin",   "sbin",  "lib",
					    "lib32", "lib64", "libx32"};
	const char *xdg = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");
	ssize_t n;
	size_t i, k = 0;

	memset(h, 0, sizeof(*h));
	h->uid = getuid();
	h->gid = getgid();
	{
		/* Canonical, so the plan's bind sources contain no symlink
		 * (the init opens them with RESOLVE_NO_SYMLINKS). */
		_cleanup_free_ char *sh =
		    xdg && xdg[0] == '/'
			? xasprintf("%s/bottle", xdg)
			: xasprintf("%s/.local/state/bottle",
				    home && *home == '/' ? home : "/tmp");
		h->state_home = canonical_path(sh);
	}
	h->probe_path = helper_path("bottle-probe");
	h->bundle_path = helper_path("bottle-bundle");
	if (access(CA_BUNDLE_PATH, R_OK) == 0)
		h->ca_bundle = xstrdup(CA_BUNDLE_PATH);
	for (i = 0; i < ARRAY_SIZE(roots); i++) {
		char path[64], link[256];
		struct stat st;
		snprintf(path, sizeof(path), "/%s", roots[i]);
		if (lstat(path, &st) != 0)
			continue;
		if (S_ISLNK(st.st_mode)) {
			n = readlink(path, link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			h->usr_links[k++] = xasprintf("%s=%s", roots[i], link);
		} else if (S_ISDIR(st.st_mode)) {
			h->usr_links[k++] = xstrdup(roots[i]);
		}
	}
	if (getenv("TERM"))
		h->term = xstrdup(getenv("TERM"));
	if (getenv("LANG"))
		h->lang = xstrdup(getenv("LANG"));
	if (getenv("TZ"))
		h->tz = xstrdup(getenv("TZ"));
}

void host_facts_release(struct host_facts *h)
{
	size_t i;
	free(h->state_home);
	free(h->probe_path);
	free(h->bundle_path);
	free(h->ca_bundle);
	for (i = 0; i < ARRAY_SIZE(h->usr_links); i++)
		free(h->usr_links[i]);
	free(h->term);
	free(h->lang);
	free(h->tz);
	memset(h, 0, sizeof(*h));
}

int endpoints_unpack(const uint16_t ports[ENDPOINT_COUNT], const int *in,
		     size_t n, int fds[ENDPOINT_COUNT])
{
	size_t k = 0;

	for (int i = 0; i < ENDPOINT_COUNT; i++)
		fds[i] = ports[i] && k < n ? in[k++] : -1;
	for (int i = 0; i < ENDPOINT_COUNT; i++)
		if (ports[i] && fds[i] < 0)
			return -1;
	return k == n ? 0 : -1;
}
