/* One message with up to FD_PASS_MAX descriptors (SCM_RIGHTS) over a
 * SOCK_SEQPACKET or SOCK_STREAM unix socket: how the ns backend's init hands
 * the launcher its pty and the bundle's listeners, and how the monitor hands
 * the listeners on to the bundle. */
#ifndef BOTTLE_FDPASS_H
#define BOTTLE_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

#define FD_PASS_MAX 8

/* Send buf[0..len) with fds[0..n_fds) (n_fds <= FD_PASS_MAX; the fds stay
 * ours).  0 or -errno (EINTR retried). */
int fd_send(int sock, const void *buf, size_t len, const int *fds,
	    size_t n_fds);
/* The same with one fd, or none when fd < 0. */
int fd_send1(int sock, const void *buf, size_t len, int fd);

/* Receive one message into buf; up to max fds (O_CLOEXEC) into fds, the
 * count in *n_fds; extra ones are closed.  Bytes read, 0 at EOF, or
 * -errno. */
ssize_t fd_recv(int sock, void *buf, size_t len, int *fds, size_t max,
		size_t *n_fds);
/* The same for at most one fd (-1 in *fd when none; fd may be NULL). */
ssize_t fd_recv1(int sock, void *buf, size_t len, int *fd);

#endif
