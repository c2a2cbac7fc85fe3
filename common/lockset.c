/* common/lockset.c - see lockset.h. */
#include "common/lockset.h"

#include <stdlib.h>

#include "common/error.h"

int rs_lockset_init(struct rs_lockset *l, size_t n)
{
	l->n = 0;
	l->slots = aligned_alloc(_Alignof(struct rs_lockslot), n * sizeof(*l->slots));
	if (l->slots == NULL) {
		return RS_ENOMEM;
	}
	for (size_t k = 0; k < n; k++) {
		pthread_mutex_init(&l->slots[k].mu, NULL);
	}
	l->n = n;
	return 0;
}

void rs_lockset_destroy(struct rs_lockset *l)
{
	if (l == NULL) {
		return;
	}
	for (size_t k = 0; k < l->n; k++) {
		pthread_mutex_destroy(&l->slots[k].mu);
	}
	free(l->slots);
	l->slots = NULL;
	l->n = 0;
}

void rs_lockset_write_lock(struct rs_lockset *l)
{
	for (size_t k = 0; k < l->n; k++) {
		pthread_mutex_lock(&l->slots[k].mu);
	}
}

void rs_lockset_write_unlock(struct rs_lockset *l)
{
	for (size_t k = l->n; k-- > 0;) {
		pthread_mutex_unlock(&l->slots[k].mu);
	}
}
