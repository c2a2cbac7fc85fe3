/* tests/faults/clientfault.c - see clientfault.h. */
#include "clientfault.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int __real_fsync(int fd);
int __real_close(int fd);
ssize_t __real_write(int fd, const void *buf, size_t n);
ssize_t __wrap_write(int fd, const void *buf, size_t n);
int __wrap_fsync(int fd);
int __wrap_close(int fd);

static enum clientfault_call armed;
static char part[256];
static int armed_err;
static bool struck;

void clientfault_arm(enum clientfault_call call, const char *path_part, int err)
{
	snprintf(part, sizeof(part), "%s", path_part);
	armed_err = err;
	struck = false;
	armed = call;
}

bool clientfault_struck(void)
{
	return struck;
}

/* Is @p fd's file the armed one, for @p call? Disarms when it is. */
static bool strikes(enum clientfault_call call, int fd)
{
	if (armed != call) {
		return false;
	}
	char link[64], path[4096];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	if (n < 0) {
		return false;
	}
	path[n] = '\0';
	if (strstr(path, part) == NULL) {
		return false;
	}
	armed = 0;
	struck = true;
	return true;
}

int __wrap_fsync(int fd)
{
	if (strikes(CLIENTFAULT_FSYNC, fd)) {
		errno = armed_err;
		return -1;
	}
	return __real_fsync(fd);
}

int __wrap_close(int fd)
{
	if (strikes(CLIENTFAULT_CLOSE, fd)) {
		(void)__real_close(fd); /* released whatever the error */
		errno = armed_err;
		return -1;
	}
	return __real_close(fd);
}

ssize_t __wrap_write(int fd, const void *buf, size_t n)
{
	if (strikes(CLIENTFAULT_WRITE, fd)) {
		if (armed_err == 0) {
			return 0; /* nothing written, no error */
		}
		errno = armed_err;
		return -1;
	}
	return __real_write(fd, buf, n);
}
