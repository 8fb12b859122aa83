/* The git:// request parser.  See pktline.h. */
#include "bundle/pktline.h"

#include <stdio.h>
#include <string.h>

static const char *const service_names[] = {"git-upload-pack",
					    "git-receive-pack"};

const char *git_service_name(enum git_service s)
{
	return service_names[s];
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The agent's bytes as they may appear in a message: at most 40 of them,
 * anything but printable ASCII as '?'. */
static void quote(char out[48], const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && i < 40; i++)
		out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
	if (n > 40)
		memcpy(out + i, "...", 3), i += 3;
	out[i] = '\0';
}

static bool name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

static int parse_service(const char *s, size_t n, struct git_request *req,
			 struct error *err)
{
	char q[48];

	for (size_t i = 0; i < 2; i++)
		if (n == strlen(service_names[i]) &&
		    memcmp(s, service_names[i], n) == 0) {
			req->service = (enum git_service)i;
			return 0;
		}
	quote(q, s, n);
	return err_set(err, EPROTO,
		       "service \"%s\" is not offered; expected "
		       "git-upload-pack or git-receive-pack",
		       q);
}

/* "/NAME": one name, never a path (no '/', no leading '.', so no "..").
 * The gate then looks the name up among the declared upstreams. */
static int parse_path(const char *s, size_t n, struct git_request *req,
		      struct error *err)
{
	char q[48];
	size_t i;

	for (i = 1; i < n && name_char(s[i]); i++)
		;
	if (n < 2 || s[0] != '/' || i != n || n - 1 > GIT_REPO_MAX ||
	    s[1] == '.' || s[1] == '-' || s[1] == '_') {
		quote(q, s, n);
		return err_set(err, EINVAL,
			       "expected a repository path /NAME.git (the "
			       "name of a declared upstream), got \"%s\"",
			       q);
	}
	memcpy(req->repo, s + 1, n - 1);
	req->repo[n - 1] = '\0';
	return 0;
}

/* "host=HOST\0" (or an empty parameter), then optionally "\0" and extra
 * parameters, each ending in NUL: what git's connect.c sends. */
static int parse_params(const char *p, const char *end, struct git_request *req,
			struct error *err)
{
	const char *nul = memchr(p, '\0', (size_t)(end - p));

	if (!nul)
		return err_set(err, EPROTO,
			       "the host parameter does not end in a NUL");
	if (nul != p && (nul - p < 5 || memcmp(p, "host=", 5) != 0))
		return err_set(err, EPROTO,
			       "expected host=HOST after the path");
	p = nul + 1;
	if (p == end)
		return 0;
	if (*p != '\0')
		return err_set(err, EPROTO,
			       "expected NUL and extra parameters after the "
			       "host parameter");
	for (p++; p < end; p = nul + 1) {
		nul = memchr(p, '\0', (size_t)(end - p));
		if (!nul || nul == p)
			return err_set(err, EPROTO,
				       "an extra parameter is empty or does "
				       "not end in a NUL");
		if (nul - p == 9 && memcmp(p, "version=2", 9) == 0)
			req->v2 = true;
	}
	return 0;
}

static int parse_payload(const char *p, size_t n, struct git_request *req,
			 struct error *err)
{
	const char *end = p + n, *nul = memchr(p, '\0', n), *sp, *path;
	size_t cmd_len = nul ? (size_t)(nul - p) : n, path_len;
	int r;

	/* Like git daemon: a newline may end the command. */
	if (cmd_len && p[cmd_len - 1] == '\n')
		cmd_len--;
	sp = memchr(p, ' ', cmd_len);
	if (!sp)
		return err_set(err, EPROTO,
			       "expected \"git-upload-pack /NAME.git\" or "
			       "\"git-receive-pack /NAME.git\"");
	path = sp + 1;
	path_len = cmd_len - (size_t)(path - p);
	if ((r = parse_service(p, (size_t)(sp - p), req, err)) < 0 ||
	    (r = parse_path(path, path_len, req, err)) < 0)
		return r;
	return nul ? parse_params(nul + 1, end, req, err) : 0;
}

enum pktline_result pktline_parse_request(const char *buf, size_t len,
					  struct git_request *req, size_t *need,
					  struct error *err)
{
	size_t n = 0;

	memset(req, 0, sizeof(*req));
	*need = 4;
	if (len < 4)
		return PKTLINE_NEED_MORE;
	for (int i = 0; i < 4; i++) {
		int v = hexval(buf[i]);
		if (v < 0) {
			err_set(err, EPROTO,
				"expected a pkt-line (four hex digits of "
				"length, then the request)");
			return PKTLINE_BAD;
		}
		n = n * 16 + (size_t)v;
	}
	if (n <= 4 || n > PKTLINE_MAX) {
		err_set(err, EPROTO,
			n <= 4 ? "expected a request, got an empty or "
				 "special pkt-line (%04zx)"
			       : "pkt-line length %zu is over the limit",
			n);
		return PKTLINE_BAD;
	}
	*need = n;
	if (len < n)
		return PKTLINE_NEED_MORE;
	if (parse_payload(buf + 4, n - 4, req, err) < 0) {
		memset(req, 0, sizeof(*req));
		return PKTLINE_BAD;
	}
	return PKTLINE_OK;
}

size_t pktline_format_error(char *out, size_t size, const char *msg)
{
	size_t n = strlen(msg), max;

	if (size < 9)
		return 0;
	max = (size < PKTLINE_MAX ? size : PKTLINE_MAX) - 9;
	if (n > max)
		n = max;
	snprintf(out, size, "%04zxERR ", n + 9);
	memcpy(out + 8, msg, n);
	out[8 + n] = '\n';
	return n + 9;
}
