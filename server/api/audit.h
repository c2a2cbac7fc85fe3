/*
 * server/api/audit.h - the API's audit log (--audit-log FILE).
 *
 * One JSON line per accepted or refused write, and per refused request of
 * any kind (server/api/ops.h decides which: struct api_ops_audit):
 *   {"time":"2026-05-01T10:00:00.123Z","source":"10.1.2.3:40000",
 *    "token":"deploy","op":"set_status","instance":"_web._tcp h.example.net:443",
 *    "result":"PERMISSION_DENIED","reason":"owner"}
 * "token" is null on a connection without one (an open API, or before
 * Authenticate); "reason" is there for refusals only (unauthenticated,
 * scope, owner, bad_token); under --api-tokens-dry-run a refusal that was
 * not made is "would_refuse" instead, with the result the request got. Accepted heartbeats are not
 * logged: they are the hot path and change nothing an operator audits. Strings from clients are
 * escaped (\uXXXX for bytes outside printable ASCII).
 *
 * The file is common/linelog.h's, as the client report log: whole lines
 * in one append each, a size cap with one rotated file (<file>.1), errors
 * counted, never fatal.
 *
 * Must not: decide what is audited (ops.c does), touch the loop.
 * Threads: main loop only.
 */
#pragma once

#include <stdint.h>

#include "common/linelog.h"
#include "server/api/ops.h"

/**
 * Append one line for @p a.
 * @param wall_ms wall clock, ms since the epoch.
 * @param source the client's address text.
 * @param token the token's name, or NULL.
 * @return true if the line was written whole (false: counted in
 *         log->errors, or the log is closed).
 */
bool api_audit_write(struct rs_linelog *log, uint64_t wall_ms, const char *source,
		const char *token, const struct api_ops_audit *a);
