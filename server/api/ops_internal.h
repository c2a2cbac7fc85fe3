/*
 * server/api/ops_internal.h - what the registration API's operations
 * (server/api/ops.c) share with their access checks and error replies
 * (server/api/ops_access.c). Private to those two files.
 */
#pragma once

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "server/api/ops.h"

/* One request being answered. */
struct op {
	const struct api_ops_ctx *ctx;
	struct api_ops_out *out;
	struct api_ops_result *res;
	uint64_t id;
	int rc;          /* the last error answered, 0 if none */
	bool write;      /* a write: audited whatever its outcome */
	bool quiet;      /* an accepted heartbeat: not audited (the hot path) */
	size_t dry_mark; /* out->len before the request: a dry-run refusal undone */
};

/* What an operation needs of the connection's token. */
enum op_need {
	OP_READ,  /**< the read scope */
	OP_WRITE, /**< a write scope (for the service, when one is named) */
	OP_ADMIN, /**< an admin token (Backup) */
};

/** Answer the request with error @p rc and a message (counted; a reply that
 * cannot be built closes the connection). */
void api_op_error(struct op *o, int rc, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/** PERMISSION_DENIED: counted by reason, audited, nothing changed. */
void api_op_refuse(struct op *o, enum api_ops_refusal why, const char *fmt, ...)
		__attribute__((format(printf, 3, 4)));

/** Take back a refusal the dry run does not make (counters and audit keep it). */
void api_op_refusal_undo(struct op *o);

/** May the connection's token do this? @p service: the service an OP_WRITE
 * changes, NULL for a write on a lease (any write scope). Refuses when not,
 * unless in dry run. Without --api-tokens everything is allowed. */
bool api_op_allowed(struct op *o, enum op_need need, const char *service);

/** Ownership of an instance: changed only through its lease, or by an admin
 * token. Refuses (PERMISSION_DENIED) when not. */
bool api_op_owner_ok(struct op *o, const struct store_key *key, uint64_t lease);

/** The owner tag of a lease opened with the connection's token (a hash of
 * its name); 0 with an open API. */
uint64_t api_op_token_tag(const struct op *o);

/** Acting through lease @p id: with tokens, only its opener's token or an
 * admin one (a lease not yet owned is claimed). Refuses unless in dry run. */
bool api_op_lease_ok(struct op *o, uint64_t id);
