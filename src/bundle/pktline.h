/* The git:// request: the one pkt-line a client sends before the service
 * takes over (git's Documentation/technical/pack-protocol.txt, "Git
 * Transport", and protocol-v2.txt for the extra parameters):
 *
 *   LLLLgit-upload-pack /NAME.git\0host=HOST\0
 *   LLLLgit-receive-pack /NAME.git\0host=HOST\0\0version=2\0
 *
 * LLLL is the line's length in four hex digits, itself included.  The
 * parser is pure (no allocation, no I/O) and faces the agent's bytes: it
 * accepts only the two services and a path that is a single name, so that
 * nothing the agent writes can name a file. */
#ifndef BOTTLE_BUNDLE_PKTLINE_H
#define BOTTLE_BUNDLE_PKTLINE_H

#include "lib/err.h"

#include <stdbool.h>
#include <stddef.h>

#define PKTLINE_MAX  65520 /* git's LARGE_PACKET_MAX */
#define GIT_REPO_MAX 68	   /* a 64-character name plus ".git" */

enum git_service { GIT_UPLOAD_PACK, GIT_RECEIVE_PACK };

struct git_request {
	enum git_service service;
	char repo[GIT_REPO_MAX + 1]; /* the path without its "/", e.g.
				      * "origin.git": letters, digits, '.',
				      * '_', '-', starting with a letter or
				      * digit */
	bool v2;		     /* "version=2" among the extra params */
};

enum pktline_result {
	PKTLINE_NEED_MORE, /* *need says how many bytes the line has (4
			    * while its length is not known yet) */
	PKTLINE_OK,	   /* *req filled; the line was *need bytes */
	PKTLINE_BAD,	   /* err says what was expected */
};

/* Parse the request at the start of buf[0..len).  Never reads past len
 * and never past the line: bytes after it are not looked at.  A prefix
 * of a line gives NEED_MORE until the line is whole; the answer then
 * does not change as more bytes follow. */
enum pktline_result pktline_parse_request(const char *buf, size_t len,
					  struct git_request *req, size_t *need,
					  struct error *err);

/* "git-upload-pack" or "git-receive-pack". */
const char *git_service_name(enum git_service s);

/* Write msg as an "ERR msg\n" pkt-line, which git clients print as
 * "fatal: remote error: msg", into out (size bytes); msg is cut to fit.
 * Returns the length written (0 if size < 9). */
size_t pktline_format_error(char *out, size_t size, const char *msg);

#endif
