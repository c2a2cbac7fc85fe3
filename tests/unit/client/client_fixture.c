#include "client_fixture.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void count_cb(const struct roster_event *ev, void *ud)
{
	struct client_fixture *f = ud;
	struct client_counters *c = &f->n;
	switch (ev->kind) {
	case ROSTER_EVENT_CONNECTED:
		c->connected++;
		break;
	case ROSTER_EVENT_DISCONNECTED:
		c->disconnected++;
		snprintf(c->disconnect_msg, sizeof(c->disconnect_msg), "%s", ev->message);
		break;
	case ROSTER_EVENT_REGISTER_FAILED:
		c->failed++;
		c->failed_error = ev->error;
		/* No endpoint: the registry refused the token. */
		snprintf(c->failed_host, sizeof(c->failed_host), "%s",
				ev->endpoint != NULL ? ev->endpoint->host : "");
		break;
	case ROSTER_EVENT_LEASE:
		c->lease++;
		break;
	case ROSTER_EVENT_LEASE_LOST:
		c->lease_lost++;
		break;
	case ROSTER_EVENT_REGISTERED:
		c->registered++;
		/* web2 too once a test shrank it under the limit */
		cr_expect(strcmp(ev->endpoint->host, "web1.example.net") == 0 ||
						strcmp(ev->endpoint->host, f->second_host) == 0 ||
						(f->big != NULL &&
								strcmp(ev->endpoint->host,
										"web2.example.net") ==
										0),
				"REGISTERED %s", ev->endpoint->host);
		cr_expect_gt(ev->revision, 0);
		if (c->n_leases_seen < 8) {
			c->leases_seen[c->n_leases_seen++] = ev->lease;
		}
		break;
	case ROSTER_EVENT_HEARTBEAT:
		c->heartbeat++;
		break;
	case ROSTER_EVENT_DEREGISTERED:
		c->deregistered++;
		break;
	default:
		break;
	}
	if (f->on_event != NULL) {
		f->on_event(ev, f->on_event_ud);
	}
}

void client_fixture_start(struct client_fixture *f, const struct client_fixture_opts *o)
{
	memset(f, 0, sizeof(*f));
	cr_assert_eq(uv_loop_init(&f->loop), 0);
	mock_registry_start(&f->loop, &f->m, o != NULL ? o->ops : NULL, o != NULL ? o->ud : NULL);
	f->m.silent = o != NULL && o->silent;
	f->m.max_frame = o != NULL ? o->max_frame : 0;
	snprintf(f->server, sizeof(f->server), "127.0.0.1:%d", f->m.port);
	const char *servers[] = {f->server};
	if (o != NULL && o->second_host != NULL) {
		snprintf(f->second_host, sizeof(f->second_host), "%s", o->second_host);
	}
	f->on_event = o != NULL ? o->on_event : NULL;
	f->on_event_ud = o != NULL ? o->on_event_ud : NULL;
	struct roster_config cfg = {.servers = servers,
			.n_servers = 1,
			.ttl_seconds = o != NULL && o->ttl_seconds ? o->ttl_seconds : 1,
			.backoff_min_ms = 10,
			.backoff_max_ms = o != NULL && o->backoff_max_ms ? o->backoff_max_ms : 50,
			.timeout_ms = o != NULL && o->timeout_ms ? o->timeout_ms : 500,
			.event_cb = count_cb,
			.event_ud = f,
			.token = o != NULL ? o->token : NULL};
	cr_assert_eq(roster_client_new(&cfg, &f->c), 0);
	struct roster_instance ep = {.service = "web",
			.protocol = "http",
			.host = "web1.example.net",
			.port = 80};
	cr_assert_eq(roster_endpoint_add(f->c, &ep), 0);
	if (f->second_host[0] != '\0') {
		struct roster_instance two = {.service = "web",
				.protocol = "http",
				.host = f->second_host,
				.port = 80};
		cr_assert_eq(roster_endpoint_add(f->c, &two), 0);
	}
	if (o != NULL && o->big_value_len > 0) {
		f->big = malloc(o->big_value_len + 1);
		cr_assert_not_null(f->big);
		memset(f->big, 'a', o->big_value_len);
		f->big[o->big_value_len] = '\0';
		struct roster_meta meta = {.key = "blob", .value = f->big};
		struct roster_instance big = {.service = "web",
				.protocol = "http",
				.host = "web2.example.net",
				.port = 80,
				.metadata = &meta,
				.n_metadata = 1};
		cr_assert_eq(roster_endpoint_add(f->c, &big), 0);
	}
	cr_assert_eq(roster_client_start_loop(f->c, &f->loop), 0);
}

void client_fixture_stop(struct client_fixture *f)
{
	roster_client_stop(f->c);
	mock_run_until(&f->loop, &f->n.deregistered, 1, 2000);
	mock_registry_stop(&f->m);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	cr_expect_eq(uv_loop_close(&f->loop), 0, "every handle closed");
	roster_client_free(f->c);
	free(f->big);
	cr_expect_eq(f->m.lease_deregs, 1);
}
