/* What this host offers the vm backend (bottle doctor). */
#ifndef BOTTLE_VM_HOST_H
#define BOTTLE_VM_HOST_H

#include "lib/err.h"
#include "lib/strbuf.h"

/* Append one line per fact to out, each saying what it means for vm
 * bottles: QEMU and its version, /dev/kvm, the cached KVM verdict (never
 * probed here: that boots a guest) and so KVM or TCG, the TSC rate a TCG
 * guest gets, the guest kernel with its release and modules, virtiofsd and
 * its version, bottle-init.  Returns 0 if vm bottles can work here, else
 * -errno with err naming the first thing missing (QEMU, a usable guest
 * kernel and its modules, virtiofsd, a static bottle-init, a TSC rate for
 * TCG); the lines say the rest.  The backend's probe_host op. */
int vm_probe_host(struct strbuf *out, struct error *err)
    __attribute__((warn_unused_result));

#endif
