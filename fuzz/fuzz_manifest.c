/* libFuzzer harness for the manifest parser: any bytes in, either a
 * manifest (freed) or an error out; never a crash, leak or hang. */
#include "lib/manifest.h"

#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	/* "~/..." paths must expand the same way on every run. */
	setenv("HOME", "/home/fuzz", 1);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct error err = ERROR_INIT;
	struct manifest *m = NULL;

	if (manifest_parse("fuzz.yaml", "/base", (const char *)data, size, &m,
			   &err) == 0)
		manifest_free(m);
	return 0;
}
