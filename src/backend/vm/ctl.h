/* The vm control channel (docs/vm-backend.md, "The control channel"): the
 * protocol between the host's keeper and the guest's bottle-init over one
 * virtio-serial port, and between `bottle exec`/`cp` and the keeper over
 * STATE/run/vm.sock.  Shared by the host and the static guest init (which
 * links lib/util.c too).
 *
 * A byte stream of frames: an 8-byte little-endian header (payload length
 * u32, channel u16, type u8, zero u8) and up to CTL_MAX payload bytes.
 * Channel 0 is the link itself; every process the host starts in the guest
 * gets a channel of its own (1 is the agent).  On vm.sock a client speaks
 * the same frames with channel 0 meaning "my process"; the keeper renumbers.
 *
 *   guest -> host                      host -> guest
 *   HELLO    0  the guest is up        SETUP    0  fields: how to set up
 *   READY    0  set up                 EXEC     N  fields: start a process
 *   FAIL     *  text: what failed      STDIN    N  data; empty = EOF
 *   STARTED  N  the process runs       WINSZ    N  rows u16, cols u16
 *   STDOUT   N  data                   SIGNAL   N  signo u32
 *   STDERR   N  data                   POWEROFF 0
 *   EXIT     N  code u32 (128+sig)
 *   SYNCED   0  after POWEROFF: every process is gone and the guest's
 *               writes reached the host (the host may now kill QEMU)
 *
 * Fields (SETUP, EXEC) are a tag byte and a NUL-terminated string each. */
#ifndef BOTTLE_VM_CTL_H
#define BOTTLE_VM_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CTL_HDR	  8
#define CTL_MAX	  65536
#define CTL_AGENT 1 /* the agent's channel */

/* The guest's control port: the virtserialport QEMU is given. */
#define CTL_PORT_NAME "bottle.ctl"

enum ctl_type {
	CTL_HELLO = 1,
	CTL_SETUP,
	CTL_READY,
	CTL_FAIL,
	CTL_EXEC,
	CTL_STARTED,
	CTL_STDIN,
	CTL_STDOUT,
	CTL_STDERR,
	CTL_WINSZ,
	CTL_SIGNAL,
	CTL_EXIT,
	CTL_POWEROFF,
	CTL_SYNCED,
	CTL_TYPE_MAX = CTL_SYNCED,
};

/* Field tags. */
enum {
	/* EXEC */
	CTL_F_ARG = 'a',  /* one argv element, in order */
	CTL_F_ENV = 'e',  /* one K=V */
	CTL_F_CWD = 'c',  /* working directory inside */
	CTL_F_TTY = 't',  /* "ROWSxCOLS": run on a pty of that size */
	CTL_F_COPY = 'f', /* copy-in: STDIN's bytes go to this path (no
			   * argv); the mode follows as CTL_F_MODE */
	CTL_F_MODE = 'm', /* octal */
	/* SETUP */
	CTL_F_HOSTNAME = 'h',
	CTL_F_SHARE = 's', /* TAG of a virtiofs share; CTL_F_TARGET next */
	CTL_F_OP = 'o',	   /* "TYPE FLAGS MODE SIZE" of a plan setup op;
			    * [CTL_F_SOURCE,] CTL_F_TARGET next */
	CTL_F_SOURCE = 'S',
	CTL_F_TARGET = 'd', /* completes a share or an op: do it now */
	CTL_F_PIDS = 'p',   /* RLIMIT_NPROC for the agent's processes */
	CTL_F_TIME = 'T',   /* the host's CLOCK_REALTIME, "SEC.NSEC" */
	CTL_F_SEED = 'r',   /* hex bytes for the guest's RNG */
};

struct ctl_frame {
	uint8_t type;
	uint16_t chan;
	uint32_t len;
	const uint8_t *data; /* into the reader's buffer */
};

/* Encode a header into out[CTL_HDR]. */
void ctl_header(uint8_t out[CTL_HDR], uint8_t type, uint16_t chan,
		uint32_t len);

/* Write one frame to a blocking fd, retrying short writes: 0 or -errno. */
int ctl_send(int fd, uint8_t type, uint16_t chan, const void *data, size_t len);

/* Frames out of a byte stream. */
struct ctl_reader {
	uint8_t *buf;
	size_t len, cap, off; /* off: start of the unconsumed bytes */
};

#define CTL_READER_INIT                                                        \
	{                                                                      \
		NULL, 0, 0, 0                                                  \
	}

/* One read() from fd into r: >0 bytes read, 0 at EOF, -errno. */
ssize_t ctl_reader_fill(struct ctl_reader *r, int fd);

/* The next complete frame: 1 with *f set (valid until the next call), 0
 * if more bytes are needed, -EPROTO for a malformed header (unknown type,
 * oversize length or a non-zero pad byte). */
int ctl_reader_next(struct ctl_reader *r, struct ctl_frame *f);

void ctl_reader_release(struct ctl_reader *r);

/* A growing buffer of fields. */
struct ctl_fields {
	char *p;
	size_t len, cap;
};

/* Append tag + str + NUL: 0, or -E2BIG past CTL_MAX. */
int ctl_put(struct ctl_fields *f, char tag, const char *str);
void ctl_fields_release(struct ctl_fields *f);

/* Iterate: 1 with *tag and *str (NUL-terminated inside data), 0 at the
 * end, -EPROTO if the last field is not NUL-terminated. */
int ctl_field_next(const uint8_t *data, size_t len, size_t *off, char *tag,
		   const char **str);

/* Human name of a frame type, for errors. */
const char *ctl_type_name(uint8_t type);

#endif
