/* ISO 8601 timestamps for the native lane (_pairwise.c). Included once, by _pairwise.c. */
#ifndef RMOPS_TIMESTAMP_H
#define RMOPS_TIMESTAMP_H

/* ---- timestamps: exactly `YYYY-MM-DDTHH:MM:SS[.f{1,6}](Z|+HH:MM|-HH:MM)`, years 1900-2099 ---- */

static int num(const unsigned char *p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') return 0;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 1;
}

static int64_t days_from_civil(int y, int m, int d) {  /* proleptic Gregorian, y >= 1900 */
    y -= m <= 2;
    int era = y / 400, yoe = y - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int64_t)era * 146097 + doe - 719468;
}

/* Microseconds since the epoch, as `datetime.fromisoformat` reads this one spelling; 0 for
 * any other spelling (the Python lanes judge those). */
static int timestamp(const unsigned char *s, size_t len, int64_t *out) {
    int y, mo, d, h, mi, sec, frac = 0, oh = 0, om = 0;
    static const int dim[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (len < 20 || !num(s, 4, &y) || s[4] != '-' || !num(s + 5, 2, &mo) || s[7] != '-' ||
        !num(s + 8, 2, &d) || s[10] != 'T' || !num(s + 11, 2, &h) || s[13] != ':' ||
        !num(s + 14, 2, &mi) || s[16] != ':' || !num(s + 17, 2, &sec))
        return 0;
    size_t i = 19;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && i - start < 7 && s[i] >= '0' && s[i] <= '9') frac = frac * 10 + (s[i++] - '0');
        size_t n = i - start;
        if (n < 1 || n > 6) return 0;
        for (; n < 6; n++) frac *= 10;
    }
    int sign = 0;
    if (i + 1 == len && s[i] == 'Z') {
        sign = 0;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && num(s + i + 1, 2, &oh) &&
               s[i + 3] == ':' && num(s + i + 4, 2, &om)) {
        sign = s[i] == '+' ? 1 : -1;
    } else {
        return 0;
    }
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1900 || y > 2099 || mo < 1 || mo > 12 || d < 1 ||
        d > dim[mo - 1] + (mo == 2 && leap) || h > 23 || mi > 59 || sec > 59 || oh > 23 || om > 59)
        return 0;
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
    secs -= (int64_t)sign * (oh * 3600 + om * 60);
    *out = secs * 1000000 + frac;
    return 1;
}

#endif
