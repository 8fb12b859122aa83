/* The mirrors' pre-receive hook: bottle-bundle run by `git receive-pack`
 * (as STATE/git/hooks/pre-receive) after the agent's objects arrived in
 * the quarantine and before any ref of the mirror moves.  It runs on the
 * host, a child of git, a grandchild of the bundle; its stderr reaches the
 * agent as "remote: ..." lines.
 *
 *  1. read the updates "OLD NEW REF" from stdin;
 *  2. check every one against the push policy (gate_policy.h); any
 *     refusal refuses the whole push;
 *  3. push the same updates to the upstream, atomically, with the
 *     upstream's identity (already in our environment, see gate.c);
 *     forced updates and deletions carry a lease on the old value, so
 *     nothing the agent never saw is overwritten;
 *  4. exit 0 only if the upstream took them: then receive-pack moves the
 *     mirror's refs, so the mirror never holds what the upstream refused;
 *  5. one audit line, either way.
 *
 * The quarantine's object directory is inherited, so the push and the
 * fast-forward checks see the new objects.  GIT_QUARANTINE_PATH itself is
 * dropped for the push: a local (file://) upstream's receive-pack would
 * inherit it and refuse every ref update. */
#include "bundle/audit.h"
#include "bundle/gate.h"
#include "bundle/gate_policy.h"

#include "lib/gitup.h"
#include "lib/json.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

#define MAX_UPDATES  10000
#define ARGS_MAX     (1u << 20) /* bytes of refspecs on git push's argv */
#define MESSAGE_KEEP 2048	/* of the upstream's answer, for the audit */
#define AUDIT_REFS   1000	/* refs listed in the audit line */

struct update {
	char *old, *new, *ref;
	enum push_kind kind;
	bool ff;
};

struct hook {
	const char *upstream, *url, *audit, *bottle;
	char **patterns;
	size_t n_patterns;
	struct push_policy policy;
	struct update *u;
	size_t n, alloc;
	struct strbuf message; /* the tail of the upstream's answer */
	char reason[1024];     /* the first refusal */
};

bool gate_is_hook(const char *argv0)
{
	return argv0 && str_has_suffix(argv0, "/pre-receive");
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("bottle: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static bool is_null_id(const char *id)
{
	return strspn(id, "0") == strlen(id);
}

static int load_config(struct hook *h)
{
	const char *push = getenv("BOTTLE_GATE_PUSH");

	h->upstream = getenv("BOTTLE_GATE_UPSTREAM");
	h->url = getenv("BOTTLE_GATE_URL");
	h->audit = getenv("BOTTLE_GATE_AUDIT");
	h->bottle = getenv("BOTTLE_GATE_BOTTLE");
	if (!h->upstream || !h->url || !push || !h->audit || !h->bottle) {
		say("this hook only runs under the bottle's git gate");
		return -1;
	}
	for (const char *p = push; *p;) {
		size_t n = strcspn(p, "\n");
		h->patterns =
		    xrealloc(h->patterns, (h->n_patterns + 1) * sizeof(char *));
		h->patterns[h->n_patterns++] = xstrndup(p, n);
		p += n + (p[n] == '\n');
	}
	h->policy.patterns = (const char *const *)h->patterns;
	h->policy.n_patterns = h->n_patterns;
	h->policy.allow_force = getenv("BOTTLE_GATE_FORCE") &&
				strcmp(getenv("BOTTLE_GATE_FORCE"), "1") == 0;
	h->policy.allow_delete = getenv("BOTTLE_GATE_DELETE") &&
				 strcmp(getenv("BOTTLE_GATE_DELETE"), "1") == 0;
	return 0;
}

/* "OLD NEW REF\n" lines, as git writes them. */
static int read_updates(struct hook *h)
{
	_cleanup_free_ char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	while ((len = getline(&line, &cap, stdin)) > 0) {
		char *sp1, *sp2;
		struct update *u;

		if (line[len - 1] == '\n')
			line[--len] = '\0';
		sp1 = strchr(line, ' ');
		sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
		if (!sp2) {
			say("unexpected input from git");
			return -1;
		}
		if (h->n == MAX_UPDATES) {
			say("too many refs in one push (more than %d); push "
			    "them in parts",
			    MAX_UPDATES);
			return -1;
		}
		*sp1 = *sp2 = '\0';
		/* The agent's bytes, unchecked by git so far: nothing that
		 * could change the refspecs we forward gets past here, and
		 * none of it is echoed. */
		if (!push_id_valid(line) || !push_id_valid(sp1 + 1)) {
			say("refused: an object id in this push is malformed");
			return -1;
		}
		if (!push_ref_valid(sp2 + 1)) {
			say("refused: a ref name in this push is not one the "
			    "gate forwards (refs/..., at most %d bytes of "
			    "letters, digits and ._-+,=@ in components that "
			    "do not start with '.' or end with .lock)",
			    PUSH_REF_MAX);
			return -1;
		}
		ALLOC_GROW(h->u, h->n + 1, h->alloc);
		u = &h->u[h->n++];
		memset(u, 0, sizeof(*u));
		u->old = xstrdup(line);
		u->new = xstrdup(sp1 + 1);
		u->ref = xstrdup(sp2 + 1);
		u->kind = is_null_id(u->old)   ? PUSH_CREATE
			  : is_null_id(u->new) ? PUSH_DELETE
					       : PUSH_UPDATE;
	}
	return 0;
}

/* Step 2.  The reasons go to the agent. */
static int check_updates(struct hook *h)
{
	char why[1024];
	int denied = 0;

	for (size_t i = 0; i < h->n; i++) {
		struct update *u = &h->u[i];
		if (u->kind == PUSH_UPDATE) {
			const char *argv[] = {"git",	       "merge-base",
					      "--is-ancestor", u->old,
					      u->new,	       NULL};
			u->ff = gitup_wait(gitup_spawn(argv, environ, -1)) == 0;
		}
		if (!push_allowed(&h->policy, u->ref, u->kind, u->ff, why,
				  sizeof(why))) {
			say("%s", why);
			if (!denied++)
				snprintf(h->reason, sizeof(h->reason), "%s",
					 why);
		}
	}
	return denied ? -1 : 0;
}

/* Keep the last MESSAGE_KEEP bytes of what the upstream said. */
static void keep(struct strbuf *sb, const char *p, size_t n)
{
	strbuf_add(sb, p, n);
	if (sb->len > MESSAGE_KEEP) {
		size_t cut = sb->len - MESSAGE_KEEP;
		memmove(sb->buf, sb->buf + cut, MESSAGE_KEEP);
		sb->len = MESSAGE_KEEP;
		sb->buf[sb->len] = '\0';
	}
}

/* Step 3: git push --atomic URL [--force-with-lease=REF:OLD] NEW:REF...
 * 0 when the upstream took everything. */
static int forward(struct hook *h)
{
	const char **argv = xcalloc(2 * h->n + 8, sizeof(char *));
	char **specs = xcalloc(2 * h->n + 1, sizeof(char *));
	size_t a = 0, s = 0, bytes = 0;
	int fds[2], r = -1;
	char buf[4096];
	ssize_t n;
	pid_t pid;
	char **env = NULL;

	argv[a++] = "git";
	argv[a++] = "push";
	argv[a++] = "--atomic";
	argv[a++] = "--quiet";
	for (size_t i = 0; i < h->n; i++) {
		struct update *u = &h->u[i];
		if (u->kind == PUSH_DELETE ||
		    (u->kind == PUSH_UPDATE && !u->ff))
			argv[a++] = specs[s++] = xasprintf(
			    "--force-with-lease=%s:%s", u->ref, u->old);
	}
	argv[a++] = "--";
	argv[a++] = h->url;
	for (size_t i = 0; i < h->n; i++) {
		struct update *u = &h->u[i];
		argv[a++] = specs[s++] = xasprintf(
		    "%s:%s", u->kind == PUSH_DELETE ? "" : u->new, u->ref);
		bytes += strlen(specs[s - 1]) + 2 * strlen(u->ref);
	}
	if (bytes > ARGS_MAX) {
		say("the push names %zu bytes of refs, more than can be "
		    "forwarded at once (%u); push them in parts",
		    bytes, ARGS_MAX);
		goto out;
	}
	for (char **p = environ; *p; p++)
		if (!str_has_prefix(*p, "GIT_QUARANTINE_PATH="))
			strv_push(&env, *p);
	if (pipe2(fds, O_CLOEXEC) < 0) {
		say("pipe: %s", strerror(errno));
		goto out;
	}
	pid = gitup_spawn(argv, env, fds[1]);
	close(fds[1]);
	while ((n = read(fds[0], buf, sizeof(buf))) > 0 ||
	       (n < 0 && errno == EINTR)) {
		if (n <= 0)
			continue;
		if (write_all(STDERR_FILENO, buf, (size_t)n) < 0)
			break;
		keep(&h->message, buf, (size_t)n);
	}
	close(fds[0]);
	if (pid < 0) {
		say("running git push: %s", strerror((int)-pid));
		goto out;
	}
	r = gitup_wait(pid) == 0 ? 0 : -1;
out:
	for (size_t i = 0; i < s; i++)
		free(specs[i]);
	free(specs);
	free(argv);
	free(env);
	return r;
}

/* Step 5: one line in the bottle's audit log. */
static void audit_push(struct hook *h, const char *verdict, const char *reason)
{
	struct error err = ERROR_INIT;
	struct json_writer w;
	struct audit *a;

	/* Nothing to tell the agent if this fails: the path is the host's. */
	if (audit_open(h->audit, h->bottle, &a, &err) < 0)
		return;
	audit_begin(a, &w);
	json_writer_kv_string(&w, "mode", "git-push");
	json_writer_kv_string(&w, "upstream", h->upstream);
	json_writer_kv_string(&w, "url", h->url);
	json_writer_kv_string(&w, "verdict", verdict);
	if (reason)
		json_writer_kv_string(&w, "reason", reason);
	if (h->message.len)
		json_writer_kv_string(&w, "message", h->message.buf);
	json_writer_key(&w, "refs");
	json_writer_begin_array(&w);
	for (size_t i = 0; i < h->n && i < AUDIT_REFS; i++) {
		json_writer_begin_object(&w);
		json_writer_kv_string(&w, "ref", h->u[i].ref);
		json_writer_kv_string(&w, "old", h->u[i].old);
		json_writer_kv_string(&w, "new", h->u[i].new);
		json_writer_end_object(&w);
	}
	json_writer_end_array(&w);
	if (h->n > AUDIT_REFS)
		json_writer_kv_uint64(&w, "refs_omitted", h->n - AUDIT_REFS);
	audit_end(a, &w);
	audit_close(a);
}

static void hook_release(struct hook *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free(h->u[i].old);
		free(h->u[i].new);
		free(h->u[i].ref);
	}
	free(h->u);
	for (size_t i = 0; i < h->n_patterns; i++)
		free(h->patterns[i]);
	free(h->patterns);
	strbuf_release(&h->message);
}

int gate_hook_main(void)
{
	struct hook h = {0};
	int code = 1;

	strbuf_init(&h.message, 0);
	if (load_config(&h) < 0)
		goto out;
	if (read_updates(&h) < 0) {
		audit_push(&h, "error", "unreadable or too many ref updates");
		goto out;
	}
	if (check_updates(&h) < 0) {
		say("push refused by this bottle's policy for %s", h.upstream);
		audit_push(&h, "deny", h.reason);
		goto out;
	}
	if (h.n && forward(&h) < 0) {
		say("the upstream %s did not take the push (above); nothing "
		    "changed",
		    h.upstream);
		audit_push(&h, "rejected", "the upstream refused the push");
		goto out;
	}
	audit_push(&h, "allow", NULL);
	code = 0;
out:
	hook_release(&h);
	return code;
}
