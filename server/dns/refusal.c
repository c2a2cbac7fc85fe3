/*
 * The rate limit of refusal log lines (server/dns/refusal.h): a linear
 * scan of a 64-slot table, taken only for a refused transfer.
 */
#include "server/dns/refusal.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

void refusal_init(struct refusal_log *l)
{
	memset(l->slot, 0, sizeof(l->slot));
	l->suppressed = 0;
	pthread_mutex_init(&l->lock, NULL);
}

void refusal_deinit(struct refusal_log *l)
{
	pthread_mutex_destroy(&l->lock);
}

/* The address as 16 octets (IPv4 mapped). @return false for other families. */
static bool addr_key(const struct sockaddr *sa, uint8_t key[16])
{
	if (sa == NULL) {
		return false;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(key, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return true;
	}
	if (sa->sa_family == AF_INET) {
		memset(key, 0, 10);
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return true;
	}
	return false;
}

bool refusal_admit(struct refusal_log *l, const struct sockaddr *addr, unsigned reason,
		uint64_t now_ms)
{
	uint8_t key[16];
	if (!addr_key(addr, key)) {
		return false;
	}
	pthread_mutex_lock(&l->lock);
	struct refusal_slot *free_slot = NULL;
	bool admit = false;
	size_t i = 0;
	for (; i < REFUSAL_SLOTS; i++) {
		struct refusal_slot *s = &l->slot[i];
		bool quiet = now_ms >= s->last_ms && now_ms - s->last_ms >= REFUSAL_QUIET_MS;
		if (s->used && s->reason == reason && memcmp(s->addr, key, 16) == 0) {
			admit = quiet;
			if (quiet) {
				s->last_ms = now_ms;
			}
			break;
		}
		if (free_slot == NULL && (!s->used || quiet)) {
			free_slot = s; /* never used, or its minute is over: reusable */
		}
	}
	if (i == REFUSAL_SLOTS) {
		if (free_slot != NULL) {
			memcpy(free_slot->addr, key, 16);
			free_slot->reason = (uint8_t)reason;
			free_slot->used = true;
			free_slot->last_ms = now_ms;
			admit = true;
		} else {
			l->suppressed++;
		}
	}
	pthread_mutex_unlock(&l->lock);
	return admit;
}
