/*
 * fuzz_backup_segment.c - bw_log_record_next, the cursor over decrypted
 * change-log segments (src/backup/changelog.c). Properties:
 *  - the cursor only moves forward and never past the end;
 *  - every record it returns lies inside the input, gaps have no data;
 *  - re-encoding the accepted records with bw_log_record_append gives back
 *    exactly the bytes consumed.
 */
#include "backup/backup_int.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t pos = 0, last = 0;
    struct bw_log_rec r;
    struct bw_buf again;
    enum bw_rc rc;
    bw_buf_init(&again, size + 64);
    while ((rc = bw_log_record_next(data, size, &pos, &r)) == BW_OK) {
        FUZZ_CHECK(pos > last && pos <= size);
        if (r.data != NULL)
            FUZZ_CHECK(r.data >= data && r.data + r.len <= data + size && r.len > 0);
        else
            FUZZ_CHECK(r.len == 0);
        FUZZ_CHECK(bw_log_record_append(&again, r.seq, r.ts, r.data, r.len) == BW_OK);
        last = pos;
    }
    FUZZ_CHECK(rc == BW_ERR_NOTFOUND || rc == BW_ERR_INVALID);
    FUZZ_CHECK(again.len == last && (last == 0 || memcmp(again.data, data, last) == 0));
    bw_buf_free(&again, false);
    return 0;
}
