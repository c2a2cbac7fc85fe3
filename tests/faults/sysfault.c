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
 *                   pthread_create, gmtime_r
 *   SYSFAULT_ERRNO  EIO (default), ENOSPC, EACCES, EMFILE, ENOMEM, EAGAIN,
 *                   ENOTCONN, EPERM, EROFS or a number
 *   SYSFAULT_PATH   only calls on a path containing this text, or on a file
 *                   descriptor opened (by open) from such a path; without
 *                   it, every call counts
 *   SYSFAULT_NTH    only the Nth matching call (1-based)
 *   SYSFAULT_AFTER  every matching call after the first N
 *                   (neither: every matching call)
 *   SYSFAULT_ONCE   the first matching call while this file exists; the
 *                   shim then removes it
 *   SYSFAULT_WHILE  every matching call while this file exists
 *   SYSFAULT_LOG    one line per injected failure is appended to this file
 *
 * A failed call does what the real one does on that failure: it returns
 * -1 (NULL for opendir, realpath, fopen and gmtime_r; the error number for
 * pthread_create) with errno set, and leaves nothing behind: a failed
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
			{"EPERM", EPERM}, {"EROFS", EROFS}, {"EOVERFLOW", EOVERFLOW}};
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

struct tm *gmtime_r(const time_t *t, struct tm *out)
{
	REAL(gmtime_r);
	return strike("gmtime_r", true, NULL) ? NULL : real_gmtime_r(t, out);
}
