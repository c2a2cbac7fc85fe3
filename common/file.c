#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/error.h"

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR) {
			continue;
		}
		if (w < 0) {
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* @p dir/.@p name.tmp, and @p dir/@p name when @p dst is not NULL. */
static int paths(const char *dir, const char *name, char tmp[PATH_MAX], char *dst)
{
	if ((size_t)snprintf(tmp, PATH_MAX, "%s/.%s.tmp", dir, name) >= PATH_MAX ||
			(dst != NULL && (size_t)snprintf(dst, PATH_MAX, "%s/%s", dir, name) >=
							PATH_MAX)) {
		return RS_ERANGE;
	}
	return 0;
}

int rs_file_stage(const char *dir, const char *name, const struct iovec *parts, size_t nparts,
		mode_t mode)
{
	char tmp[PATH_MAX];
	int rc = paths(dir, name, tmp, NULL);
	if (rc < 0) {
		return rc;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0) {
		return -errno;
	}
	for (size_t i = 0; i < nparts && rc == 0; i++) {
		rc = write_all(fd, parts[i].iov_base, parts[i].iov_len);
	}
	if (rc == 0 && fsync(fd) < 0) {
		rc = -errno;
	}
	if (close(fd) < 0 && rc == 0) {
		rc = -errno;
	}
	if (rc < 0) {
		unlink(tmp);
	}
	return rc;
}

int rs_file_commit(const char *dir, const char *name)
{
	char tmp[PATH_MAX], dst[PATH_MAX];
	int rc = paths(dir, name, tmp, dst);
	if (rc == 0 && rename(tmp, dst) < 0) {
		rc = -errno;
	}
	return rc;
}

void rs_file_discard(const char *dir, const char *name)
{
	char tmp[PATH_MAX];
	if (paths(dir, name, tmp, NULL) == 0) {
		(void)unlink(tmp);
	}
}

int rs_file_replace(const char *dir, const char *name, const struct iovec *parts, size_t nparts,
		mode_t mode)
{
	int rc = rs_file_stage(dir, name, parts, nparts, mode);
	if (rc == 0 && (rc = rs_file_commit(dir, name)) < 0) {
		rs_file_discard(dir, name);
	}
	return rc;
}

int rs_dir_sync(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

int rs_dir_lock(const char *dir, bool exclusive, int *fd)
{
	*fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0) {
		return -errno;
	}
	if (flock(*fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) < 0) {
		int rc = errno == EWOULDBLOCK ? RS_EBUSY : -errno;
		close(*fd);
		*fd = -1;
		return rc;
	}
	return 0;
}
