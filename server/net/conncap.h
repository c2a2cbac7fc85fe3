/*
 * server/net/conncap.h - admission of accepted TCP connections: one global cap
 * and one cap per source, for each of rosterd's TCP listeners (DNS, API,
 * HTTP). The accept path of server/net/tcp.c uses it, one table per listener
 * set; the protocols only decide how to say no (struct net_tcp_ops).
 *
 * Model
 *   A listener owns one struct conncap. Every accepted connection asks
 *   conncap_admit() with its peer address and the listener's current limits
 *   (read from the config at each accept, so SIGHUP changes apply to the
 *   next connection; connections already admitted are never cut). The
 *   verdict is ADMIT, or over the global cap, or over the source's cap; the
 *   caller closes a refused connection at once (accept-and-close, NSD's
 *   tcp-reject-overflow: the client learns at once, instead of its SYN
 *   waiting in a backlog we do not drain, and the kernel's queue keeps
 *   moving). An admitted connection holds a ticket and gives it back with
 *   conncap_release() when it is freed.
 *
 *   The global cap is checked first, so a refused connection never enters
 *   the table: the table holds at most as many sources as there are open
 *   admitted connections.
 *
 * Sources
 *   An IPv4 peer is its own source (/32). An IPv6 peer is grouped by its /64:
 *   one host (or one LAN) owns a whole /64 under SLAAC and privacy
 *   addresses (RFC 4941), so counting /128s would let one machine open its
 *   cap once per address it cares to invent. IPv4-mapped IPv6 peers
 *   (::ffff:a.b.c.d, on a dual-stack socket) count as their IPv4 address. A
 *   peer whose address could not be read (it reset before we asked) counts
 *   under one shared "unknown" source.
 *
 * Cost
 *   O(1) expected per admit and release: an open-addressing hash table
 *   (linear probing, at most half full, backward-shift deletion, so no
 *   tombstones build up), keyed with SipHash-1-3 under a random key so that
 *   a client choosing its source addresses (an IPv6 /48 holds 65,536 /64s)
 *   cannot aim them at one chain. Nothing is allocated per connection: the
 *   table is allocated on the first admit and doubles when it passes half
 *   full; it never shrinks (its size is bounded by twice the largest number
 *   of sources seen at once, itself bounded by the global cap), and is freed
 *   by conncap_deinit().
 *
 * Pure: no sockets, no libuv, no logging, no clock. Not thread-safe: each
 * table belongs to the loop thread of its listener.
 */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

/** A source: 16 octets. IPv4: ::ffff:a.b.c.d. IPv6: the /64 prefix, the
 * low 64 bits zero. Unknown: all 0xff (neither form can produce it). */
struct conncap_source {
	uint8_t b[16];
};

/** What an admitted connection holds; zero it before the first admit. */
struct conncap_ticket {
	struct conncap_source src;
	bool held;
};

/** The limits of one listener, read at each admit. */
struct conncap_limits {
	uint32_t max_total;      /**< open connections of the listener */
	uint32_t max_per_source; /**< open connections of one source; UINT32_MAX: no cap */
};

enum conncap_verdict {
	CONNCAP_ADMIT = 0,
	CONNCAP_OVER_TOTAL,  /**< the listener's global cap is reached */
	CONNCAP_OVER_SOURCE, /**< this source's cap is reached */
	CONNCAP_NO_MEMORY,   /**< the table could not grow: refused, like an over-cap one */
};

/** One table slot (private; in the header so the table can be embedded). */
struct conncap_slot {
	struct conncap_source src;
	uint32_t hash;
	uint32_t n; /* open connections; 0: an empty slot */
};

/** A listener's admission table. Initialise with conncap_init(). */
struct conncap {
	struct conncap_slot *slots;
	uint32_t size;    /* slots; a power of two, or 0 before the first admit */
	uint32_t sources; /* slots in use */
	uint64_t open;    /* admitted connections not yet released */
	uint64_t key[2];  /* SipHash key */
};

/**
 * Initialise an empty table in the caller's storage. Allocates nothing, so
 * it cannot fail. The hash key comes from getrandom(2) (a clock-derived key
 * if that fails: the table then is only as flood-proof as that).
 */
void conncap_init(struct conncap *cap);

/** Free the table. Tickets still held are forgotten. NULL-safe. */
void conncap_deinit(struct conncap *cap);

/**
 * The source of a peer address (see the header comment).
 * @param sa an AF_INET or AF_INET6 address; NULL or another family gives
 *        the "unknown" source.
 */
void conncap_source_of(const struct sockaddr *sa, struct conncap_source *out);

/**
 * Decide on one accepted connection, and count it when admitted.
 * @param peer its peer address (NULL: unknown).
 * @param lim the listener's limits now.
 * @param t zeroed or released; on CONNCAP_ADMIT it is held and must be given
 *        back with conncap_release(). Unchanged otherwise.
 * @return the verdict. Only CONNCAP_ADMIT counts the connection.
 */
__attribute__((warn_unused_result)) enum conncap_verdict conncap_admit(struct conncap *cap,
		const struct sockaddr *peer, const struct conncap_limits *lim,
		struct conncap_ticket *t);

/**
 * Give back an admitted connection's place. A ticket that is not held (a
 * refused connection, or one already released) is ignored, so a module can
 * call this from its one free path for every connection.
 */
void conncap_release(struct conncap *cap, struct conncap_ticket *t);

/** Open admitted connections of @p peer's source (0 when it has none). */
uint32_t conncap_source_open(const struct conncap *cap, const struct sockaddr *peer);
