/* A small JSON library: a streaming writer over a strbuf and a strict
 * RFC 8259 parser that builds a read-only tree.
 *
 * The parser faces untrusted input (MCP JSON-RPC), so it is strict and
 * bounded: nesting is limited to JSON_MAX_DEPTH, input to JSON_MAX_LEN,
 * strings must be valid UTF-8 (RFC 8259 section 8.1) and \u escapes must
 * pair surrogates, duplicate object keys and trailing garbage are
 * rejected.  The whole tree lives in one arena and is freed at once.
 *
 * Allocation failure dies (x* allocators).
 */
#ifndef BOTTLE_JSON_H
#define BOTTLE_JSON_H

#include "err.h"
#include "strbuf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Containers nested deeper than this are rejected by the parser, and
 * writing deeper is a BUG(). */
#define JSON_MAX_DEPTH 64
/* Inputs longer than this are rejected with -EMSGSIZE.  Parsing peaks at
 * about 40x the input size (measured on "[0,0,...]": 320 MB for 8 MiB), so
 * callers facing a peer should bound len far lower (a request body
 * limit). */
#define JSON_MAX_LEN (8u << 20)

enum json_type {
	JSON_NONE = 0, /* no value: json_type(NULL), e.g. a missing key */
	JSON_NULL,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_ARRAY,
	JSON_OBJECT,
};

struct json_value;

/* Parse exactly one JSON text from buf[0..len) (no NUL needed; leading and
 * trailing whitespace allowed, anything else after the value is an error).
 * On success *out owns the tree; free it with json_value_free().  Returns
 * 0, -EINVAL for malformed input (err says the byte offset and what was
 * expected), or -EMSGSIZE if len > JSON_MAX_LEN.  *out is NULL on error. */
int json_parse(const char *buf, size_t len, struct json_value **out,
	       struct error *err) __attribute__((warn_unused_result));

/* Free a tree returned by json_parse().  Only the root may be passed;
 * values reached through accessors belong to it.  NULL is a no-op. */
void json_value_free(struct json_value *root);

/* All accessors accept NULL (and a value of the wrong type) and then
 * return NULL, 0, JSON_NONE or -EINVAL, so lookups can be chained. */
enum json_type json_type(const struct json_value *v);
const char *json_type_name(enum json_type t);

/* The NUL-terminated, UTF-8 contents of a string, or NULL if v is not a
 * string.  If len is non-NULL it gets the length, which is the way to see
 * embedded NULs (from \u0000). */
const char *json_as_string(const struct json_value *v, size_t *len);

/* 0 and *out set, or -EINVAL if v is not a number.  The double is the
 * nearest to the literal. */
int json_as_double(const struct json_value *v, double *out);

/* 0 and *out set if v is a number whose exact decimal value is an integer
 * in int64 range ("12", "-0", "1.5e1", "1e3"), -ERANGE if it is a number
 * but not such an integer ("1.5", "1e19"), -EINVAL if not a number. */
int json_as_int64(const struct json_value *v, int64_t *out);

/* 0 and *out set, or -EINVAL if v is not true/false. */
int json_as_bool(const struct json_value *v, bool *out);

/* Number of elements / members; 0 if v is not an array / object. */
size_t json_array_len(const struct json_value *v);
size_t json_obj_len(const struct json_value *v);

/* Element i, or NULL if v is not an array or i is out of range. */
const struct json_value *json_array_get(const struct json_value *v, size_t i);

/* The member named key (compared bytewise; keys with embedded NULs never
 * match), or NULL if v is not an object or has no such key. */
const struct json_value *json_obj_get(const struct json_value *v,
				      const char *key);

/* Iteration in document order: key / value of member i (i <
 * json_obj_len(v)), or NULL.  keylen may be NULL. */
const char *json_obj_key(const struct json_value *v, size_t i, size_t *keylen);
const struct json_value *json_obj_value(const struct json_value *v, size_t i);

/* Writer: appends JSON to a strbuf, inserting commas (and in pretty mode
 * newlines and 2-space indentation) itself.  Misuse, such as a value where
 * an object key is due or unbalanced ends, is a BUG().  The output is valid
 * JSON for any input bytes: strings that are not valid UTF-8 have each bad
 * byte written as \u00XX (so it reads back as U+0080..U+00FF), and
 * non-finite doubles are written as null. */
enum json_writer_flags {
	JSON_WRITER_PRETTY = 1 << 0,
};

struct json_writer {
	struct strbuf *sb;
	enum json_writer_flags flags;
	int depth;
	bool after_key;
	/* per level: 'o'/'a' container kind; whether it has a member yet */
	char kind[JSON_MAX_DEPTH + 1];
	bool nonempty[JSON_MAX_DEPTH + 1];
};

void json_writer_init(struct json_writer *w, struct strbuf *sb,
		      enum json_writer_flags flags);
void json_writer_begin_object(struct json_writer *w);
void json_writer_end_object(struct json_writer *w);
void json_writer_begin_array(struct json_writer *w);
void json_writer_end_array(struct json_writer *w);
void json_writer_key(struct json_writer *w, const char *key);
void json_writer_key_len(struct json_writer *w, const char *key, size_t len);
void json_writer_string(struct json_writer *w, const char *s);
void json_writer_string_len(struct json_writer *w, const char *s, size_t len);
void json_writer_int64(struct json_writer *w, int64_t v);
void json_writer_uint64(struct json_writer *w, uint64_t v);
/* %.15g, or %.16g / %.17g where needed to read back as the same double:
 * 0.1 is written "0.1". */
void json_writer_double(struct json_writer *w, double v);
void json_writer_bool(struct json_writer *w, bool v);
void json_writer_null(struct json_writer *w);
/* Write a parsed value (and everything under it). */
void json_writer_value(struct json_writer *w, const struct json_value *v);
/* Write json, one complete JSON value that the caller made with a writer
 * (not checked), as the next value: for values kept as text. */
void json_writer_raw(struct json_writer *w, const char *json);

/* Object members in one call, for writing records such as meta.json:
 * key then value; a NULL string or string array is written as null. */
void json_writer_kv_string(struct json_writer *w, const char *key,
			   const char *v);
void json_writer_kv_int64(struct json_writer *w, const char *key, int64_t v);
void json_writer_kv_uint64(struct json_writer *w, const char *key, uint64_t v);
void json_writer_kv_bool(struct json_writer *w, const char *key, bool v);
void json_writer_kv_strv(struct json_writer *w, const char *key,
			 char *const *v);

/* Reading such records back (CLI use: these allocate with the x*
 * allocators).  A missing or mistyped member gives NULL / 0 / false. */
char *json_obj_strdup(const struct json_value *o, const char *key);
int64_t json_obj_int64(const struct json_value *o, const char *key);
bool json_obj_bool(const struct json_value *o, const char *key);
/* A NULL-terminated copy of an array of strings (non-strings become "");
 * NULL when the member is not an array.  *n (may be NULL) gets its length. */
char **json_obj_strv(const struct json_value *o, const char *key, size_t *n);

#endif
