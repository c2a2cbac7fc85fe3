#include "zonegen/notify.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/name.h"

#define OPCODE_NOTIFY 4
#define TYPE_SOA 6
#define CLASS_IN 1

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

int zg_notify_build(const struct zg_notify_soa *soa, uint16_t id, uint8_t *out, size_t outsz)
{
	uint8_t qname[RS_NAME_WIRE_MAX], mname[RS_NAME_WIRE_MAX], rname[RS_NAME_WIRE_MAX];
	int ql = rs_name_to_wire(soa->zone, RS_NAME_NUMERIC_TOP, qname);
	int ml = rs_name_to_wire(soa->mname, RS_NAME_NUMERIC_TOP, mname);
	int rl = rs_name_to_wire(soa->rname, RS_NAME_NUMERIC_TOP, rname);
	if (ql < 0 || ml < 0 || rl < 0) {
		return ql < 0 ? ql : ml < 0 ? ml : rl;
	}
	size_t need = 12 + (size_t)ql + 4 + 2 + 10 + (size_t)ml + (size_t)rl + 20;
	if (need > outsz) {
		return RS_ERANGE;
	}
	memset(out, 0, 12);
	put16(out, id);
	out[2] = (uint8_t)(OPCODE_NOTIFY << 3) | 0x04; /* opcode NOTIFY, AA (RFC 1996 3.7) */
	put16(out + 4, 1); /* QDCOUNT */
	put16(out + 6, 1); /* ANCOUNT: the SOA hint */
	size_t o = 12;
	memcpy(out + o, qname, (size_t)ql);
	o += (size_t)ql;
	put16(out + o, TYPE_SOA);
	put16(out + o + 2, CLASS_IN);
	o += 4;
	put16(out + o, 0xc00c); /* the owner: a pointer to the question's name */
	put16(out + o + 2, TYPE_SOA);
	put16(out + o + 4, CLASS_IN);
	put32(out + o + 6, soa->ttl);
	put16(out + o + 10, (uint16_t)(ml + rl + 20));
	o += 12;
	memcpy(out + o, mname, (size_t)ml);
	o += (size_t)ml;
	memcpy(out + o, rname, (size_t)rl);
	o += (size_t)rl;
	put32(out + o, soa->serial);
	put32(out + o + 4, soa->refresh);
	put32(out + o + 8, soa->retry);
	put32(out + o + 12, soa->expire);
	put32(out + o + 16, soa->minimum);
	o += 20;
	return (int)o;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static socklen_t sa_len(const struct sockaddr_storage *ss)
{
	return ss->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
}

static bool same_peer(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family) {
		return false;
	}
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
	return x->sin6_port == y->sin6_port &&
	       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

int zg_notify_send(const struct zg_notify_soa *zones, size_t nzones,
		const struct sockaddr_storage *targets, size_t ntargets, int *rcodes)
{
	size_t n = nzones * ntargets;
	int rc = 0;
	int fds[2] = {-1, -1}; /* IPv4, IPv6 */
	uint16_t *ids = malloc((n == 0 ? 1 : n) * sizeof(*ids));
	if (ids == NULL) {
		return RS_ENOMEM;
	}
	uint16_t base = 0;
	if (getrandom(&base, sizeof(base), 0) < 0) {
		base = (uint16_t)now_ms();
	}
	for (size_t i = 0; i < n; i++) {
		rcodes[i] = -1;
		ids[i] = (uint16_t)(base + i);
	}
	for (size_t t = 0; t < ntargets; t++) {
		int k = targets[t].ss_family == AF_INET ? 0 : 1;
		if (fds[k] < 0) {
			fds[k] = socket(targets[t].ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (fds[k] < 0) {
				rc = -errno;
				goto out;
			}
		}
	}
	for (int attempt = 0; attempt < ZG_NOTIFY_TRIES; attempt++) {
		size_t pending = 0;
		for (size_t i = 0; i < n; i++) {
			if (rcodes[i] >= 0) {
				continue;
			}
			const struct sockaddr_storage *to = &targets[i % ntargets];
			uint8_t msg[1024];
			int len = zg_notify_build(&zones[i / ntargets], ids[i], msg, sizeof(msg));
			if (len < 0) {
				rcodes[i] = -2; /* not sendable; the caller reports it */
				continue;
			}
			int fd = fds[to->ss_family == AF_INET ? 0 : 1];
			/* a send error (no route, refused) counts as no answer: retried */
			(void)!sendto(fd, msg, (size_t)len, 0, (const struct sockaddr *)to,
					sa_len(to));
			pending++;
		}
		int64_t deadline = now_ms() + ZG_NOTIFY_WAIT_MS;
		while (pending > 0) {
			int64_t left = deadline - now_ms();
			if (left <= 0) {
				break;
			}
			struct pollfd pfd[2] = {{.fd = fds[0], .events = POLLIN},
					{.fd = fds[1], .events = POLLIN}};
			if (poll(pfd, 2, (int)left) <= 0) {
				continue;
			}
			for (int k = 0; k < 2; k++) {
				if (!(pfd[k].revents & POLLIN)) {
					continue;
				}
				uint8_t buf[1500];
				struct sockaddr_storage from;
				socklen_t fl = sizeof(from);
				ssize_t r = recvfrom(fds[k], buf, sizeof(buf), 0,
						(struct sockaddr *)&from, &fl);
				/* RFC 1996 4.7: a response has QR, opcode NOTIFY, our ID */
				if (r < 12 || !(buf[0 + 2] & 0x80) ||
						((buf[2] >> 3) & 0xf) != OPCODE_NOTIFY) {
					continue;
				}
				uint16_t id = (uint16_t)(buf[0] << 8 | buf[1]);
				size_t i = (uint16_t)(id - base);
				if (i < n && rcodes[i] < 0 && rcodes[i] != -2 &&
						same_peer(&from, &targets[i % ntargets])) {
					rcodes[i] = buf[3] & 0xf;
					pending--;
				}
			}
		}
		if (pending == 0) {
			break;
		}
	}
out:
	for (int k = 0; k < 2; k++) {
		if (fds[k] >= 0) {
			close(fds[k]);
		}
	}
	free(ids);
	return rc;
}
