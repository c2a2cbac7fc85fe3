/*
 * zonegen/gen.h - the zone generator: inventory + hand-maintained records ->
 * the fleet's zones, every check of SPEC.md, and their text.
 *
 * Zones (all names canonical, lower case, trailing dot):
 *   <site>.<domain>          A/AAAA of each host, hand records, and NS for the
 *                            roles.<site> child zone (a proper delegation)
 *   roles.<site>.<domain>    <role> A/AAAA of all hosts of the role, <role> PTR
 *                            listing their FQDNs; with --shard-large an RRset
 *                            too large for one DNS message moves into shards
 *                            <n>.<role> (n from 1), and <role> TXT "shards=N"
 *   <reversed prefix>.in-addr.arpa / .ip6.arpa
 *                            PTR per address, split at the configured prefix
 * Each zone has SOA, NS and, with a commit, `_deploy TXT "commit=<sha>"`.
 *
 * The generator is pure: it sorts the inventory in place, reports every
 * fault to a zg_diag, and renders zone text into buffers. It never touches
 * files (output.h does). One thread. Its code: gen.c (the build: sorting,
 * zones, inventory checks), gen_shard.c (roles RRset sizes, sharding),
 * gen_check.c (hand-maintained records) and gen_text.c (the zone text),
 * sharing zonegen/gen_internal.h.
 *
 * RRset size rule (the article's 2,500-host PTR answer): an RRset is too large
 * when the smallest DNS response carrying all of it exceeds 65,535 octets:
 * 12 (header) + the question (owner in wire form + 4) + per record 2 (the owner
 * as a compression pointer to the question) + 10 + the RDATA uncompressed.
 * Not compressing RDATA (PTR targets) is conservative: a server that does
 * compress them fits more, none fits fewer.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/buf.h"
#include "common/name.h"
#include "zonegen/diag.h"
#include "zonegen/inventory.h"
#include "zonegen/records.h"

/** The largest DNS message (TCP length prefix, RFC 1035 4.2.2). */
#define ZG_MSG_MAX 65535
/** Record types counted separately in a summary; more share the last slot. */
#define ZG_COUNT_TYPES_MAX 24

/** SOA timers of every zone (RFC 1912 2.2 ranges). */
#define ZG_SOA_REFRESH 3600
#define ZG_SOA_RETRY 600
#define ZG_SOA_EXPIRE 1209600
#define ZG_SOA_MINIMUM 300

/** --services-ns: a registry of a site, as NS of services.<site>.<domain>. */
struct zg_services_ns {
	char name[RS_NAME_TEXT_MAX]; /**< canonical; inside <site>.<domain> */
	struct rs_addr addr;         /**< its glue */
};

struct zg_options {
	const char *domain;    /**< canonical */
	const char *const *ns; /**< canonical NS names, at least one; the first is the SOA MNAME */
	size_t nns;
	const char *hostmaster; /**< SOA RNAME, canonical */
	const char *commit;     /**< NULL: no _deploy TXT */
	uint32_t ttl;           /**< $TTL of every zone */
	unsigned v4_prefix;     /**< 8, 16 or 24 */
	unsigned v6_prefix;     /**< a multiple of 4, 4..124 */
	bool shard_large;
	const struct zg_services_ns *services_ns; /**< delegations of services.<site> */
	size_t nservices_ns;
};

enum zg_zone_kind {
	ZG_ZONE_HOST,
	ZG_ZONE_ROLES,
	ZG_ZONE_REV4,
	ZG_ZONE_REV6,
};

struct zg_zone {
	char *name; /**< canonical */
	enum zg_zone_kind kind;
	size_t first, count;   /**< HOST: hosts; ROLES: roles; REV*: address refs */
	size_t sfirst, scount; /**< its hand-maintained records */
	uint32_t max_rrset;    /**< records in its largest RRset (BIND max-records-per-type) */
	bool has_roles;        /**< HOST: the site has a roles zone to delegate */
};

struct zg_role {
	const char *name;    /**< borrowed from a host */
	size_t first, count; /**< range of zg_gen.role_hosts */
	uint32_t shards;     /**< 0: not sharded */
	uint8_t moved;       /**< ZG_RRSET_* bits of the RRsets that live only in the shards */
};

enum zg_rrset_bits {
	ZG_RRSET_A = 1,
	ZG_RRSET_AAAA = 2,
	ZG_RRSET_PTR = 4,
};

struct zg_addr_ref {
	struct rs_addr addr;
	uint32_t host; /**< index into the inventory's hosts */
};

struct zg_type_count {
	uint16_t type;
	const char *name; /**< static string or borrowed from the records */
	uint64_t n;
};

/** Records of a zone by type. */
struct zg_counts {
	struct zg_type_count t[ZG_COUNT_TYPES_MAX];
	size_t ntypes;
	uint64_t total;
};

struct zg_gen {
	const struct zg_options *opt;
	struct zg_inventory *inv; /**< hosts sorted by (site, name) */
	struct zg_records *recs;  /**< sorted by (zone, owner, type, rdata) */
	struct zg_diag *diag;
	struct zg_addr_ref *addrs; /**< every address, sorted */
	size_t naddrs;
	uint32_t *role_hosts; /**< hosts with a role, by (site, role, name) */
	uint16_t *shard_of;   /**< per role_hosts entry: its shard (1..), 0 unsharded */
	size_t nrole_hosts;
	struct zg_role *roles; /**< by (site, role) */
	size_t nroles;
	struct zg_zone *zones; /**< by name */
	size_t nzones;
};

/**
 * Build the zones and run every check. Faults are errors in @p diag; the
 * caller refuses the output when diag->errors is non-zero.
 * @param g caller's storage, initialised here.
 * @param opt options, borrowed for the generator's lifetime.
 * @param inv the inventory, sorted in place and borrowed.
 * @param recs hand records (may be empty), sorted in place and borrowed.
 * @return 0 or RS_ENOMEM (call zg_gen_deinit() either way).
 */
__attribute__((warn_unused_result)) int zg_gen_build(struct zg_gen *g, const struct zg_options *opt,
		struct zg_inventory *inv, struct zg_records *recs, struct zg_diag *diag);

/** Free what zg_gen_build() allocated. NULL-safe, safe after a failed build. */
void zg_gen_deinit(struct zg_gen *g);

/**
 * Write the head of a zone file: a comment, $ORIGIN, $TTL and the SOA line.
 * Failures are sticky in @p out (rs_buf_error()).
 */
void zg_gen_head(const struct zg_gen *g, size_t zone, uint32_t serial, struct rs_buf *out);

/** Write the `_deploy TXT` line when a commit is set; nothing otherwise. */
void zg_gen_deploy(const struct zg_gen *g, struct rs_buf *out);

/**
 * Write the rest of a zone file (NS and every record after the SOA and
 * _deploy lines) and count the zone's records by type, SOA and _deploy
 * included.
 * @return 0 or RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int zg_gen_body(
		const struct zg_gen *g, size_t zone, struct rs_buf *out, struct zg_counts *counts);

/** Add @p n records of @p type to @p c. */
void zg_counts_add(struct zg_counts *c, uint16_t type, const char *name, uint64_t n);

/**
 * Wire size of the smallest response carrying an RRset (see the header).
 * @param owner_wire the owner's wire length.
 * @param nrecords records in the RRset.
 * @param rdata_sum the sum of their RDATA lengths.
 */
static inline uint64_t zg_rrset_wire_size(size_t owner_wire, uint64_t nrecords, uint64_t rdata_sum)
{
	return 12 + owner_wire + 4 + nrecords * (2 + 10) + rdata_sum;
}
