/* client/jsonify: the JSON form of an instance (the cache file's, the
 * CLI's --json) read back. Every malformed field is a table row and must
 * give ROSTER_EPROTO, never a half-filled instance; the forms that are
 * accepted (a lease as a decimal string or, from older files, an integer;
 * unknown status and expiry names) and a round trip. */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "client/inst.h"
#include "client/jsonify.h"

#define BASE_HEAD                                                                                  \
	"\"service\":\"db\",\"protocol\":\"tcp\",\"host\":\"db1.example.net.\","                   \
	"\"priority\":1,\"weight\":2,\"registered_at_ms\":1,\"status_since_ms\":2,"
#define GOOD_TAIL                                                                                  \
	"\"addresses\":[\"10.0.0.1\",\"2001:db8::1\"],\"metadata\":{\"k\":\"v\"},"                 \
	"\"status\":\"UP\",\"expiry\":\"TIMED\",\"stale\":false"

struct bad_json {
	char text[400];
};

static struct bad_json bad[] = {
		{"{" BASE_HEAD "\"port\":0,\"lease\":\"77\"," GOOD_TAIL "}"},
		{"{" BASE_HEAD "\"port\":65536,\"lease\":\"77\"," GOOD_TAIL "}"},
		{"{" BASE_HEAD "\"port\":-1,\"lease\":\"77\"," GOOD_TAIL "}"},
		{"{" BASE_HEAD "\"port\":\"80\",\"lease\":\"77\"," GOOD_TAIL "}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":\"\"," GOOD_TAIL "}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":\"-1\"," GOOD_TAIL "}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":\"12a\"," GOOD_TAIL "}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":\"123456789012345678901\"," GOOD_TAIL "}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":\"99999999999999999999\"," GOOD_TAIL "}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":null," GOOD_TAIL "}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":\"x7\"," GOOD_TAIL "}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":1.5," GOOD_TAIL "}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":\"7\",\"addresses\":\"10.0.0.1\","
		 "\"metadata\":{},\"status\":\"UP\",\"expiry\":\"TIMED\",\"stale\":false}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":\"7\",\"addresses\":[1],"
		 "\"metadata\":{},\"status\":\"UP\",\"expiry\":\"TIMED\",\"stale\":false}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":\"7\",\"addresses\":[],"
		 "\"metadata\":[],\"status\":\"UP\",\"expiry\":\"TIMED\",\"stale\":false}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":\"7\",\"addresses\":[],"
		 "\"metadata\":{\"k\":1},\"status\":\"UP\",\"expiry\":\"TIMED\",\"stale\":false}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":\"7\",\"addresses\":[],"
		 "\"metadata\":{},\"status\":2,\"expiry\":\"TIMED\",\"stale\":false}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":\"7\",\"addresses\":[],"
		 "\"metadata\":{},\"status\":\"UP\",\"expiry\":\"TIMED\"}"},
		{"{" BASE_HEAD "\"port\":80,\"lease\":\"7\",\"addresses\":[],"
		 "\"metadata\":{},\"status\":\"UP\",\"expiry\":\"TIMED\",\"stale\":0}"},
		{"[1]"},
};

ParameterizedTestParameters(jsonify, malformed_instances_are_eproto)
{
	return cr_make_param_array(struct bad_json, bad, sizeof(bad) / sizeof(bad[0]));
}

ParameterizedTest(struct bad_json *b, jsonify, malformed_instances_are_eproto)
{
	json_error_t err;
	json_t *obj = json_loads(b->text, 0, &err);
	cr_assert_not_null(obj, "the row is JSON: %s: %s", err.text, b->text);
	struct roster_instance in;
	memset(&in, 0x5a, sizeof(in));
	cr_expect_eq(jsonify_parse_instance(obj, &in), ROSTER_EPROTO, "%s", b->text);
	/* Nothing to free: the instance was cleared, not half built. */
	cr_expect_null(in.priv);
	cr_expect_null(in.host);
	inst_release(&in);
	json_decref(obj);
}

static int parse(const char *text, struct roster_instance *out)
{
	json_error_t err;
	json_t *obj = json_loads(text, 0, &err);
	cr_assert_not_null(obj, "%s", err.text);
	int rc = jsonify_parse_instance(obj, out);
	json_decref(obj);
	return rc;
}

Test(jsonify, lease_as_integer_or_string_and_unknown_names)
{
	struct roster_instance in;
	cr_assert_eq(parse("{" BASE_HEAD "\"port\":80,\"lease\":77,\"addresses\":[],"
			   "\"metadata\":{},\"status\":\"BOGUS\",\"expiry\":\"WHAT\","
			   "\"stale\":true}",
				     &in),
			0);
	cr_expect_eq(in.lease, 77);
	cr_expect_eq(in.status, ROSTER_STATUS_UNSPECIFIED);
	cr_expect_eq(in.expiry, ROSTER_EXPIRY_UNSPECIFIED);
	cr_expect(in.stale);
	cr_expect_eq(in.n_addresses, 0);
	inst_release(&in);
	cr_assert_eq(parse("{" BASE_HEAD "\"port\":65535,\"lease\":\"18446744073709551615\","
			   "\"addresses\":[],\"metadata\":{},\"status\":\"STARTING\","
			   "\"expiry\":\"NEVER\",\"stale\":false}",
				     &in),
			0);
	cr_expect_eq(in.lease, UINT64_MAX);
	cr_expect_eq(in.port, 65535);
	cr_expect_eq(in.status, ROSTER_STARTING);
	cr_expect_eq(in.expiry, ROSTER_NEVER);
	inst_release(&in);
	cr_assert_eq(parse("{" BASE_HEAD "\"port\":1,\"lease\":\"0\",\"addresses\":[],"
			   "\"metadata\":{},\"status\":\"DOWN\",\"expiry\":\"STATIC\","
			   "\"stale\":false}",
				     &in),
			0);
	cr_expect_eq(in.expiry, ROSTER_STATIC);
	cr_expect_eq(in.status, ROSTER_DOWN);
	cr_expect_eq(in.lease, 0);
	inst_release(&in);
}

Test(jsonify, an_instance_survives_the_round_trip)
{
	const char *addrs[] = {"10.0.0.1", "2001:db8::1"};
	struct roster_meta meta[] = {{"az", "b"}, {"version", "2.1"}};
	const enum roster_status statuses[] = {ROSTER_STARTING, ROSTER_UP, ROSTER_DOWN};
	const enum roster_expiry expiries[] = {ROSTER_TIMED, ROSTER_NEVER};
	for (int s = 0; s < 3; s++) {
		struct roster_instance src = {.service = "api",
				.protocol = "tcp",
				.host = "api1.example.net.",
				.port = 8443,
				.addresses = addrs,
				.n_addresses = 2,
				.priority = 3,
				.weight = 9,
				.metadata = meta,
				.n_metadata = 2,
				.status = statuses[s],
				.registered_at_ms = 1764115200000ull,
				.status_since_ms = 1764115200123ull,
				.expiry = expiries[s % 2],
				.lease = 0xfedcba9876543210ull,
				.stale = s == 2};
		json_t *j = jsonify_instance(&src);
		cr_assert_not_null(j);
		struct roster_instance back;
		cr_assert_eq(jsonify_parse_instance(j, &back), 0);
		json_t *again = jsonify_instance(&back);
		cr_expect(json_equal(j, again), "status %d", s);
		cr_expect_eq(back.lease, src.lease);
		cr_expect_eq(back.status, src.status);
		cr_expect_eq(back.expiry, src.expiry);
		cr_expect_eq(back.stale, src.stale);
		cr_expect_str_eq(back.metadata[1].value, "2.1");
		json_decref(j);
		json_decref(again);
		inst_release(&back);
	}
	cr_expect_str_eq(jsonify_expiry_name(ROSTER_TIMED), "TIMED");
	cr_expect_str_eq(jsonify_expiry_name(ROSTER_NEVER), "NEVER");
	cr_expect_str_eq(jsonify_expiry_name(ROSTER_EXPIRY_UNSPECIFIED), "UNSPECIFIED");
	cr_expect_str_eq(jsonify_expiry_name((enum roster_expiry)7), "UNSPECIFIED");
}
