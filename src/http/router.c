/*
 * router.c - table-driven route matching (STYLE rule 7). A pattern is a
 * sequence of literal segments and {name} parameters; a path matches when
 * every segment matches exactly, so there is no prefix matching, no
 * normalisation and no ".." handling to get wrong: such paths simply do not
 * match. Parameter values are limited to [A-Za-z0-9._~@+-], 1..128 bytes.
 * Pure functions: no allocation, no I/O (fuzzed by fuzz/fuzz_router.c).
 */
#include "http/http_int.h"

#include <string.h>

static const struct {
    unsigned bit;
    const char *name;
} methods[] = {
    {BW_GET, "GET"},       {BW_POST, "POST"}, {BW_PUT, "PUT"},         {BW_DELETE, "DELETE"},
    {BW_PATCH, "PATCH"},   {BW_HEAD, "HEAD"}, {BW_OPTIONS, "OPTIONS"},
};

unsigned bw_method_parse(const char *name)
{
    for (size_t i = 0; i < BW_ARRAY_LEN(methods); i++) {
        if (strcmp(name, methods[i].name) == 0)
            return methods[i].bit;
    }
    return 0;
}

const char *bw_method_name(unsigned method)
{
    for (size_t i = 0; i < BW_ARRAY_LEN(methods); i++) {
        if (methods[i].bit == method)
            return methods[i].name;
    }
    return "-";
}

static bool param_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '.' || c == '_' || c == '~' || c == '@' || c == '+' || c == '-';
}

/* Matches one pattern against path; fills params into m on success. */
static bool match_one(const char *pat, const char *path, struct bw_route_match *m)
{
    size_t np = 0;
    while (*pat != '\0' && *path != '\0') {
        if (*pat != '/' || *path != '/')
            return false;
        pat++;
        path++;
        size_t plen = strcspn(pat, "/");
        size_t slen = strcspn(path, "/");
        if (plen > 2 && pat[0] == '{' && pat[plen - 1] == '}') {
            if (slen == 0 || slen > BW_MAX_PARAM_LEN || np == BW_MAX_PARAMS ||
                plen - 2 >= sizeof(m->names[0]))
                return false;
            for (size_t i = 0; i < slen; i++) {
                if (!param_char(path[i]))
                    return false;
            }
            if ((slen == 1 && path[0] == '.') || (slen == 2 && path[0] == '.' && path[1] == '.'))
                return false;
            memcpy(m->names[np], pat + 1, plen - 2);
            m->names[np][plen - 2] = '\0';
            memcpy(m->values[np], path, slen);
            m->values[np][slen] = '\0';
            np++;
        } else if (plen != slen || memcmp(pat, path, plen) != 0) {
            return false;
        }
        pat += plen;
        path += slen;
    }
    if (*pat != '\0' || *path != '\0')
        return false;
    m->nparams = np;
    return true;
}

enum bw_rc bw_router_match(const struct bw_route *table, size_t n, unsigned method,
                           const char *path, struct bw_route_match *m)
{
    struct bw_route_match tmp;
    memset(&tmp, 0, sizeof(tmp));
    bool path_known = false;
    if (path == NULL || path[0] != '/' || strlen(path) > 4096)
        return BW_ERR_NOTFOUND;
    for (size_t i = 0; i < n; i++) {
        struct bw_route_match cand;
        if (!match_one(table[i].pattern, path, &cand))
            continue;
        path_known = true;
        tmp.allowed |= table[i].method;
        /* HEAD is answered by GET routes */
        if (table[i].method == method || (method == BW_HEAD && table[i].method == BW_GET)) {
            if (tmp.route == NULL) {
                unsigned allowed = tmp.allowed;
                tmp = cand;
                tmp.allowed = allowed;
                tmp.route = &table[i];
                tmp.route_index = i;
            }
        }
    }
    if (!path_known)
        return BW_ERR_NOTFOUND;
    if (tmp.route == NULL) {
        memset(m, 0, sizeof(*m));
        m->allowed = tmp.allowed;
        return BW_ERR_UNSUPPORTED;
    }
    *m = tmp;
    return BW_OK;
}
