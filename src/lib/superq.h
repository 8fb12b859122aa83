/* The supervise queue: the agent's requests to its human supervisor and
 * their answers, as files in the bottle's state dir.  The bundle writes
 * requests and reads answers; `bottle supervise` lists requests and writes
 * answers.  docs/supervise.md describes the layout:
 *
 *   STATE/supervise/
 *     <id>.req       the request (tool, canonical arguments, time); never
 *                    changes once there
 *     <id>.ans       its answer or its expiry; made with link(), so the
 *                    first writer wins and a second gets -EALREADY
 *     <id>.done      the answer reached the agent
 *     reports.jsonl  the agent's progress notes, one JSON object a line
 *
 * Every file appears whole (written under a temp name, then linked or
 * renamed into place), so a reader never sees a torn one and a killed
 * writer leaves at worst a ".tmp" file.  There are no fsyncs: the queue
 * survives any process dying, but a power loss may lose its last changes.
 * Request ids are 8 characters of base32, random, unique in the dir.
 *
 * All functions return 0 or a negative errno and fill err.  Allocation
 * failure dies (x* allocators).
 */
#ifndef BOTTLE_SUPERQ_H
#define BOTTLE_SUPERQ_H

#include "err.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SUPERQ_ID_LEN 8
/* Bounds on what the files may hold, so that a reader's memory is
 * bounded whatever is in the dir. */
#define SUPERQ_FILE_MAX	   (1u << 20)
#define SUPERQ_TEXT_MAX	   (64u << 10) /* an answer's text */
#define SUPERQ_REPORTS_MAX (16u << 20) /* reports.jsonl */

enum superq_verdict {
	SUPERQ_PENDING = 0, /* no answer yet */
	SUPERQ_APPROVED,
	SUPERQ_DENIED,
	SUPERQ_ANSWERED, /* a text answer */
	SUPERQ_EXPIRED,	 /* nobody answered in time */
};

/* "pending", "approved", "denied", "answered", "expired". */
const char *superq_verdict_name(enum superq_verdict v);

struct superq_req {
	char id[SUPERQ_ID_LEN + 1];
	char *bottle;
	char *tool;
	char *args;	 /* a JSON object, compact */
	int64_t created; /* unix ms */
	enum superq_verdict verdict;
	char *text;	  /* the answer text or note, or NULL */
	int64_t answered; /* unix ms; 0 while pending */
	bool delivered;	  /* the agent got the answer */
};

void superq_req_release(struct superq_req *r);

/* The string argument key of a request's args (its JSON object), malloc'd;
 * NULL when absent, not a string, or args is not JSON. */
char *superq_arg(const char *args, const char *key);

/* STATE/supervise, malloc'd. */
char *superq_dir(const char *state_dir);

/* Is s shaped like a request id (also: safe as a file name)? */
bool superq_id_valid(const char *s);

/* Add a request: a new id, <id>.req written (dir created 0700 if
 * missing).  args must be a JSON object text.  On success *out (released
 * by the caller) is the pending request. */
int superq_submit(const char *dir, const char *bottle, const char *tool,
		  const char *args, struct superq_req *out, struct error *err)
    __attribute__((warn_unused_result));

/* Load request id with its answer and delivery.  -ENOENT "no request
 * ..." when there is none; -EINVAL when its files are malformed. */
int superq_load(const char *dir, const char *id, struct superq_req *out,
		struct error *err) __attribute__((warn_unused_result));

/* Every request in dir, oldest first (by creation time, then id).  A
 * missing dir is an empty list; malformed files are skipped.  Free *v
 * with superq_list_free(). */
int superq_list(const char *dir, struct superq_req **v, size_t *n,
		struct error *err) __attribute__((warn_unused_result));
void superq_list_free(struct superq_req *v, size_t n);

/* Answer request id with verdict v (not SUPERQ_PENDING) and text (may be
 * NULL; at most SUPERQ_TEXT_MAX bytes).  Exactly one answer wins, even
 * against other processes: -EALREADY when the request already has one
 * (err says which and when), -ENOENT when there is no such request. */
int superq_answer(const char *dir, const char *id, enum superq_verdict v,
		  const char *text, struct error *err)
    __attribute__((warn_unused_result));

/* Record that the answer reached the agent (idempotent). */
int superq_mark_delivered(const char *dir, const char *id, struct error *err)
    __attribute__((warn_unused_result));

/* Append a progress note to reports.jsonl; -ENOSPC once that holds
 * SUPERQ_REPORTS_MAX bytes. */
int superq_report(const char *dir, const char *bottle, const char *message,
		  struct error *err) __attribute__((warn_unused_result));

/* Call fn for each report in dir, oldest first: its time (unix ms),
 * bottle and message.  Malformed lines are skipped. */
int superq_reports(const char *dir,
		   void (*fn)(int64_t time, const char *bottle,
			      const char *message, void *ctx),
		   void *ctx, struct error *err)
    __attribute__((warn_unused_result));

#endif
