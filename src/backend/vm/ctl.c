/* The vm control channel's framing.  See ctl.h. */
#include "backend/vm/ctl.h"

#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ctl_header(uint8_t out[CTL_HDR], uint8_t type, uint16_t chan, uint32_t len)
{
	out[0] = (uint8_t)len;
	out[1] = (uint8_t)(len >> 8);
	out[2] = (uint8_t)(len >> 16);
	out[3] = (uint8_t)(len >> 24);
	out[4] = (uint8_t)chan;
	out[5] = (uint8_t)(chan >> 8);
	out[6] = type;
	out[7] = 0;
}

int ctl_send(int fd, uint8_t type, uint16_t chan, const void *data, size_t len)
{
	uint8_t hdr[CTL_HDR];
	int r;

	if (len > CTL_MAX)
		return -E2BIG;
	ctl_header(hdr, type, chan, (uint32_t)len);
	if ((r = write_all(fd, hdr, sizeof(hdr))) < 0)
		return r;
	return len ? write_all(fd, data, len) : 0;
}

ssize_t ctl_reader_fill(struct ctl_reader *r, int fd)
{
	ssize_t n;

	if (r->off && r->off == r->len)
		r->off = r->len = 0;
	if (r->cap - r->len < CTL_HDR + CTL_MAX) {
		/* Compact first; grow only if a whole frame cannot fit. */
		if (r->off) {
			memmove(r->buf, r->buf + r->off, r->len - r->off);
			r->len -= r->off;
			r->off = 0;
		}
		if (r->cap - r->len < CTL_HDR + CTL_MAX) {
			size_t cap = r->len + 2 * (CTL_HDR + CTL_MAX);
			uint8_t *b = realloc(r->buf, cap);
			if (!b)
				return -ENOMEM;
			r->buf = b;
			r->cap = cap;
		}
	}
	do
		n = read(fd, r->buf + r->len, r->cap - r->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	r->len += (size_t)n;
	return n;
}

int ctl_reader_next(struct ctl_reader *r, struct ctl_frame *f)
{
	const uint8_t *h = r->buf + r->off;
	size_t avail = r->len - r->off;
	uint32_t len;

	if (avail < CTL_HDR)
		return 0;
	len = (uint32_t)h[0] | (uint32_t)h[1] << 8 | (uint32_t)h[2] << 16 |
	      (uint32_t)h[3] << 24;
	if (len > CTL_MAX || h[6] < CTL_HELLO || h[6] > CTL_TYPE_MAX || h[7])
		return -EPROTO;
	if (avail < CTL_HDR + (size_t)len)
		return 0;
	f->len = len;
	f->chan = (uint16_t)(h[4] | h[5] << 8);
	f->type = h[6];
	f->data = h + CTL_HDR;
	r->off += CTL_HDR + len;
	return 1;
}

void ctl_reader_release(struct ctl_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = r->cap = r->off = 0;
}

int ctl_put(struct ctl_fields *f, char tag, const char *str)
{
	size_t n = strlen(str) + 2;

	if (f->len + n > CTL_MAX)
		return -E2BIG;
	if (f->cap - f->len < n) {
		size_t cap = f->cap ? f->cap * 2 : 1024;
		char *p;
		while (cap - f->len < n)
			cap *= 2;
		if (!(p = realloc(f->p, cap)))
			return -ENOMEM;
		f->p = p;
		f->cap = cap;
	}
	f->p[f->len] = tag;
	memcpy(f->p + f->len + 1, str, n - 1);
	f->len += n;
	return 0;
}

void ctl_fields_release(struct ctl_fields *f)
{
	free(f->p);
	f->p = NULL;
	f->len = f->cap = 0;
}

int ctl_field_next(const uint8_t *data, size_t len, size_t *off, char *tag,
		   const char **str)
{
	const uint8_t *nul;

	if (*off >= len)
		return 0;
	if (len - *off < 2 ||
	    !(nul = memchr(data + *off + 1, '\0', len - *off - 1)))
		return -EPROTO;
	*tag = (char)data[*off];
	*str = (const char *)data + *off + 1;
	*off = (size_t)(nul - data) + 1;
	return 1;
}

const char *ctl_type_name(uint8_t type)
{
	static const char *const names[] = {
	    "?",     "HELLO",	"SETUP", "READY",    "FAIL",
	    "EXEC",  "STARTED", "STDIN", "STDOUT",   "STDERR",
	    "WINSZ", "SIGNAL",	"EXIT",	 "POWEROFF", "SYNCED"};

	return type < sizeof(names) / sizeof(names[0]) ? names[type] : "?";
}
