/* Small helpers every module may use: cleanup attributes, ownership
 * transfer, overflow-checked sizes and allocation that dies on OOM (for the
 * CLI only; daemon code must not use the x* allocators). */
#ifndef BOTTLE_UTIL_H
#define BOTTLE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static inline void freep(void *p)
{
	free(*(void **)p);
}
static inline void closep(int *fd)
{
	if (*fd >= 0)
		close(*fd);
}
static inline void fclosep(FILE **f)
{
	if (*f)
		fclose(*f);
}

#define _cleanup_free_	 __attribute__((cleanup(freep)))
#define _cleanup_close_	 __attribute__((cleanup(closep)))
#define _cleanup_fclose_ __attribute__((cleanup(fclosep)))

/* Hand ownership out of a cleanup-attributed variable. */
#define steal_ptr(pp)                                                          \
	({                                                                     \
		__typeof__(*(pp)) _p = *(pp);                                  \
		*(pp) = NULL;                                                  \
		_p;                                                            \
	})
static inline int steal_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

/* Overflow-checked size arithmetic; dies (BUG) on overflow. */
size_t st_add(size_t a, size_t b);
size_t st_mult(size_t a, size_t b);

/* Allocation that dies on failure.  CLI and launcher only. */
void *xmalloc(size_t n) __attribute__((malloc, returns_nonnull));
void *xcalloc(size_t n, size_t size) __attribute__((malloc, returns_nonnull));
void *xrealloc(void *p, size_t n) __attribute__((returns_nonnull));
char *xstrdup(const char *s) __attribute__((malloc, returns_nonnull));
char *xstrndup(const char *s, size_t n)
    __attribute__((malloc, returns_nonnull));
char *xasprintf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), malloc, returns_nonnull));

/* Grow *arr (element size sz) so that it can hold at least n elements. */
#define ALLOC_GROW(arr, n, alloc)                                              \
	do {                                                                   \
		if ((n) > (alloc)) {                                           \
			size_t _na = (alloc) ? (alloc)*2 : 8;                  \
			if (_na < (n))                                         \
				_na = (n);                                     \
			(arr) = xrealloc((arr), st_mult(_na, sizeof(*(arr)))); \
			(alloc) = _na;                                         \
		}                                                              \
	} while (0)

/* Free a NULL-terminated array of strings and the strings; NULL is fine. */
void strv_free(char **v);
/* Append s (taken) to the NULL-terminated array *v (NULL: an empty one). */
void strv_push(char ***v, char *s);

/* Wipe memory holding a secret so the compiler cannot elide it. */
void secure_zero(void *p, size_t n);

bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);

/* Write all of buf, retrying on EINTR/short writes.  0 or -errno. */
int write_all(int fd, const void *buf, size_t n)
    __attribute__((warn_unused_result));

/* Start time (field 22 of /proc/PID/stat) of pid, 0 if it does not
 * exist.  Together with the pid it names a process without reuse races. */
uint64_t proc_start_time(pid_t pid);
/* Is pid alive and (start != 0) still the process that started at start? */
bool proc_alive(pid_t pid, uint64_t start);

/* name's full path in $PATH (the first executable one), malloc'd; NULL if
 * there is none. */
char *path_find(const char *name);

/* Monotonic time in nanoseconds. */
uint64_t now_ns(void);

struct strbuf;

/* Text from an agent, made safe to print on a terminal: appended to out
 * with nothing left that moves the cursor, changes the terminal's state or
 * reorders what is shown.  Each C0 control (but those flags keep), DEL and
 * byte that is not part of valid UTF-8 becomes "\xNN"; each C1 control and
 * invisible format character (bidi embeddings, overrides and isolates, the
 * marks U+200E/U+200F/U+061C, U+2028/U+2029, zero-width space, word joiner,
 * BOM, tags) becomes "\uNNNN" or "\UNNNNNNNN".  Strbuf: CLI only. */
enum term_safe_flags {
	TERM_SAFE_NL = 1 << 0,	     /* keep '\n' */
	TERM_SAFE_TAB = 1 << 1,	     /* keep '\t' */
	TERM_SAFE_ONE_LINE = 1 << 2, /* '\n', "\r\n" and '\t' become ' ' */
};
void term_safe(struct strbuf *out, const char *s, size_t n, unsigned flags);

/* The length of s[0..n) cut back to at most max bytes without splitting a
 * UTF-8 sequence. */
/* seconds elapsed (negative counts as 0) as "45s", "3m", "5h" or "2d",
 * whichever unit keeps the number under a few dozen. */
void format_age(char *buf, size_t n, int64_t seconds);

size_t utf8_cut(const char *s, size_t n, size_t max);

#endif
