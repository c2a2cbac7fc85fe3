/*
 * client/inst.h - copies, checks and identity of struct roster_instance.
 *
 * A packed instance owns one allocation (its priv field) holding every
 * string and array it points to, so that results free in one call per
 * instance. Pure, any thread.
 */
#pragma once

#include <stdint.h>

#include "roster/client.h"

/**
 * Copy @p src into @p dst as a packed instance (dst->priv owns the memory).
 * @return 0 or ROSTER_ENOMEM (then @p dst is zeroed).
 */
__attribute__((warn_unused_result)) int inst_pack(
		struct roster_instance *dst, const struct roster_instance *src);

/** Free what inst_pack() allocated and zero @p inst. NULL-safe. */
void inst_release(struct roster_instance *inst);

/**
 * Check what a registry would check before sending it: service and
 * protocol labels, host name, port, addresses, metadata keys, status.
 * @param identity_only check only service, protocol, host and port.
 * @param what set to the name of the faulty field ("service", "host"...).
 * @return 0, ROSTER_ENAME, ROSTER_EPORT, ROSTER_EADDR, ROSTER_EINVAL.
 */
__attribute__((warn_unused_result)) int inst_check(
		const struct roster_instance *inst, int identity_only, const char **what);

/** Check a service or protocol label (NULL and "" are invalid). */
__attribute__((warn_unused_result)) int inst_label_check(const char *label);

/**
 * Do two instances have the same identity (service, protocol, host, port)?
 * Names compare case-insensitively, and a host's trailing dot is optional.
 */
int inst_same_identity(const struct roster_instance *a, const struct roster_instance *b);

/**
 * An empty result with room for @p n instances (n_instances is 0: the caller
 * counts the ones it packs, so that a half-built result frees cleanly).
 * @return the result (free with roster_result_free()), or NULL.
 */
struct roster_result *inst_result_new(size_t n);

/**
 * A deep copy of @p r.
 * @return the copy (free with roster_result_free()), or NULL (no memory).
 */
struct roster_result *inst_result_dup(const struct roster_result *r);
