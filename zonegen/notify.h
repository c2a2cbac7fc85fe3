/*
 * zonegen/notify.h - DNS NOTIFY (RFC 1996) for the zones a run changed.
 *
 * One UDP message per (zone, target): opcode NOTIFY, AA, the zone's SOA in
 * the question and, as RFC 1996 3.7 allows, the new SOA in the answer
 * section, so that a secondary that asks the primary before it has reloaded
 * keeps the notified serial in mind and retries (NSD does). Every message
 * is sent at once; those without an answer are sent again, up to
 * ZG_NOTIFY_TRIES times, ZG_NOTIFY_WAIT_MS apart (RFC 1996 3.6). Blocking,
 * bounded in time; one thread. Only the addresses given are contacted.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define ZG_NOTIFY_TRIES 3
#define ZG_NOTIFY_WAIT_MS 700

/** The SOA a NOTIFY carries. */
struct zg_notify_soa {
	const char *zone; /**< canonical */
	const char *mname;
	const char *rname;
	uint32_t ttl;
	uint32_t serial;
	uint32_t refresh, retry, expire, minimum;
};

/**
 * Build one NOTIFY message.
 * @param soa the zone and its SOA.
 * @param id the message ID.
 * @param out buffer; 1024 octets always suffice.
 * @return the message length, an RS_ENAME_* code for a bad name, or
 *         RS_ERANGE when @p outsz is too small (@p out then holds a part).
 */
__attribute__((warn_unused_result)) int zg_notify_build(
		const struct zg_notify_soa *soa, uint16_t id, uint8_t *out, size_t outsz);

/**
 * Send NOTIFY for @p nzones zones to @p ntargets targets and wait for the
 * answers.
 * @param rcodes out: per (zone * ntargets + target) the answer's RCODE, or
 *        -1 when no answer came after every try.
 * @return 0, RS_ENOMEM, or a negative errno when no socket could be opened.
 */
__attribute__((warn_unused_result)) int zg_notify_send(const struct zg_notify_soa *zones,
		size_t nzones, const struct sockaddr_storage *targets, size_t ntargets,
		int *rcodes);
