/*
 * client/core.c - the client's shared state helpers and the strings of its
 * codes; below client.c and the engine (see core.h).
 */
#include "client/core.h"

#include <stdlib.h>

#include "client/inst.h"
#include "common/error.h"
#include "roster/version.h"

const char *roster_version(void)
{
	return ROSTER_VERSION;
}

const char *roster_strerror(int err)
{
	switch (err) {
	case ROSTER_ENAME:
		return "invalid name (DNS labels of letters, digits and hyphens)";
	case ROSTER_EUNREACHABLE:
		return "registry unreachable";
	case ROSTER_ESERVER:
		return "registry internal error";
	case ROSTER_ESTATE:
		return "not possible in the client's current state";
	case ROSTER_ELEASE:
		return "unknown or expired lease";
	case ROSTER_ENOENT:
		return "not found";
	case ROSTER_EAGAIN:
		return "registry unavailable (shutting down or overloaded)";
	case ROSTER_EPARTIAL:
		return "applied at some registries only";
	case ROSTER_EPERM:
		return "permission denied (token missing, refused or outside its scopes, or "
		       "another lease's instance)";
	default:
		return rs_strerror(err);
	}
}

const char *roster_status_name(enum roster_status status)
{
	switch (status) {
	case ROSTER_STARTING:
		return "STARTING";
	case ROSTER_UP:
		return "UP";
	case ROSTER_DOWN:
		return "DOWN";
	default:
		return "UNSPECIFIED";
	}
}

uint64_t core_next_id(struct roster_client *c)
{
	return c->next_id++;
}

struct ep *core_ep_new(const struct roster_client *c)
{
	struct ep *e = calloc(1, sizeof(*e));
	if (e == NULL) {
		return NULL;
	}
	e->acked = calloc(c->n_servers, sizeof(uint64_t));
	e->sent = calloc(c->n_servers, sizeof(uint64_t));
	e->failed = calloc(c->n_servers, sizeof(uint64_t));
	if (e->acked == NULL || e->sent == NULL || e->failed == NULL) {
		core_ep_free(e);
		return NULL;
	}
	return e;
}

void core_ep_free(struct ep *e)
{
	if (e == NULL) {
		return;
	}
	inst_release(&e->inst);
	free(e->acked);
	free(e->sent);
	free(e->failed);
	free(e);
}

struct ep *core_ep_find(struct roster_client *c, const struct roster_instance *id)
{
	for (size_t i = 0; i < c->n_eps; i++) {
		if (inst_same_identity(&c->eps[i]->inst, id)) {
			return c->eps[i];
		}
	}
	return NULL;
}

struct ep *core_ep_by_uid(struct roster_client *c, uint64_t uid)
{
	for (size_t i = 0; i < c->n_eps; i++) {
		if (c->eps[i]->uid == uid) {
			return c->eps[i];
		}
	}
	return NULL;
}

void core_ep_drop(struct roster_client *c, struct ep *e)
{
	for (size_t i = 0; i < c->n_eps; i++) {
		if (c->eps[i] == e) {
			c->eps[i] = c->eps[--c->n_eps];
			core_ep_free(e);
			return;
		}
	}
}

bool core_ep_drop_if_done(struct roster_client *c, struct ep *e)
{
	if (!e->removed) {
		return false;
	}
	for (size_t i = 0; i < c->n_servers; i++) {
		if (e->acked[i] != e->gen) {
			return false;
		}
	}
	core_ep_drop(c, e);
	return true;
}

size_t core_live_eps(const struct roster_client *c)
{
	size_t n = 0;
	for (size_t i = 0; i < c->n_eps; i++) {
		n += c->eps[i]->removed ? 0 : 1;
	}
	return n;
}

void core_emit(struct roster_client *c, struct roster_event *ev)
{
	if (c->cfg.event_cb != NULL) {
		c->cfg.event_cb(ev, c->cfg.event_ud);
	}
}
