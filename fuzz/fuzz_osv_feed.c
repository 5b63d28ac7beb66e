/*
 * fuzz_osv_feed.c - the OSV advisory parser and matcher (src/vuln/osv.c,
 * `bulwark vuln scan --feed`). Properties: no crash or leak; every match
 * names a component of the SBOM with its exact version, an advisory id and
 * a severity of the four known ones; the advisory count never exceeds the
 * input size; and bw_version_cmp is antisymmetric and reflexive on
 * strings taken from the input.
 */
#include "fuzz_util.h"
#include "vuln/vuln.h"

static const struct bw_sbom_component comps[] = {
    {"sqlite3", "3.40.1", NULL}, {"libsodium", "1.0.18", NULL}, {"jansson", "2.14", NULL}};

static enum bw_rc on_match(void *arg, const struct bw_osv_match *m)
{
    bool known = false;
    for (size_t i = 0; i < sizeof(comps) / sizeof(comps[0]); i++)
        known |= strcmp(m->component, comps[i].name) == 0 &&
                 strcmp(m->version, comps[i].version) == 0;
    FUZZ_CHECK(known);
    FUZZ_CHECK(m->advisory != NULL && m->advisory[0] != '\0');
    FUZZ_CHECK(strcmp(m->severity, "critical") == 0 || strcmp(m->severity, "high") == 0 ||
               strcmp(m->severity, "medium") == 0 || strcmp(m->severity, "low") == 0);
    (*(size_t *)arg)++;
    return BW_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t matches = 0, n = 0;
    enum bw_rc rc = bw_osv_scan((const char *)data, size, comps, 3, on_match, &matches, &n);
    if (rc == BW_OK)
        FUZZ_CHECK(n <= size);
    char *s = fuzz_strdup(data, size);
    if (s != NULL) {
        char *mid = s + strlen(s) / 2;
        char a[64], b[64];
        snprintf(a, sizeof(a), "%.*s", (int)(mid - s), s);
        snprintf(b, sizeof(b), "%s", mid);
        FUZZ_CHECK(bw_version_cmp(a, a) == 0);
        int x = bw_version_cmp(a, b), y = bw_version_cmp(b, a);
        FUZZ_CHECK((x < 0 && y > 0) || (x > 0 && y < 0) || (x == 0 && y == 0));
        free(s);
    }
    return 0;
}
