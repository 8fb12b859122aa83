/* Unit tests for the manifest module, through src/lib/manifest.h. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "lib/manifest.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct manifest *parse_ok(const char *yaml)
{
	struct error err = ERROR_INIT;
	struct manifest *m = NULL;
	int r = manifest_parse("bottle.yaml", "/proj", yaml, strlen(yaml), &m,
			       &err);

	if (r != 0)
		fail_msg("unexpected error: %s", err.msg);
	assert_non_null(m);
	return m;
}

/* Parse yaml expecting failure; the message must start with want_pos
 * ("bottle.yaml:L:C: ") and contain want. */
static void expect_error(const char *yaml, const char *want_pos,
			 const char *want)
{
	struct error err = ERROR_INIT;
	struct manifest *m = NULL;
	int r = manifest_parse("bottle.yaml", "/proj", yaml, strlen(yaml), &m,
			       &err);

	if (r == 0) {
		manifest_free(m);
		fail_msg("expected an error for:\n%s", yaml);
	}
	assert_int_equal(r, -EINVAL);
	assert_null(m);
	if (strncmp(err.msg, want_pos, strlen(want_pos)) != 0 ||
	    !strstr(err.msg, want))
		fail_msg("for:\n%s\nwant \"%s...%s\"\ngot  \"%s\"", yaml,
			 want_pos, want, err.msg);
}

static const char full_yaml[] =
    "agents:\n"
    "  coder:\n"
    "    command: [claude, --dangerously-skip-permissions]\n"
    "    prompt: \"Push to bottle/* only.\"\n"
    "    skills: [./skills/review, /abs/skill, ~/s]\n"
    "    bottle: dev\n"
    "  shell:\n"
    "    command: bash\n"
    "    bottle: other\n"
    "default_agent: coder\n"
    "bottles:\n"
    "  dev:\n"
    "    backend: vm\n"
    "    copy_cwd: no\n"
    "    env: {TZ: UTC, PORT: 8080}\n"
    "    mounts:\n"
    "      - ./data:/data\n"
    "      - /cache:/cache:rw\n"
    "      - {source: ~/.npmrc, target: /root/.npmrc, mode: rw, "
    "optional: true}\n"
    "    limits: {memory: 4G, pids: 1024, cpus: 0.5, tmp: 512M}\n"
    "    egress:\n"
    "      allow: [api.anthropic.com, \"*.GitHubUserContent.com\", "
    "example.org:8443]\n"
    "      inspect: [registry.npmjs.org]\n"
    "      routes:\n"
    "        - host: api.anthropic.com\n"
    "          header: Authorization\n"
    "          value: \"Bearer ${env:CLAUDE_CODE_OAUTH_TOKEN}\"\n"
    "          placeholder_env: CLAUDE_CODE_OAUTH_TOKEN\n"
    "      dlp:\n"
    "        builtin: false\n"
    "        patterns:\n"
    "          - {name: internal-id, regex: \"ACME-[0-9]{8}\"}\n"
    "          - {name: noisy, regex: \"x+\", action: log}\n"
    "      resolve: {internal.example.com: 10.0.0.7, v6.example.com: "
    "\"fd00::1\"}\n"
    "      ca: certs/ca.pem\n"
    "    git:\n"
    "      upstreams:\n"
    "        - name: origin\n"
    "          url: git@github.com:me/app.git\n"
    "          identity: ~/.ssh/bottle_deploy\n"
    "          push: [\"refs/heads/bottle/*\"]\n"
    "          allow_force: yes\n"
    "        - name: mirror\n"
    "          url: https://example.com/app.git\n"
    "          token: \"${file:/run/secrets/tok}\"\n"
    "          allow_delete: true\n"
    "    supervise: {enabled: true, timeout: 300}\n"
    "    vm: {kernel: ./vmlinuz, accel: kvm, memory: 2G}\n"
    "    docker: {image: debian:stable, engine: podman}\n"
    "  other:\n"
    "    supervise: true\n";

static int setup_home(void **state)
{
	(void)state;
	setenv("HOME", "/home/u", 1);
	return 0;
}

static void test_full(void **state)
{
	struct manifest *m;
	const struct agent_def *a;
	const struct bottle_def *b;

	(void)state;
	m = parse_ok(full_yaml);
	assert_string_equal(m->path, "bottle.yaml");
	assert_string_equal(m->default_agent, "coder");
	assert_int_equal(m->n_agents, 2);
	assert_int_equal(m->n_bottles, 2);

	a = manifest_agent(m, "coder");
	assert_non_null(a);
	assert_int_equal(a->n_command, 2);
	assert_string_equal(a->command[0], "claude");
	assert_string_equal(a->command[1], "--dangerously-skip-permissions");
	assert_null(a->command[2]);
	assert_string_equal(a->prompt, "Push to bottle/* only.");
	assert_int_equal(a->n_skills, 3);
	assert_string_equal(a->skills[0], "/proj/skills/review");
	assert_string_equal(a->skills[1], "/abs/skill");
	assert_string_equal(a->skills[2], "/home/u/s");
	assert_string_equal(a->bottle, "dev");
	assert_int_equal(a->pos.line, 2);
	assert_int_equal(a->pos.col, 3);

	a = manifest_agent(m, "shell");
	assert_int_equal(a->n_command, 1);
	assert_string_equal(a->command[0], "bash");
	assert_null(a->command[1]);
	assert_null(a->prompt);
	assert_string_equal(a->bottle, "other");

	b = manifest_bottle(m, "dev");
	assert_non_null(b);
	assert_int_equal(b->pos.line, 12);
	assert_string_equal(b->backend, "vm");
	assert_false(b->copy_cwd);
	assert_int_equal(b->n_env, 2);
	assert_string_equal(b->env[0].key, "TZ");
	assert_string_equal(b->env[0].value, "UTC");
	assert_string_equal(b->env[1].key, "PORT");
	assert_string_equal(b->env[1].value, "8080");
	assert_int_equal(b->env[1].pos.line, 15);

	assert_int_equal(b->n_mounts, 3);
	assert_string_equal(b->mounts[0].source, "/proj/data");
	assert_string_equal(b->mounts[0].target, "/data");
	assert_true(b->mounts[0].readonly);
	assert_false(b->mounts[0].optional);
	assert_int_equal(b->mounts[0].pos.line, 17);
	assert_int_equal(b->mounts[0].pos.col, 9);
	assert_string_equal(b->mounts[1].source, "/cache");
	assert_false(b->mounts[1].readonly);
	assert_string_equal(b->mounts[2].source, "/home/u/.npmrc");
	assert_string_equal(b->mounts[2].target, "/root/.npmrc");
	assert_false(b->mounts[2].readonly);
	assert_true(b->mounts[2].optional);

	assert_int_equal(b->limits.memory, 4ULL << 30);
	assert_int_equal(b->limits.pids, 1024);
	assert_int_equal(b->limits.cpus_milli, 500);
	assert_int_equal(b->limits.tmp_size, 512ULL << 20);

	assert_int_equal(b->egress.n_allow, 3);
	assert_string_equal(b->egress.allow[0], "api.anthropic.com");
	assert_string_equal(b->egress.allow[1], "*.githubusercontent.com");
	assert_string_equal(b->egress.allow[2], "example.org:8443");
	assert_int_equal(b->egress.n_inspect, 1);
	assert_string_equal(b->egress.inspect[0], "registry.npmjs.org");
	assert_int_equal(b->egress.n_routes, 1);
	assert_string_equal(b->egress.routes[0].host, "api.anthropic.com");
	assert_string_equal(b->egress.routes[0].header, "Authorization");
	assert_string_equal(b->egress.routes[0].value,
			    "Bearer ${env:CLAUDE_CODE_OAUTH_TOKEN}");
	assert_string_equal(b->egress.routes[0].placeholder_env,
			    "CLAUDE_CODE_OAUTH_TOKEN");
	assert_false(b->egress.dlp_builtin);
	assert_int_equal(b->egress.n_patterns, 2);
	assert_string_equal(b->egress.patterns[0].name, "internal-id");
	assert_string_equal(b->egress.patterns[0].regex, "ACME-[0-9]{8}");
	assert_int_equal(b->egress.patterns[0].action, DLP_BLOCK);
	assert_int_equal(b->egress.patterns[1].action, DLP_LOG);
	assert_int_equal(b->egress.n_resolve, 2);
	assert_string_equal(b->egress.resolve[0].key, "internal.example.com");
	assert_string_equal(b->egress.resolve[0].value, "10.0.0.7");
	assert_string_equal(b->egress.resolve[1].value, "fd00::1");
	assert_string_equal(b->egress.ca_file, "/proj/certs/ca.pem");

	assert_int_equal(b->n_upstreams, 2);
	assert_string_equal(b->upstreams[0].name, "origin");
	assert_string_equal(b->upstreams[0].url, "git@github.com:me/app.git");
	assert_string_equal(b->upstreams[0].identity,
			    "/home/u/.ssh/bottle_deploy");
	assert_null(b->upstreams[0].token);
	assert_int_equal(b->upstreams[0].n_push, 1);
	assert_string_equal(b->upstreams[0].push[0], "refs/heads/bottle/*");
	assert_true(b->upstreams[0].allow_force);
	assert_false(b->upstreams[0].allow_delete);
	assert_string_equal(b->upstreams[1].token, "${file:/run/secrets/tok}");
	assert_false(b->upstreams[1].allow_force);
	assert_true(b->upstreams[1].allow_delete);
	assert_int_equal(b->upstreams[1].n_push, 0);

	assert_true(b->supervise);
	assert_int_equal(b->supervise_timeout, 300);
	assert_string_equal(b->vm.kernel, "/proj/vmlinuz");
	assert_int_equal(b->vm.accel, VM_ACCEL_KVM);
	assert_int_equal(b->vm.memory, 2ULL << 30);
	assert_string_equal(b->docker.image, "debian:stable");
	assert_string_equal(b->docker.engine, "podman");

	b = manifest_bottle(m, "other");
	assert_non_null(b);
	assert_true(b->supervise);
	assert_int_equal(b->supervise_timeout, 0);
	assert_null(manifest_bottle(m, "nope"));
	manifest_free(m);
}

static void assert_default_bottle(const struct bottle_def *b, const char *name)
{
	assert_non_null(b);
	assert_string_equal(b->name, name);
	assert_string_equal(b->backend, "ns");
	assert_true(b->copy_cwd);
	assert_true(b->egress.dlp_builtin);
	assert_false(b->supervise);
	assert_int_equal(b->n_env + b->n_mounts + b->n_upstreams, 0);
	assert_int_equal(b->limits.memory + b->limits.pids +
			     b->limits.cpus_milli + b->limits.tmp_size,
			 0);
	assert_null(b->egress.ca_file);
	assert_null(b->vm.kernel);
	assert_int_equal(b->vm.accel, VM_ACCEL_AUTO);
	assert_null(b->docker.image);
}

static void test_defaults(void **state)
{
	struct manifest *m;

	(void)state;
	/* No bottles: a default ns bottle is made up. */
	m = parse_ok("agents: {a: {command: x}}\n");
	assert_int_equal(m->n_bottles, 1);
	assert_default_bottle(&m->bottles[0], "default");
	assert_int_equal(m->bottles[0].pos.line, 0);
	assert_string_equal(m->agents[0].bottle, "default");
	assert_null(m->default_agent);
	manifest_free(m);

	/* An empty bottles map is the same as none (found by the fuzzer:
	 * it leaked the empty array). */
	m = parse_ok("agents: {a: {command: x}, b: {command: y}}\n"
		     "bottles: {}\n");
	assert_int_equal(m->n_bottles, 1);
	assert_default_bottle(&m->bottles[0], "default");
	assert_string_equal(m->agents[1].bottle, "default");
	manifest_free(m);

	/* One bottle: agents without bottle: use it.  A null bottle body
	 * and null lists/maps mean "all defaults". */
	m = parse_ok("agents:\n  a: {command: [x]}\nbottles:\n  only:\n"
		     "    env:\n    mounts:\n");
	assert_int_equal(m->n_bottles, 1);
	assert_default_bottle(&m->bottles[0], "only");
	assert_string_equal(m->agents[0].bottle, "only");
	manifest_free(m);

	/* supervise as a map without enabled turns it on. */
	m = parse_ok("agents: {a: {command: x}}\n"
		     "bottles: {b: {supervise: {timeout: 5}}}\n");
	assert_true(m->bottles[0].supervise);
	assert_int_equal(m->bottles[0].supervise_timeout, 5);
	manifest_free(m);

	m = manifest_default(NULL);
	assert_null(m->path);
	assert_int_equal(m->n_agents, 1);
	assert_string_equal(m->agents[0].name, "claude");
	assert_int_equal(m->agents[0].n_command, 1);
	assert_string_equal(m->agents[0].command[0], "claude");
	assert_null(m->agents[0].command[1]);
	assert_string_equal(m->agents[0].bottle, "default");
	assert_int_equal(m->n_bottles, 1);
	assert_int_equal(m->bottles[0].egress.n_allow, 2);
	assert_string_equal(m->bottles[0].egress.allow[0], "api.anthropic.com");
	assert_int_equal(m->bottles[0].egress.n_routes, 0);
	manifest_free(m);

	/* The token route: OAuth as a bearer token, an API key as x-api-key;
	 * the agent's variable of the same name holds the placeholder. */
	m = manifest_default("CLAUDE_CODE_OAUTH_TOKEN");
	assert_int_equal(m->bottles[0].egress.n_routes, 1);
	assert_string_equal(m->bottles[0].egress.routes[0].header,
			    "Authorization");
	assert_string_equal(m->bottles[0].egress.routes[0].value,
			    "Bearer ${env:CLAUDE_CODE_OAUTH_TOKEN}");
	assert_string_equal(m->bottles[0].egress.routes[0].placeholder_env,
			    "CLAUDE_CODE_OAUTH_TOKEN");
	manifest_free(m);
	m = manifest_default("ANTHROPIC_API_KEY");
	assert_string_equal(m->bottles[0].egress.routes[0].header, "x-api-key");
	assert_string_equal(m->bottles[0].egress.routes[0].value,
			    "${env:ANTHROPIC_API_KEY}");
	manifest_free(m);
}

static void test_bool_forms(void **state)
{
	static const struct {
		const char *v;
		bool want;
	} t[] = {{"true", true},   {"false", false}, {"yes", true},
		 {"no", false},	   {"True", true},   {"NO", false},
		 {"\"yes\"", true}};
	char buf[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		struct manifest *m;
		snprintf(buf, sizeof(buf),
			 "agents: {a: {command: x}}\n"
			 "bottles: {b: {copy_cwd: %s}}\n",
			 t[i].v);
		m = parse_ok(buf);
		assert_int_equal(m->bottles[0].copy_cwd, t[i].want);
		manifest_free(m);
	}
	expect_error("agents: {a: {command: x}}\n"
		     "bottles: {b: {copy_cwd: on}}\n",
		     "bottle.yaml:2:25: bottles.b.copy_cwd: ",
		     "expected true or false (or yes/no), got \"on\"");
}

#define AGENT "agents: {a: {command: x}}\n"

static void test_syntax_errors(void **state)
{
	(void)state;
	expect_error("agents:\n  a: [x\n", "bottle.yaml:3:1: ",
		     "invalid YAML: did not find expected ',' or ']'");
	expect_error("agents:\n  a: {command: x}\n b: 1\n",
		     "bottle.yaml:3:2: ", "invalid YAML: ");
	expect_error("agents: \"unterminated\n", "bottle.yaml:2:1: ",
		     "invalid YAML: found unexpected end of stream");
	expect_error("a: 1\n\tb: 2\n", "bottle.yaml:2:1: ", "invalid YAML");
	/* Invalid UTF-8 is a reader error, located by byte offset. */
	expect_error("agents:\n  a: \xff\n", "bottle.yaml:2:6: ",
		     "invalid YAML: invalid leading UTF-8 octet");
	expect_error("", "bottle.yaml:1:1: ", "manifest is empty");
	expect_error("# only a comment\n",
		     "bottle.yaml:1:1: ", "manifest is empty");
	expect_error("---\n", "bottle.yaml:1:1: ", "manifest is empty");
	expect_error(AGENT "---\nagents: {}\n", "bottle.yaml:3:1: ",
		     "expected a single YAML document, found another");
	expect_error("a: &x [1]\nb: *x\n", "bottle.yaml:1:4: ",
		     "YAML aliases (*name) are not supported");
	expect_error("&a [*a]\n", "bottle.yaml:1:1: ",
		     "YAML aliases (*name) are not supported");
}

static void test_kind_errors(void **state)
{
	(void)state;
	expect_error("- a\n- b\n", "bottle.yaml:1:1: ",
		     "expected a map with agents, bottles and default_agent "
		     "at the top level, got a list");
	expect_error("agents: [a]\n", "bottle.yaml:1:9: agents: ",
		     "expected a map of agent names to agents, got a list");
	expect_error("agents: {a: {command: {x: 1}}}\n",
		     "bottle.yaml:1:23: agents.a.command: ",
		     "expected a command such as [claude, --verbose], got a "
		     "map");
	expect_error(
	    "agents: {a: {command: []}}\n",
	    "bottle.yaml:1:23: agents.a.command: ", "got an empty list");
	expect_error("agents: {a: {command: [x, [y]]}}\n",
		     "bottle.yaml:1:27: agents.a.command[1]: ",
		     "expected a string, got a list");
	expect_error(
	    "agents: {a: {prompt: hi}}\n",
	    "bottle.yaml:1:10: agents.a: ", "missing required key \"command\"");
	expect_error("agents: {a: 5}\n", "bottle.yaml:1:13: agents.a: ",
		     "expected a map, got \"5\"");
	expect_error(AGENT "bottles: {b: {env: [A]}}\n",
		     "bottle.yaml:2:20: bottles.b.env: ",
		     "expected a map of NAME: value, got a list");
	expect_error(
	    AGENT "bottles: {b: {env: {A: [1]}}}\n",
	    "bottle.yaml:2:24: bottles.b.env.A: ", "expected a string value");
	expect_error(AGENT "bottles: {b: {env: {A: }}}\n", "bottle.yaml:2:",
		     "bottles.b.env.A: expected a string "
		     "value (quote it: \"\" for empty), got null");
	expect_error(AGENT "bottles: {b: {env: {1A: x}}}\n",
		     "bottle.yaml:2:21: bottles.b.env: ",
		     "invalid environment variable name \"1A\"");
	expect_error(AGENT "bottles: {b: {limits: 4G}}\n",
		     "bottle.yaml:2:23: bottles.b.limits: ",
		     "expected a map with memory, pids, cpus and tmp, got "
		     "\"4G\"");
	expect_error(AGENT "bottles: {b: {supervise: [1]}}\n",
		     "bottle.yaml:2:26: bottles.b.supervise: ",
		     "expected true, false or a map with enabled and timeout, "
		     "got a list");
	expect_error(AGENT "bottles: {b: {backend: }}\n", "bottle.yaml:2:",
		     "bottles.b.backend: expected a "
		     "backend: ns, vm, docker or smolvm, got "
		     "null");
	expect_error("agents: {a: {command: \"x\\0y\"}}\n",
		     "bottle.yaml:1:23: agents.a.command: ",
		     "got a string with a NUL byte");
	expect_error("? [a]\n: 1\n",
		     "bottle.yaml:1:3: ", "keys must be strings, got a list");
}

static void test_unknown_keys(void **state)
{
	(void)state;
	expect_error(
	    "agnets: {}\n", "bottle.yaml:1:1: ",
	    "unknown key \"agnets\"; expected one of: agents, bottles, "
	    "default_agent");
	expect_error("agents:\n  a:\n    command: x\n    promt: hi\n",
		     "bottle.yaml:4:5: agents.a: ",
		     "unknown key \"promt\"; expected one of: command, prompt, "
		     "skills, bottle");
	expect_error(AGENT "bottles:\n  b:\n    limits:\n      memroy: 1G\n",
		     "bottle.yaml:5:7: bottles.b.limits: ",
		     "unknown key \"memroy\"; expected one of: memory, pids, "
		     "cpus, tmp");
	expect_error(AGENT "bottles:\n  b:\n    egress:\n      dlp:\n"
			   "        patterns:\n"
			   "          - {name: n, regex: r, acton: log}\n",
		     "bottle.yaml:7:33: bottles.b.egress.dlp.patterns[0]: ",
		     "unknown key \"acton\"");
	expect_error(AGENT "bottles:\n  b:\n    git:\n      upstreams:\n"
			   "        - name: o\n          url: /x\n"
			   "          pushh: []\n",
		     "bottle.yaml:8:11: bottles.b.git.upstreams[0]: ",
		     "unknown key \"pushh\"");
	expect_error(
	    AGENT "bottles: {b: {mounts: [{source: /a, target: /b, "
		  "ro: true}]}}\n",
	    "bottle.yaml:2:49: bottles.b.mounts[0]: ", "unknown key \"ro\"");
}

static void test_value_errors(void **state)
{
	(void)state;
	expect_error(AGENT "bottles:\n  dev:\n    limits:\n"
			   "      memory: lots\n",
		     "bottle.yaml:5:15: ",
		     "bottles.dev.limits.memory: expected a size such as 512M "
		     "or 4G, got \"lots\"");
	expect_error(AGENT "bottles: {b: {limits: {memory: 0}}}\n",
		     "bottle.yaml:2:32: bottles.b.limits.memory: ",
		     "expected a size such as 512M or 4G, got zero");
	expect_error(AGENT "bottles: {b: {limits: {pids: -1}}}\n",
		     "bottle.yaml:2:30: bottles.b.limits.pids: ",
		     "expected a positive whole number, got \"-1\"");
	expect_error(AGENT "bottles: {b: {limits: {pids: 99999999}}}\n",
		     "bottle.yaml:2:30: ", "up to 4194304");
	expect_error(AGENT "bottles: {b: {limits: {cpus: 0}}}\n",
		     "bottle.yaml:2:30: bottles.b.limits.cpus: ",
		     "expected a positive number of CPUs such as 2 or 0.5");
	expect_error(AGENT "bottles: {b: {limits: {cpus: 0.0001}}}\n",
		     "bottle.yaml:2:30: ", "CPUs");
	expect_error(
	    AGENT "bottles: {b: {backend: kvm}}\n",
	    "bottle.yaml:2:24: bottles.b.backend: ",
	    "expected a backend: ns, vm, docker or smolvm, got \"kvm\"");
	expect_error(
	    AGENT "bottles: {b: {egress: {resolve: "
		  "{api.example.com: 999.1.1.1}}}}\n",
	    "bottle.yaml:2:51: bottles.b.egress.resolve.api.example.com: ",
	    "expected an IPv4 or IPv6 address such as 10.0.0.1 or "
	    "fd00::1, got \"999.1.1.1\"");
	expect_error(AGENT "bottles: {b: {egress: {resolve: {\"*.x.com\": "
			   "1.2.3.4}}}}\n",
		     "bottle.yaml:2:34: bottles.b.egress.resolve: ",
		     "expected a host name");
	expect_error(AGENT "bottles: {b: {mounts: [\"/a\"]}}\n",
		     "bottle.yaml:2:24: bottles.b.mounts[0]: ",
		     "expected a mount such as \"./data:/data:ro\" "
		     "(SRC:DST[:ro|rw]), got \"/a\"");
	expect_error(AGENT "bottles: {b: {mounts: [\"/a:rel\"]}}\n",
		     "bottle.yaml:2:24: bottles.b.mounts[0]: ",
		     "expected an absolute target path");
	expect_error(AGENT "bottles: {b: {mounts: [\"/a:/b/../etc\"]}}\n",
		     "bottle.yaml:2:24: ", "without \"..\"");
	expect_error(AGENT "bottles: {b: {mounts: [\"/a:/b:rx\"]}}\n",
		     "bottle.yaml:2:24: bottles.b.mounts[0]: ",
		     "expected a mount mode ro or rw, got \"rx\"");
	expect_error(AGENT "bottles: {b: {mounts: [\"/a:/b:ro:x\"]}}\n",
		     "bottle.yaml:2:24: ", "(SRC:DST[:ro|rw])");
	expect_error(AGENT "bottles: {b: {mounts: [{source: /a}]}}\n",
		     "bottle.yaml:2:24: bottles.b.mounts[0]: ",
		     "missing required key \"target\"");
	expect_error(AGENT
		     "bottles: {b: {egress: {allow: [\"exa mple.com\"]}}}\n",
		     "bottle.yaml:2:32: bottles.b.egress.allow[0]: ",
		     "expected a host such as example.com");
	expect_error(AGENT
		     "bottles: {b: {egress: {allow: [\"x.com:99999\"]}}}\n",
		     "bottle.yaml:2:32: ", "got \"x.com:99999\"");
	expect_error(AGENT "bottles: {b: {egress: {routes: [{host: x.com, "
			   "header: A, value: plain}]}}}\n",
		     "bottle.yaml:2:65: bottles.b.egress.routes[0].value: ",
		     "expected a template containing ${env:NAME} or "
		     "${file:PATH}, got \"plain\"");
	expect_error(AGENT "bottles: {b: {egress: {routes: [{host: x.com, "
			   "header: A, value: \"${env:1X}\"}]}}}\n",
		     "bottle.yaml:2:65: ", "template");
	expect_error(AGENT "bottles: {b: {egress: {routes: [{host: x.com, "
			   "value: \"${env:X}\"}]}}}\n",
		     "bottle.yaml:2:33: bottles.b.egress.routes[0]: ",
		     "missing required key \"header\"");
	expect_error(
	    AGENT "bottles: {b: {egress: {dlp: {patterns: [{name: n, "
		  "regex: r, action: drop}]}}}}\n",
	    "bottle.yaml:2:69: ", "expected block or log, got \"drop\"");
	expect_error(AGENT "bottles: {b: {vm: {accel: hvf}}}\n",
		     "bottle.yaml:2:27: bottles.b.vm.accel: ",
		     "expected auto, kvm or tcg, got \"hvf\"");
	expect_error(AGENT "bottles: {b: {docker: {engine: lxc}}}\n",
		     "bottle.yaml:2:32: bottles.b.docker.engine: ",
		     "expected docker or podman");
	expect_error(AGENT "bottles: {b: {git: {upstreams: [{name: o}]}}}\n",
		     "bottle.yaml:2:33: bottles.b.git.upstreams[0]: ",
		     "missing required key \"url\"");
	expect_error(AGENT "bottles: {b: {git: {upstreams: [{name: o, url: "
			   "\"ext::sh -c x\"}]}}}\n",
		     "bottle.yaml:2:48: bottles.b.git.upstreams[0].url: ",
		     "expected an ssh, https or file URL");
	expect_error(AGENT "bottles:\n  b:\n    git:\n      upstreams:\n"
			   "        - {name: o, url: /a}\n"
			   "        - {name: o, url: /b}\n",
		     "bottle.yaml:7:18: bottles.b.git.upstreams[1].name: ",
		     "duplicate upstream name \"o\" (first given at line 6)");
	expect_error(AGENT "bottles: {b: {git: {upstreams: [{name: o, url: /a, "
			   "push: [main]}]}}}\n",
		     "bottle.yaml:2:59: bottles.b.git.upstreams[0].push[0]: ",
		     "expected a ref pattern such as \"refs/heads/bottle/*\"");
	expect_error(
	    "agents: {\"a b\": {command: x}}\n",
	    "bottle.yaml:1:10: agents: ", "invalid agent name \"a b\"");
	expect_error(
	    "agents: {a: {command: x}}\nbottles: {../x: {}}\n",
	    "bottle.yaml:2:11: bottles: ", "invalid bottle name \"../x\"");
}

static void test_duplicates(void **state)
{
	(void)state;
	expect_error("agents:\n  a: {command: x}\n  a: {command: y}\n",
		     "bottle.yaml:3:3: agents: ",
		     "duplicate key \"a\" (first given at line 2, column 3)");
	expect_error(
	    AGENT "bottles: {b: {limits: {pids: 1, cpus: 1, pids: "
		  "2}}}\n",
	    "bottle.yaml:2:42: bottles.b.limits: ", "duplicate key \"pids\"");
	/* The earliest repeat in the file is the one reported. */
	expect_error("agents:\n  z: {command: x}\n  a: {command: x}\n"
		     "  z: {command: x}\n  a: {command: x}\n",
		     "bottle.yaml:4:3: ", "duplicate key \"z\"");
	expect_error(
	    AGENT "bottles: {b: {env: {A: 1, A: 2}}}\n",
	    "bottle.yaml:2:27: bottles.b.env: ", "duplicate key \"A\"");
	expect_error(AGENT "agents: {}\n",
		     "bottle.yaml:2:1: ", "duplicate key \"agents\"");
}

static void test_references(void **state)
{
	(void)state;
	expect_error("agents:\n  a:\n    command: x\n    bottle: devv\n"
		     "bottles:\n  dev: {}\n  prod: {}\n",
		     "bottle.yaml:4:13: agents.a.bottle: ",
		     "no bottle named \"devv\"; defined bottles: dev, prod");
	expect_error(
	    "agents:\n  a: {command: x}\nbottles: {dev: {}, prod: {}}\n",
	    "bottle.yaml:2:3: agents.a: ",
	    "no bottle given and the manifest defines 2 bottles "
	    "(dev, prod); expected bottle: NAME");
	expect_error("agents: {a: {command: x}, b: {command: y}}\n"
		     "default_agent: c\n",
		     "bottle.yaml:2:16: default_agent: ",
		     "no agent named \"c\"; defined agents: a, b");
	expect_error("bottles: {b: {}}\n",
		     "bottle.yaml:1:1: ", "no agents defined");
	expect_error("agents: {}\n", "bottle.yaml:1:1: ", "no agents defined");
}

static void test_parse_size(void **state)
{
	static const struct {
		const char *s;
		int r;
		uint64_t v;
	} t[] = {
	    {"0", 0, 0},
	    {"1048576", 0, 1048576},
	    {"512", 0, 512},
	    {"512B", 0, 512},
	    {"1K", 0, 1024},
	    {"1k", 0, 1024},
	    {"1KB", 0, 1024},
	    {"1KiB", 0, 1024},
	    {"512M", 0, 512ULL << 20},
	    {"512MB", 0, 512ULL << 20},
	    {"512MiB", 0, 512ULL << 20},
	    {"4G", 0, 4ULL << 30},
	    {"4g", 0, 4ULL << 30},
	    {"4GB", 0, 4ULL << 30},
	    {"4GiB", 0, 4ULL << 30},
	    {"2T", 0, 2ULL << 40},
	    {"1.5G", 0, 3ULL << 29},
	    {"0.5K", 0, 512},
	    {"1.25M", 0, 1310720},
	    {"18446744073709551615", 0, UINT64_MAX},
	    {"16777215T", 0, 16777215ULL << 40},
	    {"", -EINVAL, 0},
	    {"lots", -EINVAL, 0},
	    {"-1", -EINVAL, 0},
	    {"-1G", -EINVAL, 0},
	    {"+1G", -EINVAL, 0},
	    {" 1G", -EINVAL, 0},
	    {"1G ", -EINVAL, 0},
	    {"1 G", -EINVAL, 0},
	    {"1.5", -EINVAL, 0},
	    {"1.G", -EINVAL, 0},
	    {".5G", -EINVAL, 0},
	    {"1.1234567G", -EINVAL, 0},
	    {"1X", -EINVAL, 0},
	    {"1GG", -EINVAL, 0},
	    {"1Gi", -EINVAL, 0},
	    {"1iB", -EINVAL, 0},
	    {"1P", -EINVAL, 0},
	    {"18446744073709551616", -EINVAL, 0},
	    {"16777216T", -EINVAL, 0},
	    {"99999999999999999999999G", -EINVAL, 0},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		uint64_t v = 12345;
		int r = parse_size(t[i].s, &v);
		if (r != t[i].r)
			fail_msg("parse_size(\"%s\") = %d, want %d", t[i].s, r,
				 t[i].r);
		if (r == 0 && v != t[i].v)
			fail_msg("parse_size(\"%s\") = %llu, want %llu", t[i].s,
				 (unsigned long long)v,
				 (unsigned long long)t[i].v);
		if (r != 0)
			assert_int_equal(v, 12345);
	}
}

static void test_paths(void **state)
{
	struct error err = ERROR_INIT;
	struct manifest *m = NULL;
	const char *yaml =
	    "agents: {a: {command: x, skills: [., ./, ./s, "
	    "././s/t, s/../u, \"~\", ~/x, /abs, \"~user/y\"]}}\n";
	char cwd[PATH_MAX], want[PATH_MAX + 8];

	(void)state;
	assert_int_equal(manifest_parse("m.yaml", "/base/dir/", yaml,
					strlen(yaml), &m, &err),
			 0);
	assert_int_equal(m->agents[0].n_skills, 9);
	assert_string_equal(m->agents[0].skills[0], "/base/dir");
	assert_string_equal(m->agents[0].skills[1], "/base/dir");
	assert_string_equal(m->agents[0].skills[2], "/base/dir/s");
	assert_string_equal(m->agents[0].skills[3], "/base/dir/s/t");
	assert_string_equal(m->agents[0].skills[4], "/base/dir/s/../u");
	assert_string_equal(m->agents[0].skills[5], "/home/u");
	assert_string_equal(m->agents[0].skills[6], "/home/u/x");
	assert_string_equal(m->agents[0].skills[7], "/abs");
	assert_string_equal(m->agents[0].skills[8], "/base/dir/~user/y");
	manifest_free(m);

	/* Root as the base. */
	yaml = "agents: {a: {command: x, skills: [s]}}\n";
	assert_int_equal(
	    manifest_parse("m.yaml", "/", yaml, strlen(yaml), &m, &err), 0);
	assert_string_equal(m->agents[0].skills[0], "/s");
	manifest_free(m);

	/* No base: the current directory. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(
	    manifest_parse(NULL, NULL, yaml, strlen(yaml), &m, &err), 0);
	snprintf(want, sizeof(want), "%s/s", strcmp(cwd, "/") ? cwd : "");
	assert_string_equal(m->agents[0].skills[0], want);
	assert_null(m->path);
	manifest_free(m);

	/* ~ with no usable $HOME is an error, not a relative path. */
	unsetenv("HOME");
	yaml = "agents: {a: {command: x, skills: [~/x]}}\n";
	assert_int_equal(
	    manifest_parse("m.yaml", "/", yaml, strlen(yaml), &m, &err),
	    -EINVAL);
	assert_string_equal(err.msg, "m.yaml:1:35: agents.a.skills[0]: cannot "
				     "expand \"~/x\": $HOME is not set to an "
				     "absolute path");
	setenv("HOME", "/home/u", 1);
}

static void test_pick_agent(void **state)
{
	struct error err = ERROR_INIT;
	struct manifest *m;
	const struct agent_def *a;

	(void)state;
	m = parse_ok("agents: {a: {command: x}, b: {command: y}}\n");
	a = manifest_pick_agent(m, "b", &err);
	assert_non_null(a);
	assert_string_equal(a->name, "b");
	assert_null(manifest_pick_agent(m, NULL, &err));
	assert_string_equal(err.msg, "bottle.yaml defines 2 agents (a, b); "
				     "name the one to run or set "
				     "default_agent");
	assert_null(manifest_pick_agent(m, "zz", &err));
	assert_int_equal(err.code, ENOENT);
	assert_string_equal(err.msg, "no agent named \"zz\" in bottle.yaml; "
				     "available: a, b");
	manifest_free(m);

	m = parse_ok("agents: {a: {command: x}, b: {command: y}}\n"
		     "default_agent: b\n");
	a = manifest_pick_agent(m, NULL, &err);
	assert_string_equal(a->name, "b");
	a = manifest_pick_agent(m, "a", &err);
	assert_string_equal(a->name, "a");
	manifest_free(m);

	m = manifest_default(NULL);
	a = manifest_pick_agent(m, NULL, &err);
	assert_string_equal(a->name, "claude");
	assert_null(manifest_pick_agent(m, "x", &err));
	assert_string_equal(err.msg, "no agent named \"x\" in the built-in "
				     "manifest; available: claude");
	manifest_free(m);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	assert_int_equal(fclose(f), 0);
}

/* A scratch directory to chdir into; removed by the caller's rm. */
static void make_tmpdir(char *dir, size_t size)
{
	snprintf(dir, size, "/tmp/test_manifest.XXXXXX");
	assert_non_null(mkdtemp(dir));
}

static void rm_rf(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_load(void **state)
{
	struct error err = ERROR_INIT;
	struct manifest *m = NULL;
	char dir[64], old[PATH_MAX], path[PATH_MAX], want[PATH_MAX];

	(void)state;
	make_tmpdir(dir, sizeof(dir));
	assert_non_null(getcwd(old, sizeof(old)));
	snprintf(path, sizeof(path), "%s/sub", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/sub/m.yaml", dir);
	write_file(path, "agents:\n  a:\n    command: x\n    skills: [./sk]\n");

	/* A relative manifest path resolves against the cwd. */
	assert_int_equal(chdir(dir), 0);
	assert_int_equal(manifest_load("sub/m.yaml", &m, &err), 0);
	assert_string_equal(m->path, "sub/m.yaml");
	snprintf(want, sizeof(want), "%s/sub/sk", dir);
	assert_string_equal(m->agents[0].skills[0], want);
	manifest_free(m);
	m = NULL;

	assert_int_equal(manifest_load(path, &m, &err), 0);
	assert_string_equal(m->agents[0].skills[0], want);
	manifest_free(m);
	m = NULL;

	/* Errors carry the path as given. */
	write_file("bad.yaml", "agents: {a: {command: x, bottle: 1}}\n"
			       "bottles:\n  dev:\n    limits: {memory: "
			       "lots}\n");
	assert_int_equal(manifest_load("bad.yaml", &m, &err), -EINVAL);
	assert_null(m);
	assert_string_equal(
	    err.msg, "bad.yaml:4:22: bottles.dev.limits.memory: expected "
		     "a size such as 512M or 4G, got \"lots\"");

	assert_int_equal(manifest_load("missing.yaml", &m, &err), -ENOENT);
	assert_string_equal(err.msg, "missing.yaml: No such file or directory");
	assert_int_equal(manifest_load("sub", &m, &err), -EINVAL);
	assert_string_equal(err.msg, "sub: not a regular file");
	assert_null(m);

	assert_int_equal(chdir(old), 0);
	rm_rf(dir);
}

static void test_find(void **state)
{
	char dir[64], old[PATH_MAX], xdg[PATH_MAX + 64], home[PATH_MAX];
	char *p;

	(void)state;
	make_tmpdir(dir, sizeof(dir));
	assert_non_null(getcwd(old, sizeof(old)));
	assert_int_equal(chdir(dir), 0);
	snprintf(home, sizeof(home), "%s/home", dir);
	setenv("HOME", home, 1);
	unsetenv("XDG_CONFIG_HOME");

	p = manifest_find("explicit/missing.yaml");
	assert_string_equal(p, "explicit/missing.yaml");
	free(p);
	assert_null(manifest_find(NULL));

	/* ~/.config/bottle/manifest.yaml */
	assert_int_equal(system("mkdir -p home/.config/bottle xdg/bottle && "
				"touch home/.config/bottle/manifest.yaml"),
			 0);
	p = manifest_find(NULL);
	snprintf(xdg, sizeof(xdg), "%s/.config/bottle/manifest.yaml", home);
	assert_string_equal(p, xdg);
	free(p);

	/* $XDG_CONFIG_HOME replaces ~/.config when set (and absolute). */
	snprintf(xdg, sizeof(xdg), "%s/xdg", dir);
	setenv("XDG_CONFIG_HOME", xdg, 1);
	assert_null(manifest_find(NULL));
	assert_int_equal(system("touch xdg/bottle/manifest.yaml"), 0);
	p = manifest_find(NULL);
	assert_true(strstr(p, "/xdg/bottle/manifest.yaml") != NULL);
	free(p);

	/* ./bottle.yaml wins over both. */
	write_file("bottle.yaml", "agents: {}\n");
	p = manifest_find(NULL);
	assert_string_equal(p, "bottle.yaml");
	free(p);
	p = manifest_find("other.yaml");
	assert_string_equal(p, "other.yaml");
	free(p);

	unsetenv("XDG_CONFIG_HOME");
	setenv("HOME", "/home/u", 1);
	assert_int_equal(chdir(old), 0);
	rm_rf(dir);
}

/* allow takes address ranges too (the policy allows connecting to them);
 * inspect and route hosts do not. */
static void test_allow_ranges(void **state)
{
	struct manifest *m = parse_ok(
	    AGENT "bottles:\n  b:\n    egress:\n      allow: [\"10.0.0.0/8\", "
		  "\"FD00::/8\", example.com]\n");

	(void)state;
	assert_int_equal(m->bottles[0].egress.n_allow, 3);
	assert_string_equal(m->bottles[0].egress.allow[0], "10.0.0.0/8");
	assert_string_equal(m->bottles[0].egress.allow[1], "fd00::/8");
	manifest_free(m);
	expect_error(AGENT "bottles:\n  b:\n    egress: {allow: "
			   "[\"10.0.0.0/33\"]}\n",
		     "bottle.yaml:4:22: ", "address range such as 10.0.0.0/8");
	expect_error(AGENT "bottles:\n  b:\n    egress: {allow: [\"x/8\"]}\n",
		     "bottle.yaml:4:22: ", "got \"x/8\"");
	expect_error(AGENT "bottles:\n  b:\n    egress: {inspect: "
			   "[\"10.0.0.0/8\"]}\n",
		     "bottle.yaml:4:24: ", "expected a host");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_full),
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_bool_forms),
	    cmocka_unit_test(test_syntax_errors),
	    cmocka_unit_test(test_kind_errors),
	    cmocka_unit_test(test_unknown_keys),
	    cmocka_unit_test(test_value_errors),
	    cmocka_unit_test(test_duplicates),
	    cmocka_unit_test(test_references),
	    cmocka_unit_test(test_parse_size),
	    cmocka_unit_test(test_paths),
	    cmocka_unit_test(test_pick_agent),
	    cmocka_unit_test(test_load),
	    cmocka_unit_test(test_find),
	    cmocka_unit_test(test_allow_ranges),
	};
	return cmocka_run_group_tests(tests, setup_home, NULL);
}
