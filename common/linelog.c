#include "common/linelog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"

#define LINELOG_MAX_DEFAULT (16u << 20)

void rs_linelog_init(struct rs_linelog *l)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->max = LINELOG_MAX_DEFAULT;
}

/* Open (append to) the log's path in place of its descriptor, if any; on
 * failure the old one stays. */
static int linelog_open_path(struct rs_linelog *l)
{
	int fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
	if (fd < 0) {
		return -errno;
	}
	if (l->fd >= 0) {
		close(l->fd);
	}
	l->fd = fd;
	struct stat st;
	l->size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	return 0;
}

int rs_linelog_open(struct rs_linelog *l, const char *path, uint64_t max_bytes)
{
	int n = snprintf(l->path, sizeof(l->path), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(l->path)) {
		return RS_ERANGE;
	}
	rs_linelog_set_max(l, max_bytes);
	return linelog_open_path(l);
}

void rs_linelog_set_max(struct rs_linelog *l, uint64_t max_bytes)
{
	l->max = max_bytes != 0 ? max_bytes : LINELOG_MAX_DEFAULT;
}

static void linelog_rotate(struct rs_linelog *l)
{
	char old[sizeof(l->path) + 2];
	snprintf(old, sizeof(old), "%s.1", l->path);
	close(l->fd);
	if (rename(l->path, old) != 0) {
		l->errors++;
	}
	l->fd = open(l->path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0640);
	l->size = 0;
	if (l->fd < 0) {
		l->errors++;
	}
}

void rs_linelog_write(struct rs_linelog *l, const char *line, size_t n)
{
	if (l->fd < 0) {
		return;
	}
	if (l->size + (uint64_t)n > l->max) {
		linelog_rotate(l);
		if (l->fd < 0) {
			return;
		}
	}
	ssize_t w = write(l->fd, line, n);
	if (w < 0 || (size_t)w != n) {
		/* A full disk: no half line for a JSON Lines reader to trip on.
		 * The file's own size, not ours: someone may have cut it. */
		struct stat st;
		if (w > 0 && (fstat(l->fd, &st) < 0 || st.st_size < w ||
					     ftruncate(l->fd, st.st_size - w) < 0)) {
			l->errors++; /* the half line stays: counted twice */
		}
		l->errors++;
		return;
	}
	l->size += (uint64_t)n;
}

int rs_linelog_reopen(struct rs_linelog *l)
{
	return l->path[0] != '\0' ? linelog_open_path(l) : 0;
}

void rs_linelog_close(struct rs_linelog *l)
{
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
}
