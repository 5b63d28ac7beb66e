/*
 * log.c - structured logging: one JSON object per line on stderr, written
 * with a single write(2) so lines from concurrent threads never interleave.
 * Values are escaped by jansson; CR/LF in request data cannot forge a line
 * (CONTROL: G-13). This module never sees secrets: callers must not pass
 * tokens, passwords, keys or request bodies.
 */
#include "core.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <unistd.h>

static _Atomic int min_level = BW_LOG_INFO;

static const char *const level_name[] = {"debug", "info", "warn", "error"};

void bw_log_set_level(enum bw_log_level lvl)
{
    atomic_store(&min_level, (int)lvl);
}

static void emit(enum bw_log_level lvl, const char *event, json_t *obj)
{
    char ts[21];
    bw_time_format(bw_time_now(), ts);
    json_t *line = json_pack("{s:s, s:s, s:s}", "ts", ts, "level", level_name[lvl], "event", event);
    if (line == NULL)
        goto out;
    if (obj != NULL && json_object_update(line, obj) != 0)
        goto out;
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text == NULL)
        goto out;
    struct bw_buf b;
    bw_buf_init(&b, 1 << 20);
    if (bw_buf_appends(&b, text) == BW_OK && bw_buf_append(&b, "\n", 1) == BW_OK) {
        ssize_t w = write(STDERR_FILENO, b.data, b.len);
        (void)w; /* nowhere left to report a failed log write */
    }
    bw_buf_free(&b, false);
    free(text);
out:
    json_decref(line);
    json_decref(obj);
}

void bw_log(enum bw_log_level lvl, const char *event, const char *fmt, ...)
{
    if ((int)lvl < atomic_load(&min_level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap); /* log text may be shortened, never data */
    va_end(ap);
    json_t *fields = json_object();
    if (fields != NULL)
        json_object_set_new(fields, "msg", json_string_nocheck(msg));
    if (fields != NULL && json_object_get(fields, "msg") == NULL)
        json_object_set_new(fields, "msg", json_string("(message not valid utf-8)"));
    emit(lvl, event, fields);
}

void bw_log_fields(enum bw_log_level lvl, const char *event, json_t *fields)
{
    if ((int)lvl < atomic_load(&min_level)) {
        json_decref(fields);
        return;
    }
    emit(lvl, event, fields);
}
