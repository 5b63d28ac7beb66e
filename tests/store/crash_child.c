/*
 * crash_child - helper of tests/store/crash_test.py.
 *   crash_child write TARGET THREADS   commits rows "crash.<t>.<n>" from THREADS
 *                                      threads forever, printing "<t> <n>" after
 *                                      each commit returned; killed with SIGKILL.
 *   crash_child verify TARGET          opens the store, runs the integrity
 *                                      check and prints every committed key.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"

static struct bw_store *st;
static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;

struct kv {
    const char *key;
};

static enum bw_rc put_fn(struct bw_tx *tx, void *arg)
{
    const struct kv *kv = arg;
    return bw_store_meta_put(tx, kv->key, "committed");
}

static void *writer(void *arg)
{
    int t = (int)(intptr_t)arg;
    for (long n = 0;; n++) {
        char key[64];
        snprintf(key, sizeof(key), "crash.%d.%08ld", t, n);
        struct kv kv = {key};
        if (bw_store_write(st, put_fn, &kv) != BW_OK) {
            fprintf(stderr, "write failed\n");
            exit(1);
        }
        pthread_mutex_lock(&out_mu);
        printf("%d %ld\n", t, n);
        fflush(stdout); /* acknowledged only once the line is out */
        pthread_mutex_unlock(&out_mu);
    }
    return NULL;
}

static enum bw_rc print_row(void *arg, const struct bw_row *row)
{
    printf("%s\n", bw_row_text(row, 0, NULL));
    return BW_OK;
}

static enum bw_rc list_fn(struct bw_tx *tx, void *arg)
{
    struct bw_val p[] = {BW_VTEXT("crash."), BW_VINT(100000000)};
    return bw_tx_query(tx, BW_STMT_META_LIST_LIKE, p, 2, print_row, NULL);
}

int main(int argc, char **argv)
{
    char why[512] = "";
    int version = 0;
    if (argc < 3)
        return 2;
    bool write = strcmp(argv[1], "write") == 0;
    struct bw_store_opts opts = {.pool_size = 2, .busy_timeout_ms = 5000, .create = write};
    if (bw_store_open(argv[2], &opts, &st, why, sizeof(why)) != BW_OK) {
        fprintf(stderr, "open: %s\n", why);
        return 1;
    }
    if (write) {
        uint64_t threads = 4;
        if (argc > 3 && bw_parse_u64(argv[3], 64, &threads) != BW_OK)
            return 2;
        if (bw_store_migrate(st, &version) != BW_OK)
            return 1;
        pthread_t th;
        for (int t = 1; t < (int)threads; t++)
            pthread_create(&th, NULL, writer, (void *)(intptr_t)t);
        writer((void *)(intptr_t)0);
        return 0;
    }
    if (bw_store_check(st, why, sizeof(why)) != BW_OK) {
        fprintf(stderr, "integrity check failed: %s\n", why);
        return 1;
    }
    enum bw_rc rc = bw_store_read(st, list_fn, NULL);
    bw_store_close(st);
    return rc == BW_OK ? 0 : 1;
}
