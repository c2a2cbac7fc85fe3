/*
 * zonegen/naming.h - the fleet's host naming convention.
 *
 *     <site>-<role>-<pool-letter><id>      ash2-dnsresolver-a1337
 *
 * site is the first hyphen-separated part, the pool letter and id the last
 * part (a letter, then one or more letters or digits: "a1337", "a133t"), and
 * the role everything in between, hyphens included ("lon6-dns-auth-b2" has
 * role "dns-auth"). Pure, no allocation, any thread.
 */
#pragma once

#include <stddef.h>

/** Where the parts lie inside the parsed name (offsets and lengths). */
struct zg_naming {
	size_t site_len;
	size_t role_off, role_len;
	size_t pool_off; /**< the pool is the one letter at this offset */
	size_t id_off, id_len;
};

/**
 * Split a short host name (one label, no dots) by the naming convention.
 * @param name the label's characters.
 * @param len its length.
 * @param out the parts, when it matches.
 * @return 0, or RS_EINVAL when the name does not follow the convention.
 */
__attribute__((warn_unused_result)) int zg_naming_parse(
		const char *name, size_t len, struct zg_naming *out);
