/* The manifest: the user's YAML file declaring agents and bottles, parsed
 * into one C struct (STYLE rule 24).  The schema is documented in
 * docs/manifest.md; every section later issues implement is parsed and
 * validated here so there is exactly one schema.
 *
 * Everything is plain data owned by the struct manifest; manifest_free()
 * releases it.  Relative paths in the file (mount sources, skills, identity
 * keys, CA files) are made absolute against the manifest's directory, and a
 * leading "~/" against $HOME, at load time.
 */
#ifndef BOTTLE_MANIFEST_H
#define BOTTLE_MANIFEST_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a value came from, for error messages after parsing. */
struct srcpos {
	int line; /* 1-based; 0 = built-in default */
	int col;  /* 1-based */
};

struct kv {
	char *key;
	char *value;
	struct srcpos pos;
};

struct mount_spec {
	char *source; /* absolute host path */
	char *target; /* absolute path inside the bottle */
	bool readonly;
	bool optional; /* skip silently if source is missing */
	struct srcpos pos;
};

/* 0 means "not set" for every limit. */
struct limits {
	uint64_t memory;     /* bytes */
	uint64_t pids;	     /* max tasks */
	uint64_t cpus_milli; /* 1000 = one CPU */
	uint64_t tmp_size;   /* bytes for the /tmp tmpfs */
};

struct egress_route {
	char *host;
	char *header; /* e.g. "Authorization" */
	char *value;  /* template: "Bearer ${env:NAME}" / ${file:PATH} */
	char *placeholder_env; /* env var the agent gets with a placeholder */
	struct srcpos pos;
};

enum dlp_action { DLP_BLOCK = 0, DLP_LOG };

struct dlp_pattern {
	char *name;
	char *regex;
	enum dlp_action action;
	struct srcpos pos;
};

struct egress {
	char **allow; /* "host", "*.suffix", optionally ":port" */
	size_t n_allow;
	char **inspect;
	size_t n_inspect;
	struct egress_route *routes;
	size_t n_routes;
	bool dlp_builtin; /* default true */
	struct dlp_pattern *patterns;
	size_t n_patterns;
	struct kv *resolve; /* host -> IP literal override */
	size_t n_resolve;
	char *ca_file; /* extra CA to verify upstreams with, or NULL */
};

struct git_upstream {
	char *name;
	char *url;	/* ssh, https or file */
	char *identity; /* ssh key path, or NULL */
	char *token;	/* template for https tokens, or NULL */
	char **push;	/* allowed ref patterns */
	size_t n_push;
	bool allow_force;
	bool allow_delete;
	struct srcpos pos;
};

enum vm_accel { VM_ACCEL_AUTO = 0, VM_ACCEL_KVM, VM_ACCEL_TCG };

struct vm_opts {
	char *kernel; /* NULL = the host's kernel */
	enum vm_accel accel;
	uint64_t memory; /* guest RAM in bytes, 0 = default */
};

struct docker_opts {
	char *image;  /* NULL = default image */
	char *engine; /* "docker", "podman" or NULL = whichever is found */
};

struct bottle_def {
	char *name;
	char *backend; /* "ns" (default), "vm", "docker", "smolvm" */
	bool copy_cwd; /* default true */
	struct kv *env;
	size_t n_env;
	struct mount_spec *mounts;
	size_t n_mounts;
	struct limits limits;
	struct egress egress;
	struct git_upstream *upstreams;
	size_t n_upstreams;
	bool supervise;
	unsigned supervise_timeout; /* seconds; 0 = default */
	struct vm_opts vm;
	struct docker_opts docker;
	struct srcpos pos;
};

struct agent_def {
	char *name;
	char **command; /* argv, NULL-terminated; n_command excludes NULL */
	size_t n_command;
	char *prompt;  /* may be NULL */
	char **skills; /* absolute paths */
	size_t n_skills;
	char *bottle; /* name of a bottle_def; never dangling after load */
	struct srcpos pos;
};

struct manifest {
	char *path;	     /* NULL for the built-in default */
	char *default_agent; /* may be NULL */
	struct agent_def *agents;
	size_t n_agents;
	struct bottle_def *bottles;
	size_t n_bottles;
};

/* Parse and validate the YAML file at path.  On failure returns -errno
 * (-EINVAL for content errors) with err->msg like
 *   "bottle.yaml:12:5: limits.memory: expected a size such as 512M or 4G,
 *    got \"lots\""
 * and *out untouched.  On success *out is a new manifest (caller frees). */
int manifest_load(const char *path, struct manifest **out, struct error *err)
    __attribute__((warn_unused_result));

/* Same, from a buffer; name is used in messages and base_dir resolves
 * relative paths.  This is the fuzzing entry point. */
int manifest_parse(const char *name, const char *base_dir, const char *buf,
		   size_t len, struct manifest **out, struct error *err)
    __attribute__((warn_unused_result));

/* The built-in manifest used when none is found: one agent "claude"
 * running `claude` in an ns bottle "default" with copy_cwd, allowed to
 * reach Anthropic's API and the npm registry; with token_env (a host
 * variable: CLAUDE_CODE_OAUTH_TOKEN or ANTHROPIC_API_KEY), the API route
 * injects its value and the agent's variable of that name holds only a
 * placeholder. */
struct manifest *manifest_default(const char *token_env);

/* Find the manifest by the lookup order: explicit (if non-NULL), then
 * ./bottle.yaml, then $XDG_CONFIG_HOME/bottle/manifest.yaml (default
 * ~/.config/bottle/manifest.yaml).  Returns a malloc'd path, or NULL when
 * none exists and explicit is NULL.  An explicit path that does not exist
 * is returned as-is so that manifest_load() reports it. */
char *manifest_find(const char *explicit_path);

const struct agent_def *manifest_agent(const struct manifest *m,
				       const char *name);
const struct bottle_def *manifest_bottle(const struct manifest *m,
					 const char *name);

/* Pick the agent to run: name if given, else default_agent, else the only
 * agent.  NULL with err set when ambiguous or unknown. */
const struct agent_def *manifest_pick_agent(const struct manifest *m,
					    const char *name,
					    struct error *err);

/* Parse a size like "512M", "4G", "1.5GiB", "1048576".  0 or -EINVAL. */
int parse_size(const char *s, uint64_t *out);

void manifest_free(struct manifest *m);

/* A reference in a secret template ("Bearer ${env:TOKEN}"): where a
 * secret lives on the host, which the bundle substitutes. */
enum template_kind { TEMPLATE_ENV, TEMPLATE_FILE };
struct template_ref {
	const char *start; /* the "${" */
	const char *end;   /* just past the "}" */
	enum template_kind kind;
	const char *arg; /* NAME or PATH, arg_len bytes, not terminated */
	size_t arg_len;
};

/* The next reference at or after *p: 1 with *ref filled and *p past it,
 * 0 when there is none, -1 for a "${" that does not start a well-formed
 * ${env:NAME} or ${file:PATH} (NAME an environment variable name, PATH
 * not empty).  The one scanner of the syntax: the manifest checks with it,
 * `bottle run` checks the secrets exist, the bundle renders. */
int template_next(const char **p, struct template_ref *ref);

/* Deep-copy an egress section (dst is overwritten, not released first);
 * release one built by egress_copy() or by the parser.  Route templates
 * are wiped on release. */
void egress_copy(struct egress *dst, const struct egress *src);
void egress_release(struct egress *e);
/* The same for a bottle's git upstreams (tokens wiped on release). */
struct git_upstream *upstreams_copy(const struct git_upstream *src, size_t n);
void upstreams_release(struct git_upstream *u, size_t n);

#endif
