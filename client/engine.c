/*
 * client/engine.c - the engine of libroster: starts and stops the registry
 * connections (reg.c), and routes what each one reports to the lease
 * (lease.c), the endpoints (eps.c) and the watches (watch.c).
 *
 * engine_sync() compares the wanted state with what a registry acknowledged
 * and sends the difference; it runs after every event that could change
 * either side.
 */
#include "client/engine.h"

#include <signal.h>
#include <stdlib.h>
#include <uv.h>

#include "client/eps.h"
#include "client/lease.h"
#include "client/reg.h"
#include "client/watch.h"

static void engine_close_all(struct engine *e);

static void engine_sync(struct reg *r)
{
	if (r->state != REG_CONNECTED || r->e->stopping) {
		return;
	}
	watch_sync(r);
	if (r->lease_state == LEASE_NONE && core_live_eps(r->e->c) > 0) {
		lease_open(r);
		return;
	}
	if (r->lease_state == LEASE_OK) {
		eps_sync(r);
	}
}

/* ---- what the connections report ---------------------------------------- */

static void engine_reg_connected(struct reg *r)
{
	reg_emit(r, ROSTER_EVENT_CONNECTED, 0, NULL, NULL, 0);
	if (r->lease != 0) {
		lease_check(r); /* is our lease still known there? */
		return;
	}
	/* No backoff reset yet: only a working lease proves the registry
	 * healthy. Without endpoints there is no lease to wait for. */
	if (core_live_eps(r->e->c) == 0) {
		backoff_reset(&r->backoff);
	}
	engine_sync(r);
}

static void engine_reg_response(struct reg *r, struct wire_response *rs)
{
	struct engine *e = r->e;
	struct pending p;
	if (rs->id == 0 && rs->error != 0) {
		eps_on_verdict(r, rs);
		return;
	}
	if (rs->result == WIRE_RESULT_WATCH_EVENT || !reg_pending_take(r, rs->id, &p)) {
		/* A watch's event or its refusal; anything else unknown is a
		 * stray (e.g. the answer to a CancelWatch) and ignored. */
		watch_on_event(r, rs);
		return;
	}
	switch (p.op) {
	case WIRE_OPEN_LEASE:
		if (lease_on_open(r, rs)) {
			engine_sync(r);
			/* The heartbeat interval follows the granted TTL. */
			reg_heartbeat_restart(r);
		}
		break;
	case WIRE_HEARTBEAT:
		lease_on_heartbeat(r, rs);
		engine_sync(r);
		break;
	case WIRE_REGISTER:
	case WIRE_DEREGISTER_INSTANCE:
		switch (eps_on_ack(r, &p, rs)) {
		case EPS_ACK_LEASE_LOST:
			lease_lost(r, rs->error, rs->message);
			engine_sync(r);
			break;
		case EPS_ACK_RESYNC:
			engine_sync(r);
			break;
		case EPS_ACK_DONE:
			break;
		}
		break;
	case WIRE_AUTHENTICATE:
		/* UNSUPPORTED: a registry from before tokens, open. A refusal
		 * is said once here; each request after it fails on its own. */
		if (rs->error != 0 && rs->error != ROSTER_ENOTSUP) {
			reg_emit(r, ROSTER_EVENT_REGISTER_FAILED, rs->error, rs->message, NULL, 0);
		}
		break;
	case WIRE_DEREGISTER_LEASE:
		if (lease_on_deregister(r, rs) && --e->draining == 0) {
			engine_close_all(e);
		}
		break;
	default:
		break;
	}
}

static void engine_reg_tick(struct reg *r)
{
	lease_renew(r);
	engine_sync(r); /* retry what failed for transient reasons */
}

static void engine_reg_lost(struct reg *r, int err, const char *why, bool was_connected)
{
	struct engine *e = r->e;
	if (lease_disconnected(r)) {
		e->draining--;
	}
	eps_disconnected(r);
	if (was_connected && !e->stopping) {
		reg_emit(r, ROSTER_EVENT_DISCONNECTED, err, why, NULL, 0);
		if (r->idx == e->watch_reg) {
			watch_lost(r);
		}
	}
	if (e->stopping && e->draining == 0) {
		engine_close_all(e);
	}
}

static const struct reg_ops engine_reg_ops = {
		.connected = engine_reg_connected,
		.response = engine_reg_response,
		.tick = engine_reg_tick,
		.lost = engine_reg_lost,
};

/* ---- engine lifecycle ---------------------------------------------------- */

static void engine_close_all(struct engine *e)
{
	if (e->closed) {
		return;
	}
	e->closed = true;
	uv_timer_stop(&e->stop_timer);
	for (size_t i = 0; i < e->n; i++) {
		reg_close(&e->regs[i]);
	}
	reg_close_handle(e, (uv_handle_t *)&e->async);
	reg_close_handle(e, (uv_handle_t *)&e->stop_timer);
}

static void stop_timer_cb(uv_timer_t *t)
{
	struct engine *e = t->data;
	pthread_mutex_lock(&e->c->mu);
	engine_close_all(e);
	pthread_mutex_unlock(&e->c->mu);
}

/* Deregister every lease we hold, then close (c->mu held, loop thread). */
static void engine_begin_stop(struct engine *e)
{
	if (e->stopping) {
		return;
	}
	e->stopping = true;
	for (size_t i = 0; i < e->n; i++) {
		struct reg *r = &e->regs[i];
		uv_timer_stop(&r->timer);
		if (lease_deregister(r)) {
			e->draining++;
		}
	}
	if (e->draining == 0) {
		engine_close_all(e);
		return;
	}
	e->stop_timer.data = e;
	uv_timer_start(&e->stop_timer, stop_timer_cb, e->c->cfg.timeout_ms, 0);
}

static void async_cb(uv_async_t *a)
{
	struct engine *e = a->data;
	pthread_mutex_lock(&e->c->mu);
	if (e->stop_requested) {
		engine_begin_stop(e);
	} else if (!e->stopping) {
		for (size_t i = 0; i < e->n; i++) {
			engine_sync(&e->regs[i]);
		}
	}
	pthread_mutex_unlock(&e->c->mu);
}

static void *engine_thread_main(void *arg)
{
	struct engine *e = arg;
	/* libuv writes with write(2): a registry that vanished mid-write would
	 * raise SIGPIPE, which kills the host process by default. Blocked here,
	 * the write fails with EPIPE instead; the host's own threads keep their
	 * signal dispositions. */
	sigset_t pipe;
	sigemptyset(&pipe);
	sigaddset(&pipe, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe, NULL);
	uv_run(e->loop, UV_RUN_DEFAULT);
	return NULL;
}

int engine_start(struct roster_client *c, void *loop, bool own_thread)
{
	struct engine *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		return ROSTER_ENOMEM;
	}
	e->regs = calloc(c->n_servers, sizeof(*e->regs));
	if (e->regs == NULL) {
		free(e);
		return ROSTER_ENOMEM;
	}
	e->c = c;
	e->ops = &engine_reg_ops;
	e->n = c->n_servers;
	e->own = own_thread;
	int rc = 0;
	if (own_thread) {
		rc = uv_loop_init(&e->own_loop);
		if (rc != 0) {
			free(e->regs);
			free(e);
			return rc;
		}
		e->loop = &e->own_loop;
	} else {
		e->loop = loop;
	}
	backoff_init(&e->rng, 1, 1, 0);
	e->watch_reg = SIZE_MAX;
	e->watch_prev = SIZE_MAX;
	/* Handles are initialised before the loop thread exists or, on the
	 * caller's loop, on its thread: no race with callbacks. */
	uv_async_init(e->loop, &e->async, async_cb);
	e->async.data = e;
	uv_timer_init(e->loop, &e->stop_timer);
	e->stop_timer.data = e;
	e->open_handles = 2;
	for (size_t i = 0; i < e->n; i++) {
		reg_init(&e->regs[i], e, i);
	}
	c->engine = e;
	pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < e->n; i++) {
		reg_connect(&e->regs[i]);
	}
	pthread_mutex_unlock(&c->mu);
	if (own_thread) {
		rc = pthread_create(&e->thread, NULL, engine_thread_main, e);
		if (rc != 0) {
			/* Nothing runs the loop: close everything and run it here. */
			pthread_mutex_lock(&c->mu);
			e->stopping = true;
			engine_close_all(e);
			pthread_mutex_unlock(&c->mu);
			uv_run(e->loop, UV_RUN_DEFAULT);
			(void)uv_loop_close(e->loop);
			c->engine = NULL;
			free(e->regs);
			free(e);
			return -rc;
		}
	}
	return 0;
}

void engine_kick(struct engine *e)
{
	if (e != NULL && !e->closed) {
		uv_async_send(&e->async);
	}
}

void engine_stop(struct roster_client *c)
{
	struct engine *e = c->engine;
	if (e == NULL) {
		return;
	}
	if (!e->own) {
		pthread_mutex_lock(&c->mu);
		engine_begin_stop(e);
		pthread_mutex_unlock(&c->mu);
		return;
	}
	pthread_mutex_lock(&c->mu);
	bool joinable = !e->stop_requested;
	e->stop_requested = true;
	if (!e->closed) {
		uv_async_send(&e->async);
	}
	pthread_mutex_unlock(&c->mu);
	if (joinable) {
		pthread_join(e->thread, NULL);
		/* Every handle is closed: the loop must have nothing left. */
		int rc = uv_loop_close(e->loop);
		(void)rc;
	}
}

void engine_free(struct engine *e)
{
	if (e == NULL) {
		return;
	}
	for (size_t i = 0; i < e->n; i++) {
		reg_deinit(&e->regs[i]);
	}
	free(e->regs);
	free(e);
}
