/* libFuzzer harness for the ClientHello parser.  Besides not crashing or
 * reading past len, the parser must be consistent with itself as the
 * stream grows: whatever it decided on a prefix (anything but NEED_MORE)
 * it decides again on the longer input, and a name it reports is one the
 * proxy can use as is. */
#include "bundle/sni.h"
#include "lib/log.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static void check_name(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > SNI_NAME_MAX)
		BUG("SNI name of length %zu", n);
	for (size_t i = 0; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') ||
		      (name[i] >= '0' && name[i] <= '9') || name[i] == '.' ||
		      name[i] == '-' || name[i] == '_'))
			BUG("SNI name byte 0x%02x", (unsigned char)name[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[256], pname[256];
	unsigned alpn, palpn;
	enum sni_result r, pr;

	r = sni_parse(data, size, name, &alpn);
	if (r == SNI_FOUND)
		check_name(name);
	if ((r == SNI_FOUND || r == SNI_NONE) && alpn > 3)
		BUG("ALPN flags %u", alpn);
	if (size == 0)
		return 0;
	pr = sni_parse(data, size - 1, pname, &palpn);
	if (pr == SNI_NEED_MORE)
		return 0;
	if (pr != r)
		BUG("prefix says %s, full input %s", sni_result_str(pr),
		    sni_result_str(r));
	if ((r == SNI_FOUND || r == SNI_NONE) &&
	    (palpn != alpn || strcmp(pname, name) != 0))
		BUG("prefix and full input disagree on name or ALPN");
	return 0;
}
