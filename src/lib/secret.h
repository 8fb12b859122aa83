/* Secrets the host holds for a bottle, named in the manifest by templates
 * such as "Bearer ${env:TOKEN}" or "${file:~/.config/gh/token}" (syntax:
 * template_next() in manifest.h).  They are read on the host, by the
 * bundle (credential routes) and by the git gate (upstream tokens), and
 * never enter a bottle. */
#ifndef BOTTLE_SECRET_H
#define BOTTLE_SECRET_H

#include "err.h"

#include <stddef.h>

/* A secret file larger than this is a mistake, not a token. */
#define SECRET_FILE_MAX (64u << 10)

/* tmpl with every reference replaced by its value: an environment
 * variable, or a file's content with its trailing newline dropped.  Each
 * value must be one non-empty line.  With secrets non-NULL, each value is
 * also appended to *secrets (*n of them; the caller wipes them with
 * secret_free()), for the DLP to look for.  Returns the malloc'd result
 * (wipe it too), or NULL with err naming the reference. */
char *secret_render(const char *tmpl, char ***secrets, size_t *n,
		    struct error *err);

/* Overwrite s, then free it.  NULL is fine. */
void secret_free(char *s);

#endif
