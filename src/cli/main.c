/* bottle: run an AI coding agent in a sandbox.  Dispatch and help only;
 * each subcommand lives in its own cmd_*.c. */
#include "cli/cli.h"

#include "lib/log.h"
#include "lib/util.h"

#include <stdio.h>
#include <string.h>

static const struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *synopsis;
	const char *help;
} commands[] = {
    {"run", cmd_run, "run [AGENT] [options] [-- CMD...]",
     "Prepare a bottle, print its plan, ask y/N, and run the agent in it.\n"
     "  -y, --yes            launch without asking\n"
     "  -d, --detach         run in the background (see attach, logs)\n"
     "  -m, --manifest FILE  use FILE instead of ./bottle.yaml or\n"
     "                       ~/.config/bottle/manifest.yaml\n"
     "  -b, --backend NAME   override the bottle's backend\n"
     "      --copy-cwd       work on a copy of the cwd (default)\n"
     "      --no-copy-cwd    bind the cwd read-write instead\n"
     "      --resolve H:ADDR pin host H to ADDR in the bundle (curl's\n"
     "                       H:PORT:ADDR works too); repeatable\n"
     "  -- CMD...            run CMD instead of the agent's command\n"},
    {"plan", cmd_plan, "plan [AGENT] [options] [-- CMD...]",
     "Print the plan `bottle run` would launch, and exit.\n"
     "Takes the options of run.\n"},
    {"ls", cmd_ls, "ls [--json]",
     "List bottles: id, agent, backend, status, age.\n"
     "      --json           one JSON array\n"},
    {"ps", cmd_ls, "ps [--json]", "Same as ls.\n"},
    {"exec", cmd_exec, "exec [-t|-T] ID -- CMD...",
     "Run CMD inside the live bottle ID as the agent, with its env.\n"
     "  -t, --tty            allocate a terminal (default: if stdin is "
     "one)\n"
     "  -T, --no-tty         plain pipes\n"
     "  -w, --workdir DIR    working directory inside\n"},
    {"cp", cmd_cp, "cp FILE ID:PATH",
     "Copy a host file into the live bottle ID at the absolute PATH, as\n"
     "the agent.  PATH may not lead through symlinks.\n"},
    {"attach", cmd_attach, "attach ID",
     "Attach the terminal to a detached bottle.  Ctrl-P Ctrl-Q detaches.\n"},
    {"stop", cmd_stop, "stop ID",
     "Stop a running bottle (SIGTERM to the agent, SIGKILL after 10 s).\n"
     "Its state stays for resume.\n"},
    {"resume", cmd_resume, "resume ID [-y] [-d]",
     "Relaunch a stopped bottle on its state dir (home, workspace) with\n"
     "the same identity.\n"},
    {"rm", cmd_rm, "rm [-f] ID...",
     "Delete bottles' state.  -f stops a running one first.\n"},
    {"logs", cmd_logs, "logs ID [--audit]",
     "Print a bottle's monitor, bundle and console logs; --audit: the\n"
     "bundle's audit lines (one JSON object per request).  On a terminal,\n"
     "control characters are shown escaped (\\x1b): the agent can write\n"
     "into these logs.  Piped, the bytes are as they are.\n"},
    {"supervise", cmd_supervise,
     "supervise [ID] [--json] [--list] | answer REQ ... | reports [ID]",
     "       bottle supervise answer REQ --approve|--deny [--text NOTE]\n"
     "       bottle supervise answer REQ --text ANSWER\n"
     "       bottle supervise reports [ID] [--json]\n\n"
     "List the requests that agents wait on (all bottles, or ID), oldest\n"
     "first: bottle, request id, tool, age, and the question, action or\n"
     "host.  On a terminal it then asks about each one in turn.\n"
     "      --json           one JSON array, no questions\n"
     "      --list           only list, even on a terminal\n"
     "answer REQ answers one request (REQ: its id or a unique prefix):\n"
     "  -a, --approve        approve an action or an egress host (for a\n"
     "                       question: yes)\n"
     "  -d, --deny           deny it (for a question: no)\n"
     "  -t, --text TEXT      the answer to a question, or a note with\n"
     "                       --approve/--deny\n"
     "A request already answered or expired, or none by that id, is an\n"
     "error (exit 1).  reports prints the agents' progress notes.\n"},
    {"cleanup", cmd_cleanup, "cleanup [-y]",
     "Find runtime pieces whose owner is dead (processes, cgroups,\n"
     "sockets, temp files) and remove them after y/N.\n"
     "  -y, --yes            remove without asking\n"},
    {"doctor", cmd_doctor, "doctor",
     "Say what this host supports, per backend, and which limits hold.\n"},
    {"probe", cmd_probe, "probe ID [--only NAME,...]",
     "Run the sandbox-escape probe suite inside the live bottle ID, then\n"
     "the host-side checks (docs/probes.md).\n"
     "      --only NAMES     only these in-bottle probes\n"},
};

void cli_usage(const char *cmd, FILE *f)
{
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		if (strcmp(commands[i].name, cmd) == 0) {
			fprintf(f, "usage: bottle %s\n\n%s",
				commands[i].synopsis, commands[i].help);
			return;
		}
	}
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bottle [--version] [-v] COMMAND [ARGS]\n\n"
		   "Run an AI coding agent inside a bottle: a sandbox whose "
		   "only way out\nis a sidecar you control.\n\ncommands:\n");
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name,
			strchr(commands[i].synopsis, ' ')
			    ? strchr(commands[i].synopsis, ' ') + 1
			    : "");
	fprintf(f, "\n`bottle COMMAND --help` for details; man bottle(1).\n");
}

int main(int argc, char **argv)
{
	int i = 1;

	log_init("bottle", LOG_WARN);
	for (; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--version") == 0) {
			printf("bottle %s\n", BOTTLE_VERSION);
			return EXIT_OK;
		} else if (strcmp(argv[i], "-h") == 0 ||
			   strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else if (strcmp(argv[i], "-v") == 0 ||
			   strcmp(argv[i], "--verbose") == 0) {
			log_set_level(log_get_level() + 1);
		} else {
			fprintf(stderr, "bottle: unknown option %s\n", argv[i]);
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[i], "help") == 0) {
		if (i + 1 < argc)
			cli_usage(argv[i + 1], stdout);
		else
			usage(stdout);
		return EXIT_OK;
	}
	for (size_t k = 0; k < ARRAY_SIZE(commands); k++) {
		if (strcmp(commands[k].name, argv[i]) != 0)
			continue;
		for (int j = i + 1; j < argc && strcmp(argv[j], "--") != 0;
		     j++) {
			if (strcmp(argv[j], "-h") == 0 ||
			    strcmp(argv[j], "--help") == 0) {
				cli_usage(argv[i], stdout);
				return EXIT_OK;
			}
		}
		return commands[k].fn(argc - i, argv + i);
	}
	fprintf(stderr, "bottle: unknown command \"%s\"\n\n", argv[i]);
	usage(stderr);
	return EXIT_USAGE;
}
