/*
 * common/error.h - Roster's error codes.
 *
 * Every fallible function in Roster returns an int: 0 on success, a negative
 * code on failure. Codes below -1000 are Roster's own; the others mirror errno
 * (RS_ENOMEM == -ENOMEM) so that system errors pass through untranslated.
 * Foreign libraries' codes (MDB_*, ldns_status, libuv's UV_E*) are translated
 * inside the one module that owns each library.
 *
 * Pure: no state, no I/O, any thread.
 */
#pragma once

#include <errno.h>
#include <stddef.h>

enum rs_error {
	RS_OK = 0,
	RS_ENOMEM = -ENOMEM,
	RS_EINVAL = -EINVAL,
	RS_ENOENT = -ENOENT,
	RS_EEXIST = -EEXIST,
	RS_EIO = -EIO,
	RS_ENOSPC = -ENOSPC,
	RS_ERANGE = -ERANGE,
	RS_EAGAIN = -EAGAIN,
	RS_EBUSY = -EBUSY,
	RS_ENOTSUP = -ENOTSUP,
	RS_ECONNREFUSED = -ECONNREFUSED,
	RS_ETIMEDOUT = -ETIMEDOUT,
	RS_EPERM = -EPERM, /**< no token, a token outside its scopes, another's instance */

	/* Names and labels (RFC 1035 2.3.4, RFC 1123 2.1). */
	RS_ENAME_EMPTY = -1000,      /**< empty name or empty label ("a..b") */
	RS_ENAME_LABEL_LONG = -1001, /**< a label over 63 octets */
	RS_ENAME_LONG = -1002,       /**< a name over 255 octets in wire form */
	RS_ENAME_CHAR = -1003,       /**< a character outside letters, digits, hyphen */
	RS_ENAME_HYPHEN = -1004,     /**< a label starting or ending with a hyphen */
	RS_ENAME_NUMERIC = -1005,    /**< an all-numeric top label (RFC 1123 2.1) */
	RS_ENAME_SINGLE = -1006,     /**< a host of one label: an SRV target is absolute */

	/* Addresses and endpoints. */
	RS_EADDR = -1010, /**< not an IPv4 or IPv6 address */
	RS_EPORT = -1011, /**< port missing, zero or over 65535 */

	/* Framing of the registration API. */
	RS_EFRAME_EMPTY = -1020, /**< a zero-length frame */
	RS_EFRAME_BIG = -1021,   /**< a length prefix over the limit */
	RS_EFRAME_TRUNC = -1022, /**< the stream ended inside a frame */
	RS_EPROTO = -1023,       /**< a frame that is not a valid message */

	/* Registry semantics. */
	RS_ELEASE = -1030,  /**< unknown or expired lease */
	RS_ELIMIT = -1031,  /**< a configured limit was reached */
	RS_ETTL = -1032,    /**< a TTL outside the allowed range */
	RS_ESTATUS = -1033, /**< a status value that cannot be set */
	RS_EFIXED = -1034,  /**< the instance is static (--static): not changed by the API */

	/* Storage. */
	RS_ESTORE_FULL = -1040,    /**< the store's map is full and cannot grow */
	RS_ESTORE = -1041,         /**< any other storage failure */
	RS_ESTORE_PANIC = -1042,   /**< the store is unusable; the process must restart */
	RS_ESTORE_DAMAGED = -1043, /**< the store's files are damaged: restore or reset */

	/* Configuration. */
	RS_ECONF = -1050, /**< a bad configuration line or value */
};

/**
 * A short, static, human-readable description of an error code.
 * @param err a code returned by any Roster function (0 or negative).
 * @return a string with static lifetime; "unknown error" for codes we do not know.
 */
const char *rs_strerror(int err);

/**
 * Write a one-line message into a caller's error buffer and return a code:
 * the last line of a function that reports its failure as a code plus a
 * message (config parsing, flags).
 * @param err the buffer; the message is truncated to fit @p errsz.
 * @param code returned as is.
 * @return @p code.
 */
int rs_error_printf(char *err, size_t errsz, int code, const char *fmt, ...)
		__attribute__((format(printf, 4, 5)));
