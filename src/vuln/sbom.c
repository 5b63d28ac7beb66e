/*
 * sbom.c - Bulwark's own software bill of materials (CONTROL: SUP-01):
 * the libraries the build linked, with the exact versions pinned in
 * cmake/deps.lock and checked at configure time (gen/bw_deps.h), plus the
 * version each library reports at run time where it exposes one, as
 * CycloneDX 1.5 JSON. Package URLs use the pkg-config name (purl type
 * "generic"), which is also the name the OSV feed scan matches on.
 */
#include "vuln/vuln.h"

#include "bw_deps.h"

#include <curl/curl.h>
#include <gnutls/gnutls.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <microhttpd.h>
#include <qrencode.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>

#define X(name, version, pc_sha256) {name, version, NULL},
static struct bw_sbom_component comps[] = {BW_DEPS_TABLE};
#undef X
#define X(name, version, pc_sha256) pc_sha256,
static const char *const pc_hashes[] = {BW_DEPS_TABLE};
#undef X

static char pq_version[32];

static const char *runtime_of(const char *name)
{
    if (strcmp(name, "sqlite3") == 0)
        return sqlite3_libversion();
    if (strcmp(name, "libsodium") == 0)
        return sodium_version_string();
    if (strcmp(name, "gnutls") == 0)
        return gnutls_check_version(NULL);
    if (strcmp(name, "libmicrohttpd") == 0)
        return MHD_get_version();
    if (strcmp(name, "jansson") == 0)
        return jansson_version_str();
    if (strcmp(name, "libcurl") == 0)
        return curl_version_info(CURLVERSION_NOW)->version;
    if (strcmp(name, "libqrencode") == 0)
        return QRcode_APIVersionString();
    if (strcmp(name, "libpq") == 0) {
        int v = PQlibVersion(); /* 150020 */
        snprintf(pq_version, sizeof(pq_version), "%d.%d", v / 10000, v % 10000);
        return pq_version;
    }
    return NULL;
}

const struct bw_sbom_component *bw_sbom_components(size_t *n)
{
    for (size_t i = 0; i < BW_ARRAY_LEN(comps); i++)
        comps[i].runtime = runtime_of(comps[i].name);
    *n = BW_ARRAY_LEN(comps);
    return comps;
}

enum bw_rc bw_sbom_cyclonedx(json_t **out)
{
    size_t n = 0;
    const struct bw_sbom_component *c = bw_sbom_components(&n);
    char ts[21], serial[64];
    uint8_t u[16];
    randombytes_buf(u, sizeof(u));
    u[6] = (uint8_t)((u[6] & 0x0f) | 0x40);
    u[8] = (uint8_t)((u[8] & 0x3f) | 0x80);
    snprintf(serial, sizeof(serial),
             "urn:uuid:%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
             u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
             u[13], u[14], u[15]);
    bw_time_format(bw_time_now(), ts);
    json_t *list = json_array();
    for (size_t i = 0; list != NULL && i < n; i++) {
        char purl[200], ref[200];
        snprintf(purl, sizeof(purl), "pkg:generic/%s@%s", c[i].name, c[i].version);
        snprintf(ref, sizeof(ref), "%s@%s", c[i].name, c[i].version);
        json_t *props = json_pack("[{s:s, s:s}]", "name", "bulwark:pkgconfig-pc-sha256", "value",
                                  pc_hashes[i]);
        if (props != NULL && c[i].runtime != NULL)
            json_array_append_new(props, json_pack("{s:s, s:s}", "name", "bulwark:runtime-version",
                                                   "value", c[i].runtime));
        json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:o}", "type", "library", "bom-ref", ref,
                              "name", c[i].name, "version", c[i].version, "purl", purl,
                              "properties", props);
        if (o == NULL || json_array_append_new(list, o) != 0) {
            json_decref(list);
            return BW_ERR_NOMEM;
        }
    }
    json_t *doc = list == NULL ? NULL
                               : json_pack("{s:s, s:s, s:s, s:s, s:i, s:{s:s, s:[{s:s, s:s}], s:{s:s, "
                                           "s:s, s:s, s:s}}, s:o}",
                                           "$schema", "http://cyclonedx.org/schema/bom-1.5.schema.json",
                                           "bomFormat", "CycloneDX", "specVersion", "1.5",
                                           "serialNumber", serial, "version", 1, "metadata",
                                           "timestamp", ts, "tools", "name", "bulwark sbom",
                                           "version", BW_VERSION, "component", "type",
                                           "application", "bom-ref", "bulwark", "name", "bulwark",
                                           "version", BW_VERSION, "components", list);
    if (doc == NULL)
        return BW_ERR_NOMEM;
    *out = doc;
    return BW_OK;
}
