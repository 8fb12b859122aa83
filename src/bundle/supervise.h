/* supervise: the bundle's MCP server (DESIGN.md, "Inside the bundle";
 * docs/supervise.md).  Streamable HTTP at POST /mcp on the listener the
 * bottle's init made (127.0.0.1:7777 inside the bottle); JSON-RPC in
 * mcp.h; requests queue on disk (lib/superq.h) and wait, without blocking
 * the loop the proxy shares, until `bottle supervise` answers them or the
 * timeout expires them.  An approved request_egress extends the bundle's
 * allowlist at once (policy_allow_add) and is audited. */
#ifndef BOTTLE_BUNDLE_SUPERVISE_H
#define BOTTLE_BUNDLE_SUPERVISE_H

#include "lib/err.h"

struct bundle;

/* Serve MCP on listen_fd (already listening; taken, and closed by
 * supervise_stop()) with the queue in b->state_dir/supervise.  Loads the
 * queue first: pending requests wait again (timeout_s from now; 0 means
 * the default), and approved egress grants are applied again.  0 or
 * -errno with err. */
int supervise_start(struct bundle *b, unsigned timeout_s, int listen_fd,
		    struct error *err) __attribute__((warn_unused_result));

/* Close the listener and every connection; requests stay queued on disk.
 * Safe when supervise_start() was not called or failed. */
void supervise_stop(struct bundle *b);

#endif
