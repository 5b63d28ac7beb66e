/*
 * fixture.h - the store fixture the incident unit tests share: a real
 * temporary SQLite store (or the fresh PostgreSQL database BW_TEST_PG_URL
 * names), migrated, with the default configuration; teardown also resets
 * the test clock. Included by one test file each (static state).
 */
#ifndef BW_TEST_INCIDENT_FIXTURE_H
#define BW_TEST_INCIDENT_FIXTURE_H

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "audit/audit.h"
#include "store/store.h"

static char dir[256];
static struct bw_store *st;
static struct bw_config cfg;
static const struct bw_audit_ctx actx = {.remote = "127.0.0.1", .request_id = "test"};

/* `name` tells the temporary directories of the test programs apart. */
static int fixture_setup(const char *name)
{
    char why[256], db[300];
    struct bw_store_opts o = {.pool_size = 2, .busy_timeout_ms = 5000, .create = true};
    int v = 0;
    const char *pg = getenv("BW_TEST_PG_URL");
    snprintf(dir, sizeof(dir), "/tmp/bw-test-%s-XXXXXX", name);
    if (mkdtemp(dir) == NULL || bw_config_init(&cfg) != BW_OK)
        return -1;
    snprintf(db, sizeof(db), "%s/db", dir);
    if (bw_store_open(pg != NULL && pg[0] ? pg : db, &o, &st, why, sizeof(why)) != BW_OK ||
        bw_store_migrate(st, &v) != BW_OK)
        return -1;
    json_set_alloc_funcs(bw_malloc, bw_free);
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    bw_store_close(st);
    bw_config_cleanup(&cfg);
    bw_time_set_offset(0);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

#endif
