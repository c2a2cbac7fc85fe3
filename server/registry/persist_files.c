/*
 * The store's files as an operator handles them: a hot backup (a compacted,
 * consistent copy written beside the target and renamed into place), the
 * schedule's pruning, a restore (a checked copy installed as the data file)
 * and a reset (the old files moved aside). See persist.h for the contract.
 */
#include "server/registry/persist.h"
#include "server/registry/persist_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/error.h"
#include "common/file.h"

/* fsync the directory holding @p path, so that a rename in it lasts. */
static int dir_sync_of(const char *path)
{
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof(tmp), "%s", path);
	int fd = open(dirname(tmp), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		return -errno;
	}
	int rc = fsync(fd) < 0 ? -errno : 0;
	close(fd);
	return rc;
}

static void stamp(char *out, size_t outsz)
{
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(out, outsz, "%Y%m%dT%H%M%SZ", &tm);
}

/* ---- backup ------------------------------------------------------------------ */

/* Whether @p a and @p b name the same file (or directory). */
static bool same_file(const char *a, const char *b)
{
	struct stat sa, sb;
	return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
	       sa.st_ino == sb.st_ino;
}

/*
 * A backup must not land among the store's own files: renamed over
 * data.mdb it would unlink the file the running environment writes to, and
 * every write acknowledged after it would be gone at the next start. Any
 * name in the data directory is refused (its files are the store's), and a
 * hard link to data.mdb elsewhere too.
 */
static int backup_target_check(const struct persist *p, const char *path, char *err, size_t errsz)
{
	char dir[PATH_MAX], data[sizeof(p->path) + 16];
	snprintf(dir, sizeof(dir), "%s", path);
	snprintf(data, sizeof(data), "%s/data.mdb", p->path);
	if (same_file(dirname(dir), p->path) || same_file(path, data)) {
		snprintf(err, errsz,
				"backup %s: in the store's own directory %s (the copy would replace "
				"its files and lose every later write); write it elsewhere",
				path, p->path);
		return RS_EINVAL;
	}
	/* An existing file is replaced only by a newer copy of a store: the
	 * API's Backup (admin-only with tokens, open without) must not be a
	 * way to replace any file rosterd can write. */
	struct stat st;
	if (lstat(path, &st) == 0 && !persist_file_is_lmdb(path)) {
		snprintf(err, errsz,
				"backup %s: exists and is not a copy of a store (only an older backup "
				"is replaced); choose a new name or remove it first",
				path);
		return RS_EEXIST;
	}
	return 0;
}

int persist_backup(struct persist *p, const char *path, uint64_t *bytes, char *err, size_t errsz)
{
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%d", path, (int)getpid()) >= sizeof(tmp)) {
		snprintf(err, errsz, "backup %s: path too long", path);
		return RS_ERANGE;
	}
	int crc = backup_target_check(p, path, err, errsz);
	if (crc < 0) {
		return crc;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0) {
		int e = errno;
		snprintf(err, errsz, "backup %s: %s", tmp, strerror(e));
		return -e;
	}
	/* The copy reads pages through the map: the writer must not remap it
	 * (grow) meanwhile. It may commit: the copy has its own read
	 * transaction, a snapshot of the last commit before it began. */
	pthread_rwlock_rdlock(&p->map_lock);
	int mrc = mdb_env_copyfd2(p->env, fd, MDB_CP_COMPACT);
	pthread_rwlock_unlock(&p->map_lock);
	int rc = persist_map_err(mrc);
	struct stat st;
	if (rc == 0 && (fsync(fd) < 0 || fstat(fd, &st) < 0)) {
		rc = -errno;
	}
	if (close(fd) < 0 && rc == 0) {
		rc = -errno;
	}
	if (rc == 0 && rename(tmp, path) < 0) {
		rc = -errno;
	}
	if (rc == 0) {
		rc = dir_sync_of(path);
	}
	if (rc < 0) {
		unlink(tmp);
		snprintf(err, errsz, "backup %s: %s", path,
				mrc != 0 ? mdb_strerror(mrc) : rs_strerror(rc));
		return rc;
	}
	*bytes = (uint64_t)st.st_size;
	return 0;
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int persist_backup_name(char *out, size_t outsz, const char *dir)
{
	char ts[32];
	stamp(ts, sizeof(ts));
	return (size_t)snprintf(out, outsz, "%s/%s%s.mdb", dir, PERSIST_BACKUP_PREFIX, ts) < outsz
			       ? 0
			       : RS_ERANGE;
}

int persist_backup_prune(const char *dir, unsigned keep)
{
	DIR *d = opendir(dir);
	if (d == NULL) {
		return -errno;
	}
	char **names = NULL;
	size_t n = 0, cap = 0;
	int rc = 0;
	struct dirent *e;
	size_t plen = strlen(PERSIST_BACKUP_PREFIX);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (strncmp(e->d_name, PERSIST_BACKUP_PREFIX, plen) != 0 || len < 4 ||
				strcmp(e->d_name + len - 4, ".mdb") != 0) {
			continue; /* not ours, or a temp file still being written */
		}
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			char **nn = realloc(names, cap * sizeof(*names));
			if (nn == NULL) {
				rc = RS_ENOMEM;
				break;
			}
			names = nn;
		}
		if ((names[n] = strdup(e->d_name)) == NULL) {
			rc = RS_ENOMEM;
			break;
		}
		n++;
	}
	closedir(d);
	if (rc == 0 && n > keep) {
		/* The names carry a UTC time stamp: the oldest sort first. */
		qsort(names, n, sizeof(*names), name_cmp);
		for (size_t k = 0; k < n - keep; k++) {
			char path[PATH_MAX];
			snprintf(path, sizeof(path), "%s/%s", dir, names[k]);
			if (unlink(path) == 0) {
				rc++;
			}
		}
	}
	for (size_t k = 0; k < n; k++) {
		free(names[k]);
	}
	free(names);
	return rc;
}

/* ---- reset and restore --------------------------------------------------------- */

/* Is LMDB's lock file of @p dir held by another process (a reader)? */
static int lock_file_user(const char *dir)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/lock.mdb", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return 0;
	}
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 1};
	int rc = fcntl(fd, F_GETLK, &fl);
	close(fd);
	return rc == 0 && fl.l_type != F_UNLCK ? (int)fl.l_pid : 0;
}

/* Move @p dir/data.mdb aside as data.mdb.<why>-<time>, and drop the lock
 * file (it holds no data; LMDB makes a new one). @p aside gets the new name
 * ("" when there was no data file, or when a failure after the move put it
 * back). */
static int store_move_aside(const char *dir, const char *why, char *aside, size_t asidesz)
{
	char data[PATH_MAX], lock[PATH_MAX], ts[32];
	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	snprintf(lock, sizeof(lock), "%s/lock.mdb", dir);
	stamp(ts, sizeof(ts));
	aside[0] = '\0';
	if (access(data, F_OK) == 0) {
		if ((size_t)snprintf(aside, asidesz, "%s.%s-%s", data, why, ts) >= asidesz) {
			return RS_ERANGE;
		}
		if (rename(data, aside) < 0) {
			return -errno;
		}
	}
	int rc = unlink(lock) < 0 && errno != ENOENT ? -errno : 0;
	if (rc == 0) {
		rc = dir_sync_of(data);
	}
	if (rc < 0 && aside[0] != '\0' && rename(aside, data) == 0) {
		aside[0] = '\0'; /* failed: the data file is back where it was */
	}
	return rc;
}

int persist_reset(const char *dir, char *note, size_t notesz, char *err, size_t errsz)
{
	int pid = lock_file_user(dir);
	if (pid > 0) {
		snprintf(err, errsz, "--reset-store: process %d uses the store %s: stop it first",
				pid, dir);
		return RS_EBUSY;
	}
	char aside[PATH_MAX + 64];
	int rc = store_move_aside(dir, "reset", aside, sizeof(aside));
	if (rc < 0) {
		snprintf(err, errsz, "--reset-store: cannot move the store %s aside: %s", dir,
				rs_strerror(rc));
		return rc;
	}
	if (aside[0] != '\0') {
		snprintf(note, notesz,
				"--reset-store: starting with an empty store on purpose; the old data "
				"file is kept as %s",
				aside);
	} else {
		snprintf(note, notesz,
				"--reset-store: starting with an empty store on purpose "
				"(there was no data file)");
	}
	return 0;
}

/* Copy @p src to @p dst (created), fsync'd. */
static int file_copy(const char *src, const char *dst)
{
	int in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0) {
		return -errno;
	}
	int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (out < 0) {
		int e = errno;
		close(in);
		return -e;
	}
	static char buf[1 << 16];
	int rc = 0;
	for (;;) {
		ssize_t got = read(in, buf, sizeof(buf));
		if (got < 0 && errno == EINTR) {
			continue;
		}
		if (got <= 0) {
			rc = got < 0 ? -errno : 0;
			break;
		}
		for (ssize_t off = 0; off < got;) {
			ssize_t w = write(out, buf + off, (size_t)(got - off));
			if (w < 0 && errno != EINTR) {
				rc = -errno;
				break;
			}
			off += w > 0 ? w : 0;
		}
		if (rc < 0) {
			break;
		}
	}
	if (rc == 0 && fsync(out) < 0) {
		rc = -errno;
	}
	close(in);
	if (close(out) < 0 && rc == 0) {
		rc = -errno;
	}
	return rc;
}

static int restore_install(const char *dir, const char *file, const struct persist_check_stats *st,
		char *note, size_t notesz, char *err, size_t errsz);

int persist_restore(const char *dir, const char *file, char *note, size_t notesz, char *err,
		size_t errsz)
{
	struct persist_check_stats st;
	char what[1024];
	int rc = persist_check_file(file, &st, what, sizeof(what));
	if (rc < 0) {
		snprintf(err, errsz, "--restore: %s is %s: %s; the store %s is left as it was",
				file, rc == RS_ESTORE_DAMAGED ? "damaged" : "unusable", what, dir);
		return rc;
	}
	if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
		int e = errno;
		snprintf(err, errsz, "--restore: data dir %s: %s", dir, strerror(e));
		return -e;
	}
	int lock_fd;
	rc = rs_dir_lock(dir, true, &lock_fd);
	if (rc < 0) {
		snprintf(err, errsz, "--restore: data dir %s %s", dir,
				rc == RS_EBUSY ? "is in use by a running rosterd: stop it first"
					       : "cannot be locked");
		return rc;
	}
	rc = restore_install(dir, file, &st, note, notesz, err, errsz);
	close(lock_fd);
	return rc;
}

static int restore_install(const char *dir, const char *file, const struct persist_check_stats *st,
		char *note, size_t notesz, char *err, size_t errsz)
{
	int pid = lock_file_user(dir);
	if (pid > 0) {
		snprintf(err, errsz, "--restore: process %d uses the store %s: stop it first", pid,
				dir);
		return RS_EBUSY;
	}
	int rc;
	char tmp[PATH_MAX], data[PATH_MAX], aside[PATH_MAX + 64];
	snprintf(tmp, sizeof(tmp), "%s/data.mdb.restore-tmp", dir);
	snprintf(data, sizeof(data), "%s/data.mdb", dir);
	rc = file_copy(file, tmp);
	if (rc < 0) {
		unlink(tmp);
		snprintf(err, errsz, "--restore: cannot copy %s into %s: %s", file, dir,
				rs_strerror(rc));
		return rc;
	}
	rc = store_move_aside(dir, "before-restore", aside, sizeof(aside));
	bool installed = false;
	if (rc == 0 && rename(tmp, data) < 0) {
		rc = -errno;
	} else if (rc == 0) {
		installed = true;
		rc = dir_sync_of(data);
	}
	if (rc < 0) {
		unlink(tmp);
		/* Not installed: the old data file goes back in place, so that a
		 * failed restore leaves the store as it was (not a store that
		 * refuses to start, its file under another name). */
		char what[sizeof(aside) + 64] = "";
		if (!installed && aside[0] != '\0' && access(data, F_OK) != 0) {
			if (rename(aside, data) == 0) {
				snprintf(what, sizeof(what), "; the store is left as it was");
			} else {
				snprintf(what, sizeof(what),
						"; the previous data file is kept as %s", aside);
			}
		}
		snprintf(err, errsz, "--restore: cannot install %s as %s: %s%s", file, data,
				rs_strerror(rc), what);
		return rc;
	}
	rc = persist_marker_write(dir);
	if (rc < 0) {
		snprintf(err, errsz, "--restore: cannot write the store marker in %s: %s", dir,
				rs_strerror(rc));
		return rc;
	}
	snprintf(note, notesz,
			"restored %s (%llu records, checked in %.0f ms) as %s%s%s; start rosterd "
			"without --restore to serve it",
			file, (unsigned long long)st->entries, st->ms, data,
			aside[0] != '\0' ? "; the previous data file is kept as " : "", aside);
	return 0;
}
