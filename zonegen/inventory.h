/*
 * zonegen/inventory.h - the fleet inventory: hosts read from JSON Lines files.
 *
 * One host per line:
 *   {"name": "ash2-dnsresolver-a1337", "ipv4": "10.2.0.7", "ipv6": ["2001:db8::7"],
 *    "site": "ash2", "role": "dnsresolver", "pool": "a", "source": "physical"}
 * `name` is a short name (one label) or an FQDN `<short>.<site>.<domain>`;
 * `ipv4` and `ipv6` are a string or a list of strings; `site`, `role`, `pool`
 * and `source` are optional and, when missing, come from the naming convention
 * (naming.h). Other keys are ignored (inventories carry more than DNS needs).
 * Blank lines are skipped.
 *
 * Every fault found is reported to a zg_diag with the file and line, and the
 * line is skipped; loading goes on so that one run lists every fault.
 * This is the only module that includes jansson. One thread.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "common/addr.h"
#include "common/arena.h"
#include "zonegen/diag.h"

struct zg_host {
	const char *name;   /**< short name, the first label, lower case */
	const char *site;   /**< lower case, interned: equal sites are the same pointer */
	const char *role;   /**< lower case, interned; NULL when the host has none */
	const char *pool;   /**< interned; NULL when none */
	const char *source; /**< NULL when none */
	const char *fqdn;   /**< "<name>.<site>.<domain>." */
	const char *file;   /**< the inventory file it came from */
	uint32_t line;      /**< its line in that file, from 1 */
	uint16_t fqdn_len;  /**< strlen(fqdn); its wire length is one more */
	uint16_t naddr;
	struct rs_addr *addrs; /**< sorted, without duplicates */
};

struct zg_inventory {
	struct rs_arena arena; /**< every string and address array */
	const char *domain;    /**< canonical, with trailing dot; borrowed */
	struct zg_host *hosts;
	size_t nhosts;
	size_t cap;
	const char **intern; /**< open-addressing set of sites, roles, pools */
	size_t intern_cap;
	size_t interned;
};

/**
 * Prepare an empty inventory.
 * @param domain the canonical domain ("example.net."), borrowed for the
 *        inventory's lifetime.
 */
void zg_inventory_init(struct zg_inventory *inv, const char *domain);

/** Free every host. NULL-safe; safe on a half-filled inventory. */
void zg_inventory_deinit(struct zg_inventory *inv);

/**
 * Read the hosts of one JSON Lines text.
 * @param inv the inventory to add to.
 * @param file the name used in messages (kept: copied into the inventory).
 * @param text the file's contents (need not be NUL-terminated).
 * @param len its length.
 * @param diag receives one error per faulty line.
 * @return 0 (faulty lines are errors in @p diag, not a return code), or RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int zg_inventory_parse(struct zg_inventory *inv,
		const char *file, const char *text, size_t len, struct zg_diag *diag);

/**
 * Read the hosts of one JSON Lines file.
 * @return 0, RS_ENOMEM, or a negative errno when the file cannot be read
 *         (the caller names the file in its message).
 */
__attribute__((warn_unused_result)) int zg_inventory_load(
		struct zg_inventory *inv, const char *path, struct zg_diag *diag);
