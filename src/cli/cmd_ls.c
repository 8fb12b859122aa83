/* bottle ls / ps */
#include "cli/cli.h"

#include "lib/json.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void age(char *buf, size_t n, int64_t t)
{
	if (t <= 0)
		snprintf(buf, n, "-");
	else
		format_age(buf, n, (int64_t)time(NULL) - t);
}

/* The status to show: a "running" bottle whose owner died crashed. */
static enum bottle_status shown_status(const struct bottle_meta *m)
{
	if ((m->status == BOTTLE_RUNNING || m->status == BOTTLE_CREATING) &&
	    !meta_owner_alive(m))
		return BOTTLE_CRASHED;
	return m->status;
}

static void json_row(struct json_writer *w, const struct bottle_meta *m)
{
	json_writer_begin_object(w);
	json_writer_key(w, "id");
	json_writer_string(w, m->id);
	json_writer_key(w, "agent");
	json_writer_string(w, m->agent ? m->agent : "");
	json_writer_key(w, "backend");
	json_writer_string(w, m->backend ? m->backend : "");
	json_writer_key(w, "status");
	json_writer_string(w, bottle_status_name(shown_status(m)));
	json_writer_key(w, "exit_code");
	json_writer_int64(w, m->exit_code);
	json_writer_key(w, "cwd");
	json_writer_string(w, m->cwd ? m->cwd : "");
	json_writer_key(w, "copy_cwd");
	json_writer_bool(w, m->copy_cwd);
	json_writer_key(w, "created");
	json_writer_int64(w, m->created);
	json_writer_key(w, "started");
	json_writer_int64(w, m->started);
	json_writer_key(w, "pid");
	json_writer_int64(w, m->init_pid);
	json_writer_end_object(w);
}

int cmd_ls(int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
					     {NULL, 0, NULL, 0}};
	struct host_facts h;
	struct error err = ERROR_INIT;
	struct strbuf sb = STRBUF_INIT;
	struct json_writer w;
	bool json = false;
	char **ids;
	size_t n;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "j", opts, NULL)) != -1) {
		if (c != 'j') {
			cli_usage(argv[0], stderr);
			return EXIT_USAGE;
		}
		json = true;
	}
	host_facts_gather(&h);
	if (state_list(h.state_home, &ids, &n, &err) < 0) {
		fprintf(stderr, "bottle: %s\n", err.msg);
		host_facts_release(&h);
		return EXIT_FAIL;
	}
	json_writer_init(&w, &sb, 0);
	if (json)
		json_writer_begin_array(&w);
	else
		printf("%-22s %-10s %-7s %-12s %-5s %s\n", "ID", "AGENT",
		       "BACKEND", "STATUS", "AGE", "CWD");
	for (size_t i = 0; i < n; i++) {
		_cleanup_free_ char *dir =
		    xasprintf("%s/%s", h.state_home, ids[i]);
		struct bottle_meta m = BOTTLE_META_INIT;
		char a[32], st[48];

		if (meta_load(dir, &m, &err) < 0)
			continue;
		if (json) {
			json_row(&w, &m);
		} else {
			age(a, sizeof(a), m.created);
			if (shown_status(&m) == BOTTLE_EXITED)
				snprintf(st, sizeof(st), "exited(%d)",
					 m.exit_code);
			else
				snprintf(st, sizeof(st), "%s",
					 bottle_status_name(shown_status(&m)));
			printf("%-22s %-10s %-7s %-12s %-5s %s\n", m.id,
			       m.agent ? m.agent : "-",
			       m.backend ? m.backend : "-", st, a,
			       m.cwd ? m.cwd : "-");
		}
		meta_release(&m);
	}
	if (json) {
		json_writer_end_array(&w);
		printf("%s\n", sb.buf);
	}
	strbuf_release(&sb);
	strv_free(ids);
	host_facts_release(&h);
	return EXIT_OK;
}
