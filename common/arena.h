/*
 * common/arena.h - a region allocator: many small allocations, one release.
 *
 * Per-query and per-request scratch memory (NSD's region allocator is the
 * model). Blocks are kept across rs_arena_reset(), so a warmed-up arena
 * serves a steady load without calling malloc. Not thread-safe: one arena per
 * thread or per connection.
 */
#pragma once

#include <stddef.h>

struct rs_arena_block;

struct rs_arena {
	struct rs_arena_block *head; /**< block being carved */
	struct rs_arena_block *free; /**< blocks kept by rs_arena_reset() */
	size_t block_size;
	size_t used; /**< bytes handed out since the last reset */
};

/**
 * Prepare an arena in caller's storage. Allocates nothing yet.
 * @param block_size the size of each block; larger requests get a block of their own.
 */
void rs_arena_init(struct rs_arena *arena, size_t block_size);

/** Free every block. The arena may be initialised again afterwards. */
void rs_arena_deinit(struct rs_arena *arena);

/**
 * Allocate @p size bytes aligned for any type.
 * @return the memory, valid until the next rs_arena_reset() or
 *         rs_arena_deinit(); NULL when out of memory.
 */
void *rs_arena_alloc(struct rs_arena *arena, size_t size);

/** Release every allocation at once, keeping the blocks for reuse. */
void rs_arena_reset(struct rs_arena *arena);
