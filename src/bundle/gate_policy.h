/* The git gate's push policy (docs/manifest.md, "git"): which ref updates
 * an agent may push to an upstream.  Pure; the pre-receive hook
 * (gate_hook.c) feeds it each update and whether it is a fast-forward. */
#ifndef BOTTLE_BUNDLE_GATE_POLICY_H
#define BOTTLE_BUNDLE_GATE_POLICY_H

#include <stdbool.h>
#include <stddef.h>

struct push_policy {
	const char *const *patterns; /* as in the manifest: "*" globs */
	size_t n_patterns;
	bool allow_force;
	bool allow_delete;
};

enum push_kind {
	PUSH_CREATE, /* old is the null id */
	PUSH_DELETE, /* new is the null id */
	PUSH_UPDATE, /* both set */
};

/* The longest ref name a push may carry. */
#define PUSH_REF_MAX 1024

/* Whether id is an object id: 40 (SHA-1) or 64 (SHA-256) lower-case hex
 * digits. */
bool push_id_valid(const char *id);

/* Whether ref is a ref name the gate forwards: "refs/" and then
 * components of letters, digits and . _ - + , = @, none empty, none
 * starting with '.' or ending with ".lock", no "..", at most PUSH_REF_MAX
 * bytes.  Stricter than git's check_refname_format(), which receive-pack
 * applies only after the pre-receive hook: before that, a name holding
 * ':' or a line break would change what `git push` sends upstream. */
bool push_ref_valid(const char *ref);

/* '*' matches any run of characters, '/' included; everything else
 * matches itself. */
bool ref_glob_match(const char *pattern, const char *ref);

/* Whether ref may take this update; when not, why[] (size bytes) says so
 * in a sentence for the agent.  ff says whether an UPDATE is a
 * fast-forward (new descends from old); it is ignored otherwise. */
bool push_allowed(const struct push_policy *p, const char *ref,
		  enum push_kind kind, bool ff, char *why, size_t size);

#endif
