/*
 * client/cli/ringowner.h - the owner of a key on a service's ring, computed
 * exactly as rosterd's _ring TXT records lay the ring out (common/ring.h):
 * RS_RING_VNODES points per UP instance, token rs_ring_token(host, port, i)
 * with the host in canonical form, sorted by token, then host, then port.
 *
 * Pure, allocates the points array for the call only.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "roster/client.h"

struct ringowner {
	uint32_t key_token;
	uint32_t token;  /**< the owning point's token */
	unsigned vnode;  /**< which of the owner's points */
	size_t instance; /**< index into the result's instances */
	size_t points;   /**< points on the ring */
	char host[256];  /**< canonical host of the owner */
};

/**
 * @param r the service's instances; only UP ones are on the ring.
 * @param key the key, hashed as given.
 * @return 0, ROSTER_ENOENT (no UP instance), ROSTER_ENOMEM.
 */
__attribute__((warn_unused_result)) int ringowner_find(
		const struct roster_result *r, const char *key, struct ringowner *out);
