/*
 * clock.c - is the system clock synchronised? (CONTROL: G-03). Asks the
 * kernel (adjtimex(2) in read-only mode): NTP daemons such as chrony,
 * systemd-timesyncd and ntpd clear STA_UNSYNC once they discipline the
 * clock. Reads only; never sets the time.
 */
#include "audit/audit.h"

#include <stdio.h>
#include <sys/timex.h>

bool bw_audit_clock_synced(char *why, size_t whylen)
{
    struct timex tx = {.modes = 0};
    int state = adjtimex(&tx);
    if (state < 0) {
        bw_why(why, whylen, "adjtimex failed: the kernel clock state is unknown");
        return false;
    }
    if (state == TIME_ERROR || (tx.status & STA_UNSYNC) != 0) {
        bw_why(why, whylen, "the kernel reports the clock unsynchronised (no NTP discipline)");
        return false;
    }
    bw_why(why, whylen, "the kernel reports the clock synchronised (max error %ld us)",
           tx.maxerror);
    return true;
}
