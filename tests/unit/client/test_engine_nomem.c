/*
 * The engine under allocation failures (tests/faults/allocfail.h), against
 * the mock registry (whose own allocations never fail here): each
 * allocation on the way from connecting to a registered endpoint, then each
 * one of a heartbeat round, fails once in turn. The client must say so (a
 * DISCONNECTED event naming the shortage, where the failure cost the
 * connection), lose nothing (the endpoint ends up registered, once per
 * lease) and recover by itself once memory returns (heartbeats go on, the
 * lease is deregistered at stop).
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>

#include "allocfail.h"
#include "client_fixture.h"
#include "roster/client.h"

#define MAX_K 400

/* A disconnect caused by a failed allocation names it: ours, or libuv's
 * when the read buffer could not be had. */
static bool names_memory(const char *msg)
{
	return strstr(msg, "out of memory") != NULL || strstr(msg, "no buffer space") != NULL;
}

static void expect_recovered(struct client_fixture *f, size_t k)
{
	cr_assert_not_null(
			mock_registry_instance_find(&f->m, "web", "http", "web1.example.net", 80),
			"k=%zu: the endpoint is registered", k);
	unsigned hb = f->n.heartbeat;
	mock_run_until(&f->loop, &f->n.heartbeat, hb + 2, 3000);
	cr_expect_eq(f->n.failed, 0, "k=%zu: nothing refused", k);
}

Test(engine_nomem, connecting_and_registering_survive_each_failed_allocation)
{
	size_t k, disconnects = 0;
	for (k = 1; k < MAX_K; k++) {
		struct client_fixture f;
		client_fixture_start(&f, NULL);
		allocfail_arm(k);
		mock_run_until(&f.loop, &f.n.registered, 1, 5000);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (f.n.disconnected > 0) {
			disconnects++;
			cr_expect(names_memory(f.n.disconnect_msg), "k=%zu: disconnected: %s", k,
					f.n.disconnect_msg);
		}
		expect_recovered(&f, k);
		client_fixture_stop(&f);
		if (!struck) {
			break;
		}
	}
	cr_assert_lt(k, MAX_K);
	cr_expect_gt(k, 5, "the path allocates: %zu", k);
	cr_expect_gt(disconnects, 0, "some failures cost the connection");
}

Test(engine_nomem, a_heartbeat_round_survives_each_failed_allocation)
{
	size_t k, disconnects = 0;
	for (k = 1; k < MAX_K; k++) {
		struct client_fixture f;
		client_fixture_start(&f, NULL);
		mock_run_until(&f.loop, &f.n.registered, 1, 2000);
		unsigned hb = f.n.heartbeat, dc = f.n.disconnected;
		allocfail_arm(k);
		mock_run_until(&f.loop, &f.n.heartbeat, hb + 1, 3000);
		bool struck = allocfail_struck();
		allocfail_disarm();
		if (f.n.disconnected > dc) {
			disconnects++;
			cr_expect(names_memory(f.n.disconnect_msg), "k=%zu: disconnected: %s", k,
					f.n.disconnect_msg);
		}
		expect_recovered(&f, k);
		client_fixture_stop(&f);
		if (!struck) {
			break;
		}
	}
	cr_assert_lt(k, MAX_K);
	cr_expect_gt(k, 2, "a heartbeat allocates: %zu", k);
	cr_expect_gt(disconnects, 0, "some failures cost the connection");
}
