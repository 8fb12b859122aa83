/* The git gate's push policy.  See gate_policy.h. */
#include "bundle/gate_policy.h"

#include <stdio.h>
#include <string.h>

bool ref_glob_match(const char *p, const char *s)
{
	const char *star = NULL, *resume = NULL;

	/* The classic backtracking matcher: on a mismatch, let the last '*'
	 * take one more character.  Linear in practice, never recursive. */
	while (*s) {
		if (*p == '*') {
			star = p++;
			resume = s;
		} else if (*p == *s) {
			p++;
			s++;
		} else if (star) {
			p = star + 1;
			s = ++resume;
		} else {
			return false;
		}
	}
	while (*p == '*')
		p++;
	return *p == '\0';
}

bool push_allowed(const struct push_policy *p, const char *ref,
		  enum push_kind kind, bool ff, char *why, size_t size)
{
	bool matched = false;

	for (size_t i = 0; i < p->n_patterns && !matched; i++)
		matched = ref_glob_match(p->patterns[i], ref);
	if (!matched) {
		size_t n = (size_t)snprintf(why, size,
					    "%s: this bottle may not push "
					    "there; allowed:",
					    ref);
		for (size_t i = 0; i < p->n_patterns && n < size; i++)
			n += (size_t)snprintf(why + n, size - n, " %s",
					      p->patterns[i]);
		if (!p->n_patterns && n < size)
			snprintf(why + n, size - n, " nothing");
		return false;
	}
	if (kind == PUSH_DELETE && !p->allow_delete) {
		snprintf(why, size,
			 "%s: deleting a ref is not allowed (allow_delete is "
			 "off)",
			 ref);
		return false;
	}
	if (kind == PUSH_UPDATE && !ff && !p->allow_force) {
		snprintf(why, size,
			 "%s: not a fast-forward; force pushes are not "
			 "allowed (allow_force is off)",
			 ref);
		return false;
	}
	return true;
}
