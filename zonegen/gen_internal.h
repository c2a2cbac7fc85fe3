/*
 * zonegen/gen_internal.h - what the generator's files share: gen.c (the
 * build: sorting, zones, inventory checks), gen_shard.c (roles RRset sizes
 * and sharding), gen_check.c (hand-maintained records) and gen_text.c (the
 * zone text). Not for other modules: they use gen.h.
 *
 * Layered without a call cycle: gen.c calls gen_shard.c and gen_check.c,
 * which call nothing of gen.c (what they share is inline here or in gen.h);
 * gen_text.c is called by the run, not by gen.c.
 *
 * Pure, one thread, like gen.h.
 */
#pragma once

#include <stdint.h>

#include "zonegen/gen.h"

/** The record types the generator writes or checks. */
enum zg_rrtype {
	T_A = 1,
	T_NS = 2,
	T_CNAME = 5,
	T_SOA = 6,
	T_PTR = 12,
	T_TXT = 16,
	T_AAAA = 28,
};

/** Raise @p z's largest RRset to @p n records if it is larger. */
static inline void zg_gen_note_rrset(struct zg_zone *z, uint64_t n)
{
	if (n > z->max_rrset) {
		z->max_rrset = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
	}
}

/**
 * Size the RRsets of each role of roles zone @p z; shard a role that does
 * not fit one message (--shard-large) or report it as an error.
 */
void zg_gen_check_roles(struct zg_gen *g, struct zg_zone *z);

/**
 * Place each hand-maintained record in its zone (sorting them, setting
 * sfirst/scount of each zone) and check them; faults go to g->diag.
 */
void zg_gen_check_records(struct zg_gen *g);

/** Check that each --ns inside one of our zones has an address there. */
void zg_gen_check_ns(struct zg_gen *g);
