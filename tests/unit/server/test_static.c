#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "server/registry/static.h"
#include "server/registry/store.h"

static char path[64];

static void write_file(const char *text)
{
	snprintf(path, sizeof(path), "/tmp/roster-static-XXXXXX");
	int fd = mkstemp(path);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void cleanup(void)
{
	unlink(path);
}

/* Disk writes the store asks for: static instances must cause none. */
static unsigned nputs, dels;
static int put_cb(void *ctx, struct store_instance *inst)
{
	(void)ctx;
	static uint64_t next = 1;
	if (inst->rec == 0) {
		inst->rec = next++;
	}
	nputs++;
	return 0;
}
static int del_cb(void *ctx, const struct store_instance *inst)
{
	(void)ctx;
	(void)inst;
	dels++;
	return 0;
}
static const struct store_persist_ops counting = {.instance_put = put_cb, .instance_del = del_cb};

static const struct store_instance *find(const struct store *s, const char *svc, const char *proto,
		const char *host, uint32_t port)
{
	struct store_key k = {svc, proto, host, port};
	return store_instance_find(s, &k);
}

static struct store *store_make(void)
{
	struct store_limits l;
	store_limits_default(&l);
	nputs = dels = 0;
	return store_new(&l, &counting, NULL, 1000);
}

static struct static_set *read_ok(const char *text)
{
	write_file(text);
	struct store_limits l;
	store_limits_default(&l);
	struct static_set *set = NULL;
	char err[512] = "";
	cr_assert_eq(static_set_read(path, &l, &set, err, sizeof(err)), 0, "%s", err);
	cleanup();
	return set;
}

#define WEB1                                                                                       \
	"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"W1.lon6.example.net\",\"port\":80," \
	"\"addresses\":[\"10.0.0.1\",\"2001:db8::1\"],\"weight\":5,\"priority\":1,"                \
	"\"metadata\":{\"zone\":\"a\",\"az\":\"1\"}}\n"
#define DB1                                                                                        \
	"{\"service\":\"db\",\"protocol\":\"tcp\",\"host\":\"db1.example.net\",\"port\":5432,\"status\":\"DOWN\"}\n"

Test(static, a_good_file_is_applied_without_a_disk_write)
{
	struct static_set *set = read_ok("# static instances\n\n" WEB1 DB1);
	cr_expect_eq(static_set_count(set), 2);
	struct store *s = store_make();
	size_t changed = 0;
	char err[256];
	cr_assert_eq(static_set_apply(s, set, 1000, 5, &changed, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(changed, 2);
	cr_expect_eq(nputs + dels, 0, "static instances are not written to disk");
	const struct store_instance *i = find(s, "web", "http", "w1.lon6.example.net.", 80);
	cr_assert_not_null(i);
	cr_expect(i->fixed);
	cr_expect_null(i->lease);
	cr_expect_eq(i->weight, 5);
	cr_expect_eq(i->naddrs, 2);
	cr_expect_str_eq(i->meta[0].key, "az", "metadata sorted by key");
	const struct store_instance *d = find(s, "db", "tcp", "db1.example.net.", 5432);
	cr_assert_not_null(d);
	cr_expect_eq(d->status, STORE_STATUS_DOWN);

	/* The same file again changes nothing, not even the revision. */
	uint64_t rev = store_revision(s);
	cr_assert_eq(static_set_apply(s, set, 1000, 6, &changed, err, sizeof(err)), 0);
	cr_expect_eq(changed, 0);
	cr_expect_eq(store_revision(s), rev);
	static_set_free(set);

	/* A file without db: db leaves; web changes. */
	set = read_ok("{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"w1.lon6.example.net\","
		      "\"port\":80,\"weight\":7}\n");
	cr_assert_eq(static_set_apply(s, set, 1000, 7, &changed, err, sizeof(err)), 0);
	cr_expect_eq(changed, 2);
	cr_expect_null(find(s, "db", "tcp", "db1.example.net.", 5432));
	cr_expect_eq(find(s, "web", "http", "w1.lon6.example.net.", 80)->weight, 7);
	static_set_free(set);
	/* No set: every static instance leaves. */
	cr_assert_eq(static_set_apply(s, NULL, 1000, 8, &changed, err, sizeof(err)), 0);
	cr_expect_eq(changed, 1);
	cr_expect_null(find(s, "web", "http", "w1.lon6.example.net.", 80));
	cr_expect_eq(nputs + dels, 0);
	store_free(s);
}

Test(static, the_api_cannot_change_a_static_instance)
{
	struct static_set *set = read_ok(WEB1);
	struct store *s = store_make();
	size_t changed;
	char err[256];
	cr_assert_eq(static_set_apply(s, set, 1000, 5, &changed, err, sizeof(err)), 0);
	struct store_key key = {"web", "http", "w1.lon6.example.net", 80};
	uint64_t rev = 0;
	cr_expect_eq(store_deregister(s, &key, &rev), RS_EFIXED);
	cr_expect_eq(store_status_set(s, &key, STORE_STATUS_DOWN, 9, &rev), RS_EFIXED);
	struct store_registration reg = {.service = "web",
			.protocol = "http",
			.host = "w1.lon6.example.net",
			.port = 80};
	bool created;
	cr_expect_eq(store_register(s, &reg, 1000, 9, &created, &rev), RS_EFIXED);
	const struct store_lease *l;
	cr_assert_eq(store_lease_open(s, 10, 42, 1000, &l), 0);
	reg.lease = 42;
	cr_expect_eq(store_register(s, &reg, 1000, 9, &created, &rev), RS_EFIXED);
	/* Unchanged by any of it. */
	const struct store_instance *i = find(s, "web", "http", "w1.lon6.example.net.", 80);
	cr_assert_not_null(i);
	cr_expect_eq(i->status, STORE_STATUS_UP);
	cr_expect_eq(i->weight, 5);
	/* store_fixed_remove() takes only static instances. */
	reg.lease = 0;
	reg.service = "api";
	cr_assert_eq(store_register(s, &reg, 1000, 9, &created, &rev), 0);
	struct store_key api = {"api", "http", "w1.lon6.example.net", 80};
	cr_expect_eq(store_fixed_remove(s, &api, &rev), RS_ENOENT);
	cr_expect_eq(store_fixed_remove(s, &key, &rev), 0);
	static_set_free(set);
	store_free(s);
}

Test(static, an_instance_from_the_api_becomes_static_and_leaves_the_disk)
{
	struct store *s = store_make();
	struct store_registration reg = {.service = "web",
			.protocol = "http",
			.host = "w1.lon6.example.net",
			.port = 80};
	bool created;
	uint64_t rev;
	cr_assert_eq(store_register(s, &reg, 1000, 9, &created, &rev), 0);
	cr_expect_eq(nputs, 1);
	struct static_set *set = read_ok(WEB1);
	size_t changed;
	char err[256];
	cr_assert_eq(static_set_apply(s, set, 1000, 5, &changed, err, sizeof(err)), 0);
	cr_expect_eq(dels, 1, "its record was deleted");
	cr_expect_eq(nputs, 1);
	const struct store_instance *i = find(s, "web", "http", "w1.lon6.example.net.", 80);
	cr_expect(i->fixed);
	cr_expect_eq(i->rec, 0);
	static_set_free(set);
	store_free(s);
}

/* Inline text: criterion runs each case in a process of its own, where a
 * pointer into the parent's data would not hold. */
struct bad {
	char text[600];
	unsigned line;
	char why[80];
};

static struct bad bad_cases[] = {
		{WEB1 "not json\n", 2, "not a JSON object"},
		{"[1,2]\n", 1, "not a JSON object"},
		{"{\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1}\n", 1,
				"\"service\" is missing"},
		{"{\"service\":\"w_b\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1}\n",
				1, "\"service\" is not a DNS label"},
		{"{\"service\":\"web\",\"protocol\":\"ht tp\",\"host\":\"a.example.net\",\"port\":1}\n",
				1, "\"protocol\" is not a DNS label"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a..net\",\"port\":1}\n", 1,
				"\"host\" 'a..net' is not a valid host name"},
		{WEB1 "{\"service\":\"dns\",\"protocol\":\"udp\",\"host\":\"ns-c\",\"port\":53}\n",
				2, "\"host\" 'ns-c': a single label is not a fully qualified"},
		{"\n" WEB1 "{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\","
		 "\"port\":0}\n",
				3, "\"port\" must be an integer from 1 to 65535"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":\"80\"}\n",
				1, "\"port\" must be an integer"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"weight\":70000}\n",
				1, "\"weight\" must be an integer from 0 to 65535"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"priority\":-1}\n",
				1, "\"priority\" must be an integer"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"status\":\"up\"}\n",
				1, "\"status\" must be"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"addresses\":[\"10.0.0.300\"]}\n",
				1, "address 1 is not an IPv4 or IPv6 address"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"addresses\":\"10.0.0.1\"}\n",
				1, "\"addresses\" must be an array"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"metadata\":{\"k\":1}}\n",
				1, "metadata \"k\" must be a string"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"lease\":5}\n",
				1, "unknown field \"lease\""},
		{"{\"service\":\"web\",\"service\":\"db\",\"protocol\":\"http\",\"host\":\"a.example.net\","
		 "\"port\":1}\n",
				1, "not a JSON object"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"metadata\":[\"k\"]}\n",
				1, "\"metadata\" must be an object of strings"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"metadata\":{\"\":\"v\"}}\n",
				1, "must be a string with a name"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"status\":2}\n",
				1, "\"status\" must be"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"addresses\":[5]}\n",
				1, "address 1 is not"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\"}\n", 1,
				"\"port\" must be"},
		{"{\"service\":\"web\",\"protocol\":\"\",\"host\":\"a.example.net\",\"port\":1}\n",
				1, "\"protocol\" is missing or not a string"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":7,\"port\":1}\n", 1,
				"\"host\" is missing or not a string"},
		{"{\"service\":\"wwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwwww\","
		 "\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1}\n",
				1, "\"service\" is not a DNS label"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":65536}\n",
				1, "\"port\" must be an integer from 1 to 65535"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"weight\":\"5\"}\n",
				1, "\"weight\" must be an integer from 0 to 65535"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"weight\":1.5}\n",
				1, "\"weight\" must be an integer"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"status\":\"STOPPED\"}\n",
				1, "\"status\" must be"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"metadata\":{\"a\":\"1\",\"b\":null}}\n",
				1, "metadata \"b\" must be a string"},
		{"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		 "\"addresses\":[\"10.0.0.1\",\"::1\",\"fe80::zz\"]}\n",
				1, "address 3 is not an IPv4 or IPv6 address"},
		{"[1,2]\n", 1, "not a JSON object"},
		{WEB1 "# same identity, other case\n"
		      "{\"service\":\"WEB\",\"protocol\":\"http\",\"host\":\"w1.lon6.example.net.\","
		      "\"port\":80}\n",
				3, "web/http w1.lon6.example.net.:80 is listed twice"},
};

ParameterizedTestParameters(static, a_bad_line_refuses_the_file_naming_the_line)
{
	return cr_make_param_array(struct bad, bad_cases, sizeof(bad_cases) / sizeof(bad_cases[0]));
}

ParameterizedTest(struct bad *b, static, a_bad_line_refuses_the_file_naming_the_line)
{
	write_file(b->text);
	struct store_limits l;
	store_limits_default(&l);
	struct static_set *set = (struct static_set *)1;
	char err[512] = "";
	cr_expect_eq(static_set_read(path, &l, &set, err, sizeof(err)), RS_ECONF, "%s", err);
	cr_expect_null(set);
	char want[128];
	snprintf(want, sizeof(want), "%s:%u: ", path, b->line);
	cr_expect_eq(strncmp(err, want, strlen(want)), 0, "%s (want %s)", err, want);
	cr_expect(strstr(err, b->why) != NULL, "%s (want %s)", err, b->why);
	cleanup();
}

Test(static, limits_and_an_unreadable_file)
{
	struct store_limits l;
	store_limits_default(&l);
	l.max_addresses = 1;
	write_file("{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		   "\"addresses\":[\"10.0.0.1\",\"10.0.0.2\"]}\n");
	struct static_set *set = NULL;
	char err[512];
	cr_expect_eq(static_set_read(path, &l, &set, err, sizeof(err)), RS_ECONF);
	cr_expect(strstr(err, ":1: 2 addresses (limit 1)") != NULL, "%s", err);
	cleanup();
	l.max_metadata_entries = 1;
	write_file("{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		   "\"metadata\":{\"a\":\"1\",\"b\":\"2\"}}\n");
	cr_expect_eq(static_set_read(path, &l, &set, err, sizeof(err)), RS_ECONF);
	cr_expect(strstr(err, ":1: 2 metadata entries (limit 1)") != NULL, "%s", err);
	cleanup();
	store_limits_default(&l);
	l.max_metadata_bytes = 4;
	write_file("{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\",\"port\":1,"
		   "\"metadata\":{\"key\":\"value\"}}\n");
	cr_expect_eq(static_set_read(path, &l, &set, err, sizeof(err)), RS_ECONF);
	cr_expect(strstr(err, ":1: 8 metadata bytes (limit 4)") != NULL, "%s", err);
	cleanup();
	cr_expect_eq(static_set_read("/nonexistent/static.jsonl", &l, &set, err, sizeof(err)),
			-ENOENT);
	cr_expect(strstr(err, "/nonexistent/static.jsonl: No such file") != NULL, "%s", err);
}

/* Entries that differ in one part of the identity only (port, protocol,
 * service, host) are distinct; each status is taken. */
Test(static, entries_differing_in_one_part_of_the_identity_are_distinct)
{
	struct static_set *set = read_ok(
			"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\","
			"\"port\":1}\n"
			"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"a.example.net\","
			"\"port\":2,\"status\":\"DOWN\"}\n"
			"{\"service\":\"web\",\"protocol\":\"tcp\",\"host\":\"a.example.net\","
			"\"port\":1,\"status\":\"STARTING\"}\n"
			"{\"service\":\"db\",\"protocol\":\"http\",\"host\":\"a.example.net\","
			"\"port\":1,\"status\":\"UP\"}\n"
			"{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"b.example.net\","
			"\"port\":1,\"weight\":0,\"priority\":65535,\"metadata\":{}}\n");
	cr_expect_eq(static_set_count(set), 5);
	struct store *s = store_make();
	char err[512] = "";
	size_t changed = 0;
	cr_assert_eq(static_set_apply(s, set, 1000, 5, &changed, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(changed, 5);
	const struct store_instance *i = find(s, "web", "http", "a.example.net.", 2);
	cr_assert_not_null(i);
	cr_expect_eq(i->status, STORE_STATUS_DOWN);
	i = find(s, "web", "tcp", "a.example.net.", 1);
	cr_assert_not_null(i);
	cr_expect_eq(i->status, STORE_STATUS_STARTING);
	i = find(s, "db", "http", "a.example.net.", 1);
	cr_assert_not_null(i);
	cr_expect_eq(i->status, STORE_STATUS_UP);
	i = find(s, "web", "http", "b.example.net.", 1);
	cr_assert_not_null(i);
	cr_expect_eq(i->weight, 0);
	cr_expect_eq(i->priority, 65535);
	static_set_free(set);
	store_free(s);
}

/* A static instance that differs only in its number of addresses, or only
 * in its number of metadata entries, is changed. */
Test(static, a_change_of_address_or_metadata_count_alone_is_applied)
{
	struct store *s = store_make();
	char err[256];
	size_t changed = 0;
	struct static_set *set = read_ok(WEB1);
	cr_assert_eq(static_set_apply(s, set, 1000, 5, &changed, err, sizeof(err)), 0, "%s", err);
	static_set_free(set);
	set = read_ok("{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"W1.lon6.example.net\","
		      "\"port\":80,\"addresses\":[\"10.0.0.1\"],\"weight\":5,\"priority\":1,"
		      "\"metadata\":{\"zone\":\"a\",\"az\":\"1\"}}\n");
	cr_assert_eq(static_set_apply(s, set, 1000, 6, &changed, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(changed, 1, "one address fewer");
	cr_expect_eq(find(s, "web", "http", "w1.lon6.example.net.", 80)->naddrs, 1);
	static_set_free(set);
	set = read_ok("{\"service\":\"web\",\"protocol\":\"http\",\"host\":\"W1.lon6.example.net\","
		      "\"port\":80,\"addresses\":[\"10.0.0.1\"],\"weight\":5,\"priority\":1,"
		      "\"metadata\":{\"zone\":\"a\"}}\n");
	cr_assert_eq(static_set_apply(s, set, 1000, 7, &changed, err, sizeof(err)), 0, "%s", err);
	cr_expect_eq(changed, 1, "one metadata entry fewer");
	cr_expect_eq(find(s, "web", "http", "w1.lon6.example.net.", 80)->nmeta, 1);
	static_set_free(set);
	store_free(s);
}
