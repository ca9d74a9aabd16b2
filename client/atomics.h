/* SPDX-License-Identifier: Apache-2.0 */
/*
 * atomics.h — every load and store that crosses a process boundary (rings, the control
 * region) goes through these helpers, so each barrier is visible and explained where it
 * is used. C11 __atomic builtins on plain fixed-width fields of shared mappings.
 */
#ifndef PAGEBUS_ATOMICS_H
#define PAGEBUS_ATOMICS_H

#include <stdint.h>

#define load_acquire(p) __atomic_load_n((p), __ATOMIC_ACQUIRE)
#define store_release(p, v) __atomic_store_n((p), (v), __ATOMIC_RELEASE)
#define load_relaxed(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define store_relaxed(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)
#define fetch_add_release(p, v) __atomic_fetch_add((p), (v), __ATOMIC_RELEASE)
/* Full barrier: orders a store before a later load (Dekker-style sleep/wake flags). */
#define full_fence() __atomic_thread_fence(__ATOMIC_SEQ_CST)

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#else
	__asm__ __volatile__("" ::: "memory");
#endif
}

#endif
