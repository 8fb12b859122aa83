/* The vm backend's internal interface between its files. */
#ifndef BOTTLE_VM_VM_H
#define BOTTLE_VM_VM_H

#include "backend/backend.h"
#include "backend/vm/host.h"
#include "backend/vm/qemu.h"

extern const struct backend_ops vm_backend;

/* In the keeper's user namespace, the unprivileged identity its helpers
 * (the virtiofsds) run as: host id ROOT_AGENT_HOST_ID + 1, which owns
 * nothing on the host. */
#define VM_HELPER_UID	  2000
#define VM_HELPER_HOST_ID (ROOT_AGENT_HOST_ID + 1)

/* The guest's serial console (kernel messages, QEMU's own errors), in the
 * bottle's log dir. */
#define VM_CONSOLE_LOG "vm-console.log"

/* A bootable guest: the kernel, our initramfs for it (cached), KVM or
 * TCG (probed once, cached), the TSC rate. */
struct vm_prep {
	char *cache, *qemu, *init, *kernel, *initrd;
	struct vm_boot boot; /* kernel, initrd, accel, tsc_khz set */
};

/* Resolve kernel_path (NULL: kernel_find()), init_path (NULL: bottle-init
 * next to this binary) and accel (AUTO: the cached KVM verdict, probing
 * once).  0, or -errno with err naming what is missing or unbootable. */
int vm_prepare(const char *kernel_path, const char *init_path,
	       enum vm_accel accel, struct vm_prep *out, struct error *err);
void vm_prep_release(struct vm_prep *p);

/* What the launcher resolved before cloning the keeper. */
struct vm_launch_ctx {
	const struct plan *plan;
	struct vm_boot boot; /* kernel, initrd, accel, memory... */
	unsigned timeout_s;  /* for each of boot and set-up */
	int sock;	     /* to the launcher */
	bool tty;
	struct winsize ws;
	int stdio[3]; /* !tty: the agent's ends of its pipes */
};

/* The keeper (keeper.c): runs in the child the launcher cloned; returns
 * only by exiting, with the agent's code (125 when the vm failed). */
int vm_keeper_main(const struct vm_launch_ctx *x) __attribute__((noreturn));

/* The line of the console log at path that says why the guest stopped:
 * a kernel panic's, else the last one; sanitized. */
void vm_console_tail(const char *path, char *buf, size_t n);

#endif
