/*
 * time.c - the one clock of Bulwark. Every deadline, expiry and timestamp is
 * read through bw_time_now so that tests can move time (CONTROLS: injectable
 * clock). All timestamps are UTC RFC 3339 (CONTROL: G-03).
 */
#include "core.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static _Atomic int64_t offset_s;

void bw_time_set_offset(int64_t seconds)
{
    atomic_store(&offset_s, seconds);
}

int64_t bw_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((int64_t)ts.tv_sec + atomic_load(&offset_s)) * 1000 + ts.tv_nsec / 1000000;
}

int64_t bw_time_now(void)
{
    return bw_time_now_ms() / 1000;
}

uint64_t bw_time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

void bw_time_format(int64_t t, char out[21])
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (gmtime_r(&tt, &tm) == NULL || strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
        memcpy(out, "1970-01-01T00:00:00Z", 21);
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Accepts "YYYY-MM-DDTHH:MM:SSZ" and numeric offsets "+hh:mm"/"-hh:mm". */
enum bw_rc bw_time_parse(const char *s, int64_t *out)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    size_t len = s != NULL ? strlen(s) : 0;
    if (len < 20 || len > 25 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') ||
        s[13] != ':' || s[16] != ':')
        return BW_ERR_INVALID;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &mo) || !digits(s + 8, 2, &d) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &mi) || !digits(s + 17, 2, &sec))
        return BW_ERR_INVALID;
    const char *z = s + 19;
    if ((*z == 'Z' || *z == 'z') && z[1] == '\0') {
        sign = 0;
    } else if ((*z == '+' || *z == '-') && len == 25 && z[3] == ':' && digits(z + 1, 2, &oh) &&
               digits(z + 4, 2, &om) && oh < 24 && om < 60) {
        sign = *z == '+' ? 1 : -1;
    } else {
        return BW_ERR_INVALID;
    }
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        sec > 60)
        return BW_ERR_INVALID;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo == 2 && d == 29 && !leap)
        return BW_ERR_INVALID;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                    .tm_hour = h, .tm_min = mi, .tm_sec = sec};
    int64_t t = (int64_t)timegm(&tm);
    *out = t - sign * (oh * 3600 + om * 60);
    return BW_OK;
}
