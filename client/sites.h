/*
 * client/sites.h - the sites file inside libroster: which registries a site
 * has (roster_site_servers() and the roster CLI's -s SITE).
 *
 * The file (ROSTER_SITES, else /etc/roster/sites.conf) has one registry per
 * line, "SITE ADDRESS:PORT [dns=ADDRESS:PORT] [http=ADDRESS:PORT]"; '#' starts a comment, blank
 * lines are ignored; a site on several lines has several registries, in file order. A registry
 * listed twice for one site is an error: it would hold two leases there and
 * count twice in every partial-failure verdict.
 *
 * Synchronous; reads the file with stdio; no state.
 */
#pragma once

#include <stddef.h>

/**
 * Read the registries of @p site.
 * @param path the sites file; NULL: ROSTER_SITES, else /etc/roster/sites.conf.
 * @param out set to an array of @p n "ADDRESS:PORT" strings, owned: free it
 *        with sites_free().
 * @param err a one-line message on failure, naming the file and line.
 * @return 0; ROSTER_EINVAL (no site, a malformed line, a registry listed
 *         twice), ROSTER_EADDR (an address that is not ADDRESS:PORT),
 *         ROSTER_ELIMIT (more than 64), ROSTER_ENOENT (the site is not in
 *         the file), ROSTER_ENOMEM, or a negated errno from fopen().
 */
__attribute__((warn_unused_result)) int sites_read(const char *site, const char *path, char ***out,
		size_t *n, char *err, size_t errsz);

/**
 * sites_read(), and where roster doctor finds each registry's DNS and HTTP
 * listeners: optional "dns=ADDRESS:PORT" and "http=ADDRESS:PORT" fields
 * after the registry's address (libroster and the other commands ignore
 * them).
 * @param where NULL, or set to @p n pairs {dns, http}, each NULL when the
 *        line has none; free with sites_where_free().
 * @return as sites_read(); ROSTER_EINVAL also for another field.
 */
__attribute__((warn_unused_result)) int sites_read_where(const char *site, const char *path,
		char ***out, char *(**where)[2], size_t *n, char *err, size_t errsz);

/** Free what sites_read_where() returned in @p where. NULL-safe. */
void sites_where_free(char *(*where)[2], size_t n);

/** Free what sites_read() returned. NULL-safe. */
void sites_free(char **servers, size_t n);
