/*
 * server/api/convert.h - protobuf <-> store for the registration API: error
 * codes, statuses, instances and registrations, and the framing of one
 * message into an output buffer.
 *
 * Internal to server/api: the one header that names protobuf-c's generated
 * types (roster.pb-c.h). Included by the API's .c files only (ops.c,
 * watch.c), never by a header another module reads: generated types never
 * cross a module boundary (STYLE).
 *
 * Must not: touch the store (conversions read store structs they are
 *   given), a socket or the loop.
 *
 * Threads: any; every function works on its arguments alone.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/arena.h"
#include "roster.pb-c.h"
#include "server/api/ops_out.h"
#include "server/registry/store.h"

/** A Request unpacked under a byte budget (api_convert_request_unpack()). */
struct api_convert_request {
	Roster__V1__Request *q; /**< NULL: not a valid Request, or over its budget */
	size_t budget_left;     /**< bytes protobuf-c may still allocate */
	bool nomem;             /**< an allocation failed for lack of memory */
	ProtobufCAllocator alloc;
};

/**
 * Unpack one frame into a Request. protobuf-c allocates under a budget of
 * eight times the frame's size (at least 64 KiB), so that a small frame
 * cannot make the server allocate gigabytes: a frame that would need more
 * is not a Request (r->q NULL).
 * @param r the caller's storage; it must not move until
 *        api_convert_request_free(), which the caller calls either way.
 * @return 0 (r->q set); RS_EPROTO when the frame is not a Request or would
 *         pass its budget; RS_ENOMEM when the server ran out of memory
 *         while unpacking it (the frame may well be valid: say so, and do
 *         not count it against the client).
 */
__attribute__((warn_unused_result)) int api_convert_request_unpack(
		struct api_convert_request *r, const uint8_t *frame, size_t len);

/**
 * The id of a Request frame read off its wire form (field 1, the last one
 * wins), for answering a frame that could not be unpacked.
 * @return the id, or 0 when there is none or the frame ends inside a field.
 */
uint64_t api_convert_request_id(const uint8_t *frame, size_t len);

/**
 * Check every string field of a Request frame that unpacked (any depth:
 * the instance, its metadata map, the identity...) for a NUL byte, which
 * protobuf-c's unpacked C strings would silently end at: "web\0x" would
 * become "web". Walks the wire form with the message descriptors.
 * @param msg names the field at fault ("instance.host").
 * @return 0, or RS_ENAME_CHAR with @p msg set.
 */
__attribute__((warn_unused_result)) int api_convert_request_strings_check(
		const uint8_t *frame, size_t len, char *msg, size_t msgsz);

/**
 * Check a metadata entry against its grammar: a key is 1..255 printable
 * ASCII bytes (0x21..0x7e) other than '='; a value has no control bytes
 * (0x00..0x1f, 0x7f).
 * @return 0, or RS_EINVAL with @p msg naming the entry and the byte.
 */
__attribute__((warn_unused_result)) int api_convert_meta_check(
		const char *key, const char *value, char *msg, size_t msgsz);

/** Free what api_convert_request_unpack() allocated. NULL-safe for r->q. */
void api_convert_request_free(struct api_convert_request *r);

/** @return the wire ErrorCode of a Roster error code (INTERNAL for the unknown). */
Roster__V1__ErrorCode api_convert_error_code(int rc);

/** @return the wire Status of a store status (enum store_status). */
Roster__V1__Status api_convert_status_to_pb(uint8_t status);

/**
 * Fill @p pb from @p i, for a Query reply or a watch event.
 * @param service, protocol the instance's names (the journal's copies have
 *        no service pointer).
 * @param a addresses and metadata are allocated here; @p pb's strings point
 *        into @p i and @p a: valid until the arena's reset or the store's
 *        next change, whichever comes first.
 * @return 0, or RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int api_convert_instance_to_pb(struct rs_arena *a,
		const char *service, const char *protocol, const struct store_instance *i,
		Roster__V1__Instance *pb);

/**
 * A registration from the wire, checked against the limits that the
 * conversion itself must enforce (addresses, metadata entries: the arrays
 * are sized from them) and with its addresses parsed.
 * @param lease 0 for a permanent registration.
 * @param a the addresses and metadata arrays are allocated here; @p reg's
 *        strings point into @p pb: valid while both are.
 * @param msg on failure, a one-line message naming the value at fault.
 * @return 0; RS_ESTATUS (unknown status), RS_ELIMIT (too many addresses or
 *         metadata entries), RS_EADDR (an address that is not IPv4 or IPv6),
 *         RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int api_convert_registration(const Roster__V1__Instance *pb,
		uint64_t lease, const struct store_limits *limits, struct rs_arena *a,
		struct store_registration *reg, char *msg, size_t msgsz);

/**
 * Append @p msg to @p out as one frame (a 4-byte big-endian length, then
 * the packed message).
 * @return 0, or RS_ENOMEM (@p out unchanged).
 */
__attribute__((warn_unused_result)) int api_convert_append(
		struct api_ops_out *out, const ProtobufCMessage *msg);

/* Append a successful Response whose oneof result is the @p field member
 * (case @p CASE) pointing at @p msg_: the envelope every answer shares.
 * Evaluates to api_convert_append()'s result. */
#define API_CONVERT_RESULT_APPEND(out_, id_, CASE, field, msg_)                                    \
	({                                                                                         \
		Roster__V1__Response r_ = ROSTER__V1__RESPONSE__INIT;                              \
		r_.id = (id_);                                                                     \
		r_.result_case = ROSTER__V1__RESPONSE__RESULT_##CASE;                              \
		r_.field = (msg_);                                                                 \
		api_convert_append((out_), &r_.base);                                              \
	})
