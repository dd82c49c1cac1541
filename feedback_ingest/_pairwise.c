/* The native lane: pairwise JSONL lines of the common shape -> column buffers, without the GIL.
 *
 * Like the other fast paths it only ever ACCEPTS: a line is taken only when every byte of it
 * was read by this strict scanner (known keys once each, strings, true/false/null, numbers
 * only inside metadata, which stays raw JSON for msgspec; no unknown keys, no escape that
 * could hide a control character or a lone surrogate) and every check of the reference
 * validator passed. Anything else is left to the Python lanes, which name the reason. Every
 * read is bounded by the line's end; the only recursion is into metadata, 32 levels at most.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    unsigned char *data;
    size_t len, cap;
} Buf;

static int buf_reserve(Buf *b, size_t extra) {
    if (extra > SIZE_MAX - b->len) return 0;
    if (b->len + extra <= b->cap) return 1;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) {
        if (cap > SIZE_MAX / 2) return 0;
        cap *= 2;
    }
    unsigned char *p = realloc(b->data, cap);
    if (!p) return 0;
    b->data = p;
    b->cap = cap;
    return 1;
}

static int buf_put(Buf *b, const void *src, size_t n) {
    if (!buf_reserve(b, n)) return 0;
    if (n) memcpy(b->data + b->len, src, n);
    b->len += n;
    return 1;
}

/* A decoded string: bytes [off, off + len) of the line's scratch buffer, `chars` code points. */
typedef struct {
    size_t off, len, chars;
    int set;  /* 1: a string, 2: null, 0: absent */
} Str;

typedef struct {
    const unsigned char *p, *end;
    Buf *scratch;
} Cur;

enum { OK = 0, PUNT = 1, NOMEM = 2 };

static void ws(Cur *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
        c->p++;
}

static int expect(Cur *c, unsigned char ch) {
    ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

static int literal(Cur *c, const char *word) {
    size_t n = strlen(word);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0) return 0;
    c->p += n;
    return 1;
}

static int hex4(const unsigned char *p, unsigned *out) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char h = p[i];
        v <<= 4;
        if (h >= '0' && h <= '9') v |= h - '0';
        else if (h >= 'a' && h <= 'f') v |= h - 'a' + 10;
        else if (h >= 'A' && h <= 'F') v |= h - 'A' + 10;
        else return 0;
    }
    *out = v;
    return 1;
}

static size_t utf8_put(unsigned char *o, unsigned cp) {
    if (cp < 0x80) { o[0] = (unsigned char)cp; return 1; }
    if (cp < 0x800) { o[0] = 0xC0 | (cp >> 6); o[1] = 0x80 | (cp & 0x3F); return 2; }
    if (cp < 0x10000) {
        o[0] = 0xE0 | (cp >> 12); o[1] = 0x80 | ((cp >> 6) & 0x3F); o[2] = 0x80 | (cp & 0x3F);
        return 3;
    }
    o[0] = 0xF0 | (cp >> 18); o[1] = 0x80 | ((cp >> 12) & 0x3F);
    o[2] = 0x80 | ((cp >> 6) & 0x3F); o[3] = 0x80 | (cp & 0x3F);
    return 4;
}

/* Length of the valid UTF-8 sequence at p (strict as Python's decoder), or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end) {
    unsigned char b = p[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) n = 2;
    else if (b == 0xE0) { n = 3; lo = 0xA0; }
    else if (b == 0xED) { n = 3; hi = 0x9F; }  /* no surrogates */
    else if (b >= 0xE1 && b <= 0xEF) n = 3;
    else if (b == 0xF0) { n = 4; lo = 0x90; }
    else if (b >= 0xF1 && b <= 0xF3) n = 4;
    else if (b == 0xF4) { n = 4; hi = 0x8F; }
    else return 0;
    if ((size_t)(end - p) < n) return 0;
    if (p[1] < lo || p[1] > hi) return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF) return 0;
    return n;
}

/* A JSON string at c->p (the opening quote) decoded into the scratch buffer. Escapes that
 * could hide a control character (\b, \f, \u below 0x20 but tab/newline/CR, \u007f) or a lone
 * surrogate are punted; so are raw control bytes and DEL. */
static int string(Cur *c, Str *s) {
    if (c->p >= c->end || *c->p != '"') return PUNT;
    c->p++;
    Buf *b = c->scratch;
    s->off = b->len;
    s->chars = 0;
    if (!buf_reserve(b, (size_t)(c->end - c->p))) return NOMEM;  /* output never outgrows input */
    unsigned char *o = b->data + b->len;
    const unsigned char *p = c->p, *end = c->end;
    while (p < end) {
        unsigned char ch = *p;
        if (ch == '"') {
            b->len = (size_t)(o - b->data);
            s->len = b->len - s->off;
            s->set = 1;
            c->p = p + 1;
            return OK;
        }
        if (ch >= 0x20 && ch < 0x7F && ch != '\\') {
            *o++ = ch;
            p++;
            s->chars++;
        } else if (ch == '\\') {
            if (end - p < 2) return PUNT;
            unsigned char e = p[1];
            unsigned cp;
            p += 2;
            switch (e) {
                case '"': case '\\': case '/': *o++ = e; break;
                case 'n': *o++ = '\n'; break;
                case 'r': *o++ = '\r'; break;
                case 't': *o++ = '\t'; break;
                case 'u':
                    if (end - p < 4 || !hex4(p, &cp)) return PUNT;
                    p += 4;
                    if (cp >= 0xD800 && cp <= 0xDBFF) {
                        unsigned low;
                        if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || !hex4(p + 2, &low) ||
                            low < 0xDC00 || low > 0xDFFF)
                            return PUNT;
                        p += 6;
                        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                    } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                        return PUNT;
                    } else if ((cp < 0x20 && cp != '\t' && cp != '\n' && cp != '\r') ||
                               cp == 0x7F) {
                        return PUNT;
                    }
                    o += utf8_put(o, cp);  /* at most 4 bytes for at least 6 read */
                    break;
                default: return PUNT;
            }
            s->chars++;
        } else if (ch >= 0x80) {
            size_t n = utf8_len(p, end);
            if (!n) return PUNT;
            memcpy(o, p, n);
            o += n;
            p += n;
            s->chars++;
        } else {
            return PUNT;  /* a raw control byte or DEL */
        }
    }
    return PUNT;  /* unterminated */
}

/* A string or null value; anything else punts. */
static int string_or_null(Cur *c, Str *s) {
    ws(c);
    if (s->set) return PUNT;  /* a repeated key: json.loads keeps the last, we do not guess */
    if (c->p < c->end && *c->p == 'n') {
        if (!literal(c, "null")) return PUNT;
        s->set = 2;
        return OK;
    }
    return string(c, s);
}

static int key_is(Cur *c, const Str *k, const char *name) {
    size_t n = strlen(name);
    return k->len == n && memcmp(c->scratch->data + k->off, name, n) == 0;
}

/* The code point whose (already validated) UTF-8 sequence starts at `p`. */
static unsigned decode_at(const unsigned char *p) {
    if (p[0] < 0x80) return p[0];
    if (p[0] < 0xE0) return ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu);
    if (p[0] < 0xF0) return ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
    return ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) |
           (p[3] & 0x3Fu);
}

static int unicode_space(unsigned cp) {
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

static int ascii_space(unsigned char ch) {
    return ch == ' ' || (ch >= '\t' && ch <= '\r') || (ch >= 0x1C && ch <= 0x1F);
}

/* `s` as str.strip() leaves it, into *a..*b of the scratch; 0 if blank or if a non-ASCII
 * space sits at an edge (rare: the Python lanes strip those). */
static int stripped(const Buf *scratch, const Str *s, size_t *a, size_t *b) {
    const unsigned char *d = scratch->data;
    size_t i = s->off, j = s->off + s->len;
    while (i < j && ascii_space(d[i])) i++;
    while (j > i && ascii_space(d[j - 1])) j--;
    if (i == j) return 0;
    if (d[i] >= 0x80 && unicode_space(decode_at(d + i))) return 0;
    size_t k = j - 1;
    while (k > i && (d[k] & 0xC0) == 0x80) k--;
    if (d[k] >= 0x80 && unicode_space(decode_at(d + k))) return 0;
    *a = i;
    *b = j;
    return 1;
}

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

/* ---- one event ---- */

#define MAX_MESSAGES 256  /* validate._prompt refuses longer chats */

typedef struct {
    Str role, content;
} Message;

typedef struct {
    Str event_id, timestamp, type, prompt, kind, annotator_id, winner;
    Str id[2], text[2], policy[2];
    int tie;  /* 0 absent, 1 null, 2 false, 3 true */
    int seen;  /* objects and metadata already read: a repeated key punts */
    const unsigned char *metadata;  /* the raw JSON object in the line (msgspec decodes it) */
    size_t metadata_len;
    Message *messages;  /* a chat prompt: `n_messages` of the caller's MAX_MESSAGES */
    int n_messages, chat;
} Event;

typedef int (*FieldFn)(Cur *, const Str *, void *);

enum { MORE = -1 };

/* After an item of an object or array: MORE after a comma, OK at `close`, else PUNT. */
static int after_item(Cur *c, unsigned char close) {
    ws(c);
    if (c->p < c->end && (*c->p == ',' || *c->p == close)) return *c->p++ == ',' ? MORE : OK;
    return PUNT;
}

/* An object whose values `field` reads, key by key. */
static int object(Cur *c, FieldFn field, void *ctx) {
    if (!expect(c, '{')) return PUNT;
    ws(c);
    if (c->p < c->end && *c->p == '}') {
        c->p++;
        return OK;
    }
    for (;;) {
        Str key = {0};
        ws(c);
        int r = string(c, &key);
        if (r != OK) return r;
        if (!expect(c, ':')) return PUNT;
        if ((r = field(c, &key, ctx)) != OK) return r;
        if ((r = after_item(c, '}')) != MORE) return r;
    }
}

typedef struct {
    Event *e;
    int i;
} ResponseCtx;

static int response_field(Cur *c, const Str *k, void *ctx) {
    ResponseCtx *r = ctx;
    if (key_is(c, k, "id")) return string_or_null(c, &r->e->id[r->i]);
    if (key_is(c, k, "text")) return string_or_null(c, &r->e->text[r->i]);
    if (key_is(c, k, "policy_version")) return string_or_null(c, &r->e->policy[r->i]);
    return PUNT;
}

static int preference_field(Cur *c, const Str *k, void *ctx) {
    Event *e = ctx;
    if (key_is(c, k, "winner")) return string_or_null(c, &e->winner);
    if (!key_is(c, k, "tie") || e->tie) return PUNT;
    ws(c);
    if (literal(c, "null")) e->tie = 1;
    else if (literal(c, "false")) e->tie = 2;
    else if (literal(c, "true")) e->tie = 3;
    else return PUNT;
    return OK;
}

static int annotator_field(Cur *c, const Str *k, void *ctx) {
    Event *e = ctx;
    if (key_is(c, k, "kind")) return string_or_null(c, &e->kind);
    if (key_is(c, k, "id")) return string_or_null(c, &e->annotator_id);
    return PUNT;
}

/* A JSON number, strictly by the grammar (its value is msgspec's business). */
static int number(Cur *c) {
    const unsigned char *p = c->p, *e = c->end;
#define DIGIT (p < e && *p >= '0' && *p <= '9')
    if (p < e && *p == '-') p++;
    if (p < e && *p == '0') p++;
    else if (DIGIT) while (DIGIT) p++;
    else return PUNT;
    if (p < e && *p == '.') {
        p++;
        if (!DIGIT) return PUNT;
        while (DIGIT) p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < e && (*p == '+' || *p == '-')) p++;
        if (!DIGIT) return PUNT;
        while (DIGIT) p++;
    }
#undef DIGIT
    c->p = p;
    return OK;
}

/* Any JSON value, read past (strings checked as everywhere else); nesting beyond 32 punts. */
static int value(Cur *c, int depth) {
    ws(c);
    if (c->p >= c->end || depth > 32) return PUNT;
    unsigned char open = *c->p;
    size_t mark = c->scratch->len;  /* what is read here is not kept */
    if (open == '"') {
        Str s = {0};
        int rc = string(c, &s);
        c->scratch->len = mark;
        return rc;
    }
    if (open != '{' && open != '[') {
        if (literal(c, "true") || literal(c, "false") || literal(c, "null")) return OK;
        return number(c);
    }
    unsigned char close = open == '{' ? '}' : ']';
    c->p++;
    ws(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return OK;
    }
    for (;;) {
        int rc;
        if (open == '{') {
            Str key = {0};
            ws(c);
            rc = string(c, &key);
            c->scratch->len = mark;
            if (rc != OK) return rc;
            if (!expect(c, ':')) return PUNT;
        }
        if ((rc = value(c, depth + 1)) != OK) return rc;
        if ((rc = after_item(c, close)) != MORE) return rc;
    }
}

static int message_field(Cur *c, const Str *k, void *ctx) {
    Message *m = ctx;
    if (key_is(c, k, "role")) return string_or_null(c, &m->role);
    if (key_is(c, k, "content")) return string_or_null(c, &m->content);
    return PUNT;
}

/* A chat prompt: a non-empty list of {role, content} objects. */
static int chat_prompt(Cur *c, Event *e) {
    if (e->chat || e->prompt.set || !expect(c, '[')) return PUNT;
    e->chat = 1;
    for (;;) {
        if (e->n_messages == MAX_MESSAGES) return PUNT;
        Message *m = &e->messages[e->n_messages++];
        memset(m, 0, sizeof *m);
        int rc = object(c, message_field, m);
        if (rc != OK) return rc;
        if ((rc = after_item(c, ']')) != MORE) return rc;
    }
}

static int once(Event *e, int bit) {
    if (e->seen & bit) return 0;
    e->seen |= bit;
    return 1;
}

static int top_field(Cur *c, const Str *k, void *ctx) {
    Event *e = ctx;
    if (key_is(c, k, "event_id")) return string_or_null(c, &e->event_id);
    if (key_is(c, k, "timestamp")) return string_or_null(c, &e->timestamp);
    if (key_is(c, k, "type")) return string_or_null(c, &e->type);
    if (key_is(c, k, "prompt")) {
        ws(c);
        if (c->p < c->end && *c->p == '[') return chat_prompt(c, e);
        return e->chat ? PUNT : string_or_null(c, &e->prompt);
    }
    if (key_is(c, k, "responses")) {
        if (!once(e, 1) || !expect(c, '[')) return PUNT;
        for (int i = 0; i < 2; i++) {
            ResponseCtx r = {e, i};
            int rc;
            if (i && !expect(c, ',')) return PUNT;
            if ((rc = object(c, response_field, &r)) != OK) return rc;
        }
        return expect(c, ']') ? OK : PUNT;  /* exactly two responses */
    }
    if (key_is(c, k, "preference")) return once(e, 2) ? object(c, preference_field, e) : PUNT;
    if (key_is(c, k, "annotator")) return once(e, 4) ? object(c, annotator_field, e) : PUNT;
    if (key_is(c, k, "metadata")) {  /* null or an object, kept raw for msgspec */
        if (!once(e, 8)) return PUNT;
        ws(c);
        if (literal(c, "null")) return OK;
        if (c->p >= c->end || *c->p != '{') return PUNT;
        e->metadata = c->p;
        int rc = value(c, 0);
        e->metadata_len = (size_t)(c->p - e->metadata);
        return rc;
    }
    return PUNT;
}

/* ---- checks (those of validate.py) and the output columns ---- */

#define MAX_ROLES 8

typedef struct {
    Py_ssize_t max_event_bytes, max_text_chars, max_id_chars, max_responses;
    const unsigned char *human, *assistant, *human_bare;
    size_t human_len, assistant_len, human_bare_len;
    int n_roles;  /* render.ROLE_LABELS: lower-case role -> label */
    const char *role[MAX_ROLES], *label[MAX_ROLES];
    Py_ssize_t role_len[MAX_ROLES], label_len[MAX_ROLES];
} Limits;

enum { COL_EVENT_ID, COL_PROMPT, COL_ANNOTATOR_ID, COL_KIND, COL_IDS, COL_TEXTS, COL_POLICIES,
       COL_METADATA, N_COLS };

typedef struct {
    Buf data, offsets, valid;  /* int32 offsets (the first is 0), one validity byte per value */
} Col;

typedef struct {
    Col cols[N_COLS];
    Buf micros, winner, tie;
} Out;

static const unsigned char *sdata(const Buf *sc, const Str *s) { return sc->data + s->off; }

static int same(const Buf *sc, const Str *a, const Str *b) {
    return a->len == b->len && memcmp(sdata(sc, a), sdata(sc, b), a->len) == 0;
}

static int is(const Buf *sc, const Str *s, const char *word) {
    size_t n = strlen(word);
    return s->len == n && memcmp(sdata(sc, s), word, n) == 0;
}

static int starts(const Buf *sc, const Str *s, const unsigned char *prefix, size_t n) {
    return s->len >= n && memcmp(sdata(sc, s), prefix, n) == 0;
}

/* Byte length of the first `chars` code points of valid UTF-8. */
static size_t prefix_bytes(const unsigned char *d, size_t len, Py_ssize_t chars) {
    size_t i = 0;
    for (Py_ssize_t n = 0; n < chars && i < len; n++) {
        i++;
        while (i < len && (d[i] & 0xC0) == 0x80) i++;
    }
    return i;
}

typedef struct {
    size_t a, b;  /* a stripped span of the scratch */
} Span;

/* The checks of `validate._text`: a string, short enough, not blank once stripped. */
static int text_ok(const Buf *sc, const Str *s, Py_ssize_t max_chars, Span *out) {
    return s->set == 1 && (Py_ssize_t)s->chars <= max_chars && stripped(sc, s, &out->a, &out->b);
}

typedef struct {
    Span prompt, text[2], annotator;
    size_t policy_len[2];
    int32_t winner;
    uint8_t tie;
    int64_t micros;
    Span *content;  /* a chat prompt's stripped contents and role labels (caller's arrays) */
    int *label;
} Row;

static size_t chars_in(const unsigned char *d, size_t a, size_t b) {
    size_t n = 0;
    for (size_t i = a; i < b; i++) n += (d[i] & 0xC0) != 0x80;
    return n;
}

/* The label of an ASCII role, compared case-insensitively as `role.lower()` is; -1 if none. */
static int role_label(const Limits *L, const Buf *sc, const Str *role) {
    const unsigned char *r = sdata(sc, role);
    for (int k = 0; k < L->n_roles; k++) {
        if ((Py_ssize_t)role->len != L->role_len[k]) continue;
        size_t i = 0;
        while (i < role->len && r[i] < 0x80 &&
               (r[i] >= 'A' && r[i] <= 'Z' ? r[i] + 32 : r[i]) == (unsigned char)L->role[k][i])
            i++;
        if (i == role->len) return k;
    }
    return -1;
}

/* The checks of `validate._prompt` for a message list, and the rendered length. */
static int chat_ok(const Limits *L, const Buf *sc, const Event *e, Row *row) {
    if (e->n_messages < 1) return 0;
    size_t rendered = L->assistant_len;  /* ASCII: bytes are characters */
    for (int i = 0; i < e->n_messages; i++) {
        const Message *m = &e->messages[i];
        if (m->role.set != 1 || (row->label[i] = role_label(L, sc, &m->role)) < 0) return 0;
        if (!text_ok(sc, &m->content, L->max_text_chars, &row->content[i])) return 0;
        rendered += 4 + (size_t)L->label_len[row->label[i]] +
                    chars_in(sc->data, row->content[i].a, row->content[i].b);
    }
    return (Py_ssize_t)rendered <= L->max_text_chars;
}

static int judged(const Limits *L, const Buf *sc, Event *e, Row *row) {
    Py_ssize_t id_max = L->max_id_chars;
    Span unused;
    if (L->max_id_chars < 1 || L->max_text_chars < 1 || L->max_responses < 2) return 0;
    if ((e->seen & 7) != 7) return 0;
    if (!text_ok(sc, &e->event_id, id_max, &unused) || e->type.set != 1 ||
        !is(sc, &e->type, "pairwise") || e->timestamp.set != 1 ||
        !timestamp(sdata(sc, &e->timestamp), e->timestamp.len, &row->micros))
        return 0;
    if (e->chat ? !chat_ok(L, sc, e, row)
                : !text_ok(sc, &e->prompt, L->max_text_chars, &row->prompt) ||
                      starts(sc, &e->prompt, L->human, L->human_len) ||
                      starts(sc, &e->prompt, L->human_bare, L->human_bare_len))
        return 0;  /* HH transcripts are rendered by Python */
    for (int i = 0; i < 2; i++) {
        if (!text_ok(sc, &e->id[i], id_max, &unused) ||
            !text_ok(sc, &e->text[i], L->max_text_chars, &row->text[i]))
            return 0;
        row->policy_len[i] = e->policy[i].set == 1
            ? prefix_bytes(sdata(sc, &e->policy[i]), e->policy[i].len, L->max_id_chars) : 0;
    }
    if (same(sc, &e->id[0], &e->id[1])) return 0;
    if (row->text[0].b - row->text[0].a == row->text[1].b - row->text[1].a &&
        memcmp(sc->data + row->text[0].a, sc->data + row->text[1].a,
               row->text[0].b - row->text[0].a) == 0)
        return 0;  /* identical responses */
    if (e->tie == 3 && !e->winner.set) {
        row->winner = -1, row->tie = 1;
    } else if (e->winner.set == 1 && e->tie != 3) {
        row->tie = 0;
        if (same(sc, &e->winner, &e->id[0])) row->winner = 0;
        else if (same(sc, &e->winner, &e->id[1])) row->winner = 1;
        else return 0;
    } else {
        return 0;
    }
    if (e->kind.set != 1 || !(is(sc, &e->kind, "human") || is(sc, &e->kind, "ai"))) return 0;
    if (e->annotator_id.set == 1)
        return text_ok(sc, &e->annotator_id, id_max, &row->annotator);
    return 1;
}

static int col_reserve(Col *c, size_t bytes, size_t values) {
    if (c->data.len + bytes > INT32_MAX) return PUNT;  /* Arrow's 32-bit offsets: next batch */
    return buf_reserve(&c->data, bytes) && buf_reserve(&c->offsets, 4 * values) &&
           buf_reserve(&c->valid, values) ? OK : NOMEM;
}

/* Appends to the value being written; reserved beforehand, so it cannot fail. */
static void col_add(Col *c, const void *p, size_t n) {
    if (n) memcpy(c->data.data + c->data.len, p, n);
    c->data.len += n;
}

/* Ends the value being written. */
static void col_end(Col *c, uint8_t valid) {
    int32_t end = (int32_t)c->data.len;
    memcpy(c->offsets.data + c->offsets.len, &end, 4);
    c->offsets.len += 4;
    c->valid.data[c->valid.len++] = valid;
}

static void col_put(Col *c, const void *p, size_t n, uint8_t valid) {
    col_add(c, p, n);
    col_end(c, valid);
}

/* Bytes of the rendered prompt. */
static size_t prompt_bytes(const Limits *L, const Event *e, const Row *r) {
    size_t n = L->assistant_len;
    if (!e->chat) return n + L->human_len + 1 + (r->prompt.b - r->prompt.a);
    for (int i = 0; i < e->n_messages; i++)
        n += 4 + (size_t)L->label_len[r->label[i]] + (r->content[i].b - r->content[i].a);
    return n;
}

/* The rendered prompt, as `render.render_prompt` makes it. */
static void put_prompt(Col *c, const Limits *L, const unsigned char *d, const Event *e,
                       const Row *r) {
    if (e->chat) {
        for (int i = 0; i < e->n_messages; i++) {
            col_add(c, "\n\n", 2);
            col_add(c, L->label[r->label[i]], (size_t)L->label_len[r->label[i]]);
            col_add(c, ": ", 2);
            col_add(c, d + r->content[i].a, r->content[i].b - r->content[i].a);
        }
    } else {
        col_add(c, L->human, L->human_len);
        col_add(c, " ", 1);
        col_add(c, d + r->prompt.a, r->prompt.b - r->prompt.a);
    }
    col_add(c, L->assistant, L->assistant_len);
    col_end(c, 1);
}

static int emit(Out *out, const Limits *L, const Buf *sc, const Event *e, const Row *r,
                size_t line_len) {
    size_t room = line_len, prompt = prompt_bytes(L, e, r);  /* values are parts of the line */
    int rc;
    for (int i = 0; i < N_COLS; i++)
        if ((rc = col_reserve(&out->cols[i], i == COL_PROMPT ? prompt : room, 2)) != OK) return rc;
    if (!buf_reserve(&out->micros, 8) || !buf_reserve(&out->winner, 4) ||
        !buf_reserve(&out->tie, 1))
        return NOMEM;
    const unsigned char *d = sc->data;
    col_put(&out->cols[COL_EVENT_ID], sdata(sc, &e->event_id), e->event_id.len, 1);
    put_prompt(&out->cols[COL_PROMPT], L, d, e, r);
    int has_id = e->annotator_id.set == 1;
    col_put(&out->cols[COL_ANNOTATOR_ID], d + (has_id ? r->annotator.a : 0),
            has_id ? r->annotator.b - r->annotator.a : 0, (uint8_t)has_id);
    col_put(&out->cols[COL_KIND], sdata(sc, &e->kind), e->kind.len, 1);
    for (int i = 0; i < 2; i++) {
        col_put(&out->cols[COL_IDS], sdata(sc, &e->id[i]), e->id[i].len, 1);
        col_put(&out->cols[COL_TEXTS], d + r->text[i].a, r->text[i].b - r->text[i].a, 1);
        int has_policy = e->policy[i].set == 1;
        col_put(&out->cols[COL_POLICIES], has_policy ? sdata(sc, &e->policy[i]) : d,
                r->policy_len[i], (uint8_t)has_policy);
    }
    col_put(&out->cols[COL_METADATA], e->metadata ? e->metadata : d, e->metadata_len,
            (uint8_t)(e->metadata != NULL));
    buf_put(&out->micros, &r->micros, 8);
    buf_put(&out->winner, &r->winner, 4);
    buf_put(&out->tie, &r->tie, 1);
    return OK;
}

/* One line: OK (accepted and emitted), PUNT (left to Python) or NOMEM. */
typedef struct {  /* room for a chat prompt, reused line after line */
    Message messages[MAX_MESSAGES];
    Span content[MAX_MESSAGES];
    int label[MAX_MESSAGES];
} Chat;

static int scan_line(const unsigned char *line, size_t len, const Limits *L, Buf *scratch,
                     Chat *chat, Out *out) {
    if ((Py_ssize_t)len > L->max_event_bytes) return PUNT;
    Event e;
    memset(&e, 0, sizeof e);
    e.messages = chat->messages;
    scratch->len = 0;
    Cur c = {line, line + len, scratch};
    int rc = object(&c, top_field, &e);
    if (rc != OK) return rc;
    ws(&c);
    if (c.p != c.end) return PUNT;  /* something after the object */
    Row row;
    memset(&row, 0, sizeof row);
    row.content = chat->content;
    row.label = chat->label;
    if (!judged(L, scratch, &e, &row)) return PUNT;
    return emit(out, L, scratch, &e, &row, len);
}

/* ---- the Python entry point ---- */

static void out_free(Out *o) {
    for (int i = 0; i < N_COLS; i++) {
        free(o->cols[i].data.data);
        free(o->cols[i].offsets.data);
        free(o->cols[i].valid.data);
    }
    free(o->micros.data);
    free(o->winner.data);
    free(o->tie.data);
}

static PyObject *bytes_of(const Buf *b) {
    return PyBytes_FromStringAndSize(b->data ? (const char *)b->data : "", (Py_ssize_t)b->len);
}

static PyObject *result(const unsigned char *ok, Py_ssize_t n, const Out *o) {
    PyObject *cols = PyTuple_New(N_COLS);
    if (!cols) return NULL;
    for (int i = 0; i < N_COLS; i++) {
        const Col *c = &o->cols[i];
        PyObject *col = Py_BuildValue("(NNN)", bytes_of(&c->offsets), bytes_of(&c->data),
                                      bytes_of(&c->valid));
        if (!col) {
            Py_DECREF(cols);
            return NULL;
        }
        PyTuple_SET_ITEM(cols, i, col);
    }
    return Py_BuildValue("(y#NNNN)", (const char *)ok, n, bytes_of(&o->micros),
                         bytes_of(&o->winner), bytes_of(&o->tie), cols);
}

static PyObject *scan(PyObject *self, PyObject *args) {
    PyObject *given, *lines, *roles, *answer = NULL;
    Limits L;
    const char *human, *assistant;
    Py_ssize_t human_len, assistant_len;
    (void)self;
    if (!PyArg_ParseTuple(args, "Onnnny#y#O!", &given, &L.max_event_bytes, &L.max_text_chars,
                          &L.max_id_chars, &L.max_responses, &human, &human_len, &assistant,
                          &assistant_len, &PyTuple_Type, &roles))
        return NULL;
    L.n_roles = (int)PyTuple_GET_SIZE(roles);
    if (L.n_roles > MAX_ROLES)
        return PyErr_Format(PyExc_ValueError, "at most %d roles", MAX_ROLES);
    for (int k = 0; k < L.n_roles; k++)
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(roles, k), "y#y#", &L.role[k], &L.role_len[k],
                              &L.label[k], &L.label_len[k]))
            return NULL;
    lines = PySequence_List(given);  /* our own list: its items stay alive without the GIL */
    if (!lines) return NULL;
    Py_ssize_t n = PyList_GET_SIZE(lines);
    const unsigned char **starts_of = malloc(sizeof *starts_of * (size_t)(n ? n : 1));
    size_t *lens = malloc(sizeof *lens * (size_t)(n ? n : 1));
    unsigned char *ok = calloc((size_t)(n ? n : 1), 1);
    Chat *chat = malloc(sizeof *chat);
    Out out;
    Buf scratch = {0};
    int failed = 0;
    memset(&out, 0, sizeof out);
    if (!starts_of || !lens || !ok || !chat) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyList_GET_ITEM(lines, i);
        if (!PyBytes_Check(item)) {
            PyErr_Format(PyExc_TypeError, "lines[%zd]: expected bytes, got %s", i,
                         Py_TYPE(item)->tp_name);
            goto done;
        }
        starts_of[i] = (const unsigned char *)PyBytes_AS_STRING(item);
        lens[i] = (size_t)PyBytes_GET_SIZE(item);
    }
    L.human = (const unsigned char *)human;
    L.human_len = (size_t)human_len;
    L.assistant = (const unsigned char *)assistant;
    L.assistant_len = (size_t)assistant_len;
    L.human_bare = L.human;  /* HUMAN.strip() */
    L.human_bare_len = L.human_len;
    while (L.human_bare_len && ascii_space(*L.human_bare)) L.human_bare++, L.human_bare_len--;
    while (L.human_bare_len && ascii_space(L.human_bare[L.human_bare_len - 1])) L.human_bare_len--;
    for (int i = 0; i < N_COLS; i++) {
        int32_t zero = 0;
        if (!buf_put(&out.cols[i].offsets, &zero, 4)) failed = 1;
    }
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n && !failed; i++) {
        int rc = scan_line(starts_of[i], lens[i], &L, &scratch, chat, &out);
        if (rc == OK) ok[i] = 1;
        else if (rc == NOMEM) failed = 1;
    }
    Py_END_ALLOW_THREADS
    if (failed) PyErr_NoMemory();
    else answer = result(ok, n, &out);
done:
    out_free(&out);
    free(scratch.data);
    free(starts_of);
    free(lens);
    free(ok);
    free(chat);
    Py_DECREF(lines);
    return answer;
}

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(lines, max_event_bytes, max_text_chars, max_id_chars, max_responses, human, "
     "assistant, roles) -> (accepted mask, micros, winner_idx, tie, columns)\n\n"
     "Pairwise events of the common shape as column buffers; other lines are left (mask 0)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, .m_name = "_pairwise", .m_size = -1, .m_methods = methods,
};

PyMODINIT_FUNC PyInit__pairwise(void) { return PyModule_Create(&module); }
