/* bottle-init's parts (src/guest/init*.c): PID 1 of a vm guest. */
#ifndef BOTTLE_GUEST_INIT_H
#define BOTTLE_GUEST_INIT_H

#include <stdbool.h>

/* Print on the serial console (the host keeps it as the vm's console
 * log). */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* sync and power the VM off; never returns. */
void power_off(void) __attribute__((noreturn));

/* Tests: once set up, PID 1 exits, which panics the guest's kernel. */
extern bool init_panic_after_setup;

/* Serve the control channel until told to power off (init_serve.c).  A
 * non-NULL fail is reported to the host instead of setting up. */
void init_serve(const char *fail) __attribute__((noreturn));

/* Set the guest up as the SETUP frame's fields say (init_setup.c): the
 * network, the shares and the guest-side mounts under a new root, then
 * switch into it.  0, or -1 with msg (size n) saying what failed. */
int init_setup(const unsigned char *fields, unsigned len, char *msg,
	       unsigned n);

#endif
