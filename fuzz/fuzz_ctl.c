/* libFuzzer harness for the vm control channel's framing (backend/vm/ctl.h):
 * the bytes a guest sends the keeper, and the fields inside a frame.  The
 * reader must take the stream in any split the same way (the whole input
 * at once, or a byte at a time), never hand out a frame over CTL_MAX or of
 * an unknown type, and the field walker must stay inside the frame. */
#include "backend/vm/ctl.h"
#include "lib/log.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

/* Frames out of data fed through a pipe in chunks of step bytes: their
 * count, and a hash of (type, chan, len, bytes) to compare splits by. */
static size_t frames(const uint8_t *data, size_t size, size_t step,
		     uint64_t *hash, int *bad)
{
	struct ctl_reader rd = CTL_READER_INIT;
	size_t n = 0, off = 0;
	int p[2];

	*hash = 1469598103934665603ull;
	*bad = 0;
	if (pipe(p) < 0)
		return 0;
	while (off < size && !*bad) {
		size_t k = size - off < step ? size - off : step;
		struct ctl_frame f;
		int r;

		if (write(p[1], data + off, k) != (ssize_t)k ||
		    ctl_reader_fill(&rd, p[0]) <= 0)
			break;
		off += k;
		while ((r = ctl_reader_next(&rd, &f)) > 0) {
			size_t foff = 0;
			const char *str;
			char tag;

			if (f.len > CTL_MAX || f.type < CTL_HELLO ||
			    f.type > CTL_TYPE_MAX)
				BUG("frame type %u len %u", f.type, f.len);
			*hash = (*hash ^ f.type ^ (uint64_t)f.chan << 8 ^
				 (uint64_t)f.len << 24) *
				1099511628211ull;
			for (uint32_t i = 0; i < f.len; i++)
				*hash = (*hash ^ f.data[i]) * 1099511628211ull;
			while (ctl_field_next(f.data, f.len, &foff, &tag,
					      &str) > 0)
				if ((const uint8_t *)str + strlen(str) >=
				    f.data + f.len)
					BUG("field past its frame");
			n++;
		}
		if (r < 0)
			*bad = 1;
	}
	close(p[0]);
	close(p[1]);
	ctl_reader_release(&rd);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t h1, h2;
	int bad1, bad2;
	size_t n1, n2;

	if (size > 60000) /* a pipe's buffer, written before it is read */
		return 0;
	n1 = frames(data, size, size ? size : 1, &h1, &bad1);
	n2 = frames(data, size, 7, &h2, &bad2);
	if (n1 != n2 || h1 != h2 || bad1 != bad2)
		BUG("split-dependent: %zu/%zu frames, bad %d/%d", n1, n2, bad1,
		    bad2);
	return 0;
}
