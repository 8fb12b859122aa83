/* The supervise queue on disk (lib/superq.h): requests, answers where
 * exactly one writer wins (also across processes), delivery, reports,
 * and a dir with junk in it. */
#include "lib/fsutil.h"
#include "lib/superq.h"
#include "lib/util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

static char *new_dir(void)
{
	char tmpl[] = "/tmp/test-superq-XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return xasprintf("%s/supervise", d);
}

static void drop_dir(char *dir)
{
	struct error err = ERROR_INIT;
	char *slash = strrchr(dir, '/');

	*slash = '\0';
	assert_int_equal(rm_rf(dir, &err), 0);
	free(dir);
}

static void test_submit_load_answer(void **state)
{
	char *dir = new_dir();
	struct error err = ERROR_INIT;
	struct superq_req r, l;

	(void)state;
	assert_int_equal(superq_submit(dir, "b-1", "ask_supervisor",
				       "{\"question\":\"why?\"}", &r, &err),
			 0);
	assert_true(superq_id_valid(r.id));
	assert_int_equal(r.verdict, SUPERQ_PENDING);
	assert_int_equal(superq_load(dir, r.id, &l, &err), 0);
	assert_string_equal(l.tool, "ask_supervisor");
	assert_string_equal(l.bottle, "b-1");
	assert_string_equal(l.args, "{\"question\":\"why?\"}");
	assert_int_equal(l.verdict, SUPERQ_PENDING);
	assert_false(l.delivered);
	assert_true(l.created > 0);
	superq_req_release(&l);

	assert_int_equal(
	    superq_answer(dir, r.id, SUPERQ_ANSWERED, "because \"so\"", &err),
	    0);
	assert_int_equal(superq_load(dir, r.id, &l, &err), 0);
	assert_int_equal(l.verdict, SUPERQ_ANSWERED);
	assert_string_equal(l.text, "because \"so\"");
	assert_true(l.answered >= l.created);
	superq_req_release(&l);

	/* A second answer loses and says what the first was. */
	assert_int_equal(superq_answer(dir, r.id, SUPERQ_EXPIRED, NULL, &err),
			 -EALREADY);
	assert_non_null(strstr(err.msg, "already answered"));
	assert_int_equal(superq_load(dir, r.id, &l, &err), 0);
	assert_int_equal(l.verdict, SUPERQ_ANSWERED);
	superq_req_release(&l);

	assert_int_equal(superq_mark_delivered(dir, r.id, &err), 0);
	assert_int_equal(superq_mark_delivered(dir, r.id, &err), 0);
	assert_int_equal(superq_load(dir, r.id, &l, &err), 0);
	assert_true(l.delivered);
	superq_req_release(&l);
	superq_req_release(&r);
	drop_dir(dir);
}

static void test_missing_and_bad(void **state)
{
	char *dir = new_dir();
	struct error err = ERROR_INIT;
	struct superq_req r;

	(void)state;
	assert_int_equal(
	    superq_answer(dir, "abcdefgh", SUPERQ_APPROVED, NULL, &err),
	    -ENOENT);
	assert_non_null(strstr(err.msg, "no request"));
	/* Ids are checked before they become paths. */
	assert_int_equal(superq_load(dir, "../../x", &r, &err), -ENOENT);
	assert_false(superq_id_valid("abcdefg"));
	assert_false(superq_id_valid("abcdefgh1"));
	assert_false(superq_id_valid("ABCDEFGH"));
	assert_false(superq_id_valid("abc/efgh"));
	assert_int_equal(superq_submit(dir, "b", "report", "[1]", &r, &err),
			 -EINVAL);
	assert_int_equal(superq_submit(dir, "b", "report", "{", &r, &err),
			 -EINVAL);
	assert_int_equal(superq_submit(dir, "b", "ask_supervisor",
				       "{\"question\":\"q\"}", &r, &err),
			 0);
	assert_int_equal(superq_answer(dir, r.id, SUPERQ_PENDING, NULL, &err),
			 -EINVAL);
	superq_req_release(&r);
	drop_dir(dir);
}

static void write_junk(const char *dir, const char *name, const char *data)
{
	char *p = xasprintf("%s/%s", dir, name);
	struct error err = ERROR_INIT;

	assert_int_equal(write_file_replace(p, data, strlen(data), 0600, &err),
			 0);
	free(p);
}

static void test_list(void **state)
{
	char *dir = new_dir();
	struct error err = ERROR_INIT;
	struct superq_req r[3], *v;
	size_t n;

	(void)state;
	assert_int_equal(superq_list(dir, &v, &n, &err), 0); /* no dir yet */
	assert_int_equal(n, 0);
	for (int i = 0; i < 3; i++) {
		char args[64];
		snprintf(args, sizeof(args), "{\"message\":\"%d\"}", i);
		assert_int_equal(superq_submit(dir, "b", "request_approval",
					       args, &r[i], &err),
				 0);
		usleep(2000); /* distinct creation times */
	}
	/* Junk a reader must survive: torn, wrong shape, stray names. */
	write_junk(dir, "aaaaaaaa.req", "{\"tool\":");
	write_junk(dir, "bbbbbbbb.req", "{\"tool\":\"x\",\"args\":[]}");
	write_junk(dir, "cccccccc.req", "[]");
	write_junk(dir, ".dddddddd.req.1.0.tmp", "{}");
	write_junk(dir, "notes.txt", "hello");
	write_junk(dir, "eeeeeeee.req",
		   "{\"tool\":\"report\",\"args\":{},\"created\":1}");
	write_junk(dir, "eeeeeeee.ans", "{\"verdict\":\"maybe\"}");
	assert_int_equal(superq_list(dir, &v, &n, &err), 0);
	assert_int_equal(n, 3);
	for (int i = 0; i < 3; i++)
		assert_string_equal(v[i].id, r[i].id);
	superq_list_free(v, n);
	for (int i = 0; i < 3; i++)
		superq_req_release(&r[i]);
	drop_dir(dir);
}

/* Processes answer one request at the same moment (released together
 * from a pipe), round after round: each round has exactly one winner, and
 * the answer on disk is the winner's.  A queue that wrote answers with
 * rename() instead of link() has several winners in some round. */
static int race_round(const char *dir, int round)
{
	enum { N = 4 };
	struct error err = ERROR_INIT;
	struct superq_req r, l;
	pid_t pids[N];
	int go[2], wins = 0, winner = -1;
	char text[32];

	assert_int_equal(superq_submit(dir, "b", "request_egress",
				       "{\"host\":\"x.test\",\"reason\":\"r\"}",
				       &r, &err),
			 0);
	assert_int_equal(pipe(go), 0);
	for (int i = 0; i < N; i++) {
		pids[i] = fork();
		assert_true(pids[i] >= 0);
		if (pids[i] == 0) {
			char c;
			close(go[1]);
			if (read(go[0], &c, 1) < 0)
				_exit(2);
			snprintf(text, sizeof(text), "w%d.%d", round, i);
			_exit(superq_answer(dir, r.id,
					    i % 2 ? SUPERQ_APPROVED
						  : SUPERQ_EXPIRED,
					    text, &err) == 0
				  ? 0
				  : 1);
		}
	}
	close(go[0]);
	close(go[1]); /* all of them go */
	for (int i = 0; i < N; i++) {
		int st;
		assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) < 2);
		if (WEXITSTATUS(st) == 0) {
			wins++;
			winner = i;
		}
	}
	if (wins == 1) {
		assert_int_equal(superq_load(dir, r.id, &l, &err), 0);
		snprintf(text, sizeof(text), "w%d.%d", round, winner);
		assert_string_equal(l.text, text);
		assert_int_equal(l.verdict,
				 winner % 2 ? SUPERQ_APPROVED : SUPERQ_EXPIRED);
		superq_req_release(&l);
	}
	superq_req_release(&r);
	return wins;
}

static void test_answer_race(void **state)
{
	char *dir = new_dir();

	(void)state;
	for (int round = 0; round < 100; round++) {
		int wins = race_round(dir, round);
		if (wins != 1)
			fail_msg("round %d: %d winners", round, wins);
	}
	drop_dir(dir);
}

struct seen {
	int n;
	char last[64];
};

static void on_report(int64_t t, const char *bottle, const char *msg, void *ctx)
{
	struct seen *s = ctx;

	assert_true(t > 0);
	assert_string_equal(bottle, "b-2");
	snprintf(s->last, sizeof(s->last), "%s", msg);
	s->n++;
}

static void test_reports(void **state)
{
	char *dir = new_dir();
	struct error err = ERROR_INIT;
	struct seen s = {0};
	char *path;
	FILE *f;

	(void)state;
	assert_int_equal(superq_reports(dir, on_report, &s, &err), 0);
	assert_int_equal(s.n, 0);
	assert_int_equal(superq_report(dir, "b-2", "step 1", &err), 0);
	path = xasprintf("%s/reports.jsonl", dir);
	f = fopen(path, "a");
	assert_non_null(f);
	fputs("{not json\n", f); /* skipped */
	fclose(f);
	free(path);
	assert_int_equal(superq_report(dir, "b-2", "step\n2", &err), 0);
	assert_int_equal(superq_reports(dir, on_report, &s, &err), 0);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.last, "step\n2");
	/* Full: nothing more is appended. */
	path = xasprintf("%s/reports.jsonl", dir);
	assert_int_equal(truncate(path, SUPERQ_REPORTS_MAX), 0);
	assert_int_equal(superq_report(dir, "b-2", "step 3", &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "full"));
	free(path);
	drop_dir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_submit_load_answer),
	    cmocka_unit_test(test_missing_and_bad),
	    cmocka_unit_test(test_list),
	    cmocka_unit_test(test_answer_race),
	    cmocka_unit_test(test_reports),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
