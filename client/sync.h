/*
 * client/sync.h - one blocking request/response exchange with a registry.
 *
 * Opens a TCP connection, sends one request frame, reads frames until the
 * response with the request's id, closes. Everything (connect included) fits
 * in one deadline. Used by queries and one-shot writes, so they never share
 * the engine's connections or wait behind its heartbeats.
 *
 * Blocking; any thread; no state between calls.
 */
#pragma once

#include <stdint.h>
#include <sys/socket.h>

#include "client/wire.h"

/**
 * @param addr the registry.
 * @param rq the request; its id is used to match the response.
 * @param token NULL, or sent first as Authenticate (its answer awaited); a
 *        refusal (any error but UNSUPPORTED, an older registry) is returned
 *        in @p out as the request's answer, with the request's id.
 * @param timeout_ms the deadline for the whole exchange.
 * @param out the response (release with wire_response_deinit()) when 0 is
 *        returned; its error field carries the registry's verdict. That is
 *        also the case for our frame over the registry's limit, which it
 *        answers with id 0 before it closes (out->id is then 0), and for a request
 *        over the registry's frame limit, which is not sent (out->error
 *        ROSTER_ELIMIT, out->too_large set).
 * @return 0 when a response arrived; ROSTER_EUNREACHABLE (connect failed,
 *         or the registry turned the connection away: its connection limit,
 *         its address list, a shutdown; then out->message holds its reason,
 *         else it is empty, and nothing in @p out needs releasing),
 *         ROSTER_ETIMEDOUT, ROSTER_EPROTO (a bad frame), ROSTER_ENOMEM, or a
 *         negated errno of a failed read/write.
 */
__attribute__((warn_unused_result)) int sync_call(const struct sockaddr_storage *addr,
		const struct wire_request *rq, const char *token, uint32_t timeout_ms,
		struct wire_response *out);
