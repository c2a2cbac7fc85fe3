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
 * Zone files are named by absolute path, @p zone_dir, so the includes work
 * whatever the server's working directory. Pure text; one thread.
 */
#pragma once

#include <stdint.h>

#include "zonegen/buf.h"
#include "zonegen/gen.h"

#define ZG_INCLUDE_BIND "roster.named.conf"
#define ZG_INCLUDE_NSD "roster.nsd.conf"
#define ZG_INCLUDE_KNOT "roster.knot.conf"

/** BIND 9.18's default max-records-per-type. */
#define ZG_BIND_RRSET_DEFAULT 100

/**
 * The max-records-per-type a zone needs: 0 when BIND's default suffices, else
 * twice its largest RRset rounded up to a thousand, so that a role can grow
 * for a while without the next run having to reconfigure named.
 */
uint32_t zg_include_bind_limit(uint32_t max_rrset);

/** Write the BIND include. Failures are sticky in @p out. */
void zg_include_bind(const struct zg_gen *g, const char *zone_dir, struct zg_buf *out);

/** Write the NSD include. */
void zg_include_nsd(const struct zg_gen *g, const char *zone_dir, struct zg_buf *out);

/** Write the Knot include. */
void zg_include_knot(const struct zg_gen *g, const char *zone_dir, struct zg_buf *out);
