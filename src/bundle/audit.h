/* The audit stage (DESIGN.md, "The proxy pipeline" step 7): one JSON line
 * per request or tunnel in the state dir's logs/audit.jsonl, read back by
 * `bottle logs ID --audit`.  Lines are buffered and written when the
 * buffer fills or on audit_flush() (the bundle flushes on a short timer),
 * so the event loop never waits on the disk for each request. */
#ifndef BOTTLE_BUNDLE_AUDIT_H
#define BOTTLE_BUNDLE_AUDIT_H

#include "lib/err.h"

#include <stdint.h>

struct audit;

struct audit_event {
	const char *method; /* "GET", "CONNECT"... or NULL */
	const char *host;   /* or NULL */
	uint16_t port;
	const char *path;    /* already redacted by the caller, or NULL */
	const char *verdict; /* "allow", "deny", "block", "error" */
	int status;	     /* HTTP status the agent got, 0 if none */
	const char *rule;    /* allow rule or DLP pattern, or NULL */
	const char *reason;  /* short text, or NULL */
	const char *mode;    /* "http", "tunnel", "intercept" */
	uint64_t bytes_up, bytes_down;
	uint64_t usec; /* duration */
};

/* Open (append) path; bottle names the bottle in every line. */
int audit_open(const char *path, const char *bottle, struct audit **out,
	       struct error *err) __attribute__((warn_unused_result));
void audit_log(struct audit *a, const struct audit_event *e);
/* A line of another shape (the git gate's pushes): audit_begin() starts
 * the object with "time" and "bottle" in w, the caller adds members with
 * the json_writer_kv_*() calls, audit_end() closes and queues the line.
 * a must not be NULL. */
struct json_writer;
void audit_begin(struct audit *a, struct json_writer *w);
void audit_end(struct audit *a, struct json_writer *w);
void audit_flush(struct audit *a);
/* Flushes, then frees.  NULL is fine. */
void audit_close(struct audit *a);

#endif
