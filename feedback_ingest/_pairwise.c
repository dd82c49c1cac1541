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

#include "csrc/json_scan.h"
#include "csrc/timestamp.h"

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

static int span_starts(const Buf *sc, const Span *s, const unsigned char *prefix, size_t n) {
    return s->b - s->a >= n && memcmp(sc->data + s->a, prefix, n) == 0;
}

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
                      span_starts(sc, &row->prompt, L->human_bare, L->human_bare_len))
        return 0;  /* HH transcripts, whitespace before them too, are rendered by Python */
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
    if (c->data.len + bytes > INT32_MAX) return PUNT;  /* past 32-bit offsets: Python takes it */
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
