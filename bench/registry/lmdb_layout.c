/*
 * bench/registry/lmdb_layout.c - what one durable registration costs LMDB,
 * for the key layout rosterd uses today and for the one proposed in
 * docs/benchmarks.md.
 *
 *   lmdb_layout DIR [preload] [batches] [batch]
 *
 * Writes records shaped like server/registry/persist.c's instance records, in
 * batches of one write transaction each (group commit, default durable
 * sync), and prints per layout: the records already there, batch latency
 * (begin to durable commit) p50/p99, bytes written (wchar from
 * /proc/self/io) and CPU (user + system) per registration, registrations/s.
 *   identity  key = service \0 protocol \0 host \0 port: rosterd today. The
 *             service leads the key, so consecutive registrations land on
 *             scattered leaf pages: about one dirty 4 KiB page each.
 *   identity+nested  the same, each put in its own nested transaction with
 *             the revision record rewritten after it (persist.c's ops).
 *   append    key = 8-byte big-endian record number (MDB_APPEND), identity
 *             in the value: a batch fills consecutive leaf pages.
 * Each layout gets a fresh sub-directory of DIR, preloaded first.
 */
#include <errno.h>
#include <lmdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

enum layout {
	LAYOUT_IDENTITY,
	LAYOUT_NESTED,
	LAYOUT_APPEND,
};

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t wchar(void)
{
	FILE *f = fopen("/proc/self/io", "r");
	unsigned long long v = 0;
	char line[128];
	while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "wchar: %llu", &v);
	}
	if (f != NULL) {
		fclose(f);
	}
	return v;
}

static void check(int rc, const char *what)
{
	if (rc != 0) {
		fprintf(stderr, "lmdb_layout: %s: %s\n", what, mdb_strerror(rc));
		exit(1);
	}
}

static uint64_t cpu_us(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Record k: the identity key rosterd writes and a 38-byte value. */
static size_t identity_key(uint64_t k, char *out)
{
	int n = snprintf(out, 200, "bench%llu%ctcp%ch%llu.bench.example.net.%c",
			(unsigned long long)(k % 1000), 0, 0, (unsigned long long)k, 0);
	out[n] = 0x1f;
	out[n + 1] = (char)0x90; /* port 8080 */
	return (size_t)n + 2;
}

static void put_record(MDB_txn *txn, MDB_dbi dbi, enum layout l, uint64_t k)
{
	char key[256], val[300];
	memset(val, 0x5a, 38);
	MDB_val kv, vv;
	if (l == LAYOUT_APPEND) {
		uint8_t seq[8];
		for (int i = 0; i < 8; i++) {
			seq[i] = (uint8_t)(k >> (56 - 8 * i));
		}
		size_t il = identity_key(k, val + 38);
		kv = (MDB_val){8, seq};
		vv = (MDB_val){38 + il, val};
		check(mdb_put(txn, dbi, &kv, &vv, MDB_APPEND), "put");
		return;
	}
	kv = (MDB_val){identity_key(k, key), key};
	vv = (MDB_val){38, val};
	check(mdb_put(txn, dbi, &kv, &vv, 0), "put");
}

static void run(const char *dir, enum layout l, uint64_t base, uint64_t preload, uint64_t batches,
		uint64_t batch)
{
	static const char *names[] = {"identity", "identity+nested", "append"};
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, names[l]);
	if (mkdir(path, 0750) != 0 && errno != EEXIST) {
		perror(path);
		exit(1);
	}
	MDB_env *env;
	MDB_dbi dbi, meta;
	MDB_txn *txn;
	check(mdb_env_create(&env), "env");
	check(mdb_env_set_maxdbs(env, 4), "maxdbs");
	check(mdb_env_set_mapsize(env, 4ULL << 30), "mapsize");
	check(mdb_env_open(env, path, MDB_NOTLS, 0640), "open");
	check(mdb_txn_begin(env, NULL, 0, &txn), "begin");
	check(mdb_dbi_open(txn, "instances", MDB_CREATE, &dbi), "dbi");
	check(mdb_dbi_open(txn, "meta", MDB_CREATE, &meta), "dbi");
	check(mdb_txn_commit(txn), "commit");
	uint64_t k = base;
	for (uint64_t b = 0; b < preload / 10000; b++) {
		check(mdb_txn_begin(env, NULL, 0, &txn), "begin");
		for (int i = 0; i < 10000; i++) {
			put_record(txn, dbi, l, k++);
		}
		check(mdb_txn_commit(txn), "commit");
	}
	MDB_stat st;
	check(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), "begin");
	check(mdb_stat(txn, dbi, &st), "stat");
	mdb_txn_abort(txn);
	uint64_t *lat = calloc(batches, sizeof(uint64_t));
	uint64_t w0 = wchar(), c0 = cpu_us(), t0 = now_ns();
	for (uint64_t b = 0; b < batches; b++) {
		uint64_t s = now_ns();
		check(mdb_txn_begin(env, NULL, 0, &txn), "begin");
		for (uint64_t i = 0; i < batch; i++) {
			if (l == LAYOUT_NESTED) {
				MDB_txn *child;
				check(mdb_txn_begin(env, txn, 0, &child), "nested begin");
				put_record(child, dbi, l, k++);
				uint64_t rev = k;
				MDB_val rk = {8, "revision"}, rv = {8, &rev};
				check(mdb_put(child, meta, &rk, &rv, 0), "put");
				check(mdb_txn_commit(child), "nested commit");
			} else {
				put_record(txn, dbi, l, k++);
			}
		}
		check(mdb_txn_commit(txn), "commit");
		lat[b] = now_ns() - s;
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	uint64_t written = wchar() - w0;
	uint64_t cpu = cpu_us() - c0;
	qsort(lat, batches, sizeof(uint64_t), cmp_u64);
	printf("%-16s %7zu records, %llu x %llu: commit p50 %.2f ms p99 %.2f ms, %5.0f bytes "
	       "written and %5.1f us CPU per registration, %6.0f registrations/s\n",
			names[l], st.ms_entries, (unsigned long long)batches,
			(unsigned long long)batch, (double)lat[batches / 2] / 1e6,
			(double)lat[batches * 99 / 100] / 1e6,
			(double)written / (double)(batches * batch),
			(double)cpu / (double)(batches * batch), (double)(batches * batch) / secs);
	fflush(stdout);
	free(lat);
	mdb_env_close(env);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: lmdb_layout DIR [preload] [batches] [batch]\n");
		return 2;
	}
	uint64_t preload = argc > 2 ? strtoull(argv[2], NULL, 10) : 200000;
	uint64_t batches = argc > 3 ? strtoull(argv[3], NULL, 10) : 200;
	uint64_t batch = argc > 4 ? strtoull(argv[4], NULL, 10) : 128;
	/* A/B/A/B: the machine is shared, its disk noisy. */
	for (int round = 0; round < 2; round++) {
		uint64_t base = (uint64_t)round * 100000000u;
		uint64_t pre = round == 0 ? preload : 0;
		run(argv[1], LAYOUT_NESTED, base, pre, batches, batch);
		run(argv[1], LAYOUT_IDENTITY, base, pre, batches, batch);
		run(argv[1], LAYOUT_APPEND, base, pre, batches, batch);
	}
	return 0;
}
