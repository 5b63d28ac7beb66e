/*
 * offload.c - runs slow handlers off libmicrohttpd's worker threads.
 *
 * libmicrohttpd binds each connection to one worker thread of its pool; a
 * handler that blocks (a login waiting for and running Argon2id, ~50 ms of
 * CPU) stalls every other connection of that worker. Routes flagged
 * BW_ROUTE_OFFLOAD are therefore suspended by the worker
 * (MHD_suspend_connection), handed to this pool, run here, and resumed when
 * their answer is ready; meanwhile the worker keeps serving session-checked
 * requests (issue 3: a login flood cannot starve the server). The queue is
 * bounded: when it is full the request is answered 429 at once.
 */
#include "http/http_int.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

struct bw_offload {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct bw_req *head, *tail;
    size_t queued, max_queued;
    bool stopping;
    void (*run)(struct bw_req *req);
    int nice; /* added to each thread's nice value (Linux: per thread) */
    unsigned nthreads;
    pthread_t threads[];
};

static void *worker(void *arg)
{
    struct bw_offload *o = arg;
    /* a lower priority for bulk work (password hashing) keeps the HTTP
     * workers' session-checked requests responsive under a login flood;
     * failure (e.g. a seccomp or RLIMIT_NICE policy) only loses that */
    if (o->nice != 0)
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), o->nice);
    for (;;) {
        pthread_mutex_lock(&o->mu);
        while (o->head == NULL && !o->stopping)
            pthread_cond_wait(&o->cv, &o->mu);
        struct bw_req *req = o->head;
        if (req == NULL) { /* stopping and drained */
            pthread_mutex_unlock(&o->mu);
            return NULL;
        }
        o->head = req->offload_next;
        if (o->head == NULL)
            o->tail = NULL;
        o->queued--;
        pthread_mutex_unlock(&o->mu);
        req->offload_next = NULL;
        o->run(req);
    }
}

enum bw_rc bw_offload_start(unsigned threads, size_t max_queued, int nice,
                            void (*run)(struct bw_req *), struct bw_offload **out)
{
    struct bw_offload *o = bw_calloc(1, sizeof(*o) + threads * sizeof(pthread_t));
    if (o == NULL)
        return BW_ERR_NOMEM;
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->cv, NULL);
    o->max_queued = max_queued;
    o->nice = nice;
    o->run = run;
    for (; o->nthreads < threads; o->nthreads++) {
        if (pthread_create(&o->threads[o->nthreads], NULL, worker, o) != 0) {
            bw_offload_stop(o);
            return BW_ERR_NOMEM;
        }
    }
    *out = o;
    return BW_OK;
}

bool bw_offload_submit(struct bw_offload *o, struct bw_req *req)
{
    pthread_mutex_lock(&o->mu);
    bool ok = !o->stopping && o->queued < o->max_queued;
    if (ok) {
        req->offload_next = NULL;
        if (o->tail != NULL)
            o->tail->offload_next = req;
        else
            o->head = req;
        o->tail = req;
        o->queued++;
        pthread_cond_signal(&o->cv);
    }
    pthread_mutex_unlock(&o->mu);
    return ok;
}

void bw_offload_stop(struct bw_offload *o)
{
    if (o == NULL)
        return;
    pthread_mutex_lock(&o->mu);
    o->stopping = true; /* queued jobs still run: each holds a suspended connection */
    pthread_cond_broadcast(&o->cv);
    pthread_mutex_unlock(&o->mu);
    for (unsigned i = 0; i < o->nthreads; i++)
        pthread_join(o->threads[i], NULL);
    pthread_cond_destroy(&o->cv);
    pthread_mutex_destroy(&o->mu);
    bw_free(o);
}
