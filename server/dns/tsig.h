/*
 * server/dns/tsig.h - TSIG (RFC 8945) with hmac-sha256 and hmac-sha512: the
 * key file, and signing and verifying DNS messages in the caller's buffers.
 *
 * Model
 *   Keys come from a file in BIND's syntax, which NSD, Knot and BIND
 *   configurations can share:
 *       key "name" { algorithm hmac-sha256; secret "base64"; };
 *   several per file; comments #, // and slash-star; names quoted or bare.
 *   tsig_keyring_load() reads it whole at start; the keyring is then
 *   read-only and may be shared by every thread.
 *
 *   A signed exchange keeps its state in a struct tsig_state, the caller's:
 *     server side  tsig_request_verify() on a query (the TSIG RR is the last
 *                  record of the additional section): which key, the
 *                  request MAC, or the TSIG error to answer with; then
 *                  tsig_response_sign() on each message of the answer, in
 *                  order: the first one covers the request MAC and the full
 *                  TSIG variables (RFC 8945 4.3.3), every later one the
 *                  previous message's MAC and the timers only (5.3.1).
 *     client side  tsig_request_sign() on a request we send (NOTIFY), then
 *                  tsig_response_verify() on each message of its answer.
 *   Signing appends the TSIG RR to the message in place and adds one to
 *   ARCOUNT; the caller leaves tsig_size() octets of room for it.
 *
 *   The MAC is libsodium's HMAC (crypto_auth_hmacsha256/512, any key
 *   length); MACs are compared with sodium_memcmp() (constant time).
 *   Nothing here allocates except the keyring; the hot path (a signed query
 *   and its answer) works in the caller's buffers and on the stack.
 *
 * Threads
 *   Any. A keyring is immutable once loaded; a tsig_state belongs to one
 *   exchange.
 *
 * Must not
 *   Read clocks (the time comes in), log (errors come back as text or
 *   codes), open sockets. No libsodium type appears here: tsig.c is one of
 *   the two files that include <sodium.h> (cookie.c is the other).
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/name.h"

/** The largest MAC (hmac-sha512). */
#define TSIG_MAC_MAX 64u
/** The fudge we sign with, and the most we accept from a request, seconds
 * (RFC 8945 10 recommends 300). */
#define TSIG_FUDGE 300u
/** The largest secret a key file may hold, octets. */
#define TSIG_SECRET_MAX 256u
/** The largest TSIG RR tsig_size() can return: a 255-octet key name, the
 * longest algorithm name, a 64-octet MAC and 6 octets of Other Data. */
#define TSIG_RR_MAX (255u + 10u + 13u + 16u + TSIG_MAC_MAX + 6u)

/** TSIG error codes (RFC 8945 3; the TSIG RR's Error field). */
enum tsig_error {
	TSIG_NOERROR = 0,
	TSIG_BADSIG = 16,
	TSIG_BADKEY = 17,
	TSIG_BADTIME = 18,
	TSIG_BADTRUNC = 22,
};

enum tsig_alg {
	TSIG_HMAC_SHA256 = 0,
	TSIG_HMAC_SHA512 = 1,
};

/** One key of a key file. */
struct tsig_key {
	char name[RS_NAME_TEXT_MAX]; /**< canonical text, with the trailing dot */
	uint8_t wire[RS_NAME_WIRE_MAX];
	uint8_t wire_len; /**< the name, lower-cased uncompressed wire form */
	enum tsig_alg alg;
	uint8_t secret[TSIG_SECRET_MAX];
	uint16_t secret_len;
};

/** The keys of one file. */
struct tsig_keyring {
	struct tsig_key *keys;
	size_t n;
};

/** What a verification decided. */
enum tsig_verdict {
	TSIG_OK = 0,     /**< signed with st->key, MAC and time good */
	TSIG_FAIL = 1,   /**< answer NOTAUTH with st->error in an (un)signed TSIG RR */
	TSIG_FORMERR = 2 /**< a malformed TSIG RR, or none where one must be */
};

/**
 * One signed exchange: filled by tsig_request_verify() or
 * tsig_request_sign(), then advanced by each message signed or verified.
 * Plain data; copy or zero it freely.
 */
struct tsig_state {
	const struct tsig_key *key; /**< NULL: the request's key is unknown (BADKEY) */
	uint16_t error;             /**< enum tsig_error to answer with */
	uint16_t orig_id;           /**< the request's Original ID */
	uint64_t time_signed;       /**< the request's Time Signed */
	uint16_t mac_len;           /**< the request's MAC, then each message's */
	uint8_t mac[TSIG_MAC_MAX];
	uint32_t messages; /**< messages of the answer signed or verified so far */
	/* The request's key and algorithm names as sent (lower-cased,
	 * uncompressed), echoed in a BADKEY answer. */
	uint8_t name[RS_NAME_WIRE_MAX];
	uint8_t name_len;
	uint8_t alg_name[RS_NAME_WIRE_MAX];
	uint8_t alg_name_len;
};

/**
 * Parse a key file's text.
 * @param text the file's content (need not be NUL-terminated); @param len its length.
 * @param label the file name used in messages ("FILE:LINE: ...").
 * @param out on success, a new keyring (free with tsig_keyring_free()); it
 *        holds at least one key.
 * @param err on failure a one-line message naming label:line and the fault
 *        (syntax, an unknown statement, an unsupported algorithm, a secret
 *        that is not base64 or is empty or over TSIG_SECRET_MAX, a key
 *        without algorithm or secret, a duplicate key name, no key at all).
 * @return 0, RS_ECONF, RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int tsig_keyring_parse(const char *text, size_t len,
		const char *label, struct tsig_keyring **out, char *err, size_t errsz);

/**
 * Read and parse a key file (tsig_keyring_parse()).
 * @return 0, RS_ECONF (also for a file that cannot be read: the message says
 *         why), RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int tsig_keyring_load(
		const char *path, struct tsig_keyring **out, char *err, size_t errsz);

/** Free a keyring, wiping its secrets. NULL-safe. */
void tsig_keyring_free(struct tsig_keyring *kr);

/**
 * The key named @p name (text, any case, trailing dot optional).
 * @return a pointer into @p kr (valid until it is freed), or NULL.
 */
const struct tsig_key *tsig_keyring_find(const struct tsig_keyring *kr, const char *name);

/** The canonical algorithm name ("hmac-sha256."). */
const char *tsig_alg_name(enum tsig_alg alg);

/**
 * Verify the TSIG of a request (a query, a NOTIFY): its last record, which
 * must be a TSIG RR of class ANY. The checks run in RFC 8945 5.2's order:
 * the key (name and algorithm: BADKEY), the MAC (BADSIG), the time (BADTIME:
 * outside min(its fudge, TSIG_FUDGE) of @p now), a truncated MAC (BADTRUNC;
 * we accept only full-length MACs).
 * @param kr the keys; NULL means none (every key unknown).
 * @param now the wall clock, seconds since the epoch.
 * @param st filled: on TSIG_OK the key and the request MAC, ready for
 *        tsig_response_sign(); on TSIG_FAIL what tsig_response_sign() needs
 *        to write the error's TSIG RR (unsigned for BADKEY and BADSIG).
 * @return TSIG_OK, TSIG_FAIL (st->error says why), TSIG_FORMERR (no TSIG
 *         RR last, a malformed one, a MAC size that is not a valid
 *         truncation, RFC 8945 5.2.2.1).
 */
enum tsig_verdict tsig_request_verify(const struct tsig_keyring *kr, const uint8_t *msg, size_t len,
		uint64_t now, struct tsig_state *st);

/**
 * The octets the TSIG RR of the next message signed with @p st takes (the
 * room to leave for it). At most TSIG_RR_MAX.
 */
size_t tsig_size(const struct tsig_state *st);

/**
 * Sign the next message of the answer to a verified request: append its
 * TSIG RR and add one to ARCOUNT. The first message covers the request MAC
 * and the TSIG variables; later ones (a multi-message transfer) the previous
 * message's MAC and the timers (RFC 8945 5.3.1). After a failed
 * verification (st->error set) the RR carries the error: no MAC for BADKEY
 * and BADSIG (5.3.2); for BADTIME signed, with the request's Time Signed and
 * our time in Other Data (5.2.3).
 * @param msg the unsigned message, @p *len octets, in a buffer of @p cap.
 * @param now the wall clock, seconds.
 * @return 0 (*len updated, st advanced); RS_ENOSPC (not enough room: the
 *         message is unchanged).
 */
__attribute__((warn_unused_result)) int tsig_response_sign(
		struct tsig_state *st, uint8_t *msg, size_t *len, size_t cap, uint64_t now);

/**
 * Sign a request we send (a NOTIFY): append the TSIG RR (Original ID = the
 * message's ID) and add one to ARCOUNT, and set @p st up to verify the
 * answer with tsig_response_verify().
 * @param key the key (from a keyring).
 * @param msg the unsigned request, @p *len octets, in a buffer of @p cap.
 * @param now the wall clock, seconds.
 * @return 0; RS_ENOSPC (message unchanged).
 */
__attribute__((warn_unused_result)) int tsig_request_sign(const struct tsig_key *key,
		struct tsig_state *st, uint8_t *msg, size_t *len, size_t cap, uint64_t now);

/**
 * Verify the next message of the answer to a request signed with
 * tsig_request_sign() (a NOTIFY's acknowledgement), or of a transfer we
 * asked (tests): the first covers the request MAC, later ones the previous
 * MAC and the timers. Every message must be signed.
 * @param now the wall clock, seconds.
 * @return TSIG_OK (st advanced); TSIG_FAIL with st->error: BADKEY (another
 *         key or algorithm), BADSIG (a bad MAC), BADTIME, or the error the
 *         server put in its TSIG RR (then unsigned); TSIG_FORMERR (no TSIG
 *         RR last, or a malformed one).
 */
enum tsig_verdict tsig_response_verify(
		struct tsig_state *st, const uint8_t *msg, size_t len, uint64_t now);
