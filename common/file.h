/*
 * common/file.h - replacing a file so that a crash leaves either the old
 * content or the new, never a mix: write a temporary file in the same
 * directory, fsync it, rename it over the old one (rename is atomic within a
 * file system). rs_dir_sync() then makes the rename itself durable.
 *
 * A set of files can be replaced together: stage each (the step that can
 * run out of space), and rename them only once every one is staged;
 * rs_file_replace() is one file's stage and commit.
 *
 * Used for zonegen's zones and include files and rosterd's DNS Cookie
 * secret. rs_dir_lock() keeps two processes out of one directory (zonegen's
 * output, rosterd's data dir). Synchronous; no allocation.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/**
 * Replace @p dir/@p name with the concatenation of @p parts, through the
 * temporary file @p dir/.@p name.tmp (hidden, so globs over the directory do
 * not pick it up), created with @p mode.
 * @return 0; RS_ERANGE (path too long); a negative errno (the temporary
 *         file is removed, the old file is untouched).
 */
__attribute__((warn_unused_result)) int rs_file_replace(const char *dir, const char *name,
		const struct iovec *parts, size_t nparts, mode_t mode);

/**
 * The first half of rs_file_replace(): write and fsync @p dir/.@p name.tmp.
 * @return 0; RS_ERANGE; a negative errno (nothing is left behind).
 */
__attribute__((warn_unused_result)) int rs_file_stage(const char *dir, const char *name,
		const struct iovec *parts, size_t nparts, mode_t mode);

/**
 * The second half: rename the staged @p dir/.@p name.tmp over @p dir/@p name.
 * @return 0; RS_ERANGE; a negative errno (the staged file stays: discard it).
 */
__attribute__((warn_unused_result)) int rs_file_commit(const char *dir, const char *name);

/** Remove a staged file that will not be committed, if it is there. */
void rs_file_discard(const char *dir, const char *name);

/**
 * fsync a directory: makes renames and creations in it durable.
 * @return 0 or a negative errno.
 */
__attribute__((warn_unused_result)) int rs_dir_sync(const char *dir);

/**
 * Lock a directory against other processes (flock on the directory itself,
 * so no lock file is left behind; released when @p fd is closed, also when
 * the process dies).
 * @param exclusive true: one holder only; false: shared with other readers.
 * @param fd out: the descriptor holding the lock, -1 on failure.
 * @return 0, RS_EBUSY when another process holds it, RS_ENOENT when the
 *         directory does not exist, or a negative errno.
 */
__attribute__((warn_unused_result)) int rs_dir_lock(const char *dir, bool exclusive, int *fd);
