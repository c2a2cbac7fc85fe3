/*
 * server/dns/refusal.h - which refused zone transfers to log: at most once
 * a minute per source address and reason, in a small bounded table.
 *
 * Model
 *   A refusal (server/dns/answer.h, answer_result.xfr_refused) is counted
 *   every time (roster_dns_transfers_total{result}) but logged only when
 *   refusal_admit() says so: the first time a (source, reason) is seen, then
 *   again once REFUSAL_QUIET_MS has passed. The table holds REFUSAL_SLOTS
 *   pairs; when every slot was used within the last REFUSAL_QUIET_MS (a
 *   flood from many sources), a new pair is not logged but counted in
 *   @c suppressed, so the log takes at most REFUSAL_SLOTS lines a minute
 *   whatever arrives. Only the address counts, not the port.
 *
 * Threads
 *   Any: a mutex guards the table (DNS worker threads answer UDP IXFR too).
 *   Refusals are rare; the lock is never taken for an answered query.
 *
 * Must not
 *   Log (the caller, dnsio, does), read clocks (the time comes in).
 */
#pragma once

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct sockaddr;

#define REFUSAL_SLOTS 64
#define REFUSAL_QUIET_MS 60000u

struct refusal_slot {
	uint8_t addr[16]; /**< IPv4 as IPv4-mapped IPv6 */
	uint8_t reason;
	bool used;
	uint64_t last_ms;
};

/** The table; in the caller's storage (refusal_init()). */
struct refusal_log {
	pthread_mutex_t lock;
	struct refusal_slot slot[REFUSAL_SLOTS];
	uint64_t suppressed; /**< refusals not logged because the table was full */
};

/** Prepare an empty table. */
void refusal_init(struct refusal_log *l);

/** Release the mutex. */
void refusal_deinit(struct refusal_log *l);

/**
 * Should this refusal be logged now?
 * @param addr the source (AF_INET or AF_INET6); NULL is never logged.
 * @param reason any small code (enum answer_xfr_result).
 * @param now_ms a monotonic clock, milliseconds.
 * @return true the first time this (address, reason) is seen in
 *         REFUSAL_QUIET_MS, false otherwise.
 */
bool refusal_admit(struct refusal_log *l, const struct sockaddr *addr, unsigned reason,
		uint64_t now_ms);
