/* The git gate's push policy.  See gate_policy.h. */
#include "bundle/gate_policy.h"

#include <stdio.h>
#include <string.h>

bool push_id_valid(const char *id)
{
	size_t n = strspn(id, "0123456789abcdef");

	return id[n] == '\0' && (n == 40 || n == 64);
}

bool push_ref_valid(const char *ref)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyz"
				 "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				 "0123456789._-+,=@";
	const char *c = ref + strlen("refs/");

	if (strncmp(ref, "refs/", 5) != 0 || strlen(ref) > PUSH_REF_MAX)
		return false;
	for (;;) {
		size_t n = strspn(c, ok);
		if (n == 0 || c[0] == '.' ||
		    (n >= 5 && !strncmp(c + n - 5, ".lock", 5)) ||
		    memmem(c, n, "..", 2) || memmem(c, n, "@{", 2))
			return false;
		if (c[n] == '\0')
			return true;
		if (c[n] != '/')
			return false;
		c += n + 1;
	}
}

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
