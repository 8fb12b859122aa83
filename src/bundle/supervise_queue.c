/* The supervise queue, as the server holds it: one struct sv_item per
 * request still of use here, pending (with its deadline) or answered but
 * not yet delivered (an identical re-ask gets it).  Connections waiting
 * on an item are its waiters; one that goes away leaves the item pending.
 * Answers arrive as files (inotify on the queue dir), so `bottle
 * supervise` needs no channel to us, and a restarted bundle finds them
 * too.  The first answer wins on disk (superq_answer() links), so the
 * human and the timeout cannot both.  See supervise.h. */
#include "bundle/supervise_int.h"

#include "bundle/audit.h"
#include "bundle/bundle.h"
#include "bundle/policy.h"

#include "lib/json.h"
#include "lib/log.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

void sv_detach(struct sv_conn *c)
{
	struct sv_conn **pp;

	if (!c->item)
		return;
	for (pp = &c->item->waiters; *pp; pp = &(*pp)->next_waiter)
		if (*pp == c) {
			*pp = c->next_waiter;
			break;
		}
	c->item = NULL;
	c->next_waiter = NULL;
}

void sv_item_free(struct sv_item *it)
{
	struct supervise *s = it->s;

	while (it->waiters)
		sv_detach(it->waiters);
	if (!it->answered)
		s->n_pending--;
	if (it->deadline)
		event_free(it->deadline);
	if (it->prev)
		it->prev->next = it->next;
	else
		s->items = it->next;
	if (it->next)
		it->next->prev = it->prev;
	free(it->args);
	free(it->text);
	free(it);
}

static struct sv_item *item_find(struct supervise *s, const char *id)
{
	for (struct sv_item *it = s->items; it; it = it->next)
		if (strcmp(it->id, id) == 0)
			return it;
	return NULL;
}

struct sv_item *sv_item_match(struct supervise *s, enum mcp_tool t,
			      const char *args)
{
	for (struct sv_item *it = s->items; it; it = it->next)
		if (it->tool == t && strcmp(it->args, args) == 0 &&
		    it->verdict != SUPERQ_EXPIRED)
			return it;
	return NULL;
}

/* An approved request_egress: the host joins the live allowlist, and the
 * audit log says so (at once: a grant is rare and matters).  The host is
 * checked again, as mcp.c checked it: a request queued by an older bundle
 * may name an address, which the allowlist would exempt from the
 * loopback and private-range rules. */
static void grant(struct supervise *s, struct sv_item *it, bool audit)
{
	_cleanup_free_ char *host = superq_arg(it->args, "host");
	_cleanup_free_ char *why = superq_arg(it->args, "reason");
	char reason[320], name[300];
	struct error err = ERROR_INIT;
	struct audit_event e = {0};
	const char *bad =
	    host ? mcp_egress_host(host, strlen(host), name, sizeof(name))
		 : "no host";

	if (bad) {
		log_warnx("supervise: request %s: not granting \"%s\": %s",
			  it->id, host ? host : "", bad);
		it->grant_error = "only host names are granted";
		return;
	}
	if (policy_allow_add(s->b->policy, name, &err) < 0) {
		log_warnx("supervise: request %s: cannot allow %s: %s", it->id,
			  name, err.msg);
		it->grant_error = "the allowlist refused the host";
		return;
	}
	log_info("supervise: request %s: egress granted", it->id);
	if (!audit)
		return;
	snprintf(reason, sizeof(reason), "egress granted by the supervisor: %s",
		 why ? why : "");
	e.method = "GRANT";
	e.host = name;
	e.mode = "supervise";
	e.verdict = "allow";
	e.rule = it->id;
	e.reason = reason;
	audit_log(s->b->audit, &e);
	audit_flush(s->b->audit);
}

/* What the agent reads for an answered item; malloc'd. */
static char *result_text(const struct supervise *s, const struct sv_item *it,
			 bool *is_error)
{
	const char *t = it->text;
	_cleanup_free_ char *host =
	    it->tool == MCP_TOOL_EGRESS ? superq_arg(it->args, "host") : NULL;
	struct strbuf sb = STRBUF_INIT;

	*is_error = false;
	if (it->verdict == SUPERQ_EXPIRED) {
		*is_error = true;
		strbuf_addf(&sb,
			    "No answer from the supervisor within %u s; "
			    "request %s has expired. Carry on without it, or "
			    "ask again later.",
			    s->mc.timeout_s, it->id);
	} else if (it->tool == MCP_TOOL_ASK) {
		strbuf_addf(&sb, "The supervisor answered: %s",
			    it->verdict == SUPERQ_ANSWERED   ? (t ? t : "")
			    : it->verdict == SUPERQ_APPROVED ? "yes"
							     : "no");
		if (it->verdict != SUPERQ_ANSWERED && t)
			strbuf_addf(&sb, "\n%s", t);
		t = NULL;
	} else if (it->verdict == SUPERQ_ANSWERED) {
		strbuf_addf(&sb,
			    "The supervisor neither approved nor denied, but "
			    "answered: %s",
			    t ? t : "");
		t = NULL;
	} else if (it->tool == MCP_TOOL_EGRESS) {
		if (it->verdict == SUPERQ_APPROVED && it->grant_error) {
			*is_error = true;
			strbuf_addf(&sb,
				    "APPROVED, but %s could not be added: "
				    "%s.",
				    host ? host : "the host", it->grant_error);
		} else if (it->verdict == SUPERQ_APPROVED) {
			strbuf_addf(&sb,
				    "APPROVED: %s is now allowed for this "
				    "bottle; retry your request.",
				    host ? host : "the host");
		} else {
			strbuf_addf(&sb, "DENIED: %s stays blocked.",
				    host ? host : "the host");
		}
	} else {
		strbuf_addstr(&sb, it->verdict == SUPERQ_APPROVED
				       ? "APPROVED by the supervisor."
				       : "DENIED by the supervisor: do not do "
					 "it.");
	}
	if (t)
		strbuf_addf(&sb, "\nNote from the supervisor: %s", t);
	return strbuf_detach(&sb, NULL);
}

/* Hand an answered item to its waiters (none: it stays for a re-ask,
 * unless it expired); then it is of no more use here. */
void sv_item_deliver(struct sv_item *it)
{
	struct supervise *s = it->s;
	struct sv_conn *w = it->waiters, *next;
	struct error err = ERROR_INIT;
	bool is_error;
	char *text;

	if (!w && it->verdict != SUPERQ_EXPIRED)
		return;
	text = result_text(s, it, &is_error);
	it->waiters = NULL;
	for (; w; w = next) {
		next = w->next_waiter;
		w->item = NULL;
		w->next_waiter = NULL;
		sv_conn_answer(w, text, is_error);
	}
	free(text);
	if (it->verdict != SUPERQ_EXPIRED &&
	    superq_mark_delivered(s->dir, it->id, &err) < 0)
		log_warnx("supervise: %s", err.msg);
	sv_item_free(it);
}

static void item_resolve(struct sv_item *it, enum superq_verdict v,
			 const char *text)
{
	it->answered = true;
	it->s->n_pending--;
	it->verdict = v;
	it->text = text ? xstrdup(text) : NULL;
	evtimer_del(it->deadline);
	log_info("supervise: request %s %s", it->id, superq_verdict_name(v));
	if (it->tool == MCP_TOOL_EGRESS && v == SUPERQ_APPROVED)
		grant(it->s, it, true);
	sv_item_deliver(it);
}

/* Has request id been answered on disk?  Then resolve its item. */
static void item_check(struct supervise *s, const char *id)
{
	struct sv_item *it = item_find(s, id);
	struct superq_req r;
	struct error err = ERROR_INIT;

	if (!it || it->answered)
		return;
	if (superq_load(s->dir, id, &r, &err) < 0) {
		log_warnx("supervise: %s", err.msg);
		return;
	}
	if (r.verdict != SUPERQ_PENDING)
		item_resolve(it, r.verdict, r.text);
	superq_req_release(&r);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct sv_item *it = arg;
	struct supervise *s = it->s;
	struct error err = ERROR_INIT;
	char id[SUPERQ_ID_LEN + 1];
	int r;

	(void)fd;
	(void)what;
	memcpy(id, it->id, sizeof(id));
	r = superq_answer(s->dir, id, SUPERQ_EXPIRED, NULL, &err);
	if (r == -EALREADY) /* the human answered just now: that wins */
		item_check(s, id);
	else if (r < 0)
		log_warnx("supervise: expiring: %s", err.msg);
	it = item_find(s, id);
	if (it && !it->answered)
		item_resolve(it, SUPERQ_EXPIRED, NULL);
}

void sv_item_arm(struct sv_item *it)
{
	struct timeval tv = {it->s->mc.timeout_s, 0};

	evtimer_add(it->deadline, &tv);
}

struct sv_item *sv_item_new(struct supervise *s, const char *id,
			    enum mcp_tool t, const char *args)
{
	struct sv_item *it = xcalloc(1, sizeof(*it));

	it->s = s;
	memcpy(it->id, id, sizeof(it->id));
	it->tool = t;
	it->args = xstrdup(args);
	it->deadline = evtimer_new(s->b->base, on_deadline, it);
	if (!it->deadline)
		die("out of memory");
	it->next = s->items;
	if (s->items)
		s->items->prev = it;
	s->items = it;
	s->n_pending++;
	return it;
}

/* Every pending item against the disk (inotify overflowed, or is not
 * there and this is the poll). */
void sv_queue_rescan(struct supervise *s)
{
	char(*ids)[SUPERQ_ID_LEN + 1];
	size_t n = 0;

	/* By id: resolving one item may free others' connections, never
	 * items, but a copy keeps the walk obviously safe. */
	ids = xcalloc(s->n_pending + 1, sizeof(*ids));
	for (struct sv_item *it = s->items; it && n <= s->n_pending;
	     it = it->next)
		if (!it->answered)
			memcpy(ids[n++], it->id, sizeof(ids[0]));
	for (size_t i = 0; i < n; i++)
		item_check(s, ids[i]);
	free(ids);
}

static void on_inotify(evutil_socket_t fd, short what, void *arg)
{
	struct supervise *s = arg;
	char buf[4096]
	    __attribute__((aligned(__alignof__(struct inotify_event))));
	bool overflow = false;
	ssize_t n;

	(void)what;
	if (fd < 0) { /* the poll */
		sv_queue_rescan(s);
		return;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const void *)p;
			size_t len = e->len ? strlen(e->name) : 0;
			char id[SUPERQ_ID_LEN + 1];

			if (e->mask & IN_Q_OVERFLOW)
				overflow = true;
			else if (len == SUPERQ_ID_LEN + 4 &&
				 strcmp(e->name + SUPERQ_ID_LEN, ".ans") == 0) {
				memcpy(id, e->name, SUPERQ_ID_LEN);
				id[SUPERQ_ID_LEN] = '\0';
				item_check(s, id);
			}
			p += sizeof(*e) + e->len;
		}
	}
	if (overflow)
		sv_queue_rescan(s);
}

/* Load the queue: pending requests wait again, answered ones wait for a
 * re-ask, approved grants apply again. */
int sv_queue_load(struct supervise *s, struct error *err)
{
	struct superq_req *v;
	size_t n;
	int r;

	if ((r = superq_list(s->dir, &v, &n, err)) < 0)
		return r;
	for (size_t i = 0; i < n; i++) {
		int t = mcp_tool_find(v[i].tool);
		struct sv_item *it;

		if (t < 0 || t == MCP_TOOL_REPORT ||
		    v[i].verdict == SUPERQ_EXPIRED ||
		    (v[i].delivered && !(t == MCP_TOOL_EGRESS &&
					 v[i].verdict == SUPERQ_APPROVED)))
			continue;
		it = sv_item_new(s, v[i].id, (enum mcp_tool)t, v[i].args);
		if (v[i].verdict == SUPERQ_PENDING) {
			sv_item_arm(it);
			continue;
		}
		it->answered = true;
		s->n_pending--;
		it->verdict = v[i].verdict;
		it->text = v[i].text ? xstrdup(v[i].text) : NULL;
		if (t == MCP_TOOL_EGRESS && it->verdict == SUPERQ_APPROVED)
			grant(s, it, false);
		if (v[i].delivered)
			sv_item_free(it);
	}
	s->n_requests = (unsigned)n;
	log_info("supervise: %u pending, %zu requests in %s", s->n_pending, n,
		 s->dir);
	superq_list_free(v, n);
	return 0;
}

int sv_queue_watch(struct supervise *s, struct error *err)
{
	struct timeval poll = {1, 0};

	s->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (s->ino_fd >= 0 &&
	    inotify_add_watch(s->ino_fd, s->dir, IN_CREATE | IN_MOVED_TO) < 0) {
		close(s->ino_fd);
		s->ino_fd = -1;
	}
	if (s->ino_fd < 0) {
		/* Without inotify (instances used up), look once a second. */
		log_warn("supervise: inotify on %s; polling instead", s->dir);
		s->ino_ev =
		    event_new(s->b->base, -1, EV_PERSIST, on_inotify, s);
		if (!s->ino_ev || evtimer_add(s->ino_ev, &poll) < 0)
			return err_set(err, ENOMEM, "supervise: poll timer");
		return 0;
	}
	s->ino_ev = event_new(s->b->base, s->ino_fd, EV_READ | EV_PERSIST,
			      on_inotify, s);
	if (!s->ino_ev || event_add(s->ino_ev, NULL) < 0)
		return err_set(err, ENOMEM, "supervise: inotify event");
	return 0;
}
