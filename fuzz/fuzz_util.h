/*
 * fuzz_util.h - helpers shared by the libFuzzer harnesses (STYLE rule 14):
 * the property check that stops the fuzzer, and reference implementations
 * written independently of src/ so that a harness can compare the library's
 * answer with a second opinion instead of only waiting for a crash.
 */
#ifndef BW_FUZZ_UTIL_H
#define BW_FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A violated property: say which one, then trap so libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: property violated: %s\n", __FILE__, __LINE__, #cond);        \
            fflush(stderr);                                                                        \
            __builtin_trap();                                                                      \
        }                                                                                          \
    } while (0)

/* NUL-terminated heap copy of the input (embedded NULs end the C string). */
static inline char *fuzz_strdup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Exact-size heap copy without a terminator, so ASan sees any over-read. */
static inline char *fuzz_memdup(const uint8_t *data, size_t size)
{
    char *s = malloc(size ? size : 1);
    if (s == NULL)
        abort();
    if (size > 0)
        memcpy(s, data, size);
    return s;
}

/* Reference UTF-8 validator: the well-formed byte sequences of Unicode
 * Table 3-7, checked byte range by byte range (no code point arithmetic, so
 * it shares no logic with bw_utf8_valid). Rejects overlongs, surrogates
 * (ED A0..BF), code points above U+10FFFF and truncated sequences. */
static inline bool fuzz_ref_utf8(const uint8_t *s, size_t len)
{
    size_t i = 0;
    while (i < len) {
        uint8_t c = s[i];
        uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
        size_t n;                     /* continuation bytes */
        if (c <= 0x7F) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            n = 1;
        } else if (c == 0xE0) {
            n = 2;
            lo = 0xA0;
        } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
            n = 2;
        } else if (c == 0xED) {
            n = 2;
            hi = 0x9F;
        } else if (c == 0xF0) {
            n = 3;
            lo = 0x90;
        } else if (c >= 0xF1 && c <= 0xF3) {
            n = 3;
        } else if (c == 0xF4) {
            n = 3;
            hi = 0x8F;
        } else {
            return false; /* 80..C1 (continuation or overlong lead), F5..FF */
        }
        if (len - i - 1 < n)
            return false;
        if (s[i + 1] < lo || s[i + 1] > hi)
            return false;
        for (size_t k = 2; k <= n; k++) {
            if (s[i + k] < 0x80 || s[i + k] > 0xBF)
                return false;
        }
        i += n + 1;
    }
    return true;
}

static inline bool fuzz_has_byte(const char *s, char c)
{
    return strchr(s, c) != NULL;
}

#endif
