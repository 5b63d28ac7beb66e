/*
 * fuzz_config.c - bulwark.conf parsing (src/core/config.c on libinih).
 *
 * Properties:
 *  - failure: the message is non-empty, one line, and starts with the name
 *    given to the parser followed by ":<line>:" with 1 <= line <= the number
 *    of lines in the input (or ": cannot parse configuration");
 *  - success: bw_config_render of the result loads into a fresh
 *    configuration and renders to the identical text (round trip), and the
 *    masked rendering differs from the plain one only in the database url;
 *  - the configuration is always released (LeakSanitizer watches).
 */
#include "core/core.h"
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>

static const char NAME[] = "fuzz.conf";

static size_t count_lines(const char *s)
{
    size_t n = 1;
    for (; *s != '\0'; s++) {
        if (*s == '\n')
            n++;
    }
    return n;
}

static void check_error(const struct bw_config_err *err, const char *text)
{
    const char *m = err->msg;
    size_t nl = strlen(NAME);
    FUZZ_CHECK(m[0] != '\0');
    FUZZ_CHECK(strchr(m, '\n') == NULL);
    FUZZ_CHECK(strncmp(m, NAME, nl) == 0);
    m += nl;
    if (strcmp(m, ": cannot parse configuration") == 0)
        return;
    FUZZ_CHECK(*m == ':');
    m++;
    FUZZ_CHECK(*m >= '1' && *m <= '9');
    size_t line = 0;
    while (*m >= '0' && *m <= '9' && line < 1000000) {
        line = line * 10 + (size_t)(*m - '0');
        m++;
    }
    FUZZ_CHECK(*m == ':');
    FUZZ_CHECK(line >= 1 && line <= count_lines(text));
}

/* The masked rendering hides the database url and nothing else. */
static void check_mask(const struct bw_config *cfg, const char *plain)
{
    struct bw_buf masked;
    bw_buf_init(&masked, 1 << 20);
    FUZZ_CHECK(bw_config_render(cfg, true, &masked) == BW_OK);
    const char *a = plain;
    const char *b = masked.data;
    bool in_database = false;
    while (*a != '\0' && *b != '\0') {
        size_t la = strcspn(a, "\n");
        size_t lb = strcspn(b, "\n");
        if (la == 10 && memcmp(a, "[database]", 10) == 0)
            in_database = true;
        else if (la > 0 && a[0] == '[')
            in_database = false;
        if (in_database && la >= 6 && memcmp(a, "url = ", 6) == 0) {
            FUZZ_CHECK(lb >= 6 && memcmp(b, "url = ", 6) == 0);
            if (la == 6)
                FUZZ_CHECK(lb == 6);
            else
                FUZZ_CHECK(lb == 14 && memcmp(b + 6, "********", 8) == 0);
        } else {
            FUZZ_CHECK(la == lb && memcmp(a, b, la) == 0);
        }
        a += la + (a[la] == '\n');
        b += lb + (b[lb] == '\n');
    }
    FUZZ_CHECK(*a == '\0' && *b == '\0');
    bw_buf_free(&masked, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_strdup(data, size);
    struct bw_config cfg;
    struct bw_config_err err;
    memset(&err, 0, sizeof(err));
    FUZZ_CHECK(bw_config_init(&cfg) == BW_OK);

    enum bw_rc rc = bw_config_load_string(&cfg, NAME, text, &err);
    if (rc != BW_OK) {
        FUZZ_CHECK(rc == BW_ERR_INVALID || rc == BW_ERR_IO || rc == BW_ERR_NOMEM);
        check_error(&err, text);
    } else {
        struct bw_buf first, second;
        bw_buf_init(&first, 1 << 20);
        bw_buf_init(&second, 1 << 20);
        FUZZ_CHECK(bw_config_render(&cfg, false, &first) == BW_OK);
        FUZZ_CHECK(first.data != NULL && strlen(first.data) == first.len);

        struct bw_config again;
        struct bw_config_err err2;
        memset(&err2, 0, sizeof(err2));
        FUZZ_CHECK(bw_config_init(&again) == BW_OK);
        rc = bw_config_load_string(&again, "render", first.data, &err2);
        if (rc != BW_OK) {
            fprintf(stderr, "rendered configuration does not load: %s\n--- rendered ---\n%s",
                    err2.msg, first.data);
        }
        FUZZ_CHECK(rc == BW_OK);
        FUZZ_CHECK(bw_config_render(&again, false, &second) == BW_OK);
        FUZZ_CHECK(first.len == second.len && memcmp(first.data, second.data, first.len) == 0);
        check_mask(&cfg, first.data);

        bw_config_cleanup(&again);
        bw_buf_free(&first, false);
        bw_buf_free(&second, false);
    }
    bw_config_cleanup(&cfg);
    free(text);
    return 0;
}
