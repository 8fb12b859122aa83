/* The git gate (DESIGN.md, "Inside the bundle"; docs/git-gate.md): git://
 * on the bottle's 127.0.0.1:9418, served from the bare mirrors in
 * STATE/git/ (lib/gitup.h) on the bundle's event loop.
 *
 * Per connection: read the one request pkt-line (pktline.h) under the
 * head timeout, check the service and the name against the declared
 * upstreams, then run `git upload-pack` or `git receive-pack` on the
 * mirror with the connection as the child's stdin and stdout.  A fetch
 * first refreshes the mirror from the upstream (a child too, at most once
 * per BOTTLE_GIT_REFRESH_MS, default 10 s).  A push runs the mirror's
 * pre-receive hook, which is this program (gate_hook_main()): it checks
 * the push policy and forwards the push to the upstream with the
 * upstream's identity before the mirror's refs move.
 *
 * Children get their own process group; they are reaped through pidfds,
 * bounded in number, cut after the total connection limit and killed when
 * the gate is freed. */
#ifndef BOTTLE_BUNDLE_GATE_H
#define BOTTLE_BUNDLE_GATE_H

#include "bundle/bundle.h"

#include "lib/err.h"
#include "lib/manifest.h"

#include <stdbool.h>
#include <stddef.h>

struct gate;

/* Serve the gate on an already listening socket (taken: closed by
 * gate_free() or on failure).  The upstreams are copied; their mirrors
 * must exist (`bottle run` makes them) and are made here, blocking, when
 * they do not (standalone bundles, a mirror removed by hand).  e gives the
 * resolve pins.  Sets b->gate.  0 or -errno with err naming the upstream
 * (e.g. a token whose ${env:…} is unset). */
int gate_start(struct bundle *b, const struct git_upstream *ups, size_t n,
	       const struct egress *e, int listen_fd, struct error *err)
    __attribute__((warn_unused_result));

/* Kill every child, close every connection, free.  NULL is fine. */
void gate_free(struct gate *g);

/* Whether this program was run as the mirrors' pre-receive hook (argv[0]
 * ends in "/pre-receive"), and the hook itself: reads git's ref updates
 * on stdin, returns the exit code (0 lets the mirror's refs move). */
bool gate_is_hook(const char *argv0);
int gate_hook_main(void);

#endif
