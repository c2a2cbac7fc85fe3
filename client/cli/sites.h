/*
 * client/cli/sites.h - which registries the CLI talks to.
 *
 * Precedence (SPEC "roster (CLI)"): --server, then ROSTER_SERVER, then
 * -s SITE looked up in the sites file, then 127.0.0.1:7600. The sites file
 * (/etc/roster/sites.conf, or ROSTER_SITES) has one registry per line:
 *     # site  registry
 *     lon6    10.0.0.5:7600
 *     lon6    [2001:db8::5]:7600
 * A site listed on several lines has several registries (the client
 * registers with each). '#' starts a comment; blank lines are ignored.
 * The file is parsed by libroster (client/sites.h), the parser behind
 * roster_site_servers().
 *
 * Synchronous; reads the file with stdio.
 */
#pragma once

#include <stddef.h>

#include "client/cli/args.h"
#include "common/addr.h"

#define SITES_DEFAULT_PATH "/etc/roster/sites.conf"
#define SITES_DEFAULT_SERVER "127.0.0.1:7600"

/**
 * @param a the parsed arguments (servers, site).
 * @param env_server ROSTER_SERVER, or NULL.
 * @param sites_path the sites file (ROSTER_SITES or SITES_DEFAULT_PATH).
 * @param out the registries, as "ADDRESS:PORT" texts.
 * @param n set to how many.
 * @param err a one-line message on failure.
 * @return 0, or 2: unknown site, unreadable sites file, a bad line (named
 *         with file and line number), a bad ROSTER_SERVER.
 */
__attribute__((warn_unused_result)) int sites_resolve(const struct args *a, const char *env_server,
		const char *sites_path, char out[ARGS_MAX_SERVERS][RS_ADDR_TEXT_MAX], size_t *n,
		char *err, size_t errsz);
