/*
 * common/lockset.h - a reader-writer lock for a few long-lived reader
 * threads that each own a slot (a "big-reader" lock).
 *
 * Owns: struct rs_lockset, one mutex per reader slot, each on a cache line
 * of its own. Reader k takes only slot k, so readers never write a cache
 * line another reader writes: a pthread rwlock's reader count is one word
 * that every reader's lock and unlock writes, which bounces between cores
 * on every batch. The writer takes every slot, in order, so it excludes all
 * readers; writes are rare and short (a store mutation), reads frequent
 * (a batch of DNS answers). A reader between two batches lets the writer
 * in, so neither side starves.
 *
 * Must not: be taken twice by one thread (not recursive), or be held by a
 * reader across anything that waits for the writer.
 *
 * Threads: that is what it is for. rs_lockset_init() and
 * rs_lockset_destroy() run while no other thread uses it.
 */
#pragma once

#include <pthread.h>
#include <stddef.h>

/** One reader's slot, alone on its cache line. */
struct rs_lockslot {
	pthread_mutex_t mu;
} __attribute__((aligned(64)));

struct rs_lockset {
	struct rs_lockslot *slots;
	size_t n;
};

/**
 * Prepare @p l with @p n reader slots (n >= 1).
 * @return 0, or RS_ENOMEM (@p l is then empty, and destroying it is safe).
 */
__attribute__((warn_unused_result)) int rs_lockset_init(struct rs_lockset *l, size_t n);

/** Free the slots. NULL-safe; safe on an empty or failed set. */
void rs_lockset_destroy(struct rs_lockset *l);

/** Reader @p k (< n) enters. */
static inline void rs_lockset_read_lock(struct rs_lockset *l, size_t k)
{
	pthread_mutex_lock(&l->slots[k].mu);
}

/** Reader @p k leaves. */
static inline void rs_lockset_read_unlock(struct rs_lockset *l, size_t k)
{
	pthread_mutex_unlock(&l->slots[k].mu);
}

/** The writer enters: every slot, in order, so no reader is inside. */
void rs_lockset_write_lock(struct rs_lockset *l);

/** The writer leaves. */
void rs_lockset_write_unlock(struct rs_lockset *l);
