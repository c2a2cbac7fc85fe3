#include "client/sync.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/error.h"
#include "proto/frame.h"

/* Wait for @p events until @p deadline; 0, ROSTER_ETIMEDOUT or -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - (int64_t)rs_clock_mono_ms();
		if (left <= 0) {
			return ROSTER_ETIMEDOUT;
		}
		struct pollfd p = {.fd = fd, .events = events};
		int n = poll(&p, 1, (int)left);
		if (n > 0) {
			return 0;
		}
		if (n == 0) {
			return ROSTER_ETIMEDOUT;
		}
		if (errno != EINTR) {
			return -errno;
		}
	}
}

static int connect_deadline(const struct sockaddr_storage *addr, int64_t deadline, int *fdp)
{
	socklen_t alen = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						     : sizeof(struct sockaddr_in);
	int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		return -errno;
	}
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (const struct sockaddr *)addr, alen) != 0) {
		if (errno != EINPROGRESS) {
			close(fd);
			return ROSTER_EUNREACHABLE;
		}
		int rc = wait_fd(fd, POLLOUT, deadline);
		int err = 0;
		socklen_t elen = sizeof(err);
		if (rc == 0 && (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0 ||
					       err != 0)) {
			rc = ROSTER_EUNREACHABLE;
		}
		if (rc != 0) {
			close(fd);
			return rc == ROSTER_ETIMEDOUT ? ROSTER_EUNREACHABLE : rc;
		}
	}
	*fdp = fd;
	return 0;
}

static int send_all(int fd, const uint8_t *buf, size_t len, int64_t deadline)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n > 0) {
			buf += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			return -errno;
		}
		int rc = wait_fd(fd, POLLOUT, deadline);
		if (rc != 0) {
			return rc;
		}
	}
	return 0;
}

/* Read frames until the one answering @p id.
 *
 * The deadline is checked on every pass and after every frame that is not
 * ours, not only when recv() would block: a peer that keeps data coming
 * (frames for other ids, or any endless stream) must not hold the caller
 * past timeout_ms. */
static int recv_response(int fd, uint64_t id, int64_t deadline, struct wire_response *out)
{
	struct rs_frame_decoder dec;
	uint8_t buf[16384];
	int rc = ROSTER_EPROTO;
	rs_frame_decoder_init(&dec, RS_FRAME_MAX_DEFAULT * 16);
	for (;;) {
		if ((int64_t)rs_clock_mono_ms() >= deadline) {
			rc = ROSTER_ETIMEDOUT;
			goto out;
		}
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n == 0) {
			/* The registry closed without answering (e.g. it is stopping). */
			rc = ROSTER_EUNREACHABLE;
			goto out;
		}
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				rc = wait_fd(fd, POLLIN, deadline);
				if (rc != 0) {
					goto out;
				}
				continue;
			}
			rc = errno == ECONNRESET ? ROSTER_EUNREACHABLE : -errno;
			goto out;
		}
		const uint8_t *p = buf;
		size_t left = (size_t)n;
		while (left > 0) {
			size_t used = 0;
			const uint8_t *frame;
			size_t flen;
			int d = rs_frame_decode(&dec, p, left, &used, &frame, &flen);
			if (d < 0) {
				rc = d == RS_ENOMEM ? ROSTER_ENOMEM : ROSTER_EPROTO;
				goto out;
			}
			p += used;
			left -= used;
			if (d == 0) {
				break;
			}
			rc = wire_response_decode(frame, flen, out);
			if (rc != 0) {
				goto out;
			}
			/* An error with id 0 is the registry's verdict on the whole
			 * connection, sent just before it closes. Our frame over
			 * its limit is the answer to this call; any other
			 * (connection limit, shutting down) turns the connection
			 * away, and the caller tries the next registry. */
			if (out->id == id || (out->id == 0 && out->too_large)) {
				goto out;
			}
			if (out->id == 0 && out->error != 0) {
				/* Turned away: unreachable, with the registry's word. */
				char why[sizeof(out->message)];
				memcpy(why, out->message, sizeof(why));
				wire_response_deinit(out);
				memset(out, 0, sizeof(*out));
				memcpy(out->message, why, sizeof(why));
				rc = ROSTER_EUNREACHABLE;
				goto out;
			}
			wire_response_deinit(out); /* not ours: a stray frame */
			if ((int64_t)rs_clock_mono_ms() >= deadline) {
				rc = ROSTER_ETIMEDOUT;
				goto out;
			}
		}
	}
out:
	rs_frame_decoder_deinit(&dec);
	return rc;
}

/* Authenticate on @p fd, before the request: its answer must be read
 * whole before the request's (recv_response() keeps no bytes past the
 * frame it returns). @return as recv_response(); out holds the answer. */
static int auth_call(
		int fd, const char *token, uint64_t id, int64_t deadline, struct wire_response *out)
{
	struct wire_request auth = {.id = id, .op = WIRE_AUTHENTICATE, .token = token};
	uint8_t *frame = NULL;
	size_t flen = 0;
	int rc = wire_request_encode(&auth, &frame, &flen);
	if (rc == 0) {
		rc = send_all(fd, frame, flen, deadline);
		if (rc == -EPIPE || rc == -ECONNRESET) {
			rc = ROSTER_EUNREACHABLE;
		}
	}
	free(frame);
	return rc == 0 ? recv_response(fd, id, deadline, out) : rc;
}

int sync_call(const struct sockaddr_storage *addr, const struct wire_request *rq, const char *token,
		uint32_t timeout_ms, struct wire_response *out)
{
	int64_t deadline = (int64_t)rs_clock_mono_ms() + timeout_ms;
	uint8_t *frame = NULL;
	size_t flen = 0;
	int fd = -1;
	uint64_t auth_id = rq->id | (1ull << 63);
	out->message[0] = '\0'; /* the registry's reason, when it turns us away */
	int rc = wire_request_encode(rq, &frame, &flen);
	if (rc == ROSTER_ELIMIT) {
		/* The registry would refuse it unread: give the verdict it
		 * would give, without the round trip. */
		memset(out, 0, sizeof(*out));
		out->id = rq->id;
		out->error = ROSTER_ELIMIT;
		out->too_large = 1;
		snprintf(out->message, sizeof(out->message),
				"request of %zu bytes is over the %u-byte frame limit; not sent",
				flen, RS_FRAME_MAX_DEFAULT);
		return 0;
	}
	if (rc != 0) {
		return rc;
	}
	rc = connect_deadline(addr, deadline, &fd);
	if (rc != 0) {
		goto out;
	}
	if (token != NULL) {
		rc = auth_call(fd, token, auth_id, deadline, out);
		if (rc != 0) {
			goto out;
		}
		if (out->error != 0 && out->error != ROSTER_ENOTSUP) {
			out->id = rq->id; /* the token was refused: that is the answer */
			goto out;
		}
		wire_response_deinit(out);
	}
	rc = send_all(fd, frame, flen, deadline);
	if (rc == -EPIPE || rc == -ECONNRESET) {
		rc = ROSTER_EUNREACHABLE;
	}
	if (rc != 0) {
		goto out;
	}
	rc = recv_response(fd, rq->id, deadline, out);
out:
	if (fd >= 0) {
		close(fd);
	}
	free(frame);
	return rc;
}
