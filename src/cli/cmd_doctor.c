/* bottle doctor: what this host supports, per backend. */
#include "cli/cli.h"

#include "lib/strbuf.h"
#include "lib/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cmd_doctor(int argc, char **argv)
{
	struct host_facts h;
	int ok = 0;

	(void)argc;
	(void)argv;
	host_facts_gather(&h);
	printf("bottle %s\n", BOTTLE_VERSION);
	printf("running as uid %u (%s)\n", (unsigned)h.uid,
	       h.uid == 0 ? "root: agents map to an unprivileged host uid"
			  : "unprivileged: user namespaces");
	printf("state: %s\n", h.state_home);
	printf("probe helper: %s\n", h.probe_path ? h.probe_path
						  : "not found (bottle probe "
						    "will not work)");
	printf("bundle: %s\n", h.bundle_path ? h.bundle_path
					     : "bottle-bundle not found (no "
					       "bottle can start)");
	{
		_cleanup_free_ char *git = path_find("git");
		printf("git (the git gate's mirrors and pushes): %s\n",
		       git ? git
			   : "not found (bottles with git upstreams will not "
			     "start)");
	}
	for (size_t i = 0; backends[i]; i++) {
		struct strbuf sb = STRBUF_INIT;
		struct error err = ERROR_INIT;
		int r = backends[i]->probe_host(&sb, &err);

		printf("\nbackend %s: %s\n", backends[i]->name,
		       r == 0 ? "usable" : err.msg);
		fputs(sb.buf, stdout);
		strbuf_release(&sb);
		if (r == 0)
			ok++;
	}
	printf("\nbackends docker, smolvm: not in this version\n");
	host_facts_release(&h);
	return ok ? EXIT_OK : EXIT_FAIL;
}
