/*
 * metrics.c - Prometheus text exposition for GET /metrics: requests by route
 * and status, a latency histogram per route, open connections and the store
 * pool. Counters are lock-free atomics updated once per request on the
 * completion path. Labels are route patterns from the table, never raw
 * paths, so clients cannot create unbounded series.
 */
#include "http/http_int.h"
#include "store/store.h"

#include <stdatomic.h>

enum { MAX_ROUTES = 256, NBUCKETS = 12 };

static const int statuses[] = {200, 201, 204, 400, 401, 403, 404, 405, 408, 409,
                               412, 413, 414, 415, 422, 429, 431, 500, 503, 0};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))

/* upper bounds in microseconds */
static const uint64_t bucket_us[NBUCKETS] = {500,   1000,   2500,   5000,   10000,   25000,
                                             50000, 100000, 250000, 500000, 1000000, 5000000};

/* index MAX_ROUTES-1 collects requests that matched no route */
static _Atomic uint64_t requests[MAX_ROUTES][NSTATUS];
static _Atomic uint64_t buckets[MAX_ROUTES][NBUCKETS + 1];
static _Atomic uint64_t sum_us[MAX_ROUTES];
static _Atomic int64_t open_connections;

static size_t status_index(int status)
{
    for (size_t i = 0; i + 1 < NSTATUS; i++) {
        if (statuses[i] == status)
            return i;
    }
    return NSTATUS - 1;
}

void bw_metrics_connections(int delta)
{
    atomic_fetch_add(&open_connections, delta);
}

void bw_metrics_observe(size_t route_index, int status, uint64_t ns)
{
    size_t r = route_index < bw_routes_count && route_index < MAX_ROUTES - 1 ? route_index
                                                                             : MAX_ROUTES - 1;
    uint64_t us = ns / 1000;
    atomic_fetch_add(&requests[r][status_index(status)], 1);
    size_t b = 0;
    while (b < NBUCKETS && us > bucket_us[b])
        b++;
    atomic_fetch_add(&buckets[r][b], 1);
    atomic_fetch_add(&sum_us[r], us);
}

static void route_label(size_t r, const char **method, const char **pattern)
{
    if (r == MAX_ROUTES - 1) {
        *method = "-";
        *pattern = "unmatched";
    } else {
        *method = bw_method_name(bw_routes[r].method);
        *pattern = bw_routes[r].pattern;
    }
}

static enum bw_rc render_requests(struct bw_buf *out, size_t r)
{
    const char *m, *p;
    enum bw_rc rc = BW_OK;
    route_label(r, &m, &p);
    for (size_t s = 0; s < NSTATUS && rc == BW_OK; s++) {
        uint64_t v = atomic_load(&requests[r][s]);
        if (v == 0)
            continue;
        if (statuses[s] == 0)
            rc = bw_buf_appendf(out,
                                "bulwark_http_requests_total{method=\"%s\",route=\"%s\","
                                "status=\"other\"} %llu\n",
                                m, p, (unsigned long long)v);
        else
            rc = bw_buf_appendf(out,
                                "bulwark_http_requests_total{method=\"%s\",route=\"%s\","
                                "status=\"%d\"} %llu\n",
                                m, p, statuses[s], (unsigned long long)v);
    }
    return rc;
}

static enum bw_rc render_histogram(struct bw_buf *out, size_t r)
{
    const char *m, *p;
    uint64_t cum = 0;
    enum bw_rc rc = BW_OK;
    route_label(r, &m, &p);
    for (size_t b = 0; b <= NBUCKETS && rc == BW_OK; b++) {
        cum += atomic_load(&buckets[r][b]);
        if (b < NBUCKETS)
            rc = bw_buf_appendf(out,
                                "bulwark_http_request_duration_seconds_bucket{method=\"%s\","
                                "route=\"%s\",le=\"%g\"} %llu\n",
                                m, p, (double)bucket_us[b] / 1e6, (unsigned long long)cum);
        else
            rc = bw_buf_appendf(out,
                                "bulwark_http_request_duration_seconds_bucket{method=\"%s\","
                                "route=\"%s\",le=\"+Inf\"} %llu\n",
                                m, p, (unsigned long long)cum);
    }
    if (rc == BW_OK)
        rc = bw_buf_appendf(out,
                            "bulwark_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"}"
                            " %.6f\n"
                            "bulwark_http_request_duration_seconds_count{method=\"%s\","
                            "route=\"%s\"} %llu\n",
                            m, p, (double)atomic_load(&sum_us[r]) / 1e6, m, p,
                            (unsigned long long)cum);
    return rc;
}

static bool route_used(size_t r)
{
    for (size_t b = 0; b <= NBUCKETS; b++) {
        if (atomic_load(&buckets[r][b]) != 0)
            return true;
    }
    return false;
}

enum bw_rc bw_metrics_render(struct bw_store *store, struct bw_buf *out)
{
    enum bw_rc rc = bw_buf_appends(out, "# HELP bulwark_http_requests_total HTTP requests by "
                                        "route and status.\n"
                                        "# TYPE bulwark_http_requests_total counter\n");
    for (size_t r = 0; r < MAX_ROUTES && rc == BW_OK; r++) {
        if ((r < bw_routes_count || r == MAX_ROUTES - 1) && route_used(r))
            rc = render_requests(out, r);
    }
    if (rc == BW_OK)
        rc = bw_buf_appends(out, "# HELP bulwark_http_request_duration_seconds Request latency "
                                 "from first byte to response queued.\n"
                                 "# TYPE bulwark_http_request_duration_seconds histogram\n");
    for (size_t r = 0; r < MAX_ROUTES && rc == BW_OK; r++) {
        if ((r < bw_routes_count || r == MAX_ROUTES - 1) && route_used(r))
            rc = render_histogram(out, r);
    }
    struct bw_store_stats st;
    bw_store_stats(store, &st);
    if (rc == BW_OK)
        rc = bw_buf_appendf(
            out,
            "# HELP bulwark_http_open_connections Open client connections.\n"
            "# TYPE bulwark_http_open_connections gauge\n"
            "bulwark_http_open_connections %lld\n"
            "# HELP bulwark_store_pool_size Store connections in the pool.\n"
            "# TYPE bulwark_store_pool_size gauge\n"
            "bulwark_store_pool_size{driver=\"%s\"} %u\n"
            "# HELP bulwark_store_pool_in_use Store connections currently in use.\n"
            "# TYPE bulwark_store_pool_in_use gauge\n"
            "bulwark_store_pool_in_use{driver=\"%s\"} %u\n"
            "# HELP bulwark_store_pool_waits_total Times a request waited for a connection.\n"
            "# TYPE bulwark_store_pool_waits_total counter\n"
            "bulwark_store_pool_waits_total{driver=\"%s\"} %llu\n"
            "# HELP bulwark_store_commits_total Write transactions committed.\n"
            "# TYPE bulwark_store_commits_total counter\n"
            "bulwark_store_commits_total{driver=\"%s\"} %llu\n"
            "# HELP bulwark_store_commit_batches_total Physical commits (group commit).\n"
            "# TYPE bulwark_store_commit_batches_total counter\n"
            "bulwark_store_commit_batches_total{driver=\"%s\"} %llu\n",
            (long long)atomic_load(&open_connections), st.driver, st.pool_size, st.driver,
            st.pool_in_use, st.driver, (unsigned long long)st.waits, st.driver,
            (unsigned long long)st.commits, st.driver, (unsigned long long)st.commit_batches);
    return rc;
}
