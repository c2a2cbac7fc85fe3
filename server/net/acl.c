#include "server/net/acl.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/addr.h"
#include "common/clock.h"
#include "common/error.h"
#include "common/log.h"

/* One source's log state: when it was last logged, how many refusals
 * since. An empty slot has family 0. */
struct acl_slot {
	struct rs_addr addr;
	uint64_t logged_ms;
	uint64_t since; /* refusals since logged_ms, the logged one excluded */
	bool used;
};

struct acl {
	const char *name;
	const char *flag;
	bool dry_run;
	size_t n;
	struct rs_prefix *allow;
	_Atomic uint64_t refused, dry_runs, logged, suppressed;
	/* The log table and the per-second line budget, under @c lock
	 * (taken with trylock only). */
	pthread_mutex_t lock;
	uint64_t seed;
	uint64_t second;   /* now_ms / 1000 of the budget */
	uint32_t lines;    /* lines written in that second */
	uint64_t unlogged; /* refusals over the budget not yet reported in a line */
	struct acl_slot slots[ACL_LOG_SLOTS];
};

int acl_new(const char *name, const char *flag, const struct rs_prefix *allow, size_t n,
		bool dry_run, struct acl **out)
{
	*out = NULL;
	if (n == 0) {
		return RS_EINVAL;
	}
	struct acl *acl = calloc(1, sizeof(*acl));
	if (acl == NULL) {
		return RS_ENOMEM;
	}
	acl->allow = calloc(n, sizeof(*acl->allow));
	if (acl->allow == NULL) {
		free(acl);
		return RS_ENOMEM;
	}
	memcpy(acl->allow, allow, n * sizeof(*allow));
	acl->n = n;
	acl->name = name;
	acl->flag = flag;
	acl->dry_run = dry_run;
	pthread_mutex_init(&acl->lock, NULL);
	/* A seeded slot index: spoofed sources cannot aim at one slot. A
	 * failed getrandom leaves a fixed seed, which still works. */
	(void)!getrandom(&acl->seed, sizeof(acl->seed), GRND_NONBLOCK);
	*out = acl;
	return 0;
}

void acl_free(struct acl *acl)
{
	if (acl == NULL) {
		return;
	}
	pthread_mutex_destroy(&acl->lock);
	free(acl->allow);
	free(acl);
}

/* The source as an rs_addr, an IPv4-mapped IPv6 one as its IPv4 address
 * (the form rs_prefix_match() compares). False (family AF_UNSPEC) for
 * another family. */
static bool source_of(const struct sockaddr *sa, struct rs_addr *out)
{
	memset(out, 0, sizeof(*out));
	if (sa == NULL) {
		return false;
	}
	if (sa->sa_family == AF_INET) {
		out->family = AF_INET;
		memcpy(out->bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	if (sa->sa_family != AF_INET6) {
		return false;
	}
	const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (IN6_IS_ADDR_V4MAPPED(a6)) {
		out->family = AF_INET;
		memcpy(out->bytes, a6->s6_addr + 12, 4);
	} else {
		out->family = AF_INET6;
		memcpy(out->bytes, a6->s6_addr, 16);
	}
	return true;
}

/* The first slot of @p a's set of ACL_LOG_WAYS. */
static size_t set_index(const struct acl *acl, const struct rs_addr *a)
{
	uint64_t h = acl->seed ^ a->family;
	for (size_t i = 0; i < 16; i += 8) {
		uint64_t w;
		memcpy(&w, a->bytes + i, 8);
		h = (h ^ w) * 0x9e3779b97f4a7c15ULL;
		h ^= h >> 29;
	}
	return (size_t)(h & (ACL_LOG_SLOTS / ACL_LOG_WAYS - 1)) * ACL_LOG_WAYS;
}

/* @p a's slot in its set, or the one it takes: an empty one, else the one
 * logged longest ago. *@p same: it was @p a's already. */
static struct acl_slot *slot_of(struct acl *acl, const struct rs_addr *a, bool *same)
{
	struct acl_slot *set = &acl->slots[set_index(acl, a)];
	struct acl_slot *victim = &set[0];
	for (size_t w = 0; w < ACL_LOG_WAYS; w++) {
		if (set[w].used && rs_addr_cmp(&set[w].addr, a) == 0) {
			*same = true;
			return &set[w];
		}
		if (victim->used && (!set[w].used || set[w].logged_ms < victim->logged_ms)) {
			victim = &set[w];
		}
	}
	*same = false;
	return victim;
}

/* Under the lock: should this refusal of @p a be logged now? Fills the
 * counts the line reports. A clock that went back (another thread's older
 * reading) counts as no time passed. */
static bool log_due(struct acl *acl, const struct rs_addr *a, uint64_t now_ms, uint64_t *since,
		uint64_t *unlogged)
{
	bool same;
	struct acl_slot *s = slot_of(acl, a, &same);
	if (same && (now_ms < s->logged_ms || now_ms - s->logged_ms < ACL_LOG_INTERVAL_MS)) {
		s->since++;
		return false;
	}
	if (now_ms / 1000 > acl->second) {
		acl->second = now_ms / 1000;
		acl->lines = 0;
	}
	if (acl->lines >= ACL_LOG_BURST) {
		acl->unlogged++;
		atomic_fetch_add_explicit(&acl->suppressed, 1, memory_order_relaxed);
		return false;
	}
	acl->lines++;
	*since = same ? s->since : 0;
	*unlogged = acl->unlogged;
	acl->unlogged = 0;
	s->addr = *a;
	s->used = true;
	s->logged_ms = now_ms;
	s->since = 0;
	return true;
}

static void refusal_log(struct acl *acl, const struct rs_addr *a, uint64_t now_ms)
{
	if (pthread_mutex_trylock(&acl->lock) != 0) {
		return; /* another thread logs: never wait on a refusal */
	}
	uint64_t since = 0, unlogged = 0;
	bool due = log_due(acl, a, now_ms, &since, &unlogged);
	pthread_mutex_unlock(&acl->lock);
	if (!due) {
		return;
	}
	atomic_fetch_add_explicit(&acl->logged, 1, memory_order_relaxed);
	char text[RS_ADDR_TEXT_MAX] = "?";
	if (a->family != AF_UNSPEC) {
		rs_addr_format(a, text);
	}
	char more[96] = "";
	if (since > 0 || unlogged > 0) {
		snprintf(more, sizeof(more), "; %llu more from it, %llu from sources not logged",
				(unsigned long long)since, (unsigned long long)unlogged);
	}
	if (acl->dry_run) {
		rs_log_notice("acl: %s would refuse %s (outside %s; --acl-dry-run: served); "
			      "logged at most once a minute per source%s",
				acl->name, text, acl->flag, more);
	} else {
		rs_log_notice("acl: %s refused %s (outside %s); logged at most once a minute per "
			      "source%s",
				acl->name, text, acl->flag, more);
	}
}

enum acl_verdict acl_check(struct acl *acl, const struct sockaddr *peer, uint64_t now_ms)
{
	for (size_t i = 0; i < acl->n; i++) {
		if (rs_prefix_match(&acl->allow[i], peer)) {
			return ACL_ALLOW;
		}
	}
	struct rs_addr a;
	(void)source_of(peer, &a); /* AF_UNSPEC when unknown: logged as "?" */
	atomic_fetch_add_explicit(
			acl->dry_run ? &acl->dry_runs : &acl->refused, 1, memory_order_relaxed);
	refusal_log(acl, &a, now_ms);
	return acl->dry_run ? ACL_DRY_RUN : ACL_REFUSE;
}

bool acl_admit(void *acl, const struct sockaddr *peer)
{
	return acl_check(acl, peer, rs_clock_mono_ms()) != ACL_REFUSE;
}

void acl_counters_get(const struct acl *acl, struct acl_counters *out)
{
	struct acl *a = (struct acl *)acl; /* atomic loads want a non-const object */
	out->refused = atomic_load_explicit(&a->refused, memory_order_relaxed);
	out->dry_run = atomic_load_explicit(&a->dry_runs, memory_order_relaxed);
	out->logged = atomic_load_explicit(&a->logged, memory_order_relaxed);
	out->log_suppressed = atomic_load_explicit(&a->suppressed, memory_order_relaxed);
}
