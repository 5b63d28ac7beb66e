/*
 * sql_sqlite.c - SQL text of every named statement for the SQLite driver.
 * Parameters are ?1..?N and always bound; nothing here is ever formatted.
 */
#include "store/store_int.h"

const char *const bw_sql_sqlite[BW_STMT__COUNT] = {
    [BW_STMT_META_GET] = "SELECT value FROM bw_meta WHERE key = ?1",
    [BW_STMT_META_PUT] = "INSERT INTO bw_meta(key, value) VALUES (?1, ?2) "
                         "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
    [BW_STMT_META_DELETE] = "DELETE FROM bw_meta WHERE key = ?1",
    [BW_STMT_META_COUNT_LIKE] = "SELECT count(*) FROM bw_meta WHERE substr(key, 1, length(?1)) = ?1",
    [BW_STMT_META_LIST_LIKE] = "SELECT key, value FROM bw_meta "
                               "WHERE substr(key, 1, length(?1)) = ?1 ORDER BY key LIMIT ?2",
};
