/* Internal to the manifest module: the YAML walking helpers that
 * manifest.c provides and the schema tables in manifest_schema.c use.
 * Nothing outside src/lib/manifest*.c includes this.
 *
 * Every helper returns 0 or a negative errno and, on failure, fills
 * c->err with "FILE:LINE:COL: key.path: what was wrong, what was
 * expected".  Nodes are borrowed from the yaml document; strings stored in
 * the manifest are copies.
 */
#ifndef BOTTLE_MANIFEST_SCHEMA_H
#define BOTTLE_MANIFEST_SCHEMA_H

#include "manifest.h"

#include <yaml.h>

struct mctx {
	const char *name;     /* file name used in messages */
	const char *base_dir; /* absolute; relative paths resolve here */
	yaml_document_t *doc;
	struct error *err;
	struct manifest *m;
	struct bottle_def *bottle; /* the bottle being parsed, or NULL */
	/* Where each agent's `bottle:` value was, to point at dangling
	 * references once all bottles are known. */
	struct srcpos *agent_bottle_pos;
	struct srcpos default_agent_pos;
	char path[256]; /* dotted key path: "bottles.dev.limits" */
	size_t path_len;
	char quote[96]; /* scratch for quoting a value in a message */
};

#define NAME_MAX_LEN 64

/* What a field expects, as used in "expected <what>, got ..." messages. */
#define W_STRING   "a string"
#define W_PATH	   "a path"
#define W_BOOL	   "true or false"
#define W_SIZE	   "a size such as 512M or 4G"
#define W_COUNT	   "a positive whole number"
#define W_HOST	   "a host such as example.com, *.example.com or example.com:443"
#define W_TEMPLATE "a template containing ${env:NAME} or ${file:PATH}"
#define W_MOUNT                                                                \
	"a mount: \"SRC:DST[:ro|rw]\" or a map with source, target, mode and " \
	"optional"

enum mkind { MK_SCALAR = 1, MK_SEQ = 2, MK_MAP = 4 };

/* One key of a YAML map: the node kinds it accepts, a description of what
 * is expected (used in messages: "expected <what>, got a list") and the
 * function that stores it into obj.  parse is never called with a null
 * node; a null for a list or map field means "empty". */
struct mfield {
	const char *key;
	unsigned kinds;
	const char *what;
	int (*parse)(struct mctx *c, yaml_node_t *n, void *obj);
};

typedef int (*m_item_fn)(struct mctx *c, yaml_node_t *item, size_t i,
			 void *obj);
typedef int (*m_pair_fn)(struct mctx *c, yaml_node_t *key, yaml_node_t *val,
			 size_t i, void *obj);
/* Convert one validated scalar s (from node n) into an owned string. */
typedef int (*m_str_fn)(struct mctx *c, yaml_node_t *n, const char *s,
			char **out);

/* Errors. */
struct srcpos m_pos(const yaml_node_t *n);
int m_fail(struct mctx *c, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int m_fail_at(struct mctx *c, struct srcpos pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* "null", "a list", "a map" or the quoted scalar (in c->quote). */
const char *m_kind(struct mctx *c, const yaml_node_t *n);
/* s quoted and escaped for a message, in c->quote. */
const char *m_quote(struct mctx *c, const char *s);

/* Key path for messages: push returns the length to pop back to. */
size_t m_push(struct mctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void m_pop(struct mctx *c, size_t old);

/* Node access.  m_node() dies (BUG) on an index libyaml did not make. */
yaml_node_t *m_node(struct mctx *c, int index);
bool m_is_null(const yaml_node_t *n);
size_t m_count(const yaml_node_t *n); /* items or pairs; 0 for scalars */

/* Walkers.  m_walk_map() checks key kinds, duplicates and unknown keys
 * against the table; the others only check kinds and duplicates. */
int m_walk_map(struct mctx *c, yaml_node_t *n, const struct mfield *f,
	       size_t nf, void *obj);
int m_each_pair(struct mctx *c, yaml_node_t *n, m_pair_fn fn, void *obj);
int m_each_item(struct mctx *c, yaml_node_t *n, m_item_fn fn, void *obj);

/* Scalars.  *out is set only on success. */
int m_scalar(struct mctx *c, yaml_node_t *n, const char *what,
	     const char **out);
int m_string(struct mctx *c, yaml_node_t *n, const char *what, char **out);
int m_bool(struct mctx *c, yaml_node_t *n, bool *out);
int m_size(struct mctx *c, yaml_node_t *n, uint64_t *out);
int m_uint(struct mctx *c, yaml_node_t *n, uint64_t max, uint64_t *out);
/* A path made absolute against base_dir or $HOME. */
int m_path(struct mctx *c, yaml_node_t *n, char **out);
int m_resolve(struct mctx *c, yaml_node_t *n, const char *s, char **out);
/* Join base and rel, dropping leading "./" components of rel (malloc'd). */
char *m_path_join(const char *base, const char *rel);
/* A list of scalars, each converted by conv (NULL = copy).  The array is
 * NULL-terminated; *cnt excludes the terminator. */
int m_string_list(struct mctx *c, yaml_node_t *n, const char *what,
		  m_str_fn conv, char ***arr, size_t *cnt);

/* Shared validators and conversions (manifest_yaml.c). */
/* Agent, bottle and upstream names: [A-Za-z0-9][A-Za-z0-9._-]{0,63}. */
bool m_name_ok(const char *s);
/* [A-Za-z_][A-Za-z0-9_]* over len bytes. */
bool m_env_name_ok(const char *s, size_t len);
/* s must be one of the NULL-terminated set; stores a copy / the index. */
int m_choice(struct mctx *c, yaml_node_t *n, const char *const *set,
	     const char *what, char **out);
int m_choice_index(struct mctx *c, yaml_node_t *n, const char *const *set,
		   const char *what, int *idx);
/* A string that is not empty / that passes ok(). */
int m_nonempty(struct mctx *c, yaml_node_t *n, const char *what, char **out);
int m_check(struct mctx *c, yaml_node_t *n, const char *what,
	    bool (*ok)(const char *), char **out);
/* Fails at n with "missing required key" unless field is set. */
int m_require(struct mctx *c, yaml_node_t *n, const void *field,
	      const char *key, const char *hint);

/* Schema entry point (manifest_schema.c): fill m from the root node and
 * check cross-references. */
int schema_parse_root(struct mctx *c, yaml_node_t *root, struct manifest *m);
/* The egress: and git: sections of a bottle (manifest_egress.c); obj is
 * the struct bottle_def. */
int schema_egress(struct mctx *c, yaml_node_t *n, void *obj);
int schema_git(struct mctx *c, yaml_node_t *n, void *obj);
/* A bottle with every default set. */
void schema_bottle_defaults(struct bottle_def *b, const char *name);

#endif
