/* Reaching a bottle's git upstreams from the host (DESIGN.md, "Inside the
 * bundle": git-gate).  Every upstream has a bare mirror in the state dir,
 * STATE/git/NAME.git, made by `bottle run` before the bottle starts and
 * refreshed by the bundle's gate; the git commands that talk to the
 * upstream run on the host with the upstream's identity:
 *
 *   identity (an SSH key)  GIT_SSH_COMMAND="ssh -i KEY -o IdentitiesOnly=yes
 *                          -o BatchMode=yes" (the host's GIT_SSH_COMMAND,
 *                          if set, instead of plain "ssh")
 *   token (${env:}/${file:}) BOTTLE_GIT_TOKEN in the environment and a
 *                          credential helper that answers with it: never on
 *                          a command line
 *   egress.resolve pins    http.curloptResolve for https, ssh -o HostName
 *
 * Config goes through GIT_CONFIG_COUNT/KEY/VALUE, so it never shows in a
 * command line either.  Nothing here enters the bottle. */
#ifndef BOTTLE_GITUP_H
#define BOTTLE_GITUP_H

#include "err.h"
#include "manifest.h"

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* The environment variable that carries a rendered token. */
#define GITUP_TOKEN_ENV "BOTTLE_GIT_TOKEN"

/* STATE/git/NAME.git, malloc'd. */
char *gitup_mirror_path(const char *state_dir, const char *name);

/* Start argv[0] (looked up on PATH) with env, stdin from /dev/null and,
 * when out_fd >= 0, stdout and stderr on it: its pid, or -errno. */
pid_t gitup_spawn(const char *const *argv, char **env, int out_fd);
/* Wait for pid (a negative one is returned as is): its exit code, 128 +
 * the signal that killed it, or -errno. */
int gitup_wait(pid_t pid);

/* The environment for a git command that talks to upstream u: this
 * process's environment without the variables that would point git at
 * another repository (GIT_DIR, GIT_OBJECT_DIRECTORY, GIT_CONFIG_*...), plus
 * GIT_TERMINAL_PROMPT=0 and the identity above.  A NULL-terminated array
 * of malloc'd strings in *out; free it with gitup_env_free(), which wipes
 * the token.  -errno with err naming what is missing (an unset
 * ${env:NAME}, an unreadable key or token file). */
int gitup_env(const struct git_upstream *u, const struct kv *resolve,
	      size_t n_resolve, char ***out, struct error *err)
    __attribute__((warn_unused_result));
void gitup_env_free(char **env);
/* The same without an upstream: for git commands that need no identity. */
char **gitup_env_plain(void);

/* Make each upstream's mirror, or bring it up to date: a missing mirror is
 * cloned (git clone --bare into a temporary name, renamed into place, so a
 * half-made mirror is never taken for one), an existing one fetched with
 * --prune.  Branches and tags are mirrored.  git's own progress shows on
 * stderr when it is a terminal; so does one line per upstream when show
 * is true.  A failed clone is an error naming the upstream; a failed
 * fetch of an existing mirror is a warning (the gate serves the mirror as
 * it is and retries at the next fetch). */
int gitup_sync(const char *state_dir, const struct git_upstream *ups, size_t n,
	       const struct kv *resolve, size_t n_resolve, bool show,
	       struct error *err) __attribute__((warn_unused_result));

/* The update of an existing mirror, for execvp (the gate's refresh runs
 * it too): git -C MIRROR fetch --prune [--quiet] origin.  Fills argv (the
 * strings are borrowed) and NULL-terminates it. */
#define GITUP_FETCH_ARGC 8
void gitup_fetch_argv(const char *argv[GITUP_FETCH_ARGC], const char *mirror,
		      bool quiet);

#endif
