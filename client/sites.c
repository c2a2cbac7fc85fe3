/*
 * client/sites.c - roster_site_servers(): the registries of a site, read
 * from the sites file the roster CLI and the Python client read, so a
 * program linking libroster names a site instead of copying its addresses.
 */
#include "client/sites.h"

#include "roster/client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/addr.h"
#include "common/error.h"

#define SITES_DEFAULT "/etc/roster/sites.conf"
#define SITES_MAX 64

void sites_where_free(char *(*where)[2], size_t n)
{
	for (size_t i = 0; where != NULL && i < n; i++) {
		free(where[i][0]);
		free(where[i][1]);
	}
	free(where);
}

void sites_free(char **servers, size_t n)
{
	for (size_t i = 0; servers != NULL && i < n; i++) {
		free(servers[i]);
	}
	free(servers);
}

/* One "SITE ADDRESS:PORT" line (comments already cut). 0: not this site or
 * added; else an error with the message written. */
static int line_take(char *line, const char *site, const char *origin, char **out,
		char *(*extra)[2], size_t *n, char *err, size_t errsz)
{
	char *save = NULL;
	char *name = strtok_r(line, " \t\r\n", &save);
	if (name == NULL) {
		return 0;
	}
	char *addr = strtok_r(NULL, " \t\r\n", &save);
	if (addr == NULL) {
		return rs_error_printf(err, errsz, ROSTER_EINVAL,
				"%s: expected 'SITE ADDRESS:PORT'", origin);
	}
	/* Optional: where roster doctor finds the registry's DNS and HTTP. */
	char *where[2] = {NULL, NULL};
	for (char *kv; (kv = strtok_r(NULL, " \t\r\n", &save)) != NULL;) {
		int k = strncmp(kv, "dns=", 4) == 0 ? 0 : strncmp(kv, "http=", 5) == 0 ? 1 : -1;
		struct sockaddr_storage probe;
		if (k < 0 || rs_endpoint_parse(strchr(kv, '=') + 1, 0, &probe) != 0) {
			return rs_error_printf(err, errsz, ROSTER_EINVAL,
					"%s: expected 'SITE ADDRESS:PORT [dns=ADDRESS:PORT] "
					"[http=ADDRESS:PORT]', not '%s'",
					origin, kv);
		}
		where[k] = strchr(kv, '=') + 1;
	}
	if (strcmp(name, site) != 0) {
		return 0;
	}
	struct sockaddr_storage ss;
	if (strlen(addr) >= RS_ADDR_TEXT_MAX || rs_endpoint_parse(addr, 0, &ss) != 0) {
		return rs_error_printf(err, errsz, ROSTER_EADDR,
				"%s: invalid registry address '%s' (expected ADDRESS:PORT)", origin,
				addr);
	}
	for (size_t i = 0; i < *n; i++) {
		/* Twice the same registry would hold two leases there and count
		 * one registry as two in every partial-failure verdict. */
		if (strcmp(out[i], addr) == 0) {
			return rs_error_printf(err, errsz, ROSTER_EINVAL,
					"%s: registry %s is listed twice for site '%s'", origin,
					addr, site);
		}
	}
	if (*n == SITES_MAX) {
		return rs_error_printf(err, errsz, ROSTER_ELIMIT, "%s: more than %d registries",
				origin, SITES_MAX);
	}
	out[*n] = strdup(addr);
	if (out[*n] == NULL) {
		return rs_error_printf(err, errsz, ROSTER_ENOMEM, "out of memory");
	}
	for (int k = 0; k < 2 && extra != NULL; k++) {
		extra[*n][k] = where[k] != NULL ? strdup(where[k]) : NULL;
	}
	(*n)++;
	return 0;
}

int sites_read(const char *site, const char *path, char ***out, size_t *n, char *err, size_t errsz)
{
	return sites_read_where(site, path, out, NULL, n, err, errsz);
}

int sites_read_where(const char *site, const char *path, char ***out, char *(**where)[2], size_t *n,
		char *err, size_t errsz)
{
	*out = NULL;
	*n = 0;
	if (site == NULL || site[0] == '\0') {
		return rs_error_printf(err, errsz, ROSTER_EINVAL, "no site named");
	}
	if (path == NULL) {
		path = getenv("ROSTER_SITES");
	}
	if (path == NULL || path[0] == '\0') {
		path = SITES_DEFAULT;
	}
	FILE *f = fopen(path, "r");
	if (f == NULL) {
		return rs_error_printf(err, errsz, -errno,
				"unknown site '%s': cannot read %s: %s (set ROSTER_SITES or use "
				"--server)",
				site, path, strerror(errno));
	}
	char **list = calloc(SITES_MAX, sizeof(*list));
	char *(*extra)[2] = where != NULL ? calloc(SITES_MAX, sizeof(*extra)) : NULL;
	int rc = list == NULL || (where != NULL && extra == NULL)
				 ? rs_error_printf(err, errsz, ROSTER_ENOMEM, "out of memory")
				 : 0;
	char line[1024];
	unsigned lineno = 0;
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL) {
		lineno++;
		char *hash = strchr(line, '#');
		if (hash != NULL) {
			*hash = '\0';
		}
		char origin[300];
		snprintf(origin, sizeof(origin), "%s:%u", path, lineno);
		rc = line_take(line, site, origin, list, extra, n, err, errsz);
	}
	fclose(f);
	if (rc == 0 && *n == 0) {
		rc = rs_error_printf(err, errsz, ROSTER_ENOENT, "unknown site '%s' (not in %s)",
				site, path);
	}
	if (rc != 0) {
		sites_where_free(extra, *n);
		sites_free(list, *n);
		*n = 0;
		return rc;
	}
	*out = list;
	if (where != NULL) {
		*where = extra;
	}
	return 0;
}
