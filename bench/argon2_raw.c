/*
 * argon2_raw.c - the raw Argon2id verification rate at Bulwark's parameters,
 * the ceiling for password logins per second (bench/login.sh).
 *
 *   gcc -std=c17 -O2 -I src bench/argon2_raw.c -o argon2_raw \
 *       $(pkg-config --cflags --libs libsodium) -lpthread
 *   ./argon2_raw [THREADS] [SECONDS]      (defaults: one thread per core, 5 s)
 *
 * Hashes one password with crypto_pwhash_str at BW_PWHASH_OPSLIMIT and
 * BW_PWHASH_MEMLIMIT (src/auth/auth.h: t=2, m=19 MiB, p=1: libsodium's
 * Argon2id always uses one lane), then runs crypto_pwhash_str_verify on
 * THREADS threads for SECONDS and prints, on one line,
 *   argon2id_verify_per_sec=R threads=N seconds=S verifications=C m_kib=M t=T
 * Half the verifications use the right password and half a wrong one, as
 * logins do; both cost the same. Not built by CMake: a benchmark tool only.
 */
#define _POSIX_C_SOURCE 200809L
#include "auth/auth.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static char stored[crypto_pwhash_STRBYTES];
static double deadline;

struct worker {
    pthread_t tid;
    unsigned long count;
    int failed;
};

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    struct worker *w = arg;
    static const char right[] = "Bench-Password-2024";
    static const char wrong[] = "Bench-Password-2025";
    while (now() < deadline) {
        bool ok = (w->count & 1) == 0;
        const char *pw = ok ? right : wrong;
        int r = crypto_pwhash_str_verify(stored, pw, strlen(pw));
        if ((r == 0) != ok) {
            w->failed = 1;
            break;
        }
        w->count++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long threads = sysconf(_SC_NPROCESSORS_ONLN);
    double seconds = 5.0;
    if (argc > 1)
        threads = strtol(argv[1], NULL, 10);
    if (argc > 2)
        seconds = strtod(argv[2], NULL);
    if (argc > 3 || threads < 1 || threads > 1024 || !(seconds > 0.0 && seconds <= 3600.0)) {
        fprintf(stderr, "usage: argon2_raw [THREADS 1..1024] [SECONDS]\n");
        return 2;
    }
    if (sodium_init() < 0) {
        fprintf(stderr, "argon2_raw: sodium_init failed\n");
        return 1;
    }
    _Static_assert(BW_PWHASH_STRBYTES >= crypto_pwhash_STRBYTES, "hash string size");
    if (crypto_pwhash_str(stored, "Bench-Password-2024", strlen("Bench-Password-2024"),
                          BW_PWHASH_OPSLIMIT, BW_PWHASH_MEMLIMIT) != 0) {
        fprintf(stderr, "argon2_raw: crypto_pwhash_str failed (out of memory?)\n");
        return 1;
    }
    if (strncmp(stored, "$argon2id$", 10) != 0) {
        fprintf(stderr, "argon2_raw: not an Argon2id hash: %.20s\n", stored);
        return 1;
    }
    struct worker *w = calloc((size_t)threads, sizeof(*w));
    if (w == NULL)
        return 1;
    double start = now();
    deadline = start + seconds;
    for (long i = 0; i < threads; i++) {
        if (pthread_create(&w[i].tid, NULL, run, &w[i]) != 0) {
            fprintf(stderr, "argon2_raw: pthread_create failed\n");
            return 1;
        }
    }
    unsigned long total = 0;
    int failed = 0;
    for (long i = 0; i < threads; i++) {
        pthread_join(w[i].tid, NULL);
        total += w[i].count;
        failed |= w[i].failed;
    }
    double elapsed = now() - start;
    free(w);
    if (failed) {
        fprintf(stderr, "argon2_raw: a verification gave the wrong answer\n");
        return 1;
    }
    printf("argon2id_verify_per_sec=%.1f threads=%ld seconds=%.2f verifications=%lu m_kib=%u "
           "t=%u\n",
           (double)total / elapsed, threads, elapsed, total, BW_PWHASH_MEMLIMIT / 1024u,
           BW_PWHASH_OPSLIMIT);
    return 0;
}
