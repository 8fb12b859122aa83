#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

__attribute__((format(printf, 3, 0))) static int
err_vset(struct error *e, int code, const char *fmt, va_list ap)
{
	e->code = code > 0 ? code : EIO;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return -e->code;
}

int err_set(struct error *e, int code, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = err_vset(e, code, fmt, ap);
	va_end(ap);
	return r;
}

int err_sys(struct error *e, int code, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	err_vset(e, code, fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", strerror(e->code));
	return -e->code;
}

int err_prefix(struct error *e, const char *fmt, ...)
{
	char old[ERR_MSG_MAX];
	va_list ap;
	size_t n;

	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	n = strlen(e->msg);
	snprintf(e->msg + n, sizeof(e->msg) - n, ": %s", old);
	if (e->code == 0)
		e->code = EIO;
	return -e->code;
}

void err_clear(struct error *e)
{
	e->code = 0;
	e->msg[0] = '\0';
}
