/* Private to supervise*.c: the server's connections (supervise.c) and the
 * queue of requests they wait on (supervise_queue.c).  See supervise.h. */
#ifndef BOTTLE_BUNDLE_SUPERVISE_INT_H
#define BOTTLE_BUNDLE_SUPERVISE_INT_H

#include "bundle/http.h"
#include "bundle/mcp.h"

#include "lib/err.h"
#include "lib/superq.h"

#include <stdbool.h>
#include <stdint.h>

struct bundle;
struct bufferevent;
struct event;
struct evbuffer;
struct evconnlistener;

/* Requests of one bottle that may wait at once, and that it may make in
 * all (they stay on disk: this bounds what an agent can fill it with). */
#define MAX_PENDING  64
#define MAX_REQUESTS 10000

enum sc_state { SC_HEAD, SC_BODY, SC_WAIT, SC_CLOSING };

struct sv_item {
	struct supervise *s;
	struct sv_item *next, *prev;
	char id[SUPERQ_ID_LEN + 1];
	enum mcp_tool tool;
	char *args; /* canonical JSON (mcp.h), the dedup key with tool */
	bool answered;
	enum superq_verdict verdict;
	char *text;
	const char *grant_error; /* an approved grant the policy refused */
	struct event *deadline;
	struct sv_conn *waiters;
};

struct sv_conn {
	struct supervise *s;
	struct sv_conn *next, *prev;
	struct bufferevent *bev;
	enum sc_state state;
	int refs;     /* callbacks on the stack */
	bool closing; /* free when refs drops to 0 */
	struct event *timer;
	bool head_started;
	bool fin_sent;	 /* SC_CLOSING: our side is shut down */
	bool peer_eof;	 /* SC_CLOSING: theirs too */
	size_t lingered; /* SC_CLOSING: bytes discarded */
	/* The request being read. */
	uint64_t body_len;
	bool chunked;
	struct http_chunked chunk;
	struct evbuffer *body; /* chunked: the payload so far */
	bool body_too_large;
	bool body_busy;	 /* chunked: the body pool ran dry */
	size_t reserved; /* bytes of the body pool this body holds */
	bool paused;	 /* reading stopped until the agent reads */
	bool keep_alive;
	bool accepts_sse;
	bool http10;
	/* A tools/call waiting on item. */
	struct sv_item *item;
	struct sv_conn *next_waiter;
	char *call_id, *token;
	bool sse;
	uint64_t waited_ms, ticks;
};

struct supervise {
	struct bundle *b;
	char *dir;
	struct mcp_config mc;
	unsigned keepalive_ms;
	struct evconnlistener *listener;
	int ino_fd;
	struct event *ino_ev; /* inotify, or a 1 s poll without it */
	struct sv_item *items;
	unsigned n_pending;
	unsigned n_requests; /* in the queue dir */
	struct sv_conn *conns;
	unsigned n_conns;
	size_t body_left; /* of the body pool (supervise.c) */
};

/* ---- supervise_queue.c ---- */

/* Load the queue from s->dir: pending requests wait again, answered ones
 * wait for a re-ask, approved egress grants apply again. */
int sv_queue_load(struct supervise *s, struct error *err);
/* Watch s->dir for answers (inotify, or a 1 s poll without it). */
int sv_queue_watch(struct supervise *s, struct error *err);
/* Check every pending item against the disk. */
void sv_queue_rescan(struct supervise *s);

/* The live item for tool t with canonical args (pending, or answered and
 * not yet delivered), or NULL. */
struct sv_item *sv_item_match(struct supervise *s, enum mcp_tool t,
			      const char *args);
/* A pending item for request id, just queued or loaded. */
struct sv_item *sv_item_new(struct supervise *s, const char *id,
			    enum mcp_tool t, const char *args);
/* (Re)start its timeout: a whole mc.timeout_s from now. */
void sv_item_arm(struct sv_item *it);
/* An answered item: answer its waiters and drop it; without waiters it
 * stays for a re-ask (an expired one is dropped anyway). */
void sv_item_deliver(struct sv_item *it);
void sv_item_free(struct sv_item *it);
/* Take c off its item's waiters. */
void sv_detach(struct sv_conn *c);

/* ---- supervise.c ---- */

/* Answer c's waiting tools/call with text. */
void sv_conn_answer(struct sv_conn *c, const char *text, bool is_error);

#endif
