/* Rendering and finding credential routes.  See inject.h. */
#include "bundle/inject.h"

#include "lib/secret.h"
#include "lib/util.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct inject {
	struct inject_route *routes;
	uint16_t *ports; /* per route; 0 = any */
	size_t n_routes;
	char **secrets;
	size_t n_secrets;
};

/* "host:port" or "[v6]:port" -> a malloc'd host (brackets kept off) and
 * the port; a pattern without a port matches every port. */
static char *split_port(const char *pattern, uint16_t *port)
{
	const char *colon = strrchr(pattern, ':');
	const char *close = strchr(pattern, ']');

	*port = 0;
	if (pattern[0] == '[' && close) {
		if (close[1] == ':')
			*port = (uint16_t)atoi(close + 2);
		return xstrndup(pattern + 1, (size_t)(close - pattern - 1));
	}
	if (colon && colon[1] &&
	    strspn(colon + 1, "0123456789") == strlen(colon + 1)) {
		*port = (uint16_t)atoi(colon + 1);
		return xstrndup(pattern, (size_t)(colon - pattern));
	}
	return xstrdup(pattern);
}

int inject_new(const struct egress *e, struct inject **out, struct error *err)
{
	struct inject *in = xcalloc(1, sizeof(*in));

	in->routes = xcalloc(e->n_routes + 1, sizeof(*in->routes));
	in->ports = xcalloc(e->n_routes + 1, sizeof(*in->ports));
	for (size_t i = 0; i < e->n_routes; i++) {
		const struct egress_route *r = &e->routes[i];
		char *v =
		    secret_render(r->value, &in->secrets, &in->n_secrets, err);
		if (!v) {
			err_prefix(err, "route %s", r->host);
			inject_free(in);
			return -EINVAL;
		}
		in->routes[i] = (struct inject_route){
		    split_port(r->host, &in->ports[i]), xstrdup(r->header), v};
		in->n_routes++;
	}
	*out = in;
	return 0;
}

/* "*.example.com" matches a.example.com and a.b.example.com only. */
static bool host_match(const char *pattern, const char *host)
{
	size_t hl, pl;

	if (strncmp(pattern, "*.", 2) != 0)
		return strcasecmp(pattern, host) == 0;
	hl = strlen(host);
	pl = strlen(pattern + 1); /* ".example.com" */
	return hl > pl && strcasecmp(host + hl - pl, pattern + 1) == 0;
}

const struct inject_route *inject_find(const struct inject *in,
				       const char *host, uint16_t port)
{
	for (size_t i = 0; in && i < in->n_routes; i++)
		if (host_match(in->routes[i].host, host) &&
		    (!in->ports[i] || in->ports[i] == port))
			return &in->routes[i];
	return NULL;
}

const char *const *inject_secrets(const struct inject *in, size_t *n)
{
	*n = in->n_secrets;
	return (const char *const *)in->secrets;
}

void inject_free(struct inject *in)
{
	if (!in)
		return;
	for (size_t i = 0; i < in->n_routes; i++) {
		free((char *)in->routes[i].host);
		free((char *)in->routes[i].header);
		secret_free((char *)in->routes[i].value);
	}
	free(in->routes);
	free(in->ports);
	for (size_t i = 0; i < in->n_secrets; i++)
		secret_free(in->secrets[i]);
	free(in->secrets);
	free(in);
}
