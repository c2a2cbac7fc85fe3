/*
 * common/name.h - validation and conversion of DNS names and labels.
 *
 * Owns nothing: every function works on caller-provided buffers. Pure, no
 * allocation, any thread.
 *
 * Roster accepts, from clients and inventories, only names that are safe to
 * put into DNS answers and zone files:
 *   - a label is 1..63 octets of letters, digits and hyphens, neither starting
 *     nor ending with a hyphen (RFC 1035 2.3.1, relaxed by RFC 1123 2.1 to
 *     allow a leading digit);
 *   - a name is labels separated by dots, at most 255 octets in wire form
 *     (RFC 1035 2.3.4), i.e. at most 253 characters of text without the final
 *     dot; a single trailing dot marks it fully qualified;
 *   - a host name's last label is not all-numeric (RFC 1123 2.1), so that
 *     "10.1.2.3" is never mistaken for a host name.
 * Service and protocol names (the "_x" of SRV owners) are single labels under
 * the same rule; the underscore is added by Roster, never accepted from users.
 * With RS_NAME_UNDERSCORE, labels may also contain '_' (hand-maintained zone
 * records such as _deploy or _sip._tcp owners).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RS_LABEL_MAX 63
#define RS_NAME_WIRE_MAX 255
/** Longest text form: 253 characters, a trailing dot and a NUL. */
#define RS_NAME_TEXT_MAX 255

enum rs_name_flags {
	RS_NAME_UNDERSCORE = 1 << 0,  /**< also accept '_' inside labels */
	RS_NAME_NUMERIC_TOP = 1 << 1, /**< allow an all-numeric last label */
};

/**
 * Check one label.
 * @param label the label's characters (not NUL-terminated, no dots).
 * @param len its length in octets.
 * @param flags RS_NAME_* flags.
 * @return 0, RS_ENAME_EMPTY, RS_ENAME_LABEL_LONG, RS_ENAME_CHAR or RS_ENAME_HYPHEN.
 */
__attribute__((warn_unused_result)) int rs_label_check(
		const char *label, size_t len, unsigned flags);

/**
 * Check a name in text form ("host.example.net" or "host.example.net.").
 * The root name "." is rejected: no registration or zone record of ours uses it.
 * @param text NUL-terminated name.
 * @param flags RS_NAME_* flags.
 * @return 0 or one of the RS_ENAME_* codes for the first fault found.
 */
__attribute__((warn_unused_result)) int rs_name_check(const char *text, unsigned flags);

/**
 * Whether a name in text form is a single label ("web1" or "web1."): as
 * an SRV target it would be the absolute "web1.", which no resolver finds,
 * so hosts of one label are refused (RS_ENAME_SINGLE).
 */
bool rs_name_single_label(const char *text);

/**
 * Check a name and write its canonical text form: lower case, with exactly
 * one trailing dot.
 * @param text NUL-terminated name.
 * @param flags RS_NAME_* flags.
 * @param out buffer of at least RS_NAME_TEXT_MAX octets.
 * @return the length of @p out without its NUL, or an RS_ENAME_* code.
 */
__attribute__((warn_unused_result)) int rs_name_canonical(
		const char *text, unsigned flags, char out[RS_NAME_TEXT_MAX]);

/**
 * Convert a checked text name to uncompressed wire form, lower-cased.
 * @param text NUL-terminated name; a missing trailing dot is implied.
 * @param flags RS_NAME_* flags, as for rs_name_check().
 * @param wire buffer of RS_NAME_WIRE_MAX octets.
 * @return the wire length (2..255), or an RS_ENAME_* code.
 */
__attribute__((warn_unused_result)) int rs_name_to_wire(
		const char *text, unsigned flags, uint8_t wire[RS_NAME_WIRE_MAX]);

/**
 * Convert an uncompressed wire name to text with a trailing dot. Octets other
 * than letters, digits, '-' and '_' are written as \DDD (RFC 1035 5.1), '.'
 * and '\' inside labels as \. and \\.
 * @param wire the name; at most RS_NAME_WIRE_MAX octets are read.
 * @param len the octets available at @p wire.
 * @param out buffer for the text.
 * @param outsz its size; 1024 always suffices (4 * 255 + NUL).
 * @return the text length, RS_EPROTO for a malformed wire name, RS_ERANGE if
 *         @p out is too small.
 */
__attribute__((warn_unused_result)) int rs_name_from_wire(
		const uint8_t *wire, size_t len, char *out, size_t outsz);

/**
 * Length of an uncompressed wire name, checking its structure.
 * @return 2..255 (1 for the root), or RS_EPROTO if it has a compression
 *         pointer, a bad label type, runs past @p len or over 255 octets.
 */
__attribute__((warn_unused_result)) int rs_name_wire_len(const uint8_t *wire, size_t len);

/** ASCII-only lower-casing, as DNS compares names (RFC 4343). */
static inline uint8_t rs_ascii_lower(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + 32) : c;
}

/**
 * Case-insensitive equality of two uncompressed wire names of known length.
 * @return 1 if equal, 0 otherwise.
 */
int rs_name_wire_equal(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);
