/* bottle stop / rm / logs */
#include "cli/cli.h"

#include "lib/fsutil.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int mark_stopped(struct bottle_meta *m, void *ctx)
{
	(void)ctx;
	m->status = BOTTLE_STOPPED;
	return 0;
}

/* Stop and wait up to timeout_ms for the owner to record the end. */
static int stop_bottle(const char *dir, struct bottle_meta *m, int timeout_ms)
{
	struct error err = ERROR_INIT;
	const struct backend_ops *be =
	    backend_find(m->backend ? m->backend : "ns");

	if (!be)
		return EXIT_FAIL;
	if (meta_update(dir, mark_stopped, NULL, &err) < 0)
		fprintf(stderr, "bottle: %s\n", err.msg);
	if (be->stop(m->init_pid, m->init_start, &err) < 0) {
		fprintf(stderr, "bottle: stop %s: %s\n", m->id, err.msg);
		return EXIT_FAIL;
	}
	for (int t = 0; t < timeout_ms; t += 20) {
		struct bottle_meta now = BOTTLE_META_INIT;
		bool live = true;
		if (meta_load(dir, &now, &err) == 0) {
			live = cli_bottle_live(&now) && now.init_pid > 0;
			meta_release(&now);
		}
		if (!live)
			return EXIT_OK;
		usleep(20000);
	}
	fprintf(stderr, "bottle: %s did not stop within %d s\n", m->id,
		timeout_ms / 1000);
	return EXIT_FAIL;
}

int cmd_stop(int argc, char **argv)
{
	struct host_facts h;
	int ret = EXIT_OK;

	if (argc < 2) {
		cli_usage("stop", stderr);
		return EXIT_USAGE;
	}
	host_facts_gather(&h);
	for (int i = 1; i < argc; i++) {
		struct bottle_meta m = BOTTLE_META_INIT;
		_cleanup_free_ char *dir = NULL;
		int r = cli_load_bottle(&h, argv[i], &dir, &m);

		if (r == 0 && !cli_bottle_live(&m)) {
			fprintf(stderr, "bottle: %s is not running\n", m.id);
			r = EXIT_FAIL;
		} else if (r == 0) {
			r = stop_bottle(dir, &m, 15000);
			if (r == 0)
				printf("%s\n", m.id);
		}
		if (r)
			ret = r;
		meta_release(&m);
	}
	host_facts_release(&h);
	return ret;
}

int cmd_rm(int argc, char **argv)
{
	struct host_facts h;
	bool force = false;
	int ret = EXIT_OK, c;

	optind = 1;
	while ((c = getopt(argc, argv, "f")) != -1) {
		if (c != 'f') {
			cli_usage("rm", stderr);
			return EXIT_USAGE;
		}
		force = true;
	}
	if (optind >= argc) {
		cli_usage("rm", stderr);
		return EXIT_USAGE;
	}
	host_facts_gather(&h);
	for (int i = optind; i < argc; i++) {
		struct bottle_meta m = BOTTLE_META_INIT;
		struct error err = ERROR_INIT;
		_cleanup_free_ char *dir = NULL;
		int r = cli_load_bottle(&h, argv[i], &dir, &m);

		if (r == 0 && cli_bottle_live(&m)) {
			if (!force) {
				fprintf(stderr,
					"bottle: %s is running; stop it first "
					"or use rm -f\n",
					m.id);
				r = EXIT_FAIL;
			} else {
				r = stop_bottle(dir, &m, 15000);
			}
		}
		if (r == 0 && rm_rf(dir, &err) < 0) {
			fprintf(stderr, "bottle: rm %s: %s\n", m.id, err.msg);
			r = EXIT_FAIL;
		}
		if (r == 0)
			printf("%s\n", m.id);
		else
			ret = r;
		meta_release(&m);
	}
	host_facts_release(&h);
	return ret;
}

/* Print a log.  The agent can get bytes into each (its console; git's
 * stderr in the bundle's), so on a terminal they are shown with
 * term_safe(): an escape sequence (a title, the clipboard, a cleared
 * screen) is shown, not obeyed.  Piped, they are as they are. */
static int cat_file(const char *path, bool tty)
{
	_cleanup_free_ char *buf = NULL;
	struct strbuf sb = STRBUF_INIT;
	struct error err = ERROR_INIT;
	size_t len;

	if (read_file(path, &buf, &len, 256u << 20, &err) < 0)
		return err.code == ENOENT ? 0 : -1;
	if (!tty) {
		fwrite(buf, 1, len, stdout);
		return 0;
	}
	/* A line at a time, long ones in pieces that keep UTF-8 whole. */
	for (size_t i = 0, n; i < len; i += n) {
		const char *nl = memchr(buf + i, '\n', len - i);

		n = nl ? (size_t)(nl - (buf + i)) + 1 : len - i;
		n = utf8_cut(buf + i, n, 64u << 10);
		if (n == 0)
			n = len - i < (64u << 10) ? len - i : 64u << 10;
		term_safe(&sb, buf + i, n, TERM_SAFE_NL | TERM_SAFE_TAB);
		fwrite(sb.buf, 1, sb.len, stdout);
		strbuf_reset(&sb);
	}
	strbuf_release(&sb);
	return 0;
}

int cmd_logs(int argc, char **argv)
{
	struct host_facts h;
	struct bottle_meta m = BOTTLE_META_INIT;
	_cleanup_free_ char *dir = NULL, *p1 = NULL, *p2 = NULL, *p3 = NULL;
	bool audit = false, tty;
	const char *name = NULL;
	int r;

	bool extra = false;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--audit") == 0)
			audit = true;
		else if (!name)
			name = argv[i];
		else
			extra = true;
	}
	if (!name || extra) {
		cli_usage("logs", stderr);
		return EXIT_USAGE;
	}
	host_facts_gather(&h);
	r = cli_load_bottle(&h, name, &dir, &m);
	host_facts_release(&h);
	if (r)
		return r;
	tty = isatty(STDOUT_FILENO);
	if (audit) {
		p1 = xasprintf("%s/logs/audit.jsonl", dir);
		cat_file(p1, tty);
	} else {
		p1 = xasprintf("%s/logs/monitor.log", dir);
		p2 = xasprintf("%s/logs/bundle.log", dir);
		p3 = xasprintf("%s/logs/console.log", dir);
		cat_file(p1, tty);
		cat_file(p2, tty);
		cat_file(p3, tty);
	}
	meta_release(&m);
	return EXIT_OK;
}
