/* Rendering secret templates on the host; see secret.h. */
#include "lib/secret.h"

#include "lib/fsutil.h"
#include "lib/manifest.h"
#include "lib/strbuf.h"
#include "lib/util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void secret_free(char *s)
{
	if (s) {
		secure_zero(s, strlen(s));
		free(s);
	}
}

/* The value one reference names. */
static char *expand(const struct template_ref *ref, struct error *err)
{
	_cleanup_free_ char *arg = xstrndup(ref->arg, ref->arg_len);
	char *buf = NULL;
	size_t len = 0;

	if (ref->kind == TEMPLATE_ENV) {
		const char *v = getenv(arg);
		if (!v || !*v) {
			err_set(err, ENOENT, "${env:%s} is not set", arg);
			return NULL;
		}
		if (strpbrk(v, "\r\n")) {
			err_set(err, EINVAL, "${env:%s} holds a line break",
				arg);
			return NULL;
		}
		return xstrdup(v);
	}
	if (read_file(arg, &buf, &len, SECRET_FILE_MAX, err) < 0) {
		err_prefix(err, "${file:%s}", arg);
		return NULL;
	}
	/* A token file ends with a newline more often than not. */
	while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
		buf[--len] = '\0';
	if (!len || memchr(buf, '\n', len) || memchr(buf, '\r', len) ||
	    strlen(buf) != len) {
		secure_zero(buf, len);
		free(buf);
		err_set(err, EINVAL, "${file:%s}: expected one line of text",
			arg);
		return NULL;
	}
	return buf;
}

char *secret_render(const char *tmpl, char ***secrets, size_t *n,
		    struct error *err)
{
	struct strbuf sb = STRBUF_INIT;
	const char *p = tmpl, *lit = tmpl; /* scan point; text not yet out */
	struct template_ref ref;
	int r;

	while ((r = template_next(&p, &ref)) > 0) {
		char *v;
		strbuf_add(&sb, lit, (size_t)(ref.start - lit));
		lit = p;
		if (!(v = expand(&ref, err)))
			goto fail;
		strbuf_addstr(&sb, v);
		if (secrets) {
			*secrets =
			    xrealloc(*secrets, st_mult(*n + 1, sizeof(char *)));
			(*secrets)[(*n)++] = v;
		} else {
			secret_free(v);
		}
	}
	if (r < 0) {
		err_set(err, EINVAL,
			"a ${ in the value is not ${env:NAME} or ${file:PATH}");
		goto fail;
	}
	strbuf_addstr(&sb, lit);
	return strbuf_detach(&sb, NULL);
fail:
	secure_zero(sb.buf, sb.len);
	strbuf_release(&sb);
	return NULL;
}
