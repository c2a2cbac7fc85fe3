/*
 * tests/unit/client/client_fixture.h - one libroster client on a private
 * loop against the mock registry (mock_registry.h), counting its events: the
 * fixture of the engine's loop tests (test_engine.c, test_reconnect.c,
 * test_frame_limit.c, test_eps.c, test_lease.c, one of test_watch.c).
 *
 * The client has one endpoint (web/http on web1.example.net:80; on request a
 * second, oversized one, or a plain one of another host), TTL 1 s, backoff
 * from 10 ms, and the options below. Its REGISTERED events are checked to
 * be of one of its endpoints, with a revision. The teardown stops the
 * client, expects its lease deregistered at the mock, and every handle of
 * the loop closed.
 */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "mock_registry.h"
#include "roster/client.h"

/** What the client's events said, counted. */
struct client_counters {
	unsigned connected, disconnected, lease, lease_lost, registered, heartbeat, deregistered;
	unsigned failed;          /**< REGISTER_FAILED */
	int failed_error;         /**< the last REGISTER_FAILED's */
	char failed_host[64];     /**< the last REGISTER_FAILED's endpoint */
	char disconnect_msg[128]; /**< the last DISCONNECTED's message */
	uint64_t leases_seen[8];  /**< the lease of each REGISTERED, the first 8 */
	size_t n_leases_seen;
};

struct client_fixture {
	uv_loop_t loop;
	struct mock_registry m;
	struct client_counters n;
	struct roster_client *c;
	char server[32];
	char *big;            /**< web2's metadata value, with opts.big_value_len */
	char second_host[64]; /**< opts.second_host, or "" */
	roster_event_cb on_event;
	void *on_event_ud;
};

/** Options of client_fixture_start(); zero fields take the default. */
struct client_fixture_opts {
	uint32_t backoff_max_ms;             /**< default 50 */
	uint32_t timeout_ms;                 /**< default 500 */
	int silent;                          /**< the mock answers nothing from the start */
	uint32_t max_frame;                  /**< the mock's --max-frame (mock_registry.h) */
	size_t big_value_len;                /**< nonzero: a second endpoint, web2.example.net:80,
					      * with one metadata value this long */
	const char *second_host;             /**< a second plain endpoint, web/http on this host,
					      * port 80 */
	uint32_t ttl_seconds;                /**< the lease TTL asked for; default 1 */
	const struct mock_registry_ops *ops; /**< the mock's hooks */
	void *ud;                            /**< their @p ud */
	roster_event_cb on_event;            /**< called for every event, after counting */
	void *on_event_ud;
	const char *token; /**< the API token (cfg.token), or NULL */
};

/** Start the mock and the client on f->loop. @p o may be NULL. */
void client_fixture_start(struct client_fixture *f, const struct client_fixture_opts *o);

/** Stop the client (its lease deregistered), the mock and the loop. */
void client_fixture_stop(struct client_fixture *f);
