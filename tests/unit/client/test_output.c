#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "client/cli/output.h"
#include "client/inst.h"

/* 2026-11-25 00:58:07 UTC */
#define T0 1795568287000ULL

static char *capture_buf;
static size_t capture_len;

static FILE *capture(void)
{
	free(capture_buf);
	capture_buf = NULL;
	return open_memstream(&capture_buf, &capture_len);
}

static struct roster_result *two(bool stale)
{
	struct roster_result *r = inst_result_new(2);
	const char *hosts[] = {"lon6-metadataproxy-a133t.lon6.example.net.",
			"lon6-metadataproxy-af00l.lon6.example.net."};
	for (int i = 0; i < 2; i++) {
		struct roster_instance in = {.service = "metadata",
				.protocol = "hm",
				.host = hosts[i],
				.port = 1234,
				.status = ROSTER_UP,
				.status_since_ms = T0 + 11000u * (unsigned)i,
				.expiry = ROSTER_TIMED};
		cr_assert_eq(inst_pack(&r->instances[i], &in), 0);
		r->n_instances++;
	}
	r->revision = 7;
	r->stale = stale;
	r->fetched_at_ms = T0;
	snprintf(r->server, sizeof(r->server), "127.0.0.1:7600");
	return r;
}

Test(output, query_is_spnameless)
{
	struct roster_result *r = two(false);
	FILE *f = capture();
	output_query(f, false, "metadata", NULL, r, T0, "");
	fclose(f);
	cr_expect_str_eq(capture_buf,
			"query: service:metadata, protocol:hm (2 endpoints)\n"
			"\n"
			"lon6-metadataproxy-a133t.lon6.example.net.:1234  (UP since 2026-11-25 "
			"00:58:07, expires TIMED)  weight:0  priority:0  addresses:-  meta:-\n"
			"lon6-metadataproxy-af00l.lon6.example.net.:1234  (UP since 2026-11-25 "
			"00:58:18, expires TIMED)  weight:0  priority:0  addresses:-  meta:-\n");
	roster_result_free(r);
}

Test(output, stale_copy_says_so)
{
	struct roster_result *r = two(true);
	FILE *f = capture();
	output_query(f, false, "metadata", "hm", r, T0 + 42000, "unreachable");
	fclose(f);
	cr_expect(strstr(capture_buf,
				  "query: service:metadata, protocol:hm (2 endpoints)\n"
				  "stale: no registry answered; last known copy from "
				  "2026-11-25 00:58:07 (42 s ago, registry 127.0.0.1:7600)\n") ==
					capture_buf,
			"%s", capture_buf);
	f = capture();
	output_query(f, true, "metadata", "hm", r, T0 + 42000, "unreachable");
	fclose(f);
	json_error_t e;
	json_t *doc = json_loads(capture_buf, 0, &e);
	cr_assert_not_null(doc, "%s", e.text);
	cr_expect(json_is_true(json_object_get(doc, "stale")));
	cr_expect_eq(json_integer_value(json_object_get(doc, "stale_age_seconds")), 42);
	cr_expect_eq(json_array_size(json_object_get(doc, "instances")), 2);
	json_decref(doc);
	roster_result_free(r);
}

Test(output, empty_and_mixed_protocols)
{
	struct roster_result *r = inst_result_new(0);
	FILE *f = capture();
	output_query(f, false, "x", NULL, r, T0, "");
	fclose(f);
	cr_expect_str_eq(capture_buf, "query: service:x, protocol:* (0 endpoints)\n\n");
	roster_result_free(r);
	r = two(false);
	((char *)r->instances[1].protocol)[0] = 'x'; /* "xm" */
	f = capture();
	output_query(f, false, "metadata", NULL, r, T0, "");
	fclose(f);
	cr_expect(strstr(capture_buf, "protocol:* (2 endpoints)") != NULL);
	cr_expect(strstr(capture_buf, "expires TIMED, protocol:xm)") != NULL, "%s", capture_buf);
	roster_result_free(r);
}

Test(output, registered_line)
{
	struct roster_instance in = {.service = "web",
			.protocol = "http",
			.host = "web1.lon6.example.net.",
			.port = 8080};
	FILE *f = capture();
	output_registered(f, false, &in, "services.lon6.example.net.", 42, "s", false, 0, NULL);
	fclose(f);
	cr_expect_str_eq(capture_buf, "registered web1.lon6.example.net.:8080 as "
				      "_web._http.services.lon6.example.net revision 42\n");
}

Test(output, json_writes_list_each_registry_outcome)
{
	struct roster_instance id = {.service = "web", .protocol = "http", .host = "h.", .port = 1};
	struct roster_outcome o[2] = {{.kind = ROSTER_OUTCOME_APPLIED, .revision = 7},
			{.kind = ROSTER_OUTCOME_UNREACHABLE, .message = "Connection timed out"}};
	const char *names[] = {"127.0.0.1:7600", "127.0.0.1:7601"};
	struct output_outcomes oc = {o, 2, names};
	FILE *f = capture();
	output_change(f, true, "deregistered", &id, NULL, 7, &oc);
	output_registered(f, true, &id, "services.example.net.", 7, "127.0.0.1:7600", true, 0, &oc);
	fclose(f);
	const char *want = "\"outcomes\":[{\"server\":\"127.0.0.1:7600\",\"result\":\"applied\","
			   "\"revision\":7},{\"server\":\"127.0.0.1:7601\",\"result\":"
			   "\"unreachable\",\"error\":\"Connection timed out\"}]}";
	char *second = strchr(capture_buf, '\n');
	cr_assert(second != NULL, "%s", capture_buf);
	cr_expect(strstr(capture_buf, want) != NULL && strstr(capture_buf, want) < second, "%s",
			capture_buf);
	cr_expect(strstr(second, want) != NULL, "%s", capture_buf);
}

/* web/http on h.:1, up, never expiring: the watch tests' instance. */
static struct roster_instance web_h1(void)
{
	return (struct roster_instance){.service = "web",
			.protocol = "http",
			.host = "h.",
			.port = 1,
			.status = ROSTER_UP,
			.expiry = ROSTER_NEVER};
}

/* An UPSERT of @p in at revision 5 from registry "s", without a reason. */
static struct roster_watch_event upsert(const struct roster_instance *in)
{
	return (struct roster_watch_event){.kind = ROSTER_WATCH_UPSERT,
			.revision = 5,
			.instance = in,
			.reason = "",
			.server = "s"};
}

Test(output, watch_events)
{
	struct roster_instance in = web_h1();
	in.status_since_ms = T0;
	struct roster_watch_event ev = upsert(&in);
	FILE *f = capture();
	output_watch_event(f, false, &ev);
	ev.kind = ROSTER_WATCH_REMOVE;
	ev.reason = "expired";
	output_watch_event(f, false, &ev);
	struct roster_watch_event end = {.kind = ROSTER_WATCH_SNAPSHOT_END,
			.revision = 4,
			.reason = "",
			.server = "s"};
	output_watch_event(f, true, &end);
	fclose(f);
	cr_expect_str_eq(capture_buf,
			"revision 5  UPSERT  service:web, protocol:http  h.:1  (UP since 2026-11-25 "
			"00:58:07, expires NEVER)\n"
			"revision 5  REMOVE  service:web, protocol:http  h.:1  (expired)\n"
			"{\"event\":\"SNAPSHOT_END\",\"revision\":4,\"server\":\"s\"}\n");
}

Test(output, time_is_utc_and_zero_is_a_dash)
{
	char t[32];
	output_time(T0, t);
	cr_expect_str_eq(t, "2026-11-25 00:58:07");
	output_time(0, t);
	cr_expect_str_eq(t, "-");
}

/* jansson short of memory (its allocator is ours to set): every --json
 * printer still writes one line of valid JSON naming the problem, never a
 * half document or a crash. */
static void *no_json_memory(size_t n)
{
	(void)n;
	return NULL;
}

Test(output, json_short_of_memory_is_one_valid_error_line)
{
	struct roster_result *r = two(true);
	struct roster_list l = {.n_services = 0, .revision = 3};
	struct roster_stats s = {.revision = 3};
	struct roster_instance id = {.service = "web", .protocol = "http", .host = "h.", .port = 1};
	struct roster_watch_event ev = {.kind = ROSTER_WATCH_UPSERT,
			.instance = &r->instances[0],
			.server = "127.0.0.1:7600"};
	json_set_alloc_funcs(no_json_memory, free);
	FILE *f = capture();
	output_query(f, true, "metadata", NULL, r, T0, "down");
	output_list(f, true, &l);
	output_stats(f, true, &s);
	output_reports(f, true, &s);
	output_backup(f, true, "/tmp/b", 1, 2);
	output_watch_event(f, true, &ev);
	struct roster_outcome o = {.kind = ROSTER_OUTCOME_APPLIED, .revision = 5};
	const char *names[] = {"127.0.0.1:7600"};
	struct output_outcomes oc = {&o, 1, names};
	output_registered(
			f, true, &id, "services.example.net.", 4, "127.0.0.1:7600", false, 9, NULL);
	output_change(f, true, "status", &id, "DOWN", 5, &oc);
	fclose(f);
	json_set_alloc_funcs(malloc, free);
	const char *line = "{\"error\":\"out of memory\"}\n";
	size_t n = strlen(line);
	cr_assert_eq(capture_len, 8 * n, "%s", capture_buf);
	for (size_t i = 0; i < 8; i++) {
		cr_expect_eq(memcmp(capture_buf + i * n, line, n), 0, "line %zu: %s", i,
				capture_buf);
	}
	roster_result_free(r);
}

/* The rarer lines of the text printers: a time from the registration when
 * the status never changed, a stale instance, a removal without a reason,
 * a resync, a registry in self-preservation, a stale ring, a zone given
 * without its trailing dot. */
Test(output, rarer_text_lines)
{
	struct roster_instance in = web_h1();
	in.registered_at_ms = T0;
	in.stale = true;
	struct roster_watch_event ev = upsert(&in);
	FILE *f = capture();
	output_watch_event(f, false, &ev);
	ev.kind = ROSTER_WATCH_REMOVE;
	output_watch_event(f, false, &ev);
	struct roster_watch_event resync = {
			.kind = ROSTER_WATCH_RESYNC, .revision = 6, .reason = "", .server = "s:1"};
	output_watch_event(f, false, &resync);
	fclose(f);
	cr_expect_str_eq(capture_buf,
			"revision 5  UPSERT  service:web, protocol:http  h.:1  (UP since 2026-11-25 "
			"00:58:07, expires NEVER, stale)\n"
			"revision 5  REMOVE  service:web, protocol:http  h.:1  (removed)\n"
			"revision 6  RESYNC  (connection to s:1 lost; resuming)\n");

	struct roster_result *r = two(false);
	r->preserving = true;
	((struct roster_instance *)&r->instances[0])->status_since_ms = 0;
	((struct roster_instance *)&r->instances[0])->registered_at_ms = T0 + 60000;
	f = capture();
	output_query(f, false, "metadata", "hm", r, T0, "");
	fclose(f);
	cr_expect(strstr(capture_buf, "note: the registry is in self-preservation: expired "
				      "endpoints are kept\n") != NULL,
			"%s", capture_buf);
	cr_expect(strstr(capture_buf, "a133t.lon6.example.net.:1234  (UP since 2026-11-25 "
				      "00:59:07, expires TIMED)") != NULL,
			"%s", capture_buf);

	r->stale = true;
	struct ringowner o = {.key_token = 1, .token = 2, .vnode = 3, .instance = 0, .points = 4};
	snprintf(o.host, sizeof(o.host), "h.");
	f = capture();
	output_ring(f, false, "metadata", "hm", "k", r, &o);
	fclose(f);
	cr_expect_str_eq(capture_buf,
			"ring: service:metadata, protocol:hm, key:k (token 00000001, 4 points)\n"
			"stale: no registry answered; computed from the last known copy\n"
			"\nh.:1234  (owner: point 3, token 00000002)\n");
	roster_result_free(r);

	struct roster_stats s = {.revision = 3, .preserving = true};
	snprintf(s.server, sizeof(s.server), "s:1");
	snprintf(s.zone, sizeof(s.zone), "services.lon6.example.net.");
	f = capture();
	output_stats(f, false, &s);
	fclose(f);
	cr_expect(strstr(capture_buf, "stats: registry s:1, zone services.lon6.example.net. "
				      "(mode preserving)\n") == capture_buf,
			"%s", capture_buf);

	f = capture();
	output_registered(f, false, &in, "services.lon6.example.net", 9, "s", false, 0, NULL);
	fclose(f);
	cr_expect_str_eq(capture_buf, "registered h.:1 as _web._http.services.lon6.example.net "
				      "revision 9\n");
}
