/* Can this host run vm bottles?  (`bottle doctor`) */
#ifndef BOTTLE_VM_HOST_H
#define BOTTLE_VM_HOST_H

#include "lib/err.h"
#include "lib/strbuf.h"

int vm_probe_host(struct strbuf *out, struct error *err);

#endif
