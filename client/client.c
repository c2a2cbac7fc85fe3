/*
 * client/client.c - the public calls of libroster: configuration, the
 * wanted state handed to the engine, and the synchronous calls (queries and
 * one-shot writes over short connections, see sync.h) with the
 * last-known-good cache.
 */
#include "roster/client.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/cache.h"
#include "client/core.h"
#include "client/engine.h"
#include "client/inst.h"
#include "client/sites.h"
#include "client/sync.h"
#include "client/wire.h"
#include "common/addr.h"
#include "common/buf.h"
#include "common/clock.h"
#include "common/error.h"
#include "proto/frame.h"

#define DEFAULT_SERVER "127.0.0.1:7600"
#define DEFAULT_TIMEOUT_MS 2000

/* The message of the last failed call on this thread (roster_errmsg()). */
static __thread char errmsg_buf[512];

/* Set this thread's message and return @p rc. */
#define fail(rc, ...) rs_error_printf(errmsg_buf, sizeof(errmsg_buf), (rc), __VA_ARGS__)

const char *roster_errmsg(void)
{
	return errmsg_buf;
}

int roster_site_servers(const char *site, const char *path, char ***out, size_t *n)
{
	return sites_read(site, path, out, n, errmsg_buf, sizeof(errmsg_buf));
}

void roster_site_servers_free(char **servers, size_t n)
{
	sites_free(servers, n);
}

/* ---- construction ------------------------------------------------------- */

int roster_client_new(const struct roster_config *cfg, struct roster_client **out)
{
	static const char *const default_servers[] = {DEFAULT_SERVER};
	struct roster_config zero = {0};
	if (cfg == NULL) {
		cfg = &zero;
	}
	if (cfg->n_servers > 0 && cfg->servers == NULL) {
		return fail(ROSTER_EINVAL, "n_servers is %zu but servers is NULL", cfg->n_servers);
	}
	if (cfg->ttl_seconds > 3600) {
		return fail(ROSTER_EINVAL, "lease TTL %u s out of range (1-3600)",
				cfg->ttl_seconds);
	}
	const char *const *servers = cfg->n_servers > 0 ? cfg->servers : default_servers;
	size_t n = cfg->n_servers > 0 ? cfg->n_servers : 1;
	struct roster_client *c = calloc(1, sizeof(*c));
	if (c == NULL) {
		return fail(ROSTER_ENOMEM, "out of memory creating the client");
	}
	c->cfg = *cfg;
	c->cfg.ttl_seconds = cfg->ttl_seconds > 0 ? cfg->ttl_seconds : 10;
	c->cfg.timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
	c->cfg.backoff_min_ms = cfg->backoff_min_ms > 0 ? cfg->backoff_min_ms : 100;
	c->cfg.backoff_max_ms = cfg->backoff_max_ms > 0 ? cfg->backoff_max_ms : 10000;
	c->cfg.max_stale_seconds = cfg->max_stale_seconds > 0 ? cfg->max_stale_seconds : 3600;
	c->n_servers = n;
	c->next_id = 1;
	c->next_uid = 1;
	pthread_mutexattr_t attr;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&c->mu, &attr);
	pthread_mutexattr_destroy(&attr);
	pthread_cond_init(&c->cond, NULL);
	pthread_mutex_init(&c->cache_mu, NULL);
	int rc = ROSTER_ENOMEM;
	c->servers = calloc(n, sizeof(*c->servers));
	c->addrs = calloc(n, sizeof(*c->addrs));
	c->cache = calloc(1, sizeof(*c->cache));
	if (c->servers == NULL || c->addrs == NULL || c->cache == NULL) {
		goto fail;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s = servers[i] != NULL ? servers[i] : "";
		rc = rs_endpoint_parse(s, 0, &c->addrs[i]);
		if (rc != 0) {
			rc = fail(rc == RS_EPORT ? ROSTER_EPORT : ROSTER_EADDR,
					"server '%s': %s (expected ADDRESS:PORT, e.g. "
					"127.0.0.1:7600 or [::1]:7600)",
					s, rs_strerror(rc));
			goto fail;
		}
		c->servers[i] = strdup(s);
		if (c->servers[i] == NULL) {
			rc = ROSTER_ENOMEM;
			goto fail;
		}
	}
	c->cfg.servers = (const char *const *)c->servers;
	c->cfg.n_servers = n;
	if (cfg->cache_path != NULL) {
		c->cache_path = strdup(cfg->cache_path);
		if (c->cache_path == NULL) {
			rc = ROSTER_ENOMEM;
			goto fail;
		}
		/* A missing or corrupt cache file is only a cold cache. */
		if (cache_load(c->cache, c->cache_path) != 0) {
			cache_deinit(c->cache); /* start cold */
		}
	}
	c->cfg.cache_path = c->cache_path;
	if (cfg->token != NULL) {
		c->token = strdup(cfg->token);
		if (c->token == NULL) {
			rc = ROSTER_ENOMEM;
			goto fail;
		}
	}
	c->cfg.token = c->token;
	*out = c;
	return 0;
fail:
	roster_client_free(c);
	if (rc == ROSTER_ENOMEM) {
		/* the other failures set their message above */
		rc = fail(rc, "out of memory creating the client");
	}
	return rc;
}

void roster_client_free(struct roster_client *c)
{
	if (c == NULL) {
		return;
	}
	roster_client_stop(c);
	engine_free(c->engine);
	for (size_t i = 0; i < c->n_eps; i++) {
		core_ep_free(c->eps[i]);
	}
	free(c->eps);
	while (c->watches != NULL) {
		struct roster_watch *w = c->watches;
		c->watches = w->next;
		free(w->service);
		free(w);
	}
	free(c->cancels);
	if (c->cache != NULL && c->cache_path != NULL && c->cache->dirty &&
			cache_save(c->cache, c->cache_path) != 0) {
		/* The last save failed (a full disk, say) and so did this one
		 * more try: the file keeps the copy it had. */
	}
	cache_deinit(c->cache);
	free(c->cache);
	for (size_t i = 0; c->servers != NULL && i < c->n_servers; i++) {
		free(c->servers[i]);
	}
	free(c->servers);
	free(c->addrs);
	free(c->cache_path);
	if (c->token != NULL) {
		memset(c->token, 0, strlen(c->token));
		free(c->token);
	}
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->mu);
	pthread_mutex_destroy(&c->cache_mu);
	free(c);
}

/* ---- engine --------------------------------------------------------------- */

int roster_client_start(struct roster_client *c)
{
	if (c->engine != NULL) {
		return fail(ROSTER_ESTATE, "client already started");
	}
	c->engine_thread = true;
	return engine_start(c, NULL, true);
}

int roster_client_start_loop(struct roster_client *c, struct uv_loop_s *loop)
{
	if (c->engine != NULL) {
		return fail(ROSTER_ESTATE, "client already started");
	}
	if (loop == NULL) {
		return fail(ROSTER_EINVAL, "no loop");
	}
	c->engine_thread = false;
	return engine_start(c, loop, false);
}

void roster_client_stop(struct roster_client *c)
{
	if (c == NULL) {
		return;
	}
	engine_stop(c);
}

static int check_instance(const struct roster_instance *inst, int identity_only)
{
	const char *what = "";
	int rc = inst_check(inst, identity_only, &what);
	if (rc != 0) {
		const char *val = strcmp(what, "service") == 0    ? inst->service
				  : strcmp(what, "protocol") == 0 ? inst->protocol
				  : strcmp(what, "host") == 0     ? inst->host
								  : NULL;
		if (val != NULL || strcmp(what, "port") != 0) {
			return fail(rc, "invalid %s '%s': %s", what, val != NULL ? val : "",
					roster_strerror(rc));
		}
		return fail(rc, "invalid port %u (1-65535)", inst->port);
	}
	return 0;
}

/* An endpoint whose registration no registry would read (over the frame
 * limit): refused when it is added, not when the engine sends it. */
static int check_frame(const struct roster_instance *ep)
{
	struct wire_request rq = {
			.id = UINT64_MAX, .op = WIRE_REGISTER, .lease = UINT64_MAX, .inst = ep};
	size_t len = 0;
	int rc = wire_request_encode(&rq, NULL, &len);
	if (rc == ROSTER_ELIMIT) {
		return fail(rc,
				"endpoint %s:%u: its registration is %zu bytes, over the %u-byte frame "
				"limit",
				ep->host, ep->port, len, RS_FRAME_MAX_DEFAULT);
	}
	return rc != 0 ? fail(rc, "out of memory adding endpoint %s:%u", ep->host, ep->port) : 0;
}

int roster_endpoint_add(struct roster_client *c, const struct roster_instance *ep)
{
	int rc = check_instance(ep, 0);
	if (rc == 0) {
		rc = check_frame(ep);
	}
	if (rc != 0) {
		return rc;
	}
	struct roster_instance copy;
	if (inst_pack(&copy, ep) != 0) {
		return fail(ROSTER_ENOMEM, "out of memory adding endpoint %s:%u", ep->host,
				ep->port);
	}
	pthread_mutex_lock(&c->mu);
	struct ep *e = core_ep_find(c, ep);
	if (e != NULL) {
		inst_release(&e->inst);
		e->inst = copy;
		e->removed = false;
		e->gen++;
		goto kick;
	}
	if (RS_ARRAY_GROW(c->eps, c->cap_eps, c->n_eps + 1) < 0) {
		rc = ROSTER_ENOMEM;
		goto fail;
	}
	e = core_ep_new(c);
	if (e == NULL) {
		rc = ROSTER_ENOMEM;
		goto fail;
	}
	e->inst = copy;
	e->uid = c->next_uid++;
	e->gen = 1;
	c->eps[c->n_eps++] = e;
kick:
	engine_kick(c->engine);
	pthread_mutex_unlock(&c->mu);
	return 0;
fail:
	pthread_mutex_unlock(&c->mu);
	inst_release(&copy);
	return fail(rc, "out of memory adding endpoint %s:%u", ep->host, ep->port);
}

int roster_endpoint_remove(struct roster_client *c, const struct roster_instance *ep)
{
	int rc = check_instance(ep, 1);
	if (rc != 0) {
		return rc;
	}
	pthread_mutex_lock(&c->mu);
	struct ep *e = core_ep_find(c, ep);
	if (e == NULL || e->removed) {
		pthread_mutex_unlock(&c->mu);
		return fail(ROSTER_ENOENT,
				"endpoint %s:%u of %s/%s is not registered by this client",
				ep->host, ep->port, ep->service, ep->protocol);
	}
	if (c->engine == NULL) {
		core_ep_drop(c, e);
	} else {
		e->removed = true;
		e->gen++;
		engine_kick(c->engine);
	}
	pthread_mutex_unlock(&c->mu);
	return 0;
}

int roster_endpoint_set_status(struct roster_client *c, const struct roster_instance *ep,
		enum roster_status status)
{
	if (status < ROSTER_STARTING || status > ROSTER_DOWN) {
		return fail(ROSTER_EINVAL, "invalid status %d", (int)status);
	}
	pthread_mutex_lock(&c->mu);
	struct ep *e = core_ep_find(c, ep);
	if (e == NULL || e->removed) {
		pthread_mutex_unlock(&c->mu);
		return fail(ROSTER_ENOENT, "endpoint is not registered by this client");
	}
	/* Registering again with the new status updates it, and the status is
	 * part of what a re-registration sends after a reconnect. */
	e->inst.status = status;
	e->gen++;
	engine_kick(c->engine);
	pthread_mutex_unlock(&c->mu);
	return 0;
}

/* Has every wanted endpoint been acknowledged (or refused) somewhere? */
static int all_settled(struct roster_client *c)
{
	for (size_t i = 0; i < c->n_eps; i++) {
		struct ep *e = c->eps[i];
		if (e->removed) {
			continue;
		}
		int ok = 0;
		for (size_t r = 0; r < c->n_servers && !ok; r++) {
			ok = e->acked[r] == e->gen || e->failed[r] == e->gen;
		}
		if (!ok) {
			return 0;
		}
	}
	return 1;
}

int roster_client_wait(struct roster_client *c, uint32_t timeout_ms)
{
	if (c->engine == NULL || !c->engine_thread) {
		return fail(ROSTER_ESTATE, "roster_client_wait() needs roster_client_start()");
	}
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	int rc = 0;
	pthread_mutex_lock(&c->mu);
	while (!all_settled(c)) {
		if (pthread_cond_timedwait(&c->cond, &c->mu, &deadline) != 0) {
			rc = all_settled(c) ? 0 : ROSTER_ETIMEDOUT;
			break;
		}
	}
	pthread_mutex_unlock(&c->mu);
	if (rc != 0) {
		return fail(rc, "endpoints not registered within %u ms", timeout_ms);
	}
	return 0;
}

uint32_t roster_client_timeout_ms(const struct roster_client *c)
{
	return c->cfg.timeout_ms;
}

/* ---- synchronous calls ---------------------------------------------------- */

static uint64_t next_sync_id(struct roster_client *c)
{
	pthread_mutex_lock(&c->mu);
	uint64_t id = core_next_id(c);
	pthread_mutex_unlock(&c->mu);
	return id;
}

/* Why a registry failed an exchange, for the message. */
static const char *reason(int rc, const struct wire_response *rs)
{
	if (rs != NULL && rs->message[0] != '\0') {
		return rs->message;
	}
	return roster_strerror(rc);
}

/* Why sync_call() got no answer (@p rc), into @p buf: the registry's own
 * word when it turned the connection away ("turned away: not admitted"). */
static const char *no_answer(int rc, const struct wire_response *rs, char *buf, size_t n)
{
	if (rc == ROSTER_EUNREACHABLE && rs->message[0] != '\0') {
		snprintf(buf, n, "turned away: %.200s", rs->message);
		return buf;
	}
	return roster_strerror(rc);
}

/*
 * Send @p rq to the registries in list order until one answers.
 * @return 0 with @p rs filled (rs->error == 0, rs->result == @p want), the
 *         registry's error (rs released), ROSTER_EPROTO for an answer of
 *         the wrong kind, ROSTER_ENOMEM when we ran out of memory, or
 *         ROSTER_EUNREACHABLE when none answered.
 */
static int call_first(struct roster_client *c, struct wire_request *rq, enum wire_result want,
		const char *what, struct wire_response *rs, size_t *which)
{
	char unreachable[1024] = "";
	for (size_t i = 0; i < c->n_servers; i++) {
		rq->id = next_sync_id(c);
		int rc = sync_call(&c->addrs[i], rq, c->cfg.token, c->cfg.timeout_ms, rs);
		if (rc == 0 && rs->error == 0 && rs->result != want) {
			wire_response_deinit(rs);
			return fail(ROSTER_EPROTO, "%s: registry %s: answer without a result", what,
					c->servers[i]);
		}
		if (rc == 0 && rs->error == 0) {
			*which = i;
			return 0;
		}
		if (rc == 0) {
			rc = fail(rs->error, "%s: registry %s: %s", what, c->servers[i],
					reason(rs->error, rs));
			wire_response_deinit(rs);
			return rc;
		}
		if (rc == ROSTER_ENOMEM) {
			/* Our own shortage: no registry is to blame, and no other
			 * one (nor a stale copy) would be served any better. */
			return fail(rc, "%s: out of memory", what);
		}
		char why[224];
		snprintf(unreachable + strlen(unreachable),
				sizeof(unreachable) - strlen(unreachable), "%s%s (%s)",
				i > 0 ? ", " : "", c->servers[i],
				no_answer(rc, rs, why, sizeof(why)));
	}
	return fail(ROSTER_EUNREACHABLE, "%s: no registry answered: %s", what, unreachable);
}

/*
 * How far the fetch time of a copy in the cache file may lag the memory's
 * before an unchanged answer rewrites it anyway: a process that later loads
 * the file serves the copy for max_stale_seconds after that time, so the
 * lag must stay small next to it.
 */
static uint64_t cache_refresh_ms(const struct roster_client *c)
{
	uint64_t quarter = (uint64_t)c->cfg.max_stale_seconds * 1000u / 4;
	return quarter < 60000 ? quarter : 60000;
}

int roster_query(struct roster_client *c, const char *service, const char *protocol, unsigned flags,
		struct roster_result **out)
{
	if (inst_label_check(service) != 0) {
		return fail(ROSTER_ENAME, "invalid service '%s': %s", service ? service : "",
				roster_strerror(ROSTER_ENAME));
	}
	if (protocol != NULL && protocol[0] != '\0' && inst_label_check(protocol) != 0) {
		return fail(ROSTER_ENAME, "invalid protocol '%s': %s", protocol,
				roster_strerror(ROSTER_ENAME));
	}
	int all = (flags & ROSTER_QUERY_ALL) != 0;
	struct wire_request rq = {.op = WIRE_QUERY,
			.service = service,
			.protocol = protocol,
			.include_down = all};
	struct wire_response rs;
	size_t which = 0;
	int rc = call_first(c, &rq, WIRE_RESULT_QUERY, "query", &rs, &which);
	pthread_mutex_lock(&c->cache_mu);
	if (rc == 0) {
		struct roster_result *r = rs.query;
		rs.query = NULL;
		wire_response_deinit(&rs);
		snprintf(r->server, sizeof(r->server), "%s", c->servers[which]);
		if (cache_put(c->cache, service, protocol, all, r) == 0 && c->cache_path != NULL &&
				cache_save_due(c->cache, cache_refresh_ms(c))) {
			/* Best effort: a cache that cannot be written is only a
			 * cache; the live answer is what counts. Written under
			 * cache_mu so that two threads' writes land in order; an
			 * unchanged answer, the common case, writes nothing. */
			if (cache_save(c->cache, c->cache_path) != 0) {
				/* nothing to do: the next answer tries again */
			}
		}
		*out = r;
	} else if (rc == ROSTER_EUNREACHABLE && !(flags & ROSTER_QUERY_NO_CACHE)) {
		char msg[sizeof(errmsg_buf)];
		snprintf(msg, sizeof(msg), "%s", errmsg_buf);
		if (cache_get(c->cache, service, protocol, all, rs_clock_wall_ms(),
				    (uint64_t)c->cfg.max_stale_seconds * 1000u, out) == 0) {
			rc = 0;
		}
		/* Keep the reason the copy is stale for the caller to show. */
		snprintf(errmsg_buf, sizeof(errmsg_buf), "%s", msg);
	}
	pthread_mutex_unlock(&c->cache_mu);
	return rc;
}

int roster_list(struct roster_client *c, struct roster_list **out)
{
	struct wire_request rq = {.op = WIRE_LIST};
	struct wire_response rs;
	size_t which = 0;
	int rc = call_first(c, &rq, WIRE_RESULT_LIST, "list", &rs, &which);
	if (rc != 0) {
		return rc;
	}
	snprintf(rs.list->server, sizeof(rs.list->server), "%s", c->servers[which]);
	*out = rs.list;
	rs.list = NULL;
	wire_response_deinit(&rs);
	return 0;
}

int roster_stats(struct roster_client *c, struct roster_stats *out)
{
	struct wire_request rq = {.op = WIRE_STATS};
	struct wire_response rs;
	size_t which = 0;
	int rc = call_first(c, &rq, WIRE_RESULT_STATS, "stats", &rs, &which);
	if (rc != 0) {
		return rc;
	}
	*out = rs.stats;
	snprintf(out->server, sizeof(out->server), "%s", c->servers[which]);
	wire_response_deinit(&rs);
	return 0;
}

int roster_backup(struct roster_client *c, const char *path, uint64_t *bytes, uint64_t *duration_ms)
{
	if (path == NULL || path[0] == '\0') {
		return fail(ROSTER_EINVAL, "backup: no file named");
	}
	struct wire_request rq = {.op = WIRE_BACKUP, .path = path, .id = next_sync_id(c)};
	struct wire_response rs;
	uint32_t timeout = c->cfg.timeout_ms > ROSTER_BACKUP_TIMEOUT_MS ? c->cfg.timeout_ms
									: ROSTER_BACKUP_TIMEOUT_MS;
	int rc = sync_call(&c->addrs[0], &rq, c->cfg.token, timeout, &rs);
	if (rc != 0) {
		char why[224];
		return fail(rc, "backup: registry %s: %s", c->servers[0],
				no_answer(rc, &rs, why, sizeof(why)));
	}
	if (rs.error != 0) {
		rc = fail(rs.error, "backup: registry %s: %s", c->servers[0],
				reason(rs.error, &rs));
		wire_response_deinit(&rs);
		return rc;
	}
	if (rs.result != WIRE_RESULT_BACKUP) {
		wire_response_deinit(&rs);
		return fail(ROSTER_EPROTO, "backup: registry %s: answer without a result",
				c->servers[0]);
	}
	if (bytes != NULL) {
		*bytes = rs.backup_bytes;
	}
	if (duration_ms != NULL) {
		*duration_ms = rs.backup_ms;
	}
	wire_response_deinit(&rs);
	return 0;
}

/* Per registry, what the last one-shot write on this thread did
 * (roster_write_outcomes()). */
static __thread struct roster_outcome outcomes_buf[ROSTER_OUTCOMES_MAX];
static __thread size_t n_outcomes;

size_t roster_write_outcomes(const struct roster_outcome **out)
{
	*out = outcomes_buf;
	return n_outcomes;
}

/*
 * Send a write to every registry and classify each answer (applied, not
 * found, refused, unreachable). The verdict must not depend on the order of
 * the list, and a change that did not reach every registry must not pass
 * for success:
 *   - every registry applied it or did not know the instance, and one at
 *     least applied it: 0;
 *   - one applied it, another refused it or did not answer: ROSTER_EPARTIAL
 *     (the change is live there, missing elsewhere, and nothing retries it);
 *   - none applied it: the worst outcome by refused > unreachable > not
 *     found, with the code and the message of the first registry that had it.
 * @p revision is set from the first registry that applied it.
 */
static int call_all(struct roster_client *c, struct wire_request *rq, const char *what,
		uint64_t *revision)
{
	/* The first registry of each outcome kind, for the verdict. */
	struct roster_outcome first[ROSTER_OUTCOME_REFUSED + 1];
	size_t first_at[ROSTER_OUTCOME_REFUSED + 1], count[ROSTER_OUTCOME_REFUSED + 1] = {0};
	n_outcomes = 0;
	for (size_t i = 0; i < c->n_servers; i++) {
		struct roster_outcome o = {0};
		struct wire_response rs;
		rq->id = next_sync_id(c);
		int rc = sync_call(&c->addrs[i], rq, c->cfg.token, c->cfg.timeout_ms, &rs);
		if (rc == 0) {
			o.kind = rs.error == 0               ? ROSTER_OUTCOME_APPLIED
				 : rs.error == ROSTER_ENOENT ? ROSTER_OUTCOME_NOT_FOUND
							     : ROSTER_OUTCOME_REFUSED;
			o.error = rs.error;
			o.revision = rs.error == 0 ? rs.revision : 0;
			snprintf(o.message, sizeof(o.message), "%s",
					rs.error != 0 ? reason(rs.error, &rs) : "");
			wire_response_deinit(&rs);
		} else {
			/* No answer (refused connection, timeout, a bad frame): the
			 * registry may or may not hold the change. */
			char why[224];
			o.kind = ROSTER_OUTCOME_UNREACHABLE;
			o.error = rc;
			snprintf(o.message, sizeof(o.message), "%s",
					no_answer(rc, &rs, why, sizeof(why)));
		}
		if (count[o.kind]++ == 0) {
			first[o.kind] = o;
			first_at[o.kind] = i;
		}
		if (i < ROSTER_OUTCOMES_MAX) {
			outcomes_buf[i] = o;
			n_outcomes = i + 1;
		}
	}
	if (count[ROSTER_OUTCOME_APPLIED] > 0 && revision != NULL) {
		*revision = first[ROSTER_OUTCOME_APPLIED].revision;
	}
	enum roster_outcome_kind worst = count[ROSTER_OUTCOME_REFUSED] > 0 ? ROSTER_OUTCOME_REFUSED
					 : count[ROSTER_OUTCOME_UNREACHABLE] > 0
							 ? ROSTER_OUTCOME_UNREACHABLE
							 : ROSTER_OUTCOME_NOT_FOUND;
	if (count[ROSTER_OUTCOME_APPLIED] > 0 && worst == ROSTER_OUTCOME_NOT_FOUND) {
		return 0; /* where it was not applied, there was nothing to change */
	}
	if (count[worst] == 0) {
		/* no registry at all: roster_client_new() guarantees one */
		return fail(ROSTER_EUNREACHABLE, "%s: no registry", what);
	}
	const char *server = c->servers[first_at[worst]];
	if (count[ROSTER_OUTCOME_APPLIED] > 0) {
		return fail(ROSTER_EPARTIAL, "%s: registry %s: %s (applied at %s)", what, server,
				first[worst].message, c->servers[first_at[ROSTER_OUTCOME_APPLIED]]);
	}
	return fail(worst == ROSTER_OUTCOME_UNREACHABLE ? ROSTER_EUNREACHABLE : first[worst].error,
			"%s: registry %s: %s", what, server, first[worst].message);
}

int roster_instance_deregister(
		struct roster_client *c, const struct roster_instance *id, uint64_t *revision)
{
	n_outcomes = 0;
	int rc = check_instance(id, 1);
	if (rc != 0) {
		return rc;
	}
	struct wire_request rq = {.op = WIRE_DEREGISTER_INSTANCE, .inst = id};
	return call_all(c, &rq, "deregister", revision);
}

int roster_instance_set_status(struct roster_client *c, const struct roster_instance *id,
		enum roster_status status, uint64_t *revision)
{
	n_outcomes = 0;
	if (status < ROSTER_STARTING || status > ROSTER_DOWN) {
		return fail(ROSTER_EINVAL, "invalid status %d", (int)status);
	}
	int rc = check_instance(id, 1);
	if (rc != 0) {
		return rc;
	}
	struct wire_request rq = {.op = WIRE_SET_STATUS, .inst = id, .status = status};
	return call_all(c, &rq, "status", revision);
}

int roster_instance_register_permanent(
		struct roster_client *c, const struct roster_instance *inst, uint64_t *revision)
{
	n_outcomes = 0;
	int rc = check_instance(inst, 0);
	if (rc == 0) {
		rc = check_frame(inst);
	}
	if (rc != 0) {
		return rc;
	}
	struct wire_request rq = {.op = WIRE_REGISTER, .inst = inst, .lease = 0};
	return call_all(c, &rq, "register", revision);
}

/* ---- watches ---------------------------------------------------------------- */

int roster_watch_start(struct roster_client *c, const char *service, roster_watch_cb cb, void *ud,
		struct roster_watch **out)
{
	if (service != NULL && service[0] != '\0' && inst_label_check(service) != 0) {
		return fail(ROSTER_ENAME, "invalid service '%s': %s", service,
				roster_strerror(ROSTER_ENAME));
	}
	if (cb == NULL) {
		return fail(ROSTER_EINVAL, "no watch callback");
	}
	struct roster_watch *w = calloc(1, sizeof(*w));
	if (w == NULL || (w->service = strdup(service != NULL ? service : "")) == NULL) {
		free(w);
		return fail(ROSTER_ENOMEM, "out of memory starting a watch");
	}
	w->cb = cb;
	w->ud = ud;
	pthread_mutex_lock(&c->mu);
	w->next = c->watches;
	c->watches = w;
	engine_kick(c->engine);
	pthread_mutex_unlock(&c->mu);
	*out = w;
	return 0;
}

void roster_watch_cancel(struct roster_client *c, struct roster_watch *w)
{
	if (w == NULL) {
		return;
	}
	pthread_mutex_lock(&c->mu);
	for (struct roster_watch **p = &c->watches; *p != NULL; p = &(*p)->next) {
		if (*p != w) {
			continue;
		}
		*p = w->next;
		if (w->subscribed) {
			/* Without the CancelWatch the registry keeps sending
			 * events nobody matches: wasteful, not wrong. */
			if (RS_ARRAY_GROW(c->cancels, c->cap_cancels, c->n_cancels + 1) == 0) {
				c->cancels[c->n_cancels++] = w->req_id;
			}
			engine_kick(c->engine);
		}
		break;
	}
	pthread_mutex_unlock(&c->mu);
	free(w->service);
	free(w);
}
