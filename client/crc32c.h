/* SPDX-License-Identifier: Apache-2.0 */
/*
 * crc32c.h — CRC-32C (Castagnoli), as Kafka's RecordBatch v2 uses it: reflected
 * polynomial 0x82F63B78, init and final XOR 0xFFFFFFFF. Uses the SSE4.2 crc32
 * instruction when the CPU has it (checked once at run time), else a table.
 */
#ifndef PAGEBUS_CRC32C_H
#define PAGEBUS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC-32C of buf[0..len). crc32c("123456789", 9) == 0xE3069283. */
uint32_t crc32c(const void *buf, size_t len);

/* Continue a running CRC: crc32c_extend(crc32c(a), b) == crc32c(a || b).
 * Start with crc = 0. */
uint32_t crc32c_extend(uint32_t crc, const void *buf, size_t len);

/* The two implementations, exposed so tests can compare them. crc32c_hw returns
 * the table result when the CPU lacks SSE4.2. */
uint32_t crc32c_sw(uint32_t crc, const void *buf, size_t len);
uint32_t crc32c_hw(uint32_t crc, const void *buf, size_t len);
int crc32c_hw_available(void);

#endif
