#include "client/cli/sites.h"

#include "client/sites.h"

#include <stdio.h>
#include <string.h>

/* Append one checked "ADDRESS:PORT". 0 or 2. */
static int add(const char *text, size_t len, char out[][RS_ADDR_TEXT_MAX], size_t *n,
		const char *origin, char *err, size_t errsz)
{
	struct sockaddr_storage ss;
	char one[RS_ADDR_TEXT_MAX];
	if (len == 0 || len >= sizeof(one)) {
		snprintf(err, errsz, "%s: invalid registry address (expected ADDRESS:PORT)",
				origin);
		return 2;
	}
	memcpy(one, text, len);
	one[len] = '\0';
	if (rs_endpoint_parse(one, 0, &ss) != 0) {
		snprintf(err, errsz, "%s: invalid registry address '%s' (expected ADDRESS:PORT)",
				origin, one);
		return 2;
	}
	if (*n == ARGS_MAX_SERVERS) {
		snprintf(err, errsz, "%s: more than %d registries", origin, ARGS_MAX_SERVERS);
		return 2;
	}
	memcpy(out[(*n)++], one, len + 1);
	return 0;
}

/* A comma-separated list ("a:1,b:2"). */
static int add_list(const char *list, char out[][RS_ADDR_TEXT_MAX], size_t *n, const char *origin,
		char *err, size_t errsz)
{
	const char *p = list;
	do {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (add(p, len, out, n, origin, err, errsz) != 0) {
			return 2;
		}
		p = comma != NULL ? comma + 1 : p + len;
	} while (*p != '\0');
	return 0;
}

/* The site's registries from the file, read by libroster's parser so that
 * the CLI and roster_site_servers() agree on every line. */
static int from_file(const char *site, const char *path, char out[][RS_ADDR_TEXT_MAX], size_t *n,
		char *err, size_t errsz)
{
	char **list = NULL;
	size_t len = 0;
	if (sites_read(site, path, &list, &len, err, errsz) != 0) {
		return 2;
	}
	int rc = 0;
	for (size_t i = 0; i < len && rc == 0; i++) {
		rc = add(list[i], strlen(list[i]), out, n, path, err, errsz);
	}
	sites_free(list, len);
	return rc;
}

int sites_resolve(const struct args *a, const char *env_server, const char *sites_path,
		char out[ARGS_MAX_SERVERS][RS_ADDR_TEXT_MAX], size_t *n, char *err, size_t errsz)
{
	*n = 0;
	if (a->n_servers > 0) {
		for (size_t i = 0; i < a->n_servers; i++) {
			const char *s = a->servers[i];
			const char *comma = strchr(s, ',');
			if (add(s, comma != NULL ? (size_t)(comma - s) : strlen(s), out, n,
					    "--server", err, errsz) != 0) {
				return 2;
			}
		}
		return 0;
	}
	if (env_server != NULL && env_server[0] != '\0') {
		return add_list(env_server, out, n, "ROSTER_SERVER", err, errsz);
	}
	if (a->site != NULL) {
		return from_file(a->site, sites_path, out, n, err, errsz);
	}
	return add(SITES_DEFAULT_SERVER, strlen(SITES_DEFAULT_SERVER), out, n, "default", err,
			errsz);
}
