/*
 * client/cli/doctor.h - roster doctor: a site's registries checked from
 * the outside, one line per check.
 *
 * For each registry (the site's lines in sites.conf, or --server): the API
 * (a Stats request), DNS over UDP and over TCP (the SOA of the services
 * zone, at the line's dns= address, else the API's address on port 53),
 * HTTP (GET /metrics at http=, else port 7680, and roster_static_ok there).
 * Across them: the same instance sets (List, then Query --all of every
 * service), serials in the clock scheme (docs/dns.md "Zone versions and
 * serials": none ahead of this machine's clock by more than the skew), and
 * the same NS RRset naming them (each registry's DNS address must be an
 * address of a name in it, looked up in the zone itself or, outside it,
 * with getaddrinfo(): the resolver this machine uses). Each --secondary
 * must serve the newest serial, or one at most --max-lag ms older.
 *
 * Blocking, single-threaded: sockets with poll() timeouts (--timeout).
 */
#pragma once

#include <stddef.h>
#include <stdio.h>

#include "client/cli/args.h"
#include "common/addr.h"

/** One registry as the doctor reaches it. */
struct doctor_registry {
	char api[RS_ADDR_TEXT_MAX + 16];
	char dns[RS_ADDR_TEXT_MAX + 16];
	char http[RS_ADDR_TEXT_MAX + 16];
};

/**
 * Run every check and print one line each ("ok   CHECK  detail" or
 * "FAIL CHECK  detail"), or a JSON document with --json.
 * @param regs the site's registries.
 * @param token the API token (--token-file, ROSTER_TOKEN) sent to each
 *        registry's API; NULL: none.
 * @return 0 when every check passed, 1 when one failed.
 */
int doctor_run(const struct args *a, const struct doctor_registry *regs, size_t n,
		const char *token, FILE *out);
