/*
 * The endpoints on one registry connection (client/eps.c), on a private loop
 * against the in-process mock registry: what a registry's answer to a
 * Register or a Deregister does to an endpoint. A removal answered "not
 * found" is done; a refusal the registry may get over (its store failed or
 * was full, it was unavailable) is retried and a final one is not; an answer
 * to an older generation of an endpoint does not stand for a change made
 * while it was in flight; a Register answered UNKNOWN_LEASE reopens the
 * lease. Each test checks both the client's events and what the mock saw;
 * callback counters, and uv_loop_close() == 0 at the end (the fixture's).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "client_fixture.h"
#include "mock_registry.h"
#include "roster/client.h"

static const struct roster_instance web1 = {
		.service = "web", .protocol = "http", .host = "web1.example.net", .port = 80};

/* Three heartbeats answered: three ticks and three answers, each followed by
 * a sync of the wanted state, have passed. */
static void run_three_heartbeats(struct client_fixture *f)
{
	unsigned hb = f->n.heartbeat;
	mock_run_until(&f->loop, &f->n.heartbeat, hb + 3, 3000);
}

/* ---- removal ------------------------------------------------------------- */

Test(eps, removed_endpoint_is_deregistered_once)
{
	struct client_fixture f;
	client_fixture_start(&f, NULL);
	mock_run_until(&f.loop, &f.n.registered, 1, 2000);
	cr_assert_not_null(
			mock_registry_instance_find(&f.m, "web", "http", "web1.example.net", 80));
	cr_assert_eq(roster_endpoint_remove(f.c, &web1), 0);
	mock_run_until(&f.loop, &f.m.instance_deregs, 1, 2000);
	cr_expect_null(mock_registry_instance_find(&f.m, "web", "http", "web1.example.net", 80));
	run_three_heartbeats(&f);
	cr_expect_eq(f.m.instance_deregs, 1, "Deregister sent %u times", f.m.instance_deregs);
	cr_expect_eq(f.m.registers, 1);
	cr_expect_eq(roster_endpoint_remove(f.c, &web1), ROSTER_ENOENT);
	client_fixture_stop(&f);
}

Test(eps, removal_answered_not_found_is_done)
{
	struct client_fixture f;
	client_fixture_start(&f, NULL);
	mock_run_until(&f.loop, &f.n.registered, 1, 2000);
	/* Someone else deregistered it (`roster deregister`), then the service
	 * removes it too: the registry answers NOT_FOUND, which is what the
	 * client wanted. Both happen before the loop turns again, so no
	 * heartbeat answer can have the client register it again first. */
	cr_assert(mock_registry_instance_forget(&f.m, "web", "http", "web1.example.net", 80));
	cr_assert_eq(roster_endpoint_remove(f.c, &web1), 0);
	mock_run_until(&f.loop, &f.m.instance_deregs, 1, 2000);
	run_three_heartbeats(&f);
	cr_expect_eq(f.m.instance_deregs, 1,
			"a removal answered NOT_FOUND was sent %u times: never taken as done",
			f.m.instance_deregs);
	cr_expect_eq(f.m.registers, 1, "the removed endpoint was registered again");
	cr_expect_eq(f.n.failed, 0);
	client_fixture_stop(&f);
}

/* ---- refusals ------------------------------------------------------------ */

/* The registry's side of the refusal tests: refuse the first Registers. */
struct refuser {
	Roster__V1__ErrorCode code;
	unsigned refuse;  /* Registers still to refuse */
	unsigned refused; /* Registers refused */
};

static int refuse_request_cb(struct mock_registry_conn *mc, const Roster__V1__Request *rq, void *ud)
{
	struct refuser *rf = ud;
	if (rq->op_case != ROSTER__V1__REQUEST__OP_REGISTER || rf->refuse == 0) {
		return 0;
	}
	rf->refuse--;
	rf->refused++;
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.id = rq->id;
	r.error = rf->code;
	r.message = "refused by the test";
	mock_registry_send(mc, &r);
	return 1;
}

static const struct mock_registry_ops refuse_ops = {.request = refuse_request_cb};

/* A registry's refusal and the client's code for it. */
struct refusal {
	Roster__V1__ErrorCode code;
	int error;
};

ParameterizedTestParameters(eps, refusal_the_registry_may_get_over_is_retried)
{
	static struct refusal cases[] = {
			{ROSTER__V1__ERROR_CODE__STORAGE_ERROR, ROSTER_ESTORE},
			{ROSTER__V1__ERROR_CODE__STORAGE_FULL, ROSTER_ESTORE},
			{ROSTER__V1__ERROR_CODE__UNAVAILABLE, ROSTER_EAGAIN},
			{ROSTER__V1__ERROR_CODE__INTERNAL, ROSTER_ESERVER},
	};
	return cr_make_param_array(struct refusal, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct refusal *rc, eps, refusal_the_registry_may_get_over_is_retried)
{
	struct refuser rf = {.code = rc->code, .refuse = 2};
	struct client_fixture f;
	client_fixture_start(&f, &(struct client_fixture_opts){.ops = &refuse_ops, .ud = &rf});
	/* Refused twice, each reported; registered at the third try, within a
	 * few heartbeat intervals, with nothing done by the service. */
	mock_run_until(&f.loop, &f.n.registered, 1, 3000);
	cr_expect_eq(rf.refused, 2);
	cr_expect_eq(f.n.failed, 2, "%u REGISTER_FAILED events", f.n.failed);
	cr_expect_eq(f.n.failed_error, rc->error, "error %d, want %d", f.n.failed_error, rc->error);
	cr_expect_eq(f.m.registers, 1);
	cr_expect_not_null(
			mock_registry_instance_find(&f.m, "web", "http", "web1.example.net", 80));
	cr_expect_eq(f.n.disconnected, 0, "a refusal is not a lost connection");
	client_fixture_stop(&f);
}

ParameterizedTestParameters(eps, refusal_of_the_endpoint_itself_is_final)
{
	static struct refusal cases[] = {
			{ROSTER__V1__ERROR_CODE__INVALID_ARGUMENT, ROSTER_EINVAL},
			{ROSTER__V1__ERROR_CODE__INVALID_NAME, ROSTER_ENAME},
			{ROSTER__V1__ERROR_CODE__LIMIT_EXCEEDED, ROSTER_ELIMIT},
	};
	return cr_make_param_array(struct refusal, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct refusal *rc, eps, refusal_of_the_endpoint_itself_is_final)
{
	struct refuser rf = {.code = rc->code, .refuse = 1};
	struct client_fixture f;
	client_fixture_start(&f, &(struct client_fixture_opts){.ops = &refuse_ops, .ud = &rf});
	mock_run_until(&f.loop, &f.n.failed, 1, 2000);
	cr_expect_eq(f.n.failed_error, rc->error, "error %d, want %d", f.n.failed_error, rc->error);
	/* Sending it again would only be refused again: it is not. */
	run_three_heartbeats(&f);
	cr_expect_eq(rf.refused, 1);
	cr_expect_eq(f.m.registers, 0, "a refused endpoint was sent again");
	cr_expect_eq(f.n.failed, 1);
	cr_expect_eq(f.n.registered, 0);
	client_fixture_stop(&f);
}

/* ---- generations ------------------------------------------------------------ */

/*
 * Two endpoints whose Registers the registry holds back, then answers in
 * one go. The first answer's REGISTERED event changes the other endpoint
 * (its Register still unanswered, its answer already in the client's
 * buffer): that answer is for the old generation, and the change must still
 * be sent after it.
 */
struct in_flight {
	struct client_fixture *f;
	unsigned registers; /* Register requests seen, parked or not */
	unsigned downs;     /* of them, with status DOWN */
	int remove;         /* the change: remove the other endpoint (else: DOWN) */
	int changed;        /* the change was made */
	char other[64];     /* the host of the endpoint changed */
};

static int in_flight_request_cb(
		struct mock_registry_conn *mc, const Roster__V1__Request *rq, void *ud)
{
	struct in_flight *t = ud;
	(void)mc;
	if (rq->op_case == ROSTER__V1__REQUEST__OP_REGISTER) {
		t->registers++;
		t->downs += rq->register_->instance->status == ROSTER__V1__STATUS__DOWN ? 1 : 0;
	}
	return 0; /* the default: parked while the test parks Registers */
}

static const struct mock_registry_ops in_flight_ops = {.request = in_flight_request_cb};

static void in_flight_event_cb(const struct roster_event *ev, void *ud)
{
	struct in_flight *t = ud;
	if (ev->kind != ROSTER_EVENT_REGISTERED || t->changed) {
		return;
	}
	t->changed = 1;
	snprintf(t->other, sizeof(t->other), "%s",
			strcmp(ev->endpoint->host, "web1.example.net") == 0 ? "web3.example.net"
									    : "web1.example.net");
	struct roster_instance other = {
			.service = "web", .protocol = "http", .host = t->other, .port = 80};
	/* On the loop thread, from a callback: allowed (client.h). */
	if (t->remove) {
		cr_assert_eq(roster_endpoint_remove(t->f->c, &other), 0);
	} else {
		cr_assert_eq(roster_endpoint_set_status(t->f->c, &other, ROSTER_DOWN), 0);
	}
}

static void in_flight_start(struct client_fixture *f, struct in_flight *t)
{
	t->f = f;
	client_fixture_start(f, &(struct client_fixture_opts){.second_host = "web3.example.net",
						.ops = &in_flight_ops,
						.ud = t,
						.on_event = in_flight_event_cb,
						.on_event_ud = t});
	f->m.park = MOCK_PARK(ROSTER__V1__REQUEST__OP_REGISTER);
	mock_run_until(&f->loop, &t->registers, 2, 2000);
	cr_assert_eq(f->m.n_parked, 2);
	cr_assert_eq(f->n.registered, 0);
	/* Both answers are written before the client reads: it reads them in
	 * one go, the callback runs between the two. */
	f->m.park = 0;
	mock_registry_unpark(&f->m);
}

Test(eps, change_made_while_a_register_is_in_flight_is_sent_after_its_answer)
{
	struct client_fixture f;
	struct in_flight t = {0};
	in_flight_start(&f, &t);
	mock_run_until(&f.loop, &t.downs, 1, 2000);
	cr_expect(t.changed);
	struct mock_registry_instance *e =
			mock_registry_instance_find(&f.m, "web", "http", t.other, 80);
	cr_assert_not_null(e);
	cr_expect_eq(e->status, ROSTER__V1__STATUS__DOWN, "the registry holds status %d",
			(int)e->status);
	/* REGISTERED once per endpoint: the answer to the old generation of
	 * the changed one is not reported as its registration. */
	mock_run_until(&f.loop, &f.n.registered, 2, 2000);
	run_three_heartbeats(&f);
	cr_expect_eq(f.n.registered, 2, "%u REGISTERED events", f.n.registered);
	cr_expect_eq(t.registers, 3, "%u Registers", t.registers);
	client_fixture_stop(&f);
}

Test(eps, endpoint_removed_while_its_register_is_in_flight_is_deregistered)
{
	struct client_fixture f;
	struct in_flight t = {.remove = 1};
	in_flight_start(&f, &t);
	mock_run_until(&f.loop, &f.m.instance_deregs, 1, 2000);
	cr_expect(t.changed);
	cr_expect_null(mock_registry_instance_find(&f.m, "web", "http", t.other, 80),
			"the removed endpoint is still registered");
	run_three_heartbeats(&f);
	cr_expect_eq(f.n.registered, 1, "%u REGISTERED events", f.n.registered);
	cr_expect_eq(f.m.instance_deregs, 1);
	cr_expect_eq(t.registers, 2, "%u Registers", t.registers);
	client_fixture_stop(&f);
}

/* ---- the lease ---------------------------------------------------------- */

/* The registry lost every lease just before the first Register arrived. */
static int forget_leases_request_cb(
		struct mock_registry_conn *mc, const Roster__V1__Request *rq, void *ud)
{
	unsigned *left = ud;
	if (rq->op_case == ROSTER__V1__REQUEST__OP_REGISTER && *left > 0) {
		(*left)--;
		mc->m->n_leases = 0; /* the default answers UNKNOWN_LEASE */
	}
	return 0;
}

static const struct mock_registry_ops forget_leases_ops = {.request = forget_leases_request_cb};

Test(eps, register_answered_unknown_lease_reopens_the_lease)
{
	unsigned left = 1;
	struct client_fixture f;
	client_fixture_start(
			&f, &(struct client_fixture_opts){.ops = &forget_leases_ops, .ud = &left});
	mock_run_until(&f.loop, &f.n.registered, 1, 2000);
	/* Not the endpoint's fault: no REGISTER_FAILED, a new lease at once. */
	cr_expect_eq(f.n.failed, 0, "%u REGISTER_FAILED events (error %d)", f.n.failed,
			f.n.failed_error);
	cr_expect_eq(f.n.lease_lost, 1);
	cr_expect_eq(f.n.lease, 2);
	cr_expect_eq(f.m.opens, 2);
	cr_expect_eq(f.m.registers, 2);
	cr_expect_eq(f.n.leases_seen[0], f.m.leases[0], "registered under the new lease");
	client_fixture_stop(&f);
}

/* A removal the registry refused (its store failed) is not done: the
 * Deregister is sent again, and the endpoint is gone once it is applied. */
static int refuse_first_deregister_cb(
		struct mock_registry_conn *mc, const Roster__V1__Request *rq, void *ud)
{
	unsigned *refused = ud;
	if (rq->op_case != ROSTER__V1__REQUEST__OP_DEREGISTER || *refused > 0 ||
			rq->deregister->target_case !=
					ROSTER__V1__DEREGISTER_REQUEST__TARGET_INSTANCE) {
		return 0;
	}
	(*refused)++;
	Roster__V1__Response r = ROSTER__V1__RESPONSE__INIT;
	r.id = rq->id;
	r.error = ROSTER__V1__ERROR_CODE__STORAGE_ERROR;
	r.message = "refused by the test";
	mock_registry_send(mc, &r);
	return 1;
}

Test(eps, removal_refused_by_the_registry_is_sent_again)
{
	static const struct mock_registry_ops ops = {.request = refuse_first_deregister_cb};
	unsigned refused = 0;
	struct client_fixture f;
	client_fixture_start(&f, &(struct client_fixture_opts){.ops = &ops, .ud = &refused});
	mock_run_until(&f.loop, &f.n.registered, 1, 2000);
	cr_assert_eq(roster_endpoint_remove(f.c, &web1), 0);
	mock_run_until(&f.loop, &refused, 1, 2000);
	cr_expect_not_null(mock_registry_instance_find(&f.m, "web", "http", "web1.example.net", 80),
			"the refused removal left it registered");
	mock_run_until(&f.loop, &f.m.instance_deregs, 1, 3000);
	cr_expect_null(mock_registry_instance_find(&f.m, "web", "http", "web1.example.net", 80));
	run_three_heartbeats(&f);
	cr_expect_eq(f.m.instance_deregs, 1, "applied once, then done: %u", f.m.instance_deregs);
	cr_expect_eq(f.m.registers, 1, "the removed endpoint was registered again");
	cr_expect_eq(roster_endpoint_remove(f.c, &web1), ROSTER_ENOENT);
	client_fixture_stop(&f);
}
