#include "cli/cli.h"

#include "lib/util.h"

#include <fcntl.h>
#include <stdlib.h>
#include <termios.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int cli_confirm(const char *question)
{
	char line[64];
	FILE *tty;
	int ok;

	if (!isatty(STDIN_FILENO))
		return -1;
	tty = fopen("/dev/tty", "r+e");
	if (!tty)
		return -1;
	fprintf(tty, "%s [y/N] ", question);
	fflush(tty);
	ok = fgets(line, sizeof(line), tty) &&
	     (line[0] == 'y' || line[0] == 'Y');
	fclose(tty);
	return ok;
}

void cli_host_facts(struct host_facts *h, const struct backend_ops *be)
{
	host_facts_gather(h);
	if (be && be->host_limits)
		be->host_limits(h);
}

int cli_load_bottle(const struct host_facts *h, const char *name,
		    char **state_dir, struct bottle_meta *m)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *id = NULL;

	if (state_resolve(h->state_home, name, &id, &err) < 0) {
		fprintf(stderr, "bottle: %s\n", err.msg);
		return EXIT_FAIL;
	}
	*state_dir = xasprintf("%s/%s", h->state_home, id);
	if (meta_load(*state_dir, m, &err) < 0) {
		fprintf(stderr, "bottle: %s: %s\n", id, err.msg);
		free(*state_dir);
		*state_dir = NULL;
		return EXIT_FAIL;
	}
	return 0;
}

bool cli_bottle_live(const struct bottle_meta *m)
{
	return (m->status == BOTTLE_RUNNING || m->status == BOTTLE_CREATING) &&
	       meta_owner_alive(m);
}

int cli_load_live(const char *name, char **state_dir, struct bottle_meta *m)
{
	struct host_facts h;
	int r;

	host_facts_gather(&h);
	r = cli_load_bottle(&h, name, state_dir, m);
	host_facts_release(&h);
	if (r)
		return r;
	if (!cli_bottle_live(m) || m->init_pid <= 0) {
		fprintf(stderr, "bottle: %s is not running (status %s)\n",
			m->id, bottle_status_name(m->status));
		meta_release(m);
		free(*state_dir);
		*state_dir = NULL;
		return EXIT_FAIL;
	}
	return 0;
}

static struct termios saved_tio;
static bool tio_saved;

void cli_tty_restore(void)
{
	if (tio_saved)
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
	tio_saved = false;
}

void cli_tty_raw(void)
{
	static bool registered;
	struct termios t;

	if (tio_saved || !isatty(STDIN_FILENO) ||
	    tcgetattr(STDIN_FILENO, &saved_tio) < 0)
		return;
	tio_saved = true;
	if (!registered)
		atexit(cli_tty_restore);
	registered = true;
	t = saved_tio;
	cfmakeraw(&t);
	tcsetattr(STDIN_FILENO, TCSAFLUSH, &t);
}
