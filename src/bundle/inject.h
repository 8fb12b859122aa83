/* The inject stage (DESIGN.md, "The proxy pipeline" step 5): credential
 * routes, host -> header -> the real value, rendered once at start from the
 * host (${env:NAME} from the bundle's environment, ${file:PATH} from a
 * file).  The bottle holds only a placeholder; the bundle swaps in the real
 * value on requests to the route's host, after DLP has scanned them.
 *
 * The rendered values are the only secrets the bundle holds: they are
 * wiped on free and never logged. */
#ifndef BOTTLE_BUNDLE_INJECT_H
#define BOTTLE_BUNDLE_INJECT_H

#include "lib/err.h"
#include "lib/manifest.h"

#include <stddef.h>
#include <stdint.h>

struct inject;

struct inject_route {
	const char *host;   /* exact name, or "*.suffix"; without a port */
	const char *header; /* e.g. "Authorization" */
	const char *value;  /* rendered: "Bearer <real token>" */
};

/* Render every route of e.  -EINVAL with err naming the route and what is
 * missing ("route api.example.com: ${env:TOKEN} is not set").  *out is
 * new; inject_free(). */
int inject_new(const struct egress *e, struct inject **out, struct error *err)
    __attribute__((warn_unused_result));

/* The route for host (lowercase) and port, or NULL.  A route whose host
 * pattern names a port applies on that port only.  Owned by in. */
const struct inject_route *inject_find(const struct inject *in,
				       const char *host, uint16_t port);

/* The secret values the routes insert (each ${...} expansion on its own),
 * for DLP: the agent sending one of them is a leak.  Owned by in. */
const char *const *inject_secrets(const struct inject *in, size_t *n);

void inject_free(struct inject *in);

#endif
