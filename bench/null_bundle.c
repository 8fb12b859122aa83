/* bench/launch's stand-in for bottle-bundle: it answers the monitor's
 * control protocol (src/monitor/bundle_sup.h) and serves nothing, so that
 * `bottle run` with it measures the bottle without its bundle's start-up
 * and stop.  The bottle's CA, which bottle-bundle would check or make, is
 * hard-linked from $BENCH_CA_DIR (ca.key, ca.crt).  Not installed. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int link_ca(const char *from, const char *state)
{
	static const char *const files[] = {"ca.key", "ca.crt"};
	char a[4096], b[4096];

	snprintf(b, sizeof(b), "%s/ca", state);
	if (mkdir(b, 0700) < 0 && errno != EEXIST)
		return -1;
	for (size_t i = 0; i < 2; i++) {
		snprintf(a, sizeof(a), "%s/%s", from, files[i]);
		snprintf(b, sizeof(b), "%s/ca/%s", state, files[i]);
		if (link(a, b) < 0 && errno != EEXIST)
			return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	char msg[16], cbuf[CMSG_SPACE(8 * sizeof(int))];
	struct iovec iov = {msg, sizeof(msg)};
	struct msghdr m = {.msg_iov = &iov,
			   .msg_iovlen = 1,
			   .msg_control = cbuf,
			   .msg_controllen = sizeof(cbuf)};
	const char *ca = getenv("BENCH_CA_DIR");
	sigset_t term;
	int sig;

	sigemptyset(&term);
	sigaddset(&term, SIGTERM);
	sigprocmask(SIG_BLOCK, &term, NULL);
	/* bottle-bundle --state DIR --control 3 */
	if (argc < 3 || strcmp(argv[1], "--state") != 0 || !ca ||
	    link_ca(ca, argv[2]) < 0) {
		fprintf(stderr, "null_bundle: needs --state DIR and "
				"BENCH_CA_DIR\n");
		return 1;
	}
	if (recvmsg(3, &m, 0) <= 0 || send(3, "C", 1, 0) < 0 ||
	    send(3, "R", 1, 0) < 0)
		return 1;
	close(3);
	sigwait(&term, &sig);
	return 0;
}
