/*
 * client/wire.h - the client's side of the registration API messages.
 *
 * The only client file that includes the protobuf-c generated code: it
 * encodes requests into whole frames and decodes response frames into plain
 * C structures; generated types never leave wire.c.
 *
 * Pure, no I/O, any thread.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "roster/client.h"

enum wire_op {
	WIRE_OPEN_LEASE = 1,
	WIRE_HEARTBEAT,
	WIRE_REGISTER,
	WIRE_DEREGISTER_INSTANCE,
	WIRE_DEREGISTER_LEASE,
	WIRE_SET_STATUS,
	WIRE_QUERY,
	WIRE_LIST,
	WIRE_WATCH,
	WIRE_STATS,
	WIRE_CANCEL_WATCH,
	WIRE_AUTHENTICATE,
	WIRE_BACKUP,
};

/** A request; pointers are borrowed for the call of wire_request_encode(). */
struct wire_request {
	uint64_t id;
	enum wire_op op;
	uint32_t ttl_seconds; /**< OPEN_LEASE */
	uint64_t lease;       /**< HEARTBEAT, REGISTER, DEREGISTER_LEASE; DEREGISTER_INSTANCE and
			       * SET_STATUS: the lease the instance is under (0: permanent) */
	const struct roster_instance *inst; /**< REGISTER; identity for DEREGISTER_INSTANCE,
					     * SET_STATUS */
	enum roster_status status;          /**< SET_STATUS */
	const char *service;                /**< QUERY, WATCH ("" or NULL: all) */
	const char *protocol;               /**< QUERY (NULL: all) */
	int include_down;                   /**< QUERY */
	uint64_t since_revision;            /**< WATCH */
	uint64_t watch_id;                  /**< CANCEL_WATCH */
	const char *token;                  /**< AUTHENTICATE */
	const char *path;                   /**< BACKUP */
};

/**
 * Encode a request as one frame (4-byte length + message).
 *
 * A frame whose message exceeds RS_FRAME_MAX_DEFAULT, the registry's
 * default limit, is refused: the registry would answer it with a
 * connection-level FRAME_TOO_LARGE and close, and the same request sent
 * again would only do that again.
 * @param frame set to a malloc'd buffer the caller frees; NULL to learn
 *        the frame's length (and ROSTER_ELIMIT) without building it.
 * @param len set to its length; on ROSTER_ELIMIT, the length it would have.
 * @return 0, ROSTER_ENOMEM, ROSTER_EINVAL (unknown op), ROSTER_ELIMIT (over
 *         the frame limit; nothing allocated).
 */
__attribute__((warn_unused_result)) int wire_request_encode(
		const struct wire_request *rq, uint8_t **frame, size_t *len);

/** What a response carries. */
enum wire_result {
	WIRE_RESULT_NONE = 0,
	WIRE_RESULT_OPEN_LEASE,
	WIRE_RESULT_HEARTBEAT,
	WIRE_RESULT_REGISTER,
	WIRE_RESULT_DEREGISTER,
	WIRE_RESULT_SET_STATUS,
	WIRE_RESULT_QUERY,
	WIRE_RESULT_LIST,
	WIRE_RESULT_WATCH_EVENT,
	WIRE_RESULT_STATS,
	WIRE_RESULT_CANCEL_WATCH,
	WIRE_RESULT_BACKUP,
};

/** A decoded response. Release with wire_response_deinit(). */
struct wire_response {
	uint64_t id;
	int error;         /**< 0, or the ROSTER_E* code of the server's error code */
	int too_large;     /**< the error is FRAME_TOO_LARGE (error is ROSTER_ELIMIT) */
	char message[256]; /**< the server's message, truncated */
	enum wire_result result;
	uint64_t lease;       /**< OPEN_LEASE */
	uint32_t ttl_seconds; /**< OPEN_LEASE, HEARTBEAT */
	uint32_t count;       /**< HEARTBEAT: instances held; DEREGISTER: removed */
	uint64_t revision;    /**< REGISTER, DEREGISTER, SET_STATUS, QUERY, LIST, WATCH_EVENT */
	int created;          /**< REGISTER */
	struct roster_result *query;       /**< QUERY: owned */
	struct roster_list *list;          /**< LIST: owned */
	struct roster_stats stats;         /**< STATS */
	uint64_t backup_bytes;             /**< BACKUP */
	uint64_t backup_ms;                /**< BACKUP */
	enum roster_watch_kind watch_kind; /**< WATCH_EVENT */
	struct roster_instance watch_inst; /**< WATCH_EVENT: packed when set */
	char reason[32];                   /**< WATCH_EVENT */
};

/**
 * Decode one frame body into @p out.
 * @return 0, ROSTER_EPROTO (not a Response), ROSTER_ENOMEM.
 */
__attribute__((warn_unused_result)) int wire_response_decode(
		const uint8_t *buf, size_t len, struct wire_response *out);

/** Free what a decoded response owns. NULL-safe. */
void wire_response_deinit(struct wire_response *r);

/** The ROSTER_E* code of an API ErrorCode value. */
int wire_error_from_code(int code);
