/* plan_build() is pure: these tests feed it a spec and hand-made host facts
 * and check the resulting setup operations, env, limits and notes, without
 * any namespace. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "lib/manifest.h"
#include "lib/plan.h"
#include "lib/state.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct manifest *parse(const char *yaml)
{
	struct manifest *m = NULL;
	struct error err = ERROR_INIT;
	int r = manifest_parse("t.yaml", "/base", yaml, strlen(yaml), &m, &err);
	if (r < 0)
		fail_msg("manifest: %s", err.msg);
	return m;
}

static void facts(struct host_facts *h, uid_t uid)
{
	memset(h, 0, sizeof(*h));
	h->uid = uid;
	h->gid = uid;
	h->state_home = (char *)"/state";
	h->probe_path = (char *)"/opt/bottle-probe";
	h->bundle_path = (char *)"/opt/bottle-bundle";
	h->ca_bundle = (char *)"/etc/ssl/certs/ca-certificates.crt";
	h->usr_links[0] = (char *)"bin=usr/bin";
	h->usr_links[1] = (char *)"lib64";
	h->mem_mech = LIMIT_CGROUP1;
	h->pids_mech = LIMIT_RLIMIT;
	h->cpu_mech = LIMIT_NONE;
	h->term = (char *)"xterm";
}

static struct plan *build(const struct manifest *m, const struct host_facts *h,
			  bool copy, struct error *err, int *rc)
{
	const struct agent_def *a = &m->agents[0];
	struct spec s = {
	    .manifest = m,
	    .agent = a,
	    .bottle = manifest_bottle(m, a->bottle),
	    .id = "a-123456",
	    .cwd = "/home/u/proj",
	    .copy_cwd = copy,
	};
	struct plan *p = NULL;
	*rc = plan_build(&s, h, &p, err);
	return p;
}

static const struct setup_op *find_op(const struct plan *p,
				      enum setup_op_type t, const char *target)
{
	for (size_t i = 0; i < p->n_ops; i++)
		if (p->ops[i].type == t &&
		    strcmp(p->ops[i].target, target) == 0)
			return &p->ops[i];
	return NULL;
}

static const char *const basic =
    "agents:\n  a:\n    command: [claude, --x]\n    bottle: b\n"
    "bottles:\n  b:\n    env: {FOO: bar, TERM: dumb}\n"
    "    limits: {memory: 1G, pids: 64}\n"
    "    mounts: [\"/opt/node:/opt/node:ro\", {source: /data, target: "
    "/data, mode: rw}]\n";

static void test_order_and_ops(void **state)
{
	struct host_facts h;
	struct error err = ERROR_INIT;
	struct manifest *m = parse(basic);
	struct plan *p;
	const struct setup_op *op;
	int rc;

	(void)state;
	facts(&h, 1000);
	p = build(m, &h, true, &err, &rc);
	assert_int_equal(rc, 0);
	/* The root tmpfs comes first, the read-only remount last. */
	assert_int_equal(p->ops[0].type, SETUP_TMPFS);
	assert_string_equal(p->ops[0].target, "/");
	assert_int_equal(p->ops[p->n_ops - 1].type, SETUP_REMOUNT_RO);
	assert_non_null(find_op(p, SETUP_RO_BIND, "/usr"));
	op = find_op(p, SETUP_SYMLINK, "/bin");
	assert_non_null(op);
	assert_string_equal(op->source, "usr/bin");
	assert_non_null(find_op(p, SETUP_RO_BIND, "/lib64"));
	/* /etc: host entries minus credentials, plus generated files. */
	op = find_op(p, SETUP_RO_BIND_DIR, "/etc");
	assert_non_null(op);
	{
		bool shadow = false, sudoers = false;
		for (char **e = op->except; *e; e++) {
			shadow |= strcmp(*e, "shadow") == 0;
			sudoers |= strcmp(*e, "sudoers") == 0;
		}
		assert_true(shadow && sudoers);
	}
	op = find_op(p, SETUP_FILE, "/etc/passwd");
	assert_non_null(op);
	assert_non_null(strstr(op->data, "agent:x:1000:1000:"));
	op = find_op(p, SETUP_FILE, "/etc/resolv.conf");
	assert_null(strstr(op->data, "nameserver"));
	/* The generated files are written before the host's entries join
	 * them, and all of /etc turns read-only after both. */
	op = find_op(p, SETUP_REMOUNT_RO, "/etc");
	assert_non_null(op);
	assert_true(op->flags & SETUP_RECURSIVE);
	assert_true(find_op(p, SETUP_FILE, "/etc/resolv.conf") <
		    find_op(p, SETUP_RO_BIND_DIR, "/etc"));
	assert_true(op > find_op(p, SETUP_RO_BIND_DIR, "/etc"));
	/* Workspace is the state's copy; home is persistent. */
	op = find_op(p, SETUP_BIND, BOTTLE_WORKDIR);
	assert_string_equal(op->source, "/state/a-123456/workspace");
	op = find_op(p, SETUP_BIND, AGENT_HOME);
	assert_string_equal(op->source, "/state/a-123456/home");
	/* The manifest's mounts, with their modes. */
	assert_non_null(find_op(p, SETUP_RO_BIND, "/opt/node"));
	assert_non_null(find_op(p, SETUP_BIND, "/data"));
	assert_non_null(find_op(p, SETUP_PROC, "/proc"));
	assert_non_null(find_op(p, SETUP_DEVPTS, "/dev/pts"));
	assert_non_null(find_op(p, SETUP_DEV_BIND, "/dev/null"));
	assert_null(find_op(p, SETUP_RO_BIND, "/sys"));
	op = find_op(p, SETUP_TMPFS, "/tmp");
	assert_int_equal(op->size, DEFAULT_TMP_SIZE);
	plan_free(p);
	manifest_free(m);
}

static void test_bind_cwd_and_root(void **state)
{
	struct host_facts h;
	struct error err = ERROR_INIT;
	struct manifest *m = parse(basic);
	struct plan *p;
	int rc;

	(void)state;
	facts(&h, 0);
	p = build(m, &h, false, &err, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(find_op(p, SETUP_BIND, BOTTLE_WORKDIR)->source,
			    "/home/u/proj");
	/* Root's agent is never host root. */
	assert_int_equal(p->host_uid, ROOT_AGENT_HOST_ID);
	assert_int_not_equal(p->host_uid, 0);
	plan_free(p);
	facts(&h, 1234);
	p = build(m, &h, true, &err, &rc);
	assert_int_equal(p->host_uid, 1234);
	plan_free(p);
	manifest_free(m);
}

static void test_env_allowlist(void **state)
{
	struct host_facts h;
	struct error err = ERROR_INIT;
	struct manifest *m = parse(basic);
	struct plan *p;
	int rc;

	(void)state;
	setenv("AWS_SECRET_ACCESS_KEY", "host-secret", 1);
	facts(&h, 1000);
	p = build(m, &h, true, &err, &rc);
	assert_string_equal(plan_getenv(p, "HOME"), AGENT_HOME);
	assert_string_equal(plan_getenv(p, "FOO"), "bar");
	/* The manifest overrides the host's TERM; no duplicate entries. */
	assert_string_equal(plan_getenv(p, "TERM"), "dumb");
	assert_null(plan_getenv(p, "AWS_SECRET_ACCESS_KEY"));
	for (size_t i = 1; i < p->n_env; i++)
		assert_true(strcmp(p->env[i - 1], p->env[i]) < 0);
	assert_string_equal(p->argv[0], "claude");
	assert_string_equal(p->argv[1], "--x");
	assert_null(p->argv[2]);
	plan_free(p);
	manifest_free(m);
}

static void test_limits_and_notes(void **state)
{
	struct host_facts h;
	struct error err = ERROR_INIT;
	struct manifest *m =
	    parse("agents:\n  a:\n    command: [sh]\n    bottle: b\n"
		  "bottles:\n  b:\n    limits: {memory: 1G, pids: 64}\n"
		  "    egress: {allow: [example.com]}\n");
	struct plan *p;
	int rc;

	(void)state;
	facts(&h, 1000);
	p = build(m, &h, true, &err, &rc);
	assert_int_equal(p->memory.value, 1u << 30);
	assert_int_equal(p->memory.mech, LIMIT_CGROUP1);
	assert_int_equal(p->pids.mech, LIMIT_RLIMIT);
	assert_int_equal(p->cpu.mech, LIMIT_NONE); /* not asked for */
	assert_int_equal(p->n_notes, 1);
	assert_non_null(strstr(p->notes[0], "per process"));
	plan_free(p);
	manifest_free(m);
}

static void test_bad_mount_targets(void **state)
{
	static const char *const targets[] = {
	    "/", "/proc/x", "/dev", "/etc", "/workspace/sub", "/home/agent"};
	struct host_facts h;

	(void)state;
	facts(&h, 1000);
	for (size_t i = 0; i < ARRAY_SIZE(targets); i++) {
		char yaml[512];
		struct error err = ERROR_INIT;
		struct manifest *m;
		struct plan *p;
		int rc;

		snprintf(yaml, sizeof(yaml),
			 "agents:\n  a:\n    command: [sh]\n    bottle: b\n"
			 "bottles:\n  b:\n    mounts: [{source: /x, target: "
			 "%s}]\n",
			 targets[i]);
		m = parse(yaml);
		p = build(m, &h, true, &err, &rc);
		assert_int_equal(rc, -EINVAL);
		assert_null(p);
		assert_non_null(strstr(err.msg, "t.yaml:7:"));
		manifest_free(m);
	}
}

static void test_unsupported_backend(void **state)
{
	struct host_facts h;
	struct error err = ERROR_INIT;
	struct manifest *m =
	    parse("agents:\n  a:\n    command: [sh]\n    "
		  "bottle: b\nbottles:\n  b:\n    backend: docker\n");
	struct plan *p;
	int rc;

	(void)state;
	facts(&h, 1000);
	p = build(m, &h, true, &err, &rc);
	assert_int_equal(rc, -ENOTSUP);
	assert_null(p);
	assert_non_null(strstr(err.msg, "\"docker\""));
	manifest_free(m);
}

/* A vm bottle reaches the bundle at the gateway of its one link: proxy
 * env, NO_PROXY, the git gate's URLs; the vm settings survive plan.json. */
static void test_vm_backend(void **state)
{
	struct host_facts h;
	struct error err = ERROR_INIT;
	struct manifest *m =
	    parse("agents:\n  a:\n    command: [sh]\n    bottle: b\nbottles:\n"
		  "  b:\n    backend: vm\n    vm: {accel: tcg, memory: 512M}\n"
		  "    git:\n      upstreams:\n        - {name: up, url: "
		  "/srv/up.git}\n");
	struct plan *p, *q = NULL;
	char dir[] = "/tmp/test-plan-XXXXXX", path[64];
	const char *gitconfig = NULL;
	int rc;

	(void)state;
	facts(&h, 1000);
	p = build(m, &h, true, &err, &rc);
	assert_int_equal(rc, 0);
	assert_string_equal(p->endpoint_addr, VM_GATEWAY);
	assert_string_equal(plan_getenv(p, "HTTPS_PROXY"),
			    "http://" VM_GATEWAY ":8888");
	assert_non_null(strstr(plan_getenv(p, "NO_PROXY"), VM_GATEWAY));
	for (size_t i = 0; i < p->n_ops; i++)
		if (strcmp(p->ops[i].target, "/etc/gitconfig") == 0)
			gitconfig = p->ops[i].data;
	assert_non_null(gitconfig);
	assert_non_null(strstr(gitconfig, "git://" VM_GATEWAY ":9418/up.git"));
	assert_string_equal(p->vm_accel, "tcg");
	assert_int_equal(p->vm_memory, 512ull << 20);
	assert_null(p->vm_kernel);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/plan.json", dir);
	assert_int_equal(plan_save(p, path, &err), 0);
	assert_int_equal(plan_load(path, &q, &err), 0);
	assert_string_equal(q->endpoint_addr, VM_GATEWAY);
	assert_string_equal(q->vm_accel, "tcg");
	assert_int_equal(q->vm_memory, 512ull << 20);
	unlink(path);
	rmdir(dir);
	plan_free(p);
	plan_free(q);
	manifest_free(m);
}

static void test_save_load_roundtrip(void **state)
{
	struct host_facts h;
	struct error err = ERROR_INIT;
	struct manifest *m = parse(basic);
	struct plan *p, *q = NULL;
	char dir[] = "/tmp/test-plan-XXXXXX", path[64];
	int rc;

	(void)state;
	facts(&h, 1000);
	p = build(m, &h, true, &err, &rc);
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/plan.json", dir);
	assert_int_equal(plan_save(p, path, &err), 0);
	assert_int_equal(plan_load(path, &q, &err), 0);
	assert_string_equal(q->id, p->id);
	assert_int_equal(q->n_ops, p->n_ops);
	assert_int_equal(q->n_env, p->n_env);
	for (size_t i = 0; i < p->n_ops; i++) {
		assert_int_equal(q->ops[i].type, p->ops[i].type);
		assert_string_equal(q->ops[i].target, p->ops[i].target);
		assert_int_equal(q->ops[i].data_len, p->ops[i].data_len);
	}
	for (size_t i = 0; i < p->n_env; i++)
		assert_string_equal(q->env[i], p->env[i]);
	assert_int_equal(q->memory.value, p->memory.value);
	assert_int_equal(q->pids.mech, p->pids.mech);
	unlink(path);
	rmdir(dir);
	plan_free(p);
	plan_free(q);
	manifest_free(m);
}

/* The bundle's side of the plan: proxy env, CA env, placeholders, the
 * egress copied with --resolve merged over the manifest's, and all of it
 * through plan.json. */
static void test_egress(void **state)
{
	struct host_facts h;
	struct error err = ERROR_INIT;
	struct manifest *m = parse(
	    "agents:\n  a:\n    command: [sh]\n    bottle: b\n"
	    "bottles:\n  b:\n    egress:\n"
	    "      allow: [example.com]\n"
	    "      routes: [{host: api.x.com, header: x-api-key, "
	    "value: \"${env:K}\", placeholder_env: API_KEY}]\n"
	    "      resolve: {a.com: 10.0.0.1, b.com: 10.0.0.2}\n"
	    "      dlp: {patterns: [{name: p, regex: \"X[0-9]+\", action: "
	    "log}]}\n");
	struct kv cli[] = {{(char *)"b.com", (char *)"10.9.9.9", {0, 0}},
			   {(char *)"c.com", (char *)"::1", {0, 0}}};
	const struct agent_def *a = &m->agents[0];
	struct spec s = {.manifest = m,
			 .agent = a,
			 .bottle = manifest_bottle(m, a->bottle),
			 .id = "a-1",
			 .cwd = "/p",
			 .copy_cwd = true,
			 .resolve = cli,
			 .n_resolve = 2};
	struct plan *p = NULL, *q = NULL;
	char dir[] = "/tmp/test-plan-XXXXXX", path[64];

	(void)state;
	facts(&h, 1000);
	assert_int_equal(plan_build(&s, &h, &p, &err), 0);
	assert_string_equal(plan_getenv(p, "HTTPS_PROXY"),
			    "http://127.0.0.1:8888");
	assert_string_equal(plan_getenv(p, "no_proxy"),
			    "localhost,127.0.0.1,::1");
	assert_string_equal(plan_getenv(p, "NODE_EXTRA_CA_CERTS"),
			    BOTTLE_CA_BUNDLE);
	assert_string_equal(plan_getenv(p, "API_KEY"),
			    PLACEHOLDER_PREFIX "API_KEY");
	assert_int_equal(p->egress.n_resolve, 3);
	assert_string_equal(p->egress.resolve[1].value, "10.9.9.9");
	assert_string_equal(p->egress.resolve[2].key, "c.com");
	assert_non_null(find_op(p, SETUP_RO_BIND, BOTTLE_CA_BUNDLE));

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/plan.json", dir);
	assert_int_equal(plan_save(p, path, &err), 0);
	assert_int_equal(plan_load(path, &q, &err), 0);
	assert_int_equal(q->ports[ENDPOINT_PROXY], PROXY_PORT);
	assert_string_equal(q->bundle_path, "/opt/bottle-bundle");
	assert_int_equal(q->egress.n_allow, 1);
	assert_int_equal(q->egress.n_routes, 1);
	assert_string_equal(q->egress.routes[0].value, "${env:K}");
	assert_string_equal(q->egress.routes[0].header, "x-api-key");
	assert_true(q->egress.dlp_builtin);
	assert_int_equal(q->egress.n_patterns, 1);
	assert_int_equal(q->egress.patterns[0].action, DLP_LOG);
	assert_int_equal(q->egress.n_resolve, 3);
	assert_string_equal(q->egress.resolve[2].value, "::1");
	unlink(path);
	rmdir(dir);
	plan_free(p);
	plan_free(q);
	manifest_free(m);
}

/* git-gate and supervise: their endpoints are on only when declared, the
 * bottle's gitconfig sends each upstream's URL to the gate, and the
 * upstreams (token templates, never secrets) survive plan.json; the
 * listeners of the endpoints that are on are spread back by port. */
static void test_gate_and_supervise(void **state)
{
	struct host_facts h;
	struct error err = ERROR_INIT;
	struct manifest *m =
	    parse("agents:\n  a:\n    command: [sh]\n    bottle: b\n"
		  "bottles:\n  b:\n    supervise: {timeout: 30}\n"
		  "    git:\n      upstreams:\n"
		  "        - {name: origin, url: /srv/up.git, push: "
		  "[refs/heads/bottle/*]}\n"
		  "        - {name: gh, url: \"https://h.test/a\\\"b.git\", "
		  "token: \"${env:T}\", allow_force: true}\n");
	struct plan *p = NULL, *q = NULL;
	const struct setup_op *op;
	char dir[] = "/tmp/test-plan-XXXXXX", path[64];
	int rc, in[2] = {7, 9}, fds[ENDPOINT_COUNT];

	(void)state;
	facts(&h, 1000);
	p = build(m, &h, true, &err, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(p->ports[ENDPOINT_GIT], GIT_GATE_PORT);
	assert_int_equal(p->ports[ENDPOINT_SUPERVISE], SUPERVISE_PORT);
	op = find_op(p, SETUP_FILE, "/etc/gitconfig");
	assert_non_null(op);
	assert_non_null(strstr(op->data, "[url \"git://127.0.0.1:9418/"
					 "origin.git\"]\n\tinsteadOf = "
					 "\"/srv/up.git\"\n\tinsteadOf = "
					 "\"file:///srv/up.git\"\n"));
	assert_non_null(strstr(op->data, "insteadOf = \"https://h.test/"
					 "a\\\"b.git\"\n"));

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/plan.json", dir);
	assert_int_equal(plan_save(p, path, &err), 0);
	assert_int_equal(plan_load(path, &q, &err), 0);
	assert_int_equal(q->ports[ENDPOINT_GIT], GIT_GATE_PORT);
	assert_int_equal(q->n_upstreams, 2);
	assert_string_equal(q->upstreams[0].push[0], "refs/heads/bottle/*");
	assert_string_equal(q->upstreams[1].token, "${env:T}");
	assert_true(q->upstreams[1].allow_force);
	assert_false(q->upstreams[0].allow_delete);
	assert_true(q->supervise);
	assert_int_equal(q->supervise_timeout, 30);

	/* Proxy and supervise on, git off: two fds, spread by endpoint. */
	q->ports[ENDPOINT_GIT] = 0;
	assert_int_equal(endpoints_unpack(q->ports, in, 2, fds), 0);
	assert_int_equal(fds[ENDPOINT_PROXY], 7);
	assert_int_equal(fds[ENDPOINT_GIT], -1);
	assert_int_equal(fds[ENDPOINT_SUPERVISE], 9);
	assert_int_equal(endpoints_unpack(q->ports, in, 1, fds), -1);
	assert_int_equal(endpoints_unpack(p->ports, in, 2, fds), -1);

	unlink(path);
	rmdir(dir);
	plan_free(p);
	plan_free(q);
	manifest_free(m);
	/* Neither declared: both off, no gitconfig. */
	m = parse("agents:\n  a:\n    command: [sh]\n    bottle: b\n"
		  "bottles:\n  b: {}\n");
	p = build(m, &h, true, &err, &rc);
	assert_int_equal(p->ports[ENDPOINT_GIT], 0);
	assert_int_equal(p->ports[ENDPOINT_SUPERVISE], 0);
	assert_null(find_op(p, SETUP_FILE, "/etc/gitconfig"));
	plan_free(p);
	manifest_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_order_and_ops),
	    cmocka_unit_test(test_bind_cwd_and_root),
	    cmocka_unit_test(test_env_allowlist),
	    cmocka_unit_test(test_limits_and_notes),
	    cmocka_unit_test(test_bad_mount_targets),
	    cmocka_unit_test(test_unsupported_backend),
	    cmocka_unit_test(test_vm_backend),
	    cmocka_unit_test(test_save_load_roundtrip),
	    cmocka_unit_test(test_egress),
	    cmocka_unit_test(test_gate_and_supervise),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
