/*
 * The registration API's error replies and access checks: token scopes,
 * the dry run, instance ownership and lease ownership (docs/protocol.md
 * "Access control"). Shared by the operations through ops_internal.h.
 */
#include "server/api/ops_internal.h"

#include <stdio.h>

#include "common/error.h"
#include "server/api/convert.h"

typedef Roster__V1__Response Response;

int api_ops_error_append(struct api_ops_out *out, uint64_t id, int rc, const char *msg)
{
	Response r = ROSTER__V1__RESPONSE__INIT;
	r.id = id;
	r.error = api_convert_error_code(rc);
	r.message = (char *)msg;
	return api_convert_append(out, &r.base);
}

void api_op_error(struct op *o, int rc, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->ctx->counters->errors++;
	o->rc = rc;
	if (api_ops_error_append(o->out, o->id, rc, msg) < 0) {
		o->res->flags |= API_OPS_CLOSE;
	}
}

/* PERMISSION_DENIED: counted by reason, audited, nothing changed. */
void api_op_refuse(struct op *o, enum api_ops_refusal why, const char *fmt, ...)
{
	struct api_counters *c = o->ctx->counters;
	switch (why) {
	case API_OPS_REFUSED_UNAUTHENTICATED:
		c->refused_unauthenticated++;
		break;
	case API_OPS_REFUSED_SCOPE:
		c->refused_scope++;
		break;
	case API_OPS_REFUSED_OWNER:
		c->refused_owner++;
		break;
	default:
		c->refused_bad_token++;
		break;
	}
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o->res->audit.refusal = why;
	o->res->audit.dry_run = false; /* made, unless api_op_refusal_undo() says otherwise */
	api_op_error(o, RS_EPERM, "permission denied: %s", msg);
}

/* A refusal the dry run does not make: the error appended is taken back,
 * the client gets the operation's own answer; counters and audit keep it. */
void api_op_refusal_undo(struct op *o)
{
	o->out->len = o->dry_mark;
	o->ctx->counters->errors--;
	o->rc = 0;
	o->res->audit.dry_run = true;
}

static bool op_token_check(struct op *o, enum op_need need, const char *service);

/* May the connection's token do this? @p service: the service an OP_WRITE
 * changes, NULL for a write on a lease (any write scope). Refuses when not,
 * unless in dry run. Without --api-tokens everything is allowed. */
bool api_op_allowed(struct op *o, enum op_need need, const char *service)
{
	if (op_token_check(o, need, service)) {
		return true;
	}
	if (!o->ctx->tokens_dry_run) {
		return false;
	}
	api_op_refusal_undo(o);
	return true;
}

static bool op_token_check(struct op *o, enum op_need need, const char *service)
{
	const struct api_ops_ctx *c = o->ctx;
	if (c->tokens == NULL) {
		return true;
	}
	if (c->token == NULL) {
		api_op_refuse(o, API_OPS_REFUSED_UNAUTHENTICATED,
				"not authenticated: send Authenticate with a token first");
		return false;
	}
	if (need == OP_ADMIN) {
		if (api_token_is_admin(c->token)) {
			return true;
		}
		api_op_refuse(o, API_OPS_REFUSED_SCOPE, "token '%s' is not an admin token",
				c->token->name);
		return false;
	}
	if (need == OP_READ) {
		if (api_token_can_read(c->token)) {
			return true;
		}
		api_op_refuse(o, API_OPS_REFUSED_SCOPE, "token '%s' has no read scope",
				c->token->name);
		return false;
	}
	if (api_token_can_write(c->token, service)) {
		return true;
	}
	if (service == NULL) {
		api_op_refuse(o, API_OPS_REFUSED_SCOPE, "token '%s' has no write scope",
				c->token->name);
	} else {
		api_op_refuse(o, API_OPS_REFUSED_SCOPE, "token '%s' may not write service '%.63s'",
				c->token->name, service);
	}
	return false;
}

/* Ownership: an instance of a lease changes only through that lease, or
 * with an admin token (even with an open API: a takeover is never right). */
bool api_op_owner_ok(struct op *o, const struct store_key *key, uint64_t lease)
{
	if (api_token_is_admin(o->ctx->token)) {
		return true;
	}
	uint64_t owner = 0;
	if (store_owner_check(o->ctx->store, key, lease, &owner) != RS_EPERM) {
		return true; /* a bad name is the operation's own error to give */
	}
	/* The first half of the lease only, as in the audit log: the id is the
	 * capability to act through the lease, and a refusal must not hand it to
	 * the writer it refuses. */
	api_op_refuse(o, API_OPS_REFUSED_OWNER,
			"_%.63s._%.63s %.255s:%u is registered under lease %08llx...: change it "
			"through that lease%s",
			key->service, key->protocol, key->host, key->port,
			(unsigned long long)(owner >> 32),
			o->ctx->tokens != NULL ? " or with an admin token" : "");
	return false;
}

/* The owner tag of a lease opened with this connection's token (struct
 * api_token's tag); 0 with an open API, never 0 otherwise. */
uint64_t api_op_token_tag(const struct op *o)
{
	const struct api_token *t = o->ctx->token;
	if (o->ctx->tokens == NULL || t == NULL) {
		return 0;
	}
	return t->tag;
}

/*
 * Acting through lease @p id (Heartbeat, Register and SetStatus under it,
 * Deregister of it or through it): with tokens, a lease is its opener's
 * token's, or an admin's. A lease with no owner yet (loaded at start, or
 * reloaded after a failed commit: owners are not written) is claimed by the
 * first token that acts through it and may write every service it holds:
 * lease ids are visible to any reader, and a token scoped to one service
 * must not take another's instances with them. An unknown lease is the
 * operation's own error to give. Refuses unless in dry run.
 */
bool api_op_lease_ok(struct op *o, uint64_t id)
{
	uint64_t tag = api_op_token_tag(o);
	if (tag == 0 || id == 0 || api_token_is_admin(o->ctx->token)) {
		return true;
	}
	const struct store_lease *l = store_lease_find(o->ctx->store, id);
	if (l == NULL || l->owner_tag == tag) {
		return true;
	}
	const struct store_instance *out = NULL;
	for (const struct store_instance *i = l->instances; i != NULL && out == NULL;
			i = i->lease_next) {
		out = api_token_can_write(o->ctx->token, i->service->name) ? NULL : i;
	}
	if (l->owner_tag == 0 && out == NULL) {
		store_lease_set_owner(o->ctx->store, id, tag);
		return true;
	}
	if (out != NULL) {
		api_op_refuse(o, API_OPS_REFUSED_OWNER,
				"lease %08llx... holds an instance of service '%s', which token "
				"'%s' may not write: act through it with its own token or an admin "
				"token",
				(unsigned long long)(id >> 32), out->service->name,
				o->ctx->token->name);
	} else {
		api_op_refuse(o, API_OPS_REFUSED_OWNER,
				"lease %08llx... was opened with another token: act through it with "
				"that token or an admin token",
				(unsigned long long)(id >> 32));
	}
	if (!o->ctx->tokens_dry_run) {
		return false;
	}
	api_op_refusal_undo(o);
	return true;
}
