/*
 * zonegen/records.h - hand-maintained records in zone-file syntax (--records).
 *
 * Each regular file of the directory is parsed with ldns (the only module of
 * zonegen that includes it). Files are read in name order; names starting
 * with '.' or ending in '~' are skipped. A file's default $ORIGIN is its own
 * name without a ".zone" suffix when that is the domain or a name under it
 * ("ash2.example.net.zone"), else the domain; $ORIGIN and $TTL work as in any
 * zone file, $INCLUDE does not (the directory is the unit of inclusion).
 * Records keep their file and line for messages. Where each record belongs
 * and whether it is allowed there is decided by the generator (gen.h).
 * One thread.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "zonegen/diag.h"

struct zg_srec {
	const char *owner;     /**< canonical: lower case, trailing dot */
	const char *type_name; /**< "A", "TXT", "TYPE65280"... */
	const char *rdata;     /**< RDATA in presentation form */
	const char *target;    /**< CNAME only: canonical target; NULL otherwise */
	const char *file;
	uint32_t line; /**< the line where the record starts */
	uint32_t ttl;
	uint16_t type;
	uint16_t rdlen; /**< RDATA length in (uncompressed) wire form */
	uint32_t zone;  /**< set by the generator: index of the zone it belongs to */
};

struct zg_records {
	struct rs_arena arena;
	struct zg_srec *recs;
	size_t n;
	size_t cap;
};

/** Prepare an empty set. */
void zg_records_init(struct zg_records *r);

/** Free everything. NULL-safe. */
void zg_records_deinit(struct zg_records *r);

/**
 * Parse zone-file text.
 * @param file the name used in messages (copied).
 * @param text the text (need not be NUL-terminated); @param len its length.
 * @param origin the default $ORIGIN, canonical with a trailing dot.
 * @param ttl the default TTL when the text has no $TTL.
 * @param diag receives one error per record ldns refuses (file:line: reason).
 * @return 0, or RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int zg_records_parse(struct zg_records *r, const char *file,
		const char *text, size_t len, const char *origin, uint32_t ttl,
		struct zg_diag *diag);

/**
 * Parse every file of a directory (see the header comment for the rules).
 * @param domain canonical domain ("example.net.").
 * @return 0, RS_ENOMEM, or a negative errno when the directory or a file
 *         cannot be read (reported to @p diag with the path).
 */
__attribute__((warn_unused_result)) int zg_records_load_dir(struct zg_records *r, const char *dir,
		const char *domain, uint32_t ttl, struct zg_diag *diag);
