/*
 * server/api/tokens.h - the API's tokens (--api-tokens FILE): the token
 * file, the lookup of a presented token, and what each scope allows.
 *
 * Model
 *   The file holds one token per line:
 *       <name> sha256:<64 hex digits> <scope>[,<scope>]...
 *   Blank lines and lines starting with '#' are skipped. A name is 1..64
 *   letters, digits, '.', '_' or '-', unique in the file. The registry keeps
 *   only the SHA-256 of each token, never the token: a client's token is
 *   hashed (libsodium's crypto_hash_sha256) and its digest compared with
 *   every entry's in constant time (sodium_memcmp), all entries each time,
 *   so neither the comparison nor the position of a match leaks through
 *   timing.
 *   Scopes:
 *     read               Query, List, Watch, Stats (and CancelWatch);
 *     write:<glob>       OpenLease, Heartbeat, Register, Deregister,
 *                        SetStatus on services whose name matches the
 *                        fnmatch(3) glob (lower case; implies read);
 *     admin              everything, and changes to another lease's
 *                        instances.
 *   A set is immutable once parsed: SIGHUP parses a new one and swaps it
 *   in; a file that does not parse leaves the old set in force.
 *
 * Must not: log (the caller says what went wrong, with the message given),
 *   touch the loop. The only server/api file that includes <sodium.h>.
 *
 * Threads: any; a set is read-only after api_tokens_parse().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define API_TOKEN_NAME_MAX 64
#define API_TOKEN_DIGEST 32

/** Scope bits of a token. */
enum api_token_scope {
	API_SCOPE_READ = 1u << 0,
	API_SCOPE_WRITE = 1u << 1, /**< at least one write:<glob> */
	API_SCOPE_ADMIN = 1u << 2,
};

/** One line of the file. */
struct api_token {
	char name[API_TOKEN_NAME_MAX + 1];
	/** Owner tag of the leases opened with it: a hash of the name (names
	 * outlive a reload of the file), never 0 (0 is "no owner"). */
	uint64_t tag;
	uint8_t digest[API_TOKEN_DIGEST]; /**< SHA-256 of the token */
	unsigned scopes;                  /**< enum api_token_scope bits */
	char **globs;                     /**< the write:<glob> patterns, lower case */
	size_t nglobs;
};

/** A parsed token file. */
struct api_tokens {
	struct api_token *v;
	size_t n;
};

/**
 * Parse a token file's text.
 * @param text the content (need not be NUL-terminated; a NUL byte in it is
 *        an error).
 * @param out set to a new set (free with api_tokens_free()) on success.
 * @param err one line naming the line number and the fault.
 * @return 0; RS_ECONF (a bad line, or no token at all: @p err says which);
 *         RS_ENOMEM.
 */
__attribute__((warn_unused_result)) int api_tokens_parse(
		const char *text, size_t len, struct api_tokens **out, char *err, size_t errsz);

/**
 * Read and parse @p path (at most 1 MiB).
 * @param err "<path>: line <n>: <fault>", or "<path>: <read error>".
 * @return 0; RS_ECONF; RS_ENOMEM; a negative errno (cannot read).
 */
__attribute__((warn_unused_result)) int api_tokens_load(
		const char *path, struct api_tokens **out, char *err, size_t errsz);

/** Free a set. NULL-safe. */
void api_tokens_free(struct api_tokens *t);

/** SHA-256 of @p len bytes at @p token into @p digest. */
void api_tokens_digest(const void *token, size_t len, uint8_t digest[API_TOKEN_DIGEST]);

/**
 * The entry whose digest is @p digest, compared in constant time with
 * every entry. @return a view valid for the set's life, or NULL.
 */
const struct api_token *api_tokens_find(
		const struct api_tokens *t, const uint8_t digest[API_TOKEN_DIGEST]);

/** May @p tok read (Query, List, Watch, Stats)? NULL: no. */
bool api_token_can_read(const struct api_token *tok);

/**
 * May @p tok write @p service (a lower- or mixed-case label)?
 * @param service NULL: does it hold any write scope (OpenLease, Heartbeat,
 *        a lease's Deregister)?
 */
bool api_token_can_write(const struct api_token *tok, const char *service);

/** Is @p tok an admin token? NULL: no. */
bool api_token_is_admin(const struct api_token *tok);
