/*
 * tests/faults/sysfault.c - an LD_PRELOAD shim that makes a chosen libc call
 * fail, with a chosen errno, on the Nth matching call: the failures of
 * calls that never fail on loopback or on a healthy disk (fsync(), close(),
 * fstat() of an open file, getrandom(), getpeername() after a reset, a
 * thread that cannot start...). Built in test builds only; the product has
 * no switch for faults (docs/testing.md, "Faults at the system boundary").
 *
 * Configuration, read at the first wrapped call (environment), or set by a
 * unit test through sysfault_set() (found with dlsym(), so that the test
 * still links without the shim):
 *   SYSFAULT_CALL   one name, or several separated by commas: open, close,
 *                   fsync, fstat, read, write, rename, unlink, mkdir,
 *                   opendir, realpath, fopen, getrandom, getpeername,
 *                   pthread_create, gmtime_r, pipe2, fork; sockets and
 *                   their waits: connect, send, recv, poll (the kind and
 *                   the peer, "tcp4 127.0.0.1:5300"; poll: of its first
 *                   descriptor),
 *                   accept4 (matched like the other socket calls),
 *                   socket, setsockopt, bind, getsockname, sendmsg,
 *                   sendmmsg, recvmmsg (the libc functions, and syscall()
 *                   with SYS_sendmmsg or SYS_recvmmsg), epoll_create1,
 *                   epoll_ctl, epoll_wait, eventfd; liburing's
 *                   io_uring_queue_init_params, io_uring_register_buf_ring,
 *                   io_uring_submit, io_uring_submit_and_wait (-errno),
 *                   and io_uring_register (a syscall()); io_uring_get_sqe
 *                   is inline in liburing's header, out of reach
 *   SYSFAULT_ERRNO  EIO (default), ENOSPC, EACCES, EMFILE, ENOMEM, EAGAIN,
 *                   ENOTCONN, EPERM, EROFS, EOVERFLOW, EINTR, EINPROGRESS,
 *                   EPIPE, ECONNRESET or a number
 *   SYSFAULT_PATH   only calls on a path containing this text, or on a file
 *                   descriptor opened (by open) from such a path; without
 *                   it, every call counts. The socket calls match it
 *                   against what they act on instead: the socket's kind
 *                   ("udp4", "udp6", "tcp4", "tcp6", "unix", "eventfd",
 *                   "fd"), then for setsockopt the option's name
 *                   ("udp4 SO_REUSEPORT"), for bind the address
 *                   ("udp4 127.0.0.1:5353"); epoll_ctl matches the kind of
 *                   the descriptor it adds, epoll_wait the kind of the first
 *                   one its set was given (so "udp" leaves the test
 *                   runner's own sockets and epoll sets alone)
 *   SYSFAULT_NTH    only the Nth matching call (1-based)
 *   SYSFAULT_AFTER  every matching call after the first N
 *                   (neither: every matching call)
 *   SYSFAULT_ONCE   the first matching call while this file exists; the
 *                   shim then removes it
 *   SYSFAULT_WHILE  every matching call while this file exists
 *   SYSFAULT_LOG    one line per injected failure is appended to this file
 *
 * A failed call does what the real one does on that failure: it returns
 * -1 (NULL for opendir, realpath, fopen and gmtime_r;
 * the error number for pthread_create; its negation for liburing's
 * functions) with errno set, and leaves nothing behind: a failed
 * close() still closes the descriptor (as Linux does), a failed open()
 * opens nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
/* Define the plain names (open, fstat...) and the 64-bit ones side by
 * side: with 64-bit offsets the headers would rename the plain ones. */
#undef _FILE_OFFSET_BITS
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 4096

static struct {
	atomic_bool loaded;
	pthread_mutex_t lock;
	char calls[256]; /* ",fsync,close," */
	char path[512];
	int err;
	unsigned long nth, after;
	char once[512], whilef[512], log[512];
	unsigned long seen;
	unsigned long struck;
	atomic_uchar fd_match[MAX_FDS];
} S = {.lock = PTHREAD_MUTEX_INITIALIZER, .err = EIO};

static int errno_of(const char *v)
{
	static const struct {
		const char *name;
		int e;
	} names[] = {{"EIO", EIO}, {"ENOSPC", ENOSPC}, {"EACCES", EACCES}, {"EMFILE", EMFILE},
			{"ENOMEM", ENOMEM}, {"EAGAIN", EAGAIN}, {"ENOTCONN", ENOTCONN},
			{"EPERM", EPERM}, {"EROFS", EROFS}, {"EOVERFLOW", EOVERFLOW},
			{"EINTR", EINTR}, {"EINPROGRESS", EINPROGRESS}, {"EPIPE", EPIPE},
			{"ECONNRESET", ECONNRESET}};
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		if (strcmp(v, names[k].name) == 0) {
			return names[k].e;
		}
	}
	int e = atoi(v);
	return e > 0 ? e : EIO;
}

static void copy_env(char *out, size_t outsz, const char *name)
{
	const char *v = getenv(name);
	snprintf(out, outsz, "%s", v != NULL ? v : "");
}

static void config_load(void)
{
	if (atomic_load(&S.loaded)) {
		return;
	}
	pthread_mutex_lock(&S.lock);
	if (!atomic_load(&S.loaded)) {
		const char *c = getenv("SYSFAULT_CALL");
		snprintf(S.calls, sizeof(S.calls), ",%s,", c != NULL ? c : "");
		copy_env(S.path, sizeof(S.path), "SYSFAULT_PATH");
		const char *e = getenv("SYSFAULT_ERRNO");
		S.err = e != NULL ? errno_of(e) : EIO;
		const char *n = getenv("SYSFAULT_NTH");
		S.nth = n != NULL ? strtoul(n, NULL, 10) : 0;
		n = getenv("SYSFAULT_AFTER");
		S.after = n != NULL ? strtoul(n, NULL, 10) : 0;
		copy_env(S.once, sizeof(S.once), "SYSFAULT_ONCE");
		copy_env(S.whilef, sizeof(S.whilef), "SYSFAULT_WHILE");
		copy_env(S.log, sizeof(S.log), "SYSFAULT_LOG");
		atomic_store(&S.loaded, true);
	}
	pthread_mutex_unlock(&S.lock);
}

/* For unit tests (dlsym(RTLD_DEFAULT, "sysfault_set")): fail @p calls (as
 * SYSFAULT_CALL; "" disarms) on paths containing @p path (NULL: any), the
 * @p nth matching call from now (0: every one), with @p err. Counters restart. */
void sysfault_set(const char *calls, const char *path, unsigned long nth, int err);
void sysfault_set(const char *calls, const char *path, unsigned long nth, int err)
{
	config_load();
	pthread_mutex_lock(&S.lock);
	snprintf(S.calls, sizeof(S.calls), ",%s,", calls != NULL ? calls : "");
	snprintf(S.path, sizeof(S.path), "%s", path != NULL ? path : "");
	S.nth = nth;
	S.after = 0;
	S.err = err;
	S.seen = 0;
	S.struck = 0;
	pthread_mutex_unlock(&S.lock);
}

/* For unit tests: how many failures were injected since sysfault_set(). */
unsigned long sysfault_struck(void);
unsigned long sysfault_struck(void)
{
	pthread_mutex_lock(&S.lock);
	unsigned long n = S.struck;
	pthread_mutex_unlock(&S.lock);
	return n;
}

static bool file_exists(const char *p)
{
	return syscall(SYS_faccessat, AT_FDCWD, p, F_OK, 0) == 0;
}

static void log_line(const char *call, const char *what)
{
	if (S.log[0] == '\0') {
		return;
	}
	int fd = (int)syscall(SYS_openat, AT_FDCWD, S.log,
			O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0) {
		return;
	}
	char line[700];
	int n = snprintf(line, sizeof(line), "sysfault: %s(%s) failed with errno %d\n", call,
			what != NULL ? what : "", S.err);
	(void)!syscall(SYS_write, fd, line, (size_t)n);
	syscall(SYS_close, fd);
}

static bool path_matches(const char *p)
{
	return S.path[0] == '\0' || (p != NULL && strstr(p, S.path) != NULL);
}

static bool fd_matches(int fd)
{
	return S.path[0] == '\0' || (fd >= 0 && fd < MAX_FDS && atomic_load(&S.fd_match[fd]));
}

/* Does this call fail? @p target: the call's path or fd matched. */
static bool strike(const char *call, bool target, const char *what)
{
	config_load();
	char key[40];
	snprintf(key, sizeof(key), ",%s,", call);
	pthread_mutex_lock(&S.lock);
	bool fail = false;
	if (strstr(S.calls, key) != NULL && target) {
		if (S.whilef[0] != '\0' && !file_exists(S.whilef)) {
			goto out;
		}
		if (S.once[0] != '\0') {
			if (!file_exists(S.once)) {
				goto out;
			}
			syscall(SYS_unlinkat, AT_FDCWD, S.once, 0);
			fail = true;
			goto out;
		}
		S.seen++;
		fail = S.nth != 0 ? S.seen == S.nth : S.seen > S.after;
	}
out:
	if (fail) {
		S.struck++;
		log_line(call, what);
	}
	pthread_mutex_unlock(&S.lock);
	if (fail) {
		errno = S.err;
	}
	return fail;
}

#define REAL(name)                                                                                 \
	static __typeof__(name) *real_##name;                                                      \
	if (real_##name == NULL) {                                                                 \
		real_##name = (__typeof__(name) *)dlsym(RTLD_NEXT, #name);                         \
	}

static void fd_note(int fd, const char *path)
{
	if (fd >= 0 && fd < MAX_FDS) {
		atomic_store(&S.fd_match[fd], S.path[0] != '\0' && path_matches(path));
	}
}

static int open_common(const char *name, int dirfd, const char *path, int flags, mode_t mode)
{
	config_load();
	if (strike("open", path_matches(path), path)) {
		return -1;
	}
	int fd;
	if (strcmp(name, "openat") == 0) {
		REAL(openat);
		fd = real_openat(dirfd, path, flags, mode);
	} else if (strcmp(name, "open64") == 0) {
		REAL(open64);
		fd = real_open64(path, flags, mode);
	} else {
		REAL(open);
		fd = real_open(path, flags, mode);
	}
	fd_note(fd, path);
	return fd;
}

static mode_t mode_arg(int flags, va_list ap)
{
	return (flags & (O_CREAT | O_TMPFILE)) != 0 ? (mode_t)va_arg(ap, int) : 0;
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return open_common("open", AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return open_common("open64", AT_FDCWD, path, flags, mode);
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	va_start(ap, flags);
	mode_t mode = mode_arg(flags, ap);
	va_end(ap);
	return open_common("openat", dirfd, path, flags, mode);
}

int close(int fd)
{
	REAL(close);
	bool fail = strike("close", fd_matches(fd), NULL);
	if (fd >= 0 && fd < MAX_FDS) {
		atomic_store(&S.fd_match[fd], false);
	}
	int rc = real_close(fd); /* Linux: the descriptor is gone even when close fails */
	if (fail) {
		errno = S.err;
		return -1;
	}
	return rc;
}

int fsync(int fd)
{
	REAL(fsync);
	return strike("fsync", fd_matches(fd), NULL) ? -1 : real_fsync(fd);
}

int fstat64(int fd, struct stat64 *st)
{
	REAL(fstat64);
	return strike("fstat", fd_matches(fd), NULL) ? -1 : real_fstat64(fd, st);
}

int fstat(int fd, struct stat *st)
{
	REAL(fstat);
	return strike("fstat", fd_matches(fd), NULL) ? -1 : real_fstat(fd, st);
}

ssize_t read(int fd, void *buf, size_t n)
{
	REAL(read);
	return strike("read", fd_matches(fd), NULL) ? -1 : real_read(fd, buf, n);
}

ssize_t write(int fd, const void *buf, size_t n)
{
	REAL(write);
	return strike("write", fd_matches(fd), NULL) ? -1 : real_write(fd, buf, n);
}

int rename(const char *from, const char *to)
{
	REAL(rename);
	return strike("rename", path_matches(from) || path_matches(to), from)
			       ? -1
			       : real_rename(from, to);
}

int unlink(const char *path)
{
	REAL(unlink);
	return strike("unlink", path_matches(path), path) ? -1 : real_unlink(path);
}

int mkdir(const char *path, mode_t mode)
{
	REAL(mkdir);
	return strike("mkdir", path_matches(path), path) ? -1 : real_mkdir(path, mode);
}

DIR *opendir(const char *path)
{
	REAL(opendir);
	return strike("opendir", path_matches(path), path) ? NULL : real_opendir(path);
}

char *realpath(const char *path, char *resolved)
{
	REAL(realpath);
	return strike("realpath", path_matches(path), path) ? NULL : real_realpath(path, resolved);
}

FILE *fopen64(const char *path, const char *mode)
{
	REAL(fopen64);
	return strike("fopen", path_matches(path), path) ? NULL : real_fopen64(path, mode);
}

FILE *fopen(const char *path, const char *mode)
{
	REAL(fopen);
	return strike("fopen", path_matches(path), path) ? NULL : real_fopen(path, mode);
}

ssize_t getrandom(void *buf, size_t n, unsigned flags)
{
	REAL(getrandom);
	return strike("getrandom", true, NULL) ? -1 : real_getrandom(buf, n, flags);
}

int getpeername(int fd, struct sockaddr *sa, socklen_t *len)
{
	REAL(getpeername);
	return strike("getpeername", true, NULL) ? -1 : real_getpeername(fd, sa, len);
}

int pthread_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg)
{
	REAL(pthread_create);
	if (strike("pthread_create", true, NULL)) {
		return S.err;
	}
	return real_pthread_create(t, attr, fn, arg);
}

int pipe2(int fds[2], int flags)
{
	REAL(pipe2);
	return strike("pipe2", true, NULL) ? -1 : real_pipe2(fds, flags);
}

pid_t fork(void)
{
	REAL(fork);
	return strike("fork", true, NULL) ? -1 : real_fork();
}

struct tm *gmtime_r(const time_t *t, struct tm *out)
{
	REAL(gmtime_r);
	return strike("gmtime_r", true, NULL) ? NULL : real_gmtime_r(t, out);
}

/* ---- sockets, their waits, io_uring ------------------------------------- */

/* Descriptors made by eventfd(), and the kind of the first descriptor each
 * epoll set was given (0: none yet), for the text the calls match. */
static atomic_uchar fd_eventfd[MAX_FDS];
static char epoll_first[MAX_FDS][16];

/* What @p fd is: "udp4", "tcp6", "unix", "eventfd", or "fd". */
static void fd_kind(int fd, char *out, size_t outsz)
{
	if (fd >= 0 && fd < MAX_FDS && atomic_load(&fd_eventfd[fd])) {
		snprintf(out, outsz, "eventfd");
		return;
	}
	int dom = 0, type = 0;
	socklen_t l1 = sizeof(dom), l2 = sizeof(type);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &dom, &l1) != 0 ||
			getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &l2) != 0) {
		snprintf(out, outsz, "fd");
		return;
	}
	if (dom == AF_UNIX) {
		snprintf(out, outsz, "unix");
		return;
	}
	snprintf(out, outsz, "%s%s", type == SOCK_DGRAM ? "udp" : "tcp",
			dom == AF_INET6 ? "6" : "4");
}

static void sock_kind(int domain, int type, char *out, size_t outsz)
{
	type &= ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (domain != AF_INET && domain != AF_INET6) {
		snprintf(out, outsz, domain == AF_UNIX ? "unix" : "fd");
		return;
	}
	snprintf(out, outsz, "%s%s", type == SOCK_DGRAM ? "udp" : "tcp",
			domain == AF_INET6 ? "6" : "4");
}

int socket(int domain, int type, int protocol)
{
	REAL(socket);
	char what[16];
	sock_kind(domain, type, what, sizeof(what));
	return strike("socket", path_matches(what), what) ? -1
							  : real_socket(domain, type, protocol);
}

static const char *opt_name(int level, int name)
{
	static const struct {
		int level, name;
		const char *text;
	} opts[] = {{SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT"},
			{SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR"},
			{SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF"}, {SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF"},
			{IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO"},
			{IPPROTO_IPV6, IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO"},
			{IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY"},
			{IPPROTO_IP, IP_MTU_DISCOVER, "IP_MTU_DISCOVER"},
			{IPPROTO_IPV6, IPV6_MTU_DISCOVER, "IPV6_MTU_DISCOVER"}};
	for (size_t k = 0; k < sizeof(opts) / sizeof(opts[0]); k++) {
		if (opts[k].level == level && opts[k].name == name) {
			return opts[k].text;
		}
	}
	return "opt";
}

int setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	REAL(setsockopt);
	char kind[16], what[64];
	fd_kind(fd, kind, sizeof(kind));
	snprintf(what, sizeof(what), "%s %s", kind, opt_name(level, name));
	return strike("setsockopt", path_matches(what), what)
			       ? -1
			       : real_setsockopt(fd, level, name, val, len);
}

int bind(int fd, const struct sockaddr *sa, socklen_t len)
{
	REAL(bind);
	char kind[16], host[INET6_ADDRSTRLEN] = "?", what[96];
	fd_kind(fd, kind, sizeof(kind));
	unsigned port = 0;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		port = ntohs(s4->sin_port);
		snprintf(what, sizeof(what), "%s %s:%u", kind, host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		port = ntohs(s6->sin6_port);
		snprintf(what, sizeof(what), "%s [%s]:%u", kind, host, port);
	} else {
		snprintf(what, sizeof(what), "%s", kind);
	}
	return strike("bind", path_matches(what), what) ? -1 : real_bind(fd, sa, len);
}

int getsockname(int fd, struct sockaddr *sa, socklen_t *len)
{
	REAL(getsockname);
	char what[16];
	fd_kind(fd, what, sizeof(what));
	return strike("getsockname", path_matches(what), what) ? -1 : real_getsockname(fd, sa, len);
}

ssize_t sendmsg(int fd, const struct msghdr *m, int flags)
{
	REAL(sendmsg);
	char what[16];
	fd_kind(fd, what, sizeof(what));
	return strike("sendmsg", path_matches(what), what) ? -1 : real_sendmsg(fd, m, flags);
}

int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags)
{
	REAL(sendmmsg);
	char what[16];
	fd_kind(fd, what, sizeof(what));
	return strike("sendmmsg", path_matches(what), what) ? -1 : real_sendmmsg(fd, v, n, flags);
}

int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *t)
{
	REAL(recvmmsg);
	char what[16];
	fd_kind(fd, what, sizeof(what));
	return strike("recvmmsg", path_matches(what), what) ? -1
							    : real_recvmmsg(fd, v, n, flags, t);
}

/* syscall(2): SYS_sendmmsg, SYS_recvmmsg and io_uring_register can fail;
 * every other number goes through (its six arguments as they came). */
long syscall(long nr, ...)
{
	REAL(syscall);
	va_list ap;
	va_start(ap, nr);
	long a[6];
	for (int k = 0; k < 6; k++) {
		a[k] = va_arg(ap, long);
	}
	va_end(ap);
	const char *call = nr == SYS_sendmmsg            ? "sendmmsg"
			   : nr == SYS_recvmmsg          ? "recvmmsg"
			   : nr == SYS_io_uring_register ? "io_uring_register"
							 : NULL;
	if (call != NULL) {
		char what[16] = "";
		if (nr != SYS_io_uring_register) {
			fd_kind((int)a[0], what, sizeof(what));
		}
		if (strike(call, nr == SYS_io_uring_register || path_matches(what), what)) {
			return -1;
		}
	}
	return real_syscall(nr, a[0], a[1], a[2], a[3], a[4], a[5]);
}

int epoll_create1(int flags)
{
	REAL(epoll_create1);
	if (strike("epoll_create1", true, NULL)) {
		return -1;
	}
	int fd = real_epoll_create1(flags);
	if (fd >= 0 && fd < MAX_FDS) {
		epoll_first[fd][0] = '\0';
	}
	return fd;
}

int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	REAL(epoll_ctl);
	char what[16];
	fd_kind(fd, what, sizeof(what));
	if (strike("epoll_ctl", path_matches(what), what)) {
		return -1;
	}
	int rc = real_epoll_ctl(epfd, op, fd, ev);
	if (rc == 0 && op == EPOLL_CTL_ADD && epfd >= 0 && epfd < MAX_FDS &&
			epoll_first[epfd][0] == '\0') {
		snprintf(epoll_first[epfd], sizeof(epoll_first[epfd]), "%s", what);
	}
	return rc;
}

int epoll_wait(int epfd, struct epoll_event *ev, int n, int timeout)
{
	REAL(epoll_wait);
	const char *what = epfd >= 0 && epfd < MAX_FDS ? epoll_first[epfd] : "";
	return strike("epoll_wait", what[0] != '\0' && path_matches(what), what)
			       ? -1
			       : real_epoll_wait(epfd, ev, n, timeout);
}

int eventfd(unsigned int initval, int flags)
{
	REAL(eventfd);
	if (strike("eventfd", true, NULL)) {
		return -1;
	}
	int fd = real_eventfd(initval, flags);
	if (fd >= 0 && fd < MAX_FDS) {
		atomic_store(&fd_eventfd[fd], true);
	}
	return fd;
}

/* liburing's, declared here without its header (the shim does not link it;
 * it is found in the process that calls them). */
struct io_uring;
struct io_uring_params;
struct io_uring_buf_reg;
int io_uring_queue_init_params(unsigned entries, struct io_uring *ring, struct io_uring_params *p);
int io_uring_register_buf_ring(struct io_uring *ring, struct io_uring_buf_reg *reg, unsigned f);
int io_uring_submit(struct io_uring *ring);
int io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr);

int io_uring_queue_init_params(unsigned entries, struct io_uring *ring, struct io_uring_params *p)
{
	REAL(io_uring_queue_init_params);
	return strike("io_uring_queue_init_params", true, NULL)
			       ? -S.err
			       : real_io_uring_queue_init_params(entries, ring, p);
}

int io_uring_register_buf_ring(struct io_uring *ring, struct io_uring_buf_reg *reg, unsigned f)
{
	REAL(io_uring_register_buf_ring);
	return strike("io_uring_register_buf_ring", true, NULL)
			       ? -S.err
			       : real_io_uring_register_buf_ring(ring, reg, f);
}

int io_uring_submit(struct io_uring *ring)
{
	REAL(io_uring_submit);
	return strike("io_uring_submit", true, NULL) ? -S.err : real_io_uring_submit(ring);
}

int io_uring_submit_and_wait(struct io_uring *ring, unsigned wait_nr)
{
	REAL(io_uring_submit_and_wait);
	return strike("io_uring_submit_and_wait", true, NULL)
			       ? -S.err
			       : real_io_uring_submit_and_wait(ring, wait_nr);
}

/* accept4(2), as libuv's accept loop calls it: the socket's kind ("tcp4"). */
int accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
	REAL(accept4);
	char what[16];
	fd_kind(fd, what, sizeof(what));
	return strike("accept4", path_matches(what), what) ? -1 : real_accept4(fd, sa, len, flags);
}

/* The client's blocking calls (libroster's one-shot calls, roster doctor):
 * connect(2), send(2), recv(2) and poll(2) (its first descriptor), matched
 * by the socket's kind and its peer, "tcp4 127.0.0.1:5300" ("udp6
 * [::1]:53"; the kind alone while unconnected), so that one peer's calls
 * can fail while the others' pass. A connect() failed with EINPROGRESS has
 * not connected: the socket stays unconnected, as one whose handshake has
 * not been started. */
static void peer_text(int fd, const struct sockaddr *sa, char *out, size_t outsz)
{
	char kind[16], host[INET6_ADDRSTRLEN] = "";
	fd_kind(fd, kind, sizeof(kind));
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (sa == NULL) {
		REAL(getpeername);
		sa = real_getpeername(fd, (struct sockaddr *)&ss, &len) == 0
				     ? (struct sockaddr *)&ss
				     : NULL;
	}
	if (sa != NULL && sa->sa_family == AF_INET) {
		const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
		snprintf(out, outsz, "%s %s:%u", kind, host, ntohs(s4->sin_port));
	} else if (sa != NULL && sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
		snprintf(out, outsz, "%s [%s]:%u", kind, host, ntohs(s6->sin6_port));
	} else {
		snprintf(out, outsz, "%s", kind);
	}
}

int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
	REAL(connect);
	char what[96];
	peer_text(fd, sa, what, sizeof(what));
	return strike("connect", path_matches(what), what) ? -1 : real_connect(fd, sa, len);
}

ssize_t send(int fd, const void *buf, size_t n, int flags)
{
	REAL(send);
	char what[96];
	peer_text(fd, NULL, what, sizeof(what));
	return strike("send", path_matches(what), what) ? -1 : real_send(fd, buf, n, flags);
}

ssize_t recv(int fd, void *buf, size_t n, int flags)
{
	REAL(recv);
	char what[96];
	peer_text(fd, NULL, what, sizeof(what));
	return strike("recv", path_matches(what), what) ? -1 : real_recv(fd, buf, n, flags);
}

int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	REAL(poll);
	char what[96] = "";
	if (n > 0) {
		peer_text(fds[0].fd, NULL, what, sizeof(what));
	}
	return strike("poll", n > 0 && path_matches(what), what) ? -1 : real_poll(fds, n, timeout);
}
