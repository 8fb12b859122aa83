/* libFuzzer harness for the git:// request parser.  Besides not crashing
 * or reading past len, the parser must be consistent as the stream grows
 * (a prefix that is not NEED_MORE decides the same on the whole input),
 * and a request it accepts names one repository the gate can look up as
 * is: no '/', no leading '.', only name characters. */
#include "bundle/pktline.h"
#include "lib/log.h"

#include <stdint.h>
#include <string.h>

static void check_repo(const char *repo)
{
	size_t n = strlen(repo);

	if (n == 0 || n > GIT_REPO_MAX || repo[0] == '.' || repo[0] == '-')
		BUG("repository name \"%s\"", repo);
	for (size_t i = 0; i < n; i++)
		if (!strchr(
			"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			"0123456789._-",
			repo[i]))
			BUG("repository name byte 0x%02x",
			    (unsigned char)repo[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct git_request req, preq;
	struct error err = ERROR_INIT;
	size_t need, pneed;
	enum pktline_result r, pr;
	char out[128];

	r = pktline_parse_request((const char *)data, size, &req, &need, &err);
	if (r == PKTLINE_OK) {
		check_repo(req.repo);
		if (need > size || need < 5)
			BUG("line of %zu bytes in %zu", need, size);
	}
	if (r == PKTLINE_BAD && !err.msg[0])
		BUG("refused without a reason");
	if (r == PKTLINE_NEED_MORE && need <= size)
		BUG("needs %zu bytes but has %zu", need, size);
	if (r == PKTLINE_BAD)
		pktline_format_error(out, sizeof(out), err.msg);
	if (size == 0)
		return 0;
	pr = pktline_parse_request((const char *)data, size - 1, &preq, &pneed,
				   &err);
	if (pr == PKTLINE_NEED_MORE)
		return 0;
	if (pr != r || pneed != need)
		BUG("a prefix decides differently from the whole input");
	if (r == PKTLINE_OK && memcmp(&req, &preq, sizeof(req)) != 0)
		BUG("a prefix parses to another request");
	return 0;
}
