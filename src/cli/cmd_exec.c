/* bottle exec / attach */
#include "cli/cli.h"

#include "lib/util.h"
#include "monitor/monitor.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

/* Load a live bottle's meta and plan; exit code on failure. */
static int load_live(const char *name, struct bottle_meta *m, struct plan **p)
{
	struct error err = ERROR_INIT;
	_cleanup_free_ char *dir = NULL, *plan_path = NULL;
	int r;

	if ((r = cli_load_live(name, &dir, m)) != 0)
		return r;
	plan_path = xasprintf("%s/plan.json", dir);
	if (plan_load(plan_path, p, &err) < 0) {
		fprintf(stderr, "bottle: %s\n", err.msg);
		meta_release(m);
		return EXIT_FAIL;
	}
	return 0;
}

int cmd_exec(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"tty", no_argument, NULL, 't'},
	    {"no-tty", no_argument, NULL, 'T'},
	    {"workdir", required_argument, NULL, 'w'},
	    {NULL, 0, NULL, 0},
	};
	struct bottle_meta m = BOTTLE_META_INIT;
	struct plan *p = NULL;
	struct error err = ERROR_INIT;
	struct bottle_io io = BOTTLE_IO_INIT;
	struct bottle_proc proc = {0, 0, -1};
	const struct backend_ops *be;
	const char *workdir = NULL;
	int tty = -1, c, r;
	pid_t pid;

	optind = 1;
	while ((c = getopt_long(argc, argv, "+tTw:", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			tty = 1;
			break;
		case 'T':
			tty = 0;
			break;
		case 'w':
			workdir = optarg;
			break;
		default:
			cli_usage("exec", stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		cli_usage("exec", stderr);
		return EXIT_USAGE;
	}
	{
		const char *name = argv[optind++];
		if (optind < argc && strcmp(argv[optind], "--") == 0)
			optind++;
		if (optind >= argc) {
			fprintf(stderr, "bottle: exec: no command given\n");
			return EXIT_USAGE;
		}
		if ((r = load_live(name, &m, &p)) != 0)
			return r;
	}
	be = backend_find(m.backend ? m.backend : "ns");
	if (!be) {
		fprintf(stderr, "bottle: unknown backend %s\n", m.backend);
		return EXIT_FAIL;
	}
	io.tty = tty >= 0 ? tty : isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
	if (io.tty)
		ioctl(STDIN_FILENO, TIOCGWINSZ, &io.ws);
	{
		struct exec_req req = {
		    .init_pid = m.init_pid,
		    .init_start = m.init_start,
		    .argv = (const char *const *)(argv + optind),
		    .env = (const char *const *)p->env,
		    .cwd = workdir,
		    .plan = p,
		};
		r = be->exec(&req, &io, &pid, &err);
	}
	if (r < 0) {
		fprintf(stderr, "bottle: exec in %s: %s\n", m.id, err.msg);
		plan_free(p);
		meta_release(&m);
		return EXIT_FAIL;
	}
	proc.init_pid = pid;
	/* We joined the bottle's mount namespace: /proc is the bottle's
	 * now, so no host start time; the pidfd names the child safely. */
	proc.init_start = 0;
	proc.pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (io.tty)
		cli_tty_raw();
	{
		struct monitor_opts mo = {.proc = &proc,
					  .io = &io,
					  .foreground = true,
					  .attach_path = NULL,
					  .console_fd = -1};
		r = monitor_run(&mo);
	}
	cli_tty_restore();
	bottle_io_close(&io);
	plan_free(p);
	meta_release(&m);
	/* This process joined the bottle's namespaces: leave without atexit
	 * handlers, which expect the host's (LeakSanitizer's tracer, for
	 * one, cannot follow us into another pid namespace and spins). */
	fflush(NULL);
	_exit(r);
}

int cmd_attach(int argc, char **argv)
{
	struct bottle_meta m = BOTTLE_META_INIT;
	struct error err = ERROR_INIT;
	_cleanup_free_ char *dir = NULL, *sock = NULL;
	int r;

	if (argc != 2) {
		cli_usage("attach", stderr);
		return EXIT_USAGE;
	}
	if ((r = cli_load_live(argv[1], &dir, &m)) != 0)
		return r;
	sock = xasprintf("%s/run/attach.sock", dir);
	cli_tty_raw();
	r = monitor_attach(sock, &err);
	cli_tty_restore();
	meta_release(&m);
	if (r < 0) {
		fprintf(stderr, "bottle: attach: %s\n", err.msg);
		return EXIT_FAIL;
	}
	return r;
}

int cmd_cp(int argc, char **argv)
{
	struct bottle_meta m = BOTTLE_META_INIT;
	struct error err = ERROR_INIT;
	_cleanup_free_ char *name = NULL;
	const struct backend_ops *be;
	struct plan *p = NULL;
	const char *colon;
	int r;

	if (argc != 3 || !(colon = strchr(argv[2], ':')) || colon[1] != '/') {
		cli_usage("cp", stderr);
		return EXIT_USAGE;
	}
	name = xstrndup(argv[2], (size_t)(colon - argv[2]));
	if ((r = load_live(name, &m, &p)) != 0)
		return r;
	be = backend_find(m.backend ? m.backend : "ns");
	if (!be) {
		fprintf(stderr, "bottle: unknown backend %s\n", m.backend);
		plan_free(p);
		meta_release(&m);
		return EXIT_FAIL;
	}
	{
		struct exec_req req = {.init_pid = m.init_pid,
				       .init_start = m.init_start,
				       .plan = p};
		r = be->copy_in(&req, argv[1], colon + 1, &err);
	}
	plan_free(p);
	meta_release(&m);
	if (r < 0) {
		fprintf(stderr, "bottle: cp: %s\n", err.msg);
		return EXIT_FAIL;
	}
	return EXIT_OK;
}
