#include "common/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>

struct rs_arena_block {
	struct rs_arena_block *next;
	size_t size;
	size_t off;
	alignas(max_align_t) unsigned char data[];
};

void rs_arena_init(struct rs_arena *arena, size_t block_size)
{
	arena->head = NULL;
	arena->free = NULL;
	arena->block_size = block_size < 256 ? 256 : block_size;
	arena->used = 0;
}

static void free_list(struct rs_arena_block *b)
{
	while (b != NULL) {
		struct rs_arena_block *next = b->next;
		free(b);
		b = next;
	}
}

void rs_arena_deinit(struct rs_arena *arena)
{
	free_list(arena->head);
	free_list(arena->free);
	arena->head = NULL;
	arena->free = NULL;
	arena->used = 0;
}

void *rs_arena_alloc(struct rs_arena *arena, size_t size)
{
	const size_t align = alignof(max_align_t);
	size = (size + align - 1) & ~(align - 1);
	if (size == 0) {
		size = align;
	}
	struct rs_arena_block *b = arena->head;
	if (b == NULL || b->size - b->off < size) {
		if (size <= arena->block_size && arena->free != NULL) {
			b = arena->free;
			arena->free = b->next;
		} else {
			size_t bs = size > arena->block_size ? size : arena->block_size;
			b = malloc(sizeof(*b) + bs);
			if (b == NULL) {
				return NULL;
			}
			b->size = bs;
		}
		b->off = 0;
		b->next = arena->head;
		arena->head = b;
	}
	void *p = b->data + b->off;
	b->off += size;
	arena->used += size;
	return p;
}

void rs_arena_reset(struct rs_arena *arena)
{
	struct rs_arena_block *b = arena->head;
	while (b != NULL) {
		struct rs_arena_block *next = b->next;
		if (b->size == arena->block_size) {
			b->next = arena->free;
			arena->free = b;
		} else {
			free(b); /* an oversized one-off block */
		}
		b = next;
	}
	arena->head = NULL;
	arena->used = 0;
}
