#include "zonegen/notify.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "common/name.h"
#include "common/wire.h"

#define OPCODE_NOTIFY 4
#define TYPE_SOA 6
#define CLASS_IN 1

int zg_notify_build(const struct zg_notify_soa *soa, uint16_t id, uint8_t *out, size_t outsz)
{
	uint8_t qname[RS_NAME_WIRE_MAX], mname[RS_NAME_WIRE_MAX], rname[RS_NAME_WIRE_MAX];
	int ql = rs_name_to_wire(soa->zone, RS_NAME_NUMERIC_TOP, qname);
	int ml = rs_name_to_wire(soa->mname, RS_NAME_NUMERIC_TOP, mname);
	int rl = rs_name_to_wire(soa->rname, RS_NAME_NUMERIC_TOP, rname);
	if (ql < 0 || ml < 0 || rl < 0) {
		return ql < 0 ? ql : ml < 0 ? ml : rl;
	}
	struct rs_wire_writer w;
	rs_wire_writer_init(&w, out, outsz);
	rs_wire_write_u16(&w, id);
	rs_wire_write_u8(&w, (uint8_t)(OPCODE_NOTIFY << 3) | 0x04); /* NOTIFY, AA (RFC 1996 3.7) */
	rs_wire_write_u8(&w, 0);
	rs_wire_write_u16(&w, 1); /* QDCOUNT */
	rs_wire_write_u16(&w, 1); /* ANCOUNT: the SOA hint */
	rs_wire_write_u32(&w, 0); /* NSCOUNT, ARCOUNT */
	rs_wire_write_bytes(&w, qname, (size_t)ql);
	rs_wire_write_u16(&w, TYPE_SOA);
	rs_wire_write_u16(&w, CLASS_IN);
	rs_wire_write_u16(&w, 0xc00c); /* the owner: a pointer to the question's name */
	rs_wire_write_u16(&w, TYPE_SOA);
	rs_wire_write_u16(&w, CLASS_IN);
	rs_wire_write_u32(&w, soa->ttl);
	rs_wire_write_u16(&w, (uint16_t)(ml + rl + 20)); /* RDLENGTH */
	rs_wire_write_bytes(&w, mname, (size_t)ml);
	rs_wire_write_bytes(&w, rname, (size_t)rl);
	rs_wire_write_u32(&w, soa->serial);
	rs_wire_write_u32(&w, soa->refresh);
	rs_wire_write_u32(&w, soa->retry);
	rs_wire_write_u32(&w, soa->expire);
	rs_wire_write_u32(&w, soa->minimum);
	int rc = rs_wire_writer_error(&w);
	return rc < 0 ? rc : (int)w.len;
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
		base = (uint16_t)rs_clock_mono_ms();
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
		int64_t deadline = (int64_t)rs_clock_mono_ms() + ZG_NOTIFY_WAIT_MS;
		while (pending > 0) {
			int64_t left = deadline - (int64_t)rs_clock_mono_ms();
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
				uint16_t id = rs_wire_load_u16(buf);
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
