/*
 * cmd_sbom.c - `bulwark sbom [--format cyclonedx]`: Bulwark's own software
 * bill of materials as CycloneDX 1.5 JSON on stdout (CONTROL: SUP-01). Needs
 * no data directory: it describes the binary.
 */
#include "cli/cli_int.h"
#include "vuln/vuln.h"

#include <jansson.h>
#include <string.h>

enum bw_rc bw_cmd_sbom(struct bw_cli *cli, int argc, char **argv)
{
    static const char *const names[] = {"--format"};
    struct bw_cli_opts o;
    json_t *doc = NULL;
    enum bw_rc rc = bw_cli_opts(cli, argc, argv, names, 1, &o);
    if (rc != BW_OK)
        return rc;
    if (o.npos > 0)
        return bw_cli_usage(cli, "unexpected argument '%s'", o.pos[0]);
    if (o.v[0] != NULL && strcmp(o.v[0], "cyclonedx") != 0)
        return bw_cli_usage(cli, "--format: only cyclonedx is supported");
    rc = bw_sbom_cyclonedx(&doc);
    if (rc != BW_OK) {
        bw_cli_error("sbom: %s", bw_rc_str(rc));
        return rc;
    }
    bw_cli_print_json(cli, doc);
    return BW_OK;
}
