/*
 * zonegen/include.h - the files that make BIND, NSD and Knot serve the zones.
 *
 *   roster.named.conf   zone "..." { type primary; file "..."; }; for named.conf
 *                       (`include "<out>/roster.named.conf";`), with
 *                       max-records-per-type raised on zones with an RRset
 *                       of more than BIND 9.18's default of 100 records
 *   roster.nsd.conf     zone: entries for nsd.conf (`include: "..."`)
 *   roster.knot.conf    a zone: section for knot.conf (`include: ...`)
 *
 * Zone files are named by absolute path (zone_dir), so the includes work
 * whatever the server's working directory. NSD has no default pattern, so
 * its entries can name one (include-pattern: with the ACLs, notify and
 * provide-xfr of the operator's nsd.conf); Knot's can name a template.
 * Pure text; one thread.
 */
#pragma once

#include <stdint.h>

#include "common/buf.h"
#include "zonegen/gen.h"

#define ZG_INCLUDE_BIND "roster.named.conf"
#define ZG_INCLUDE_NSD "roster.nsd.conf"
#define ZG_INCLUDE_KNOT "roster.knot.conf"

/** How the include files name things outside roster-zonegen's control. */
struct zg_include_opts {
	const char *zone_dir;      /**< absolute directory of the zone files */
	const char *nsd_pattern;   /**< NSD: include-pattern of every zone; NULL: none */
	const char *knot_template; /**< Knot: template of every zone; NULL: the default */
};

/** BIND 9.18's default max-records-per-type. */
#define ZG_BIND_RRSET_DEFAULT 100

/**
 * The max-records-per-type a zone needs: 0 when BIND's default suffices, else
 * twice its largest RRset rounded up to a thousand, so that a role can grow
 * for a while without the next run having to reconfigure named.
 */
uint32_t zg_include_bind_limit(uint32_t max_rrset);

/** Write the BIND include. Failures are sticky in @p out. */
void zg_include_bind(const struct zg_gen *g, const struct zg_include_opts *o, struct rs_buf *out);

/** Write the NSD include. */
void zg_include_nsd(const struct zg_gen *g, const struct zg_include_opts *o, struct rs_buf *out);

/** Write the Knot include. */
void zg_include_knot(const struct zg_gen *g, const struct zg_include_opts *o, struct rs_buf *out);
