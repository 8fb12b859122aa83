/* Shared pieces of the `bottle` command's subcommands. */
#ifndef BOTTLE_CLI_H
#define BOTTLE_CLI_H

#include "backend/backend.h"
#include "lib/manifest.h"
#include "lib/plan.h"
#include "lib/state.h"

#include <stdbool.h>

/* Exit codes (DESIGN.md, "The command line"). */
#define EXIT_OK	   0
#define EXIT_FAIL  1
#define EXIT_USAGE 2

int cmd_run(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_resume(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_exec(int argc, char **argv);
int cmd_attach(int argc, char **argv);
int cmd_cp(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_logs(int argc, char **argv);
int cmd_cleanup(int argc, char **argv);
int cmd_doctor(int argc, char **argv);
int cmd_probe(int argc, char **argv);
int cmd_supervise(int argc, char **argv);

/* Print a command's help (from the table in main.c) to f. */
void cli_usage(const char *cmd, FILE *f);

/* Ask a y/N question on the terminal.  1 yes, 0 no; -1 when there is no
 * terminal to ask (the caller refuses unless --yes). */
int cli_confirm(const char *question);

/* Put the terminal on stdin in raw mode (keys go to the agent as they
 * are) and back; restored at exit too.  No-ops without a terminal. */
void cli_tty_raw(void);
void cli_tty_restore(void);

/* Host facts with the backend's limit mechanisms filled in. */
void cli_host_facts(struct host_facts *h, const struct backend_ops *be);

/* Resolve a bottle id (or unique prefix) and load its meta; prints the
 * error and returns an exit code (EXIT_FAIL) on failure, 0 on success. */
int cli_load_bottle(const struct host_facts *h, const char *name,
		    char **state_dir, struct bottle_meta *m);

/* cli_load_bottle() for a bottle that must be running: gathers the host
 * facts itself; prints "... is not running" and returns EXIT_FAIL if not. */
int cli_load_live(const char *name, char **state_dir, struct bottle_meta *m);

/* Is a bottle whose meta says running actually alive? */
bool cli_bottle_live(const struct bottle_meta *m);

/* Run the agent's bottle described by plan: state, workspace, launch,
 * monitor, teardown.  Returns the agent's exit code or EXIT_FAIL. */
struct launch_opts {
	const struct plan *plan;
	const struct backend_ops *backend;
	const char *manifest_path;
	char **cmd_override;
	bool resume;
	bool detach;
};
int cli_launch(const struct launch_opts *o);

/* Before a launch: the agent's skills and MCP registration in its home
 * (provision.c). */
int provision_home(const struct plan *p, struct error *err);

#endif
