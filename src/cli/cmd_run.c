/* bottle run / plan / resume: manifest -> spec -> plan -> y/N -> launch. */
#include "cli/cli.h"

#include "lib/fsutil.h"
#include "lib/log.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

struct run_args {
	const char *agent;
	const char *manifest;
	const char *backend;
	int copy_cwd; /* -1 = the bottle's setting */
	bool yes, detach;
	char **cmd;
	size_t n_cmd;
	struct kv resolve[32];
	size_t n_resolve;
};

/* --resolve HOST:ADDR or curl's HOST:PORT:ADDR (the port is accepted and
 * ignored: an override applies to every port of the host). */
static int parse_resolve(struct run_args *a, char *arg)
{
	char *colon = strchr(arg, ':'), *addr, *end;
	unsigned char buf[16];
	size_t n;

	if (!colon || colon == arg) {
		fprintf(stderr, "bottle: --resolve %s: expected HOST:ADDR\n",
			arg);
		return -1;
	}
	addr = colon + 1;
	n = strspn(addr, "0123456789*");
	if (n && addr[n] == ':')
		addr += n + 1;
	if (*addr == '[' && (end = strchr(addr, ']')) && end[1] == '\0') {
		*end = '\0';
		addr++;
	}
	if (inet_pton(AF_INET, addr, buf) != 1 &&
	    inet_pton(AF_INET6, addr, buf) != 1) {
		fprintf(stderr,
			"bottle: --resolve %s: \"%s\" is not an IP address\n",
			arg, addr);
		return -1;
	}
	if (a->n_resolve == ARRAY_SIZE(a->resolve)) {
		fprintf(stderr, "bottle: too many --resolve options\n");
		return -1;
	}
	*colon = '\0';
	a->resolve[a->n_resolve++] = (struct kv){arg, addr, {0, 0}};
	return 0;
}

static int parse_run_args(const char *name, int argc, char **argv,
			  struct run_args *a)
{
	static const struct option opts[] = {
	    {"yes", no_argument, NULL, 'y'},
	    {"detach", no_argument, NULL, 'd'},
	    {"manifest", required_argument, NULL, 'm'},
	    {"backend", required_argument, NULL, 'b'},
	    {"copy-cwd", no_argument, NULL, 'C'},
	    {"no-copy-cwd", no_argument, NULL, 'N'},
	    {"resolve", required_argument, NULL, 'R'},
	    {NULL, 0, NULL, 0},
	};
	int c;

	memset(a, 0, sizeof(*a));
	a->copy_cwd = -1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+ydm:b:", opts, NULL)) != -1) {
		switch (c) {
		case 'y':
			a->yes = true;
			break;
		case 'd':
			a->detach = true;
			break;
		case 'm':
			a->manifest = optarg;
			break;
		case 'b':
			a->backend = optarg;
			break;
		case 'C':
			a->copy_cwd = 1;
			break;
		case 'N':
			a->copy_cwd = 0;
			break;
		case 'R':
			if (parse_resolve(a, optarg) < 0)
				return -1;
			break;
		default:
			cli_usage(name, stderr);
			return -1;
		}
	}
	/* getopt consumes a "--" that directly follows the options. */
	if (optind < argc && strcmp(argv[optind - 1], "--") != 0 &&
	    strcmp(argv[optind], "--") != 0)
		a->agent = argv[optind++];
	if (optind < argc && strcmp(argv[optind], "--") == 0)
		optind++;
	if (optind < argc) {
		a->cmd = argv + optind;
		a->n_cmd = (size_t)(argc - optind);
	}
	return 0;
}

/* Is path dir itself or below it? */
static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	return strncmp(path, dir, n) == 0 &&
	       (path[n] == '\0' || path[n] == '/' || strcmp(dir, "/") == 0);
}

/* The host variable the default manifest's API route injects: the first
 * of these that is set. */
static const char *default_token_env(void)
{
	static const char *const vars[] = {"CLAUDE_CODE_OAUTH_TOKEN",
					   "ANTHROPIC_API_KEY"};

	for (size_t i = 0; i < ARRAY_SIZE(vars); i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return vars[i];
	}
	return NULL;
}

/* Load the manifest by the lookup order; exit code on failure.  Without
 * one, the default agent (Claude Code) needs a token to inject. */
static int load_manifest(const char *explicit_path, bool default_agent,
			 struct manifest **m, char **path)
{
	struct error err = ERROR_INIT;
	const char *token = default_token_env();

	*path = manifest_find(explicit_path);
	if (!*path) {
		if (!token && default_agent) {
			fprintf(stderr,
				"bottle: no manifest (./bottle.yaml or "
				"~/.config/bottle/manifest.yaml), and neither "
				"CLAUDE_CODE_OAUTH_TOKEN nor ANTHROPIC_API_KEY "
				"is set.\n"
				"  Set one of them: the bottle gets a "
				"placeholder and the bundle injects the real "
				"token into requests to api.anthropic.com.\n"
				"  Or write a manifest (see bottle(1)), or "
				"run a command of your own: bottle run -- "
				"CMD...\n");
			return EXIT_USAGE;
		}
		*m = manifest_default(token);
		return 0;
	}
	if (manifest_load(*path, m, &err) < 0) {
		fprintf(stderr, "bottle: %s\n", err.msg);
		free(*path);
		*path = NULL;
		return EXIT_USAGE;
	}
	return 0;
}

/* Build the plan for a run/plan/resume; exit code on failure. */
static int make_plan(const struct run_args *a, const char *id, const char *cwd,
		     struct manifest **mp, char **mpath, struct plan **out,
		     const struct backend_ops **be_out)
{
	struct error err = ERROR_INIT;
	struct host_facts h;
	const struct agent_def *agent;
	struct bottle_def bottle_copy;
	const struct backend_ops *be;
	_cleanup_free_ char *fresh_id = NULL;
	struct mount_spec *mounts = NULL;
	struct spec spec = {0};
	int r;

	if ((r = load_manifest(a->manifest, !a->cmd, mp, mpath)) != 0)
		return r;
	agent = manifest_pick_agent(*mp, a->agent, &err);
	if (!agent) {
		fprintf(stderr, "bottle: %s\n", err.msg);
		return EXIT_USAGE;
	}
	bottle_copy = *manifest_bottle(*mp, agent->bottle);
	if (a->backend)
		bottle_copy.backend = (char *)a->backend;
	be = backend_find(bottle_copy.backend);
	if (!be) {
		fprintf(stderr, "bottle: unknown backend \"%s\" (have: ns)\n",
			bottle_copy.backend);
		return EXIT_USAGE;
	}
	cli_host_facts(&h, be);
	if (!id)
		id = fresh_id = state_new_id(agent->name);
	/* Canonical mount sources: what the plan shows is what gets bound,
	 * and the init refuses a symlink that appears later. */
	spec.copy_cwd = a->copy_cwd < 0 ? bottle_copy.copy_cwd : a->copy_cwd;
	mounts = xcalloc(bottle_copy.n_mounts + 1, sizeof(*mounts));
	for (size_t i = 0; i < bottle_copy.n_mounts; i++) {
		mounts[i] = bottle_copy.mounts[i];
		mounts[i].source = canonical_path(bottle_copy.mounts[i].source);
	}
	for (size_t i = 0; !spec.copy_cwd && i < bottle_copy.n_mounts; i++) {
		/* Bound read-write, the cwd is the agent's to rewrite: a
		 * source in there could be a symlink to anywhere by the next
		 * run. */
		if (path_within(bottle_copy.mounts[i].source, cwd) ||
		    path_within(mounts[i].source, cwd)) {
			fprintf(stderr,
				"bottle: %s:%d:%d: mount source %s is inside "
				"the working directory the agent can write "
				"(copy_cwd: false); mount it from elsewhere\n",
				(*mp)->path ? (*mp)->path : "manifest",
				bottle_copy.mounts[i].pos.line,
				bottle_copy.mounts[i].pos.col,
				bottle_copy.mounts[i].source);
			r = EXIT_USAGE;
			goto out;
		}
	}
	bottle_copy.mounts = mounts;
	spec.manifest = *mp;
	spec.agent = agent;
	spec.bottle = &bottle_copy;
	spec.id = id;
	spec.cwd = cwd;
	spec.cmd = a->cmd;
	spec.n_cmd = a->n_cmd;
	spec.detach = a->detach;
	spec.resolve = a->resolve;
	spec.n_resolve = a->n_resolve;
	r = plan_build(&spec, &h, out, &err);
	if (r < 0) {
		fprintf(stderr, "bottle: %s\n", err.msg);
		r = EXIT_USAGE;
	}
out:
	host_facts_release(&h);
	for (size_t i = 0; i < bottle_copy.n_mounts; i++)
		free(mounts[i].source);
	free(mounts);
	if (r)
		return r;
	*be_out = be;
	return 0;
}

/* Print the plan and get the go-ahead; 0 to launch, else an exit code. */
/* The secrets the routes name must be there before anything starts (the
 * bundle reads them again when it starts; this is for a clear early
 * error).  Only presence is checked: the values are not read here. */
static int check_routes(const struct plan *p)
{
	for (size_t i = 0; i < p->egress.n_routes; i++) {
		const char *host = p->egress.routes[i].host;
		const char *v = p->egress.routes[i].value;
		struct template_ref ref;

		while (template_next(&v, &ref) > 0) {
			_cleanup_free_ char *arg =
			    xstrndup(ref.arg, ref.arg_len);
			if (ref.kind == TEMPLATE_ENV) {
				if (getenv(arg) && *getenv(arg))
					continue;
				fprintf(stderr,
					"bottle: route %s: ${env:%s} is not "
					"set in this environment\n",
					host, arg);
				return EXIT_USAGE;
			}
			if (access(arg, R_OK) == 0)
				continue;
			fprintf(stderr, "bottle: route %s: ${file:%s}: %s\n",
				host, arg, strerror(errno));
			return EXIT_USAGE;
		}
	}
	return 0;
}

static int preflight(const struct plan *p, bool yes)
{
	int ok;

	plan_print(p, stderr);
	if ((ok = check_routes(p)) != 0)
		return ok;
	if (yes)
		return 0;
	ok = cli_confirm("Launch this bottle?");
	if (ok < 0) {
		fprintf(stderr,
			"bottle: not launching: no terminal to confirm on; "
			"pass --yes to launch without asking\n");
		return EXIT_USAGE;
	}
	if (!ok) {
		fprintf(stderr, "bottle: not launched\n");
		return EXIT_FAIL;
	}
	return 0;
}

static int run_common(const char *name, int argc, char **argv, bool dry)
{
	struct run_args a;
	struct manifest *m = NULL;
	_cleanup_free_ char *mpath = NULL;
	char cwd[4096];
	struct plan *p = NULL;
	const struct backend_ops *be = NULL;
	int r;

	if (parse_run_args(name, argc, argv, &a) < 0)
		return EXIT_USAGE;
	if (!getcwd(cwd, sizeof(cwd))) {
		perror("bottle: getcwd");
		return EXIT_FAIL;
	}
	r = make_plan(&a, NULL, cwd, &m, &mpath, &p, &be);
	if (r == 0 && dry) {
		plan_print(p, stdout);
		printf("(the id is drawn afresh by each `bottle run`)\n");
	} else if (r == 0 && (r = preflight(p, a.yes)) == 0) {
		struct launch_opts lo = {.plan = p,
					 .backend = be,
					 .manifest_path = mpath,
					 .cmd_override = a.cmd,
					 .detach = a.detach};
		r = cli_launch(&lo);
	}
	plan_free(p);
	manifest_free(m);
	return r;
}

int cmd_run(int argc, char **argv)
{
	return run_common("run", argc, argv, false);
}

int cmd_plan(int argc, char **argv)
{
	return run_common("plan", argc, argv, true);
}

int cmd_resume(int argc, char **argv)
{
	struct run_args a;
	struct bottle_meta meta = BOTTLE_META_INIT;
	struct host_facts h;
	struct manifest *m = NULL;
	_cleanup_free_ char *mpath = NULL, *dir = NULL;
	struct plan *p = NULL;
	const struct backend_ops *be = NULL;
	int r;

	if (parse_run_args("resume", argc, argv, &a) < 0)
		return EXIT_USAGE;
	if (!a.agent) {
		cli_usage("resume", stderr);
		return EXIT_USAGE;
	}
	host_facts_gather(&h);
	r = cli_load_bottle(&h, a.agent, &dir, &meta);
	host_facts_release(&h);
	if (r)
		return r;
	if (cli_bottle_live(&meta)) {
		fprintf(stderr, "bottle: %s is running; attach to it instead\n",
			meta.id);
		meta_release(&meta);
		return EXIT_FAIL;
	}
	/* Same identity, agent, cwd and manifest as the first launch. */
	a.agent = meta.agent;
	a.manifest = meta.manifest;
	a.copy_cwd = meta.copy_cwd;
	if (!a.cmd && meta.command) {
		a.cmd = meta.command;
		for (a.n_cmd = 0; meta.command[a.n_cmd]; a.n_cmd++)
			;
	}
	r = make_plan(&a, meta.id, meta.cwd, &m, &mpath, &p, &be);
	if (r == 0 && (r = preflight(p, a.yes)) == 0) {
		struct launch_opts lo = {.plan = p,
					 .backend = be,
					 .manifest_path = mpath,
					 .cmd_override = a.cmd,
					 .resume = true,
					 .detach = a.detach};
		r = cli_launch(&lo);
	}
	plan_free(p);
	manifest_free(m);
	meta_release(&meta);
	return r;
}
