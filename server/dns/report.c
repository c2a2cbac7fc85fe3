#include "server/dns/report.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/addr.h"
#include "common/error.h"
#include "common/hash.h"

void report_init(struct report *r, uint32_t rate)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->mu, NULL);
	r->rate = rate;
	rs_linelog_init(&r->log);
}

/* The source prefix: /24 for IPv4, /56 for IPv6 (SPEC). */
static void prefix_of(const struct sockaddr *src, uint8_t out[8])
{
	memset(out, 0, 8);
	if (src == NULL) {
		return;
	}
	if (src->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)src;
		memcpy(out, &s4->sin_addr, 3);
		out[7] = 4;
	} else if (src->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)src;
		memcpy(out, &s6->sin6_addr, 7);
		out[7] = 6;
	}
}

static bool admit(struct report *r, const struct sockaddr *src, uint64_t now_ms)
{
	if (r->rate == 0) {
		return true;
	}
	uint8_t p[8];
	prefix_of(src, p);
	/* Only a slot in this table: the value never leaves the process. */
	struct report_bucket *b = &r->buckets[rs_hash64(p, sizeof(p)) % REPORT_LIMIT_SLOTS];
	if (memcmp(b->prefix, p, 8) != 0 || b->last_ms == 0) {
		memcpy(b->prefix, p, 8);
		b->tokens = r->rate;
		b->last_ms = now_ms ? now_ms : 1;
	} else if (now_ms > b->last_ms) {
		b->tokens += (double)(now_ms - b->last_ms) * r->rate / 1000.0;
		if (b->tokens > r->rate) {
			b->tokens = r->rate; /* a burst of at most one second's worth */
		}
		b->last_ms = now_ms;
	}
	if (b->tokens < 1.0) {
		r->limited++;
		return false;
	}
	b->tokens -= 1.0;
	return true;
}

static void count(struct report *r, const struct report_fields *f)
{
	size_t n = f->len[0];
	for (size_t i = 0; i < r->ncodes; i++) {
		if (strlen(r->codes[i].code) == n &&
				memcmp(r->codes[i].code, f->label[0], n) == 0) {
			r->codes[i].count++;
			return;
		}
	}
	if (r->ncodes == REPORT_MAX_CODES) {
		r->other++;
		return;
	}
	struct report_code_count *c = &r->codes[r->ncodes++];
	memcpy(c->code, f->label[0], n);
	c->code[n] = '\0';
	c->count = 1;
}

bool report_admit(struct report *r, const struct sockaddr *src, uint64_t now_ms)
{
	pthread_mutex_lock(&r->mu);
	bool ok = admit(r, src, now_ms);
	pthread_mutex_unlock(&r->mu);
	return ok;
}

void report_limits_set(struct report *r, uint32_t rate, uint64_t log_max)
{
	pthread_mutex_lock(&r->mu);
	r->rate = rate;
	rs_linelog_set_max(&r->log, log_max);
	if (rs_linelog_reopen(&r->log) < 0) {
		r->log.errors++; /* the old file goes on */
	}
	pthread_mutex_unlock(&r->mu);
}

void report_count(struct report *r, const struct report_fields *f)
{
	pthread_mutex_lock(&r->mu);
	count(r, f);
	pthread_mutex_unlock(&r->mu);
}

void report_count_malformed(struct report *r)
{
	pthread_mutex_lock(&r->mu);
	r->malformed++;
	pthread_mutex_unlock(&r->mu);
}

int report_log_open(struct report *r, const char *dir, uint64_t max_bytes)
{
	char path[sizeof(r->log.path)];
	int n = snprintf(path, sizeof(path), "%s/client-reports.log", dir);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		return RS_ERANGE;
	}
	return rs_linelog_open(&r->log, path, max_bytes);
}

static void log_write(struct report *r, const struct report_fields *f, const struct sockaddr *src,
		uint64_t wall_ms)
{
	if (r->log.fd < 0) {
		return;
	}
	char addr[RS_ADDR_TEXT_MAX] = "";
	if (src != NULL) {
		rs_endpoint_format(src, addr);
	}
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	gmtime_r(&secs, &tm);
	/* Labels were checked to be letters, digits and hyphens: no escaping. */
	char line[512];
	int n = snprintf(line, sizeof(line),
			"{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03uZ\",\"source\":\"%s\","
			"\"code\":\"%.*s\",\"version\":\"%.*s\",\"platform\":\"%.*s\","
			"\"nonce\":\"%.*s\",\"qtype\":%u}\n",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			tm.tm_sec, (unsigned)(wall_ms % 1000), addr, f->len[0],
			(const char *)f->label[0], f->len[1], (const char *)f->label[1], f->len[2],
			(const char *)f->label[2], f->len[3], (const char *)f->label[3], f->qtype);
	if (n < 0 || (size_t)n >= sizeof(line)) {
		r->log.errors++;
		return;
	}
	rs_linelog_write(&r->log, line, (size_t)n);
}

void report_log_write(struct report *r, const struct report_fields *f, const struct sockaddr *src,
		uint64_t wall_ms)
{
	pthread_mutex_lock(&r->mu);
	log_write(r, f, src, wall_ms);
	pthread_mutex_unlock(&r->mu);
}

void report_log_close(struct report *r)
{
	rs_linelog_close(&r->log);
}

void report_counters_get(const struct report *r, struct report_counters *out)
{
	/* The mutex is the only part touched: locking is not a change of the
	 * counters, hence the cast. */
	pthread_mutex_t *mu = (pthread_mutex_t *)&r->mu;
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(mu);
	memcpy(out->codes, r->codes, r->ncodes * sizeof(r->codes[0]));
	out->ncodes = r->ncodes;
	out->other = r->other;
	out->malformed = r->malformed;
	out->limited = r->limited;
	out->log_errors = r->log.errors;
	pthread_mutex_unlock(mu);
}
