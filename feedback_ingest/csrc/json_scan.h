/* Strict JSON scanning for the native lane (_pairwise.c): strings decoded into a scratch buffer,
 * values read past. Every function answers OK, PUNT (not a line the lane takes) or NOMEM, and
 * every read is bounded by the cursor's end. Included once, by _pairwise.c. */
#ifndef RMOPS_JSON_SCAN_H
#define RMOPS_JSON_SCAN_H

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

#endif
