/*
 * read_segment.c: reads a typed shared-memory segment of ipc-collections using only
 * FORMAT.md (at the repository root) and libc: shm_open, fstat, mmap.
 *
 *   cc -std=c99 -Wall -Wextra -O2 -o read_segment read_segment.c   (add -lrt on old glibc)
 *   ./read_segment /NAME [--max N]
 *
 * It validates the header exactly as FORMAT.md says (magic, byte order, version, header
 * length, kind, rank, unused dims, creator pid, type name, schema bounds, the FNV-1a
 * checksum, alignment, the derived offsets and lengths with overflow checks against the
 * fstat size, state == ready), then prints the header as `key=value` lines and:
 *   - for an array (kind 2) of a scalar element type (u8..u64, i8..i64, f32, f64): its
 *     elements in C order, one `[i,j,...]=value` line each (at most --max, default 100);
 *   - for a value (kind 1): every scalar field found by walking the schema string, one
 *     `path=value` line each (e.g. `hits=3`, `pos.x=1.5`, `hist[2]=7`).
 * The object is mapped whole at its fstat size; a peer that shrinks it meanwhile would make
 * reads fault (SIGBUS), which FORMAT.md's trust model leaves out of scope.
 * The array's control block (a pthread mutex) is never touched: the payload is read as a
 * snapshot, which races with a writer that holds the lock at that moment (FORMAT.md,
 * "Control block").
 *
 * Exit status: 0 ok, 1 usage or OS error, 2 refused (not a valid segment: the reason is
 * printed on stderr), 3 valid header but the segment is not ready.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define HEADER_LEN 256u
#define MAX_RANK 8u
#define MAX_TYPE_NAME 56u
#define MAX_SCHEMA_LEN 1048576u
#define MAX_ALIGN 4096u
#define MIN_PAYLOAD_ALIGN 64u
#define STATE_READY 2u
#define MAX_DEPTH 64
#define ARRAY_CONTROL_LEN 48u /* FORMAT.md, "Control block": kind 2 */

/* Field offsets (FORMAT.md, "The fixed header"). */
enum {
    OFF_MAGIC = 0, OFF_STATE = 8, OFF_BYTE_ORDER = 12, OFF_VERSION = 16, OFF_HEADER_LEN = 18,
    OFF_KIND = 20, OFF_RANK = 22, OFF_POINTER_WIDTH = 23, OFF_CREATOR_PID = 24,
    OFF_TYPE_NAME_LEN = 28, OFF_CREATOR_START = 32, OFF_CREATION_TIME = 40,
    OFF_ELEM_SIZE = 48, OFF_ELEM_ALIGN = 56, OFF_FINGERPRINT = 64, OFF_SCHEMA_OFFSET = 72,
    OFF_SCHEMA_LEN = 80, OFF_CONTROL_OFFSET = 88, OFF_CONTROL_LEN = 96,
    OFF_PAYLOAD_OFFSET = 104, OFF_PAYLOAD_LEN = 112, OFF_RING_CAPACITY = 120, OFF_DIMS = 128,
    OFF_TYPE_NAME = 192, OFF_CHECKSUM = 248
};

static const unsigned char MAGIC[8] = {'i', 'p', 'c', '-', 's', 'e', 'g', 0};

/* Native-order reads from an unaligned byte buffer. */
static uint16_t rd16(const unsigned char *p) { uint16_t v; memcpy(&v, p, 2); return v; }
static uint32_t rd32(const unsigned char *p) { uint32_t v; memcpy(&v, p, 4); return v; }
static uint64_t rd64(const unsigned char *p) { uint64_t v; memcpy(&v, p, 8); return v; }

static int refuse(const char *name, const char *why)
{
    fprintf(stderr, "read_segment: %s: invalid segment: %s\n", name, why);
    return 2;
}

/* FNV-1a 64 (FORMAT.md, "Checksum"). */
static uint64_t fnv1a(uint64_t h, const unsigned char *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= p[i];
        h *= UINT64_C(0x100000001b3);
    }
    return h;
}

/* a + b, or fail. */
static int add_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a > UINT64_MAX - b) return 0;
    *out = a + b;
    return 1;
}

static int mul_ok(uint64_t a, uint64_t b, uint64_t *out)
{
    if (a != 0 && b > UINT64_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* align_up(x, a) for a power of two a, or fail on overflow. */
static int align_up_ok(uint64_t x, uint64_t a, uint64_t *out)
{
    uint64_t t;
    if (!add_ok(x, a - 1, &t)) return 0;
    *out = t & ~(a - 1);
    return 1;
}

/* Whether p[0..n) is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static int utf8_ok(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t len, k;
        uint32_t cp;
        if (c < 0x80) { i++; continue; }
        if (c >= 0xC2 && c <= 0xDF) { len = 2; cp = c & 0x1F; }
        else if (c >= 0xE0 && c <= 0xEF) { len = 3; cp = c & 0x0F; }
        else if (c >= 0xF0 && c <= 0xF4) { len = 4; cp = c & 0x07; }
        else return 0;
        if (n - i < len) return 0;
        for (k = 1; k < len; k++) {
            if ((p[i + k] & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += len;
    }
    return 1;
}

/* ---- Printing scalars ------------------------------------------------------------------ */

/* Prints the scalar named `type` (size `size`) at p; returns 0 if the type is not one of
 * the plain integer or float scalars. Atomics have the layout of their integer. */
static int print_scalar(const char *type, uint64_t size, const unsigned char *p)
{
    const char *t = type;
    if (strncmp(t, "Atomic", 6) == 0) {
        /* AtomicU64 -> u64, AtomicI32 -> i32, AtomicUsize -> usize */
        static char lower[16];
        size_t i, n = strlen(t + 6);
        if (n == 0 || n >= sizeof lower) return 0;
        for (i = 0; i <= n; i++) {
            char c = t[6 + i];
            lower[i] = (char)((c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c);
        }
        t = lower;
    }
    if (strcmp(t, "f64") == 0 && size == 8) { double v; memcpy(&v, p, 8); printf("%.17g", v); return 1; }
    if (strcmp(t, "f32") == 0 && size == 4) { float v; memcpy(&v, p, 4); printf("%.9g", (double)v); return 1; }
    if ((t[0] == 'u' || t[0] == 'i') && (size == 1 || size == 2 || size == 4 || size == 8)) {
        const char *bits = t + 1;
        int ok = (strcmp(bits, "size") == 0) ||
                 (size == 1 && strcmp(bits, "8") == 0) || (size == 2 && strcmp(bits, "16") == 0) ||
                 (size == 4 && strcmp(bits, "32") == 0) || (size == 8 && strcmp(bits, "64") == 0);
        if (!ok) return 0;
        if (t[0] == 'u') {
            uint64_t v = 0;
            if (size == 1) { uint8_t x; memcpy(&x, p, 1); v = x; }
            if (size == 2) { uint16_t x; memcpy(&x, p, 2); v = x; }
            if (size == 4) { uint32_t x; memcpy(&x, p, 4); v = x; }
            if (size == 8) { memcpy(&v, p, 8); }
            printf("%" PRIu64, v);
        } else {
            int64_t v = 0;
            if (size == 1) { int8_t x; memcpy(&x, p, 1); v = x; }
            if (size == 2) { int16_t x; memcpy(&x, p, 2); v = x; }
            if (size == 4) { int32_t x; memcpy(&x, p, 4); v = x; }
            if (size == 8) { memcpy(&v, p, 8); }
            printf("%" PRId64, v);
        }
        return 1;
    }
    return 0;
}

/* ---- Walking the schema (FORMAT.md, "The schema string") ------------------------------- */

struct walk {
    const char *s;      /* the schema */
    size_t len, pos;
    const unsigned char *base; /* the payload */
    uint64_t base_len;
    char path[1024];
    int ok;
    uint64_t printed, max_print; /* leaves printed so far, and the most to print */
    uint64_t align;     /* the ALIGN of the type walk_type last returned from */
    int leaf;           /* whether that type has a scalar leaf (FORMAT.md, "Reading values") */
};

static int peek(const struct walk *w) { return w->pos < w->len ? (unsigned char)w->s[w->pos] : -1; }

static int eat(struct walk *w, const char *lit)
{
    size_t n = strlen(lit);
    if (w->len - w->pos < n || memcmp(w->s + w->pos, lit, n) != 0) { w->ok = 0; return 0; }
    w->pos += n;
    return 1;
}

/* Reads a NAME token; names longer than `cap - 1` bytes are cut (only the short scalar
 * names are ever compared). */
static int name_tok(struct walk *w, char *out, size_t cap)
{
    size_t start = w->pos, n;
    int c;
    while ((c = peek(w)) >= 0 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                   (c >= '0' && c <= '9') || c == '_'))
        w->pos++;
    n = w->pos - start;
    if (n == 0) { w->ok = 0; return 0; }
    if (n >= cap) n = cap - 1;
    memcpy(out, w->s + start, n);
    out[n] = 0;
    return 1;
}

static int number(struct walk *w, uint64_t *out)
{
    uint64_t v = 0;
    size_t start = w->pos;
    int c;
    while ((c = peek(w)) >= '0' && c <= '9') {
        if (!mul_ok(v, 10, &v) || !add_ok(v, (uint64_t)(c - '0'), &v)) { w->ok = 0; return 0; }
        w->pos++;
    }
    if (w->pos == start) { w->ok = 0; return 0; }
    *out = v;
    return 1;
}

/* Walks one `type` of the grammar, laid out at payload offset `at` (or nowhere if `print`
 * is 0, when it is only skipped: the elements of an array after the first few), printing
 * every scalar leaf with its path. Returns the type's size, or sets w->ok = 0. */
static uint64_t walk_type(struct walk *w, uint64_t at, int print, int depth)
{
    char name[128];
    uint64_t size = 0, align = 0;
    if (depth >= MAX_DEPTH) { w->ok = 0; return 0; }
    if (peek(w) == '[') {
        size_t elem_start, elem_end, plen = strlen(w->path);
        uint64_t n, i, esize;
        uint64_t ealign;
        int eleaf;
        w->pos++;
        elem_start = w->pos;
        esize = walk_type(w, at, 0, depth + 1); /* measure the element type */
        ealign = w->align;
        eleaf = w->leaf;
        if (!w->ok || !eat(w, ";") || !number(w, &n) || !eat(w, "]")) { w->ok = 0; return 0; }
        elem_end = w->pos;
        /* Stop once the print budget is spent: a schema can describe far more leaves than
         * are worth printing (or than a forged header's payload could hold). An element
         * without scalar leaves (zero-sized, opaque) prints nothing, so its array is not
         * walked at all: 2^64 such elements would otherwise be visited one by one. */
        for (i = 0; print && eleaf && i < n && w->printed <= w->max_print; i++) {
            uint64_t off;
            size_t save = w->pos;
            if (!mul_ok(i, esize, &off) || !add_ok(at, off, &off)) { w->ok = 0; return 0; }
            snprintf(w->path + plen, sizeof w->path - plen, "[%" PRIu64 "]", i);
            w->pos = elem_start;
            walk_type(w, off, 1, depth + 1);
            w->pos = save;
            w->path[plen] = 0;
            if (!w->ok) return 0;
        }
        w->pos = elem_end;
        if (!mul_ok(esize, n, &size)) { w->ok = 0; return 0; }
        w->align = ealign;
        w->leaf = eleaf && n > 0;
        return size;
    }
    if (!name_tok(w, name, sizeof name) || !eat(w, "(")) return 0;
    if (w->len - w->pos >= 7 && memcmp(w->s + w->pos, "opaque ", 7) == 0) {
        w->pos += 7;
        if (!number(w, &size) || !eat(w, "/") || !number(w, &align) || !eat(w, ")")) return 0;
        w->align = align;
        w->leaf = 0;
        return size; /* opaque (a lock): not printed */
    }
    if (!number(w, &size) || !eat(w, "/") || !number(w, &align) || !eat(w, ")")) return 0;
    if (peek(w) != '{') {
        uint64_t end;
        if (print) {
            if (!add_ok(at, size, &end) || end > w->base_len) { w->ok = 0; return 0; }
            if (w->printed++ >= w->max_print) return size; /* counted, not printed */
            printf("%s=", w->path[0] ? w->path : "value");
            if (!print_scalar(name, size, w->base + at)) printf("(%s, %" PRIu64 " bytes)", name, size);
            printf("\n");
        }
        w->align = align;
        w->leaf = 1;
        return size;
    }
    w->pos++;
    {
    int any_leaf = 0;
    if (peek(w) != '}') {
        for (;;) {
            char fname[128];
            size_t plen = strlen(w->path), fstart;
            uint64_t off, fat;
            if (!name_tok(w, fname, sizeof fname) || !eat(w, ":")) return 0;
            /* The offset comes after the type: skip the type once to find it. */
            fstart = w->pos;
            walk_type(w, 0, 0, depth + 1);
            any_leaf |= w->leaf;
            if (!w->ok || !eat(w, "@") || !number(w, &off)) { w->ok = 0; return 0; }
            if (print) {
                size_t save = w->pos;
                if (!add_ok(at, off, &fat)) { w->ok = 0; return 0; }
                snprintf(w->path + plen, sizeof w->path - plen, "%s%s", plen ? "." : "", fname);
                w->pos = fstart;
                walk_type(w, fat, 1, depth + 1);
                w->pos = save;
                w->path[plen] = 0;
                if (!w->ok) return 0;
            }
            if (peek(w) != ',') break;
            w->pos++;
        }
    }
    if (!eat(w, "}")) return 0;
    w->align = align;
    w->leaf = any_leaf;
    }
    return size;
}

/* The top-level type name of a schema (FORMAT.md, "Header and schema"): the NAME of a
 * scalar, opaque or struct type; for an array "[" E "; " LEN "]" with E the element's. The
 * leading "[" say how many arrays wrap the innermost type; their LENs follow it in order,
 * innermost first. Writes at most cap - 1 bytes (the header keeps the first 56); returns 0
 * if the schema does not parse. */
static int top_name(const char *s, size_t len, char *out, size_t cap)
{
    struct walk w;
    size_t k = 0, used = 0, i;
    char name[128];
    memset(&w, 0, sizeof w);
    w.s = s;
    w.len = len;
    w.ok = 1;
    while (peek(&w) == '[') { w.pos++; k++; }
    if (k >= MAX_DEPTH) return 0;
    {
        size_t start = w.pos;
        if (!name_tok(&w, name, sizeof name)) return 0;
        w.pos = start;
    }
    walk_type(&w, 0, 0, (int)k); /* skip the innermost type */
    if (!w.ok) return 0;
#define PUT(str) do { size_t n_ = strlen(str); if (n_ > cap - 1 - used) n_ = cap - 1 - used; \
                      memcpy(out + used, (str), n_); used += n_; } while (0)
    for (i = 0; i < k; i++) PUT("[");
    /* name_tok keeps 127 bytes, more than the 56 compared */
    PUT(name);
    for (i = 0; i < k; i++) {
        uint64_t n;
        char num[32];
        if (!eat(&w, ";") || !number(&w, &n) || !eat(&w, "]")) return 0;
        snprintf(num, sizeof num, "; %" PRIu64 "]", n);
        PUT(num);
    }
#undef PUT
    out[used] = 0;
    return 1;
}

/* ---- Main ------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    const char *name;
    uint64_t max_print = 100;
    int fd;
    struct stat st;
    uint64_t size;
    const unsigned char *map;
    unsigned char h[HEADER_LEN];
    uint32_t state, byte_order, type_name_len;
    uint16_t version, header_len, kind;
    unsigned rank, pointer_width, i;
    int32_t creator_pid;
    uint64_t elem_size, elem_align, schema_offset, schema_len, control_offset, control_len;
    uint64_t payload_offset, payload_len, ring_capacity, dims[MAX_RANK], sum;
    uint64_t schema_end, want_control_offset, control_end, payload_align, want_payload_offset;
    uint64_t want_payload_len, count, payload_end;
    const unsigned char *schema;
    char type_name[MAX_TYPE_NAME + 1];
    static const unsigned char zero4[4] = {0, 0, 0, 0};

    if (argc != 2 && !(argc == 4 && strcmp(argv[2], "--max") == 0)) {
        fprintf(stderr, "usage: %s /NAME [--max N]\n", argv[0]);
        return 1;
    }
    name = argv[1];
    if (argc == 4) max_print = strtoull(argv[3], NULL, 10);

    /* 1. shm_open read-only; fstat gives the real size (never trust the header's). */
    fd = shm_open(name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
    if (fd < 0) {
        fprintf(stderr, "read_segment: shm_open %s: %s\n", name, strerror(errno));
        return 1;
    }
    if (fstat(fd, &st) != 0) {
        fprintf(stderr, "read_segment: fstat %s: %s\n", name, strerror(errno));
        return 1;
    }
    if (!S_ISREG(st.st_mode)) return refuse(name, "not a regular file");
    size = (uint64_t)st.st_size;
    if (size < HEADER_LEN) return refuse(name, "object smaller than the 256-byte header");
    if (size > SIZE_MAX) return refuse(name, "object larger than the address space");
    map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        fprintf(stderr, "read_segment: mmap %s: %s\n", name, strerror(errno));
        return 1;
    }
    close(fd);

    /* 2. The state word, loaded with Acquire (pairs with the creator's Release stores),
     *    then a private copy of the header: everything else is immutable from state 1 on. */
#if defined(__GNUC__)
    state = __atomic_load_n((const uint32_t *)(const void *)(map + OFF_STATE), __ATOMIC_ACQUIRE);
#else
    state = *(const volatile uint32_t *)(const void *)(map + OFF_STATE);
#endif
    memcpy(h, map, HEADER_LEN);

    if (memcmp(h + OFF_MAGIC, MAGIC, 8) != 0) return refuse(name, "bad magic (not a segment)");
    byte_order = rd32(h + OFF_BYTE_ORDER);
    if (byte_order == UINT32_C(0x04030201)) return refuse(name, "written on a machine of the other byte order");
    if (byte_order != UINT32_C(0x01020304)) return refuse(name, "bad byte-order mark");
    version = rd16(h + OFF_VERSION);
    header_len = rd16(h + OFF_HEADER_LEN);
    if (version != 1) return refuse(name, "format version is not 1");
    if (header_len != HEADER_LEN) return refuse(name, "header_len is not 256");

    schema_offset = rd64(h + OFF_SCHEMA_OFFSET);
    schema_len = rd64(h + OFF_SCHEMA_LEN);
    if (schema_offset != HEADER_LEN) return refuse(name, "schema_offset is not 256");
    if (schema_len > MAX_SCHEMA_LEN) return refuse(name, "schema_len > 1048576");
    schema_end = HEADER_LEN + schema_len; /* cannot overflow: both are small */
    if (schema_end > size) return refuse(name, "schema ends past the object");
    schema = map + HEADER_LEN;

    /* Checksum: header bytes 0..248 with the state word as zero, then the schema. */
    sum = fnv1a(UINT64_C(0xcbf29ce484222325), h, OFF_STATE);
    sum = fnv1a(sum, zero4, 4);
    sum = fnv1a(sum, h + OFF_STATE + 4, OFF_CHECKSUM - (OFF_STATE + 4));
    sum = fnv1a(sum, schema, (size_t)schema_len);
    if (sum != rd64(h + OFF_CHECKSUM)) return refuse(name, "checksum mismatch");

    kind = rd16(h + OFF_KIND);
    rank = h[OFF_RANK];
    pointer_width = h[OFF_POINTER_WIDTH];
    creator_pid = (int32_t)rd32(h + OFF_CREATOR_PID);
    type_name_len = rd32(h + OFF_TYPE_NAME_LEN);
    elem_size = rd64(h + OFF_ELEM_SIZE);
    elem_align = rd64(h + OFF_ELEM_ALIGN);
    control_offset = rd64(h + OFF_CONTROL_OFFSET);
    control_len = rd64(h + OFF_CONTROL_LEN);
    payload_offset = rd64(h + OFF_PAYLOAD_OFFSET);
    payload_len = rd64(h + OFF_PAYLOAD_LEN);
    ring_capacity = rd64(h + OFF_RING_CAPACITY);
    for (i = 0; i < MAX_RANK; i++) dims[i] = rd64(h + OFF_DIMS + 8 * i);

    if (kind < 1 || kind > 3) return refuse(name, "unknown kind");
    if (kind == 1 && rank != 0) return refuse(name, "a value with a non-zero rank");
    if (kind != 1 && (rank < 1 || rank > MAX_RANK)) return refuse(name, "rank out of 1..=8");
    for (i = rank; i < MAX_RANK; i++)
        if (dims[i] != 0) return refuse(name, "an unused dims entry is not 0");
    if (kind != 3 && ring_capacity != 0) return refuse(name, "ring_capacity set in a non-ring");
    if (creator_pid <= 0) return refuse(name, "creator_pid is not > 0");
    /* FORMAT.md, field rules: pointer_width is 2, 4, 8 or 16. */
    if (pointer_width != 2 && pointer_width != 4 && pointer_width != 8 && pointer_width != 16)
        return refuse(name, "pointer_width out of range");
    if (type_name_len > MAX_TYPE_NAME) return refuse(name, "type_name_len > 56");
    for (i = type_name_len; i < MAX_TYPE_NAME; i++)
        if (h[OFF_TYPE_NAME + i] != 0) return refuse(name, "type_name padding is not zero");
    if (!utf8_ok(h + OFF_TYPE_NAME, type_name_len)) return refuse(name, "type_name is not UTF-8");
    if (!utf8_ok(schema, (size_t)schema_len)) return refuse(name, "schema is not UTF-8");
    if (elem_align == 0 || (elem_align & (elem_align - 1)) != 0 || elem_align > MAX_ALIGN)
        return refuse(name, "elem_align is not a power of two <= 4096");
    /* FORMAT.md, field rules: elem_size % elem_align == 0. */
    if (elem_size % elem_align != 0) return refuse(name, "elem_size is not a multiple of elem_align");
    /* FORMAT.md, "Control block": a value has none, an array exactly 48 bytes. */
    if (kind == 1 && control_len != 0) return refuse(name, "control_len of a value is not 0");
    if (kind == 2 && control_len != ARRAY_CONTROL_LEN) return refuse(name, "control_len of an array is not 48");
    /* FORMAT.md, "Header and schema": the schema parses, its top-level SIZE and ALIGN are
     * elem_size and elem_align, and type_name is its top-level name (first 56 bytes). */
    {
        struct walk w;
        char top[MAX_TYPE_NAME + 1];
        uint64_t ssize;
        memset(&w, 0, sizeof w);
        w.s = (const char *)schema;
        w.len = (size_t)schema_len;
        w.ok = 1;
        ssize = walk_type(&w, 0, 0, 0);
        if (!w.ok || w.pos != w.len) return refuse(name, "the schema does not parse");
        if (ssize != elem_size || w.align != elem_align)
            return refuse(name, "the schema's size/align differ from elem_size/elem_align");
        if (!top_name((const char *)schema, (size_t)schema_len, top, sizeof top) ||
            strlen(top) != type_name_len || memcmp(top, h + OFF_TYPE_NAME, type_name_len) != 0)
            return refuse(name, "type_name is not the schema's top-level name");
    }

    /* Derived offsets, with overflow checks, must match exactly. */
    if (control_len == 0) {
        want_control_offset = 0;
        control_end = schema_end;
    } else {
        if (!align_up_ok(schema_end, MIN_PAYLOAD_ALIGN, &want_control_offset) ||
            !add_ok(want_control_offset, control_len, &control_end))
            return refuse(name, "control block overflows");
    }
    if (control_offset != want_control_offset) return refuse(name, "control_offset differs from the derived one");
    payload_align = elem_align > MIN_PAYLOAD_ALIGN ? elem_align : MIN_PAYLOAD_ALIGN;
    if (!align_up_ok(control_end, payload_align, &want_payload_offset))
        return refuse(name, "payload offset overflows");
    if (payload_offset != want_payload_offset) return refuse(name, "payload_offset differs from the derived one");
    count = 1;
    if (kind == 1) {
        want_payload_len = elem_size;
    } else {
        /* FORMAT.md, "Derived offsets": a zero dim makes the count 0 before any overflow
         * check; otherwise multiply left to right, each product checked. */
        for (i = 0; i < rank; i++)
            if (dims[i] == 0) count = 0;
        for (i = 0; count != 0 && i < rank; i++)
            if (!mul_ok(count, dims[i], &count)) return refuse(name, "dims overflow");
        if (!mul_ok(count, elem_size, &want_payload_len)) return refuse(name, "payload length overflows");
    }
    if (payload_len != want_payload_len) return refuse(name, "payload_len differs from the derived one");
    if (!add_ok(payload_offset, payload_len, &payload_end) || payload_end > size)
        return refuse(name, "payload ends past the object");

    memcpy(type_name, h + OFF_TYPE_NAME, type_name_len);
    type_name[type_name_len] = 0;

    printf("name=%s\nsize=%" PRIu64 "\nstate=%" PRIu32 "\nversion=%u\nkind=%u\nrank=%u\n",
           name, size, state, (unsigned)version, (unsigned)kind, rank);
    printf("dims=");
    for (i = 0; i < rank; i++) printf("%s%" PRIu64, i ? "," : "", dims[i]);
    printf("\npointer_width=%u\ncreator_pid=%" PRId32 "\ncreator_start_time=%" PRIu64
           "\ncreation_time_ns=%" PRIu64 "\n",
           pointer_width, creator_pid, rd64(h + OFF_CREATOR_START), rd64(h + OFF_CREATION_TIME));
    printf("type_name=%s\nelem_size=%" PRIu64 "\nelem_align=%" PRIu64 "\nfingerprint=0x%016" PRIx64 "\n",
           type_name, elem_size, elem_align, rd64(h + OFF_FINGERPRINT));
    printf("schema=%.*s\n", (int)schema_len, (const char *)schema);
    printf("control_offset=%" PRIu64 "\ncontrol_len=%" PRIu64 "\npayload_offset=%" PRIu64
           "\npayload_len=%" PRIu64 "\nring_capacity=%" PRIu64 "\nchecksum=0x%016" PRIx64 "\n",
           control_offset, control_len, payload_offset, payload_len, ring_capacity,
           rd64(h + OFF_CHECKSUM));

    if (state != STATE_READY) {
        fprintf(stderr, "read_segment: %s: header valid but state %" PRIu32 " is not ready (2)\n",
                name, state);
        return 3;
    }

    /* The payload: known to lie inside the mapping. */
    if (kind == 2) {
        uint64_t k;
        for (k = 0; k < count && k < max_print; k++) {
            uint64_t rest = k;
            char idx[MAX_RANK * 24];
            size_t used = 0;
            int d;
            uint64_t sub[MAX_RANK];
            for (d = (int)rank - 1; d >= 0; d--) {
                sub[d] = dims[d] ? rest % dims[d] : 0;
                rest = dims[d] ? rest / dims[d] : 0;
            }
            for (i = 0; i < rank; i++)
                used += (size_t)snprintf(idx + used, sizeof idx - used, "%s%" PRIu64, i ? "," : "", sub[i]);
            printf("[%s]=", idx);
            if (!print_scalar(type_name, elem_size, map + payload_offset + k * elem_size))
                printf("(%s, %" PRIu64 " bytes)", type_name, elem_size);
            printf("\n");
        }
        if (count > max_print) printf("... %" PRIu64 " more\n", count - max_print);
    } else if (kind == 1) {
        struct walk w;
        memset(&w, 0, sizeof w);
        w.s = (const char *)schema;
        w.len = (size_t)schema_len;
        w.base = map + payload_offset;
        w.base_len = payload_len;
        w.ok = 1;
        w.max_print = max_print;
        if (walk_type(&w, 0, 1, 0) != elem_size && w.ok) {
            /* FORMAT.md, field rules: the schema's top-level SIZE equals elem_size. */
            return refuse(name, "the schema's size differs from elem_size");
        }
        if (!w.ok || w.pos != w.len) {
            fprintf(stderr, "read_segment: %s: schema not understood at byte %zu\n", name, w.pos);
            return 2;
        }
        if (w.printed > max_print) printf("... more fields not shown (--max %" PRIu64 ")\n", max_print);
    }
    return 0;
}
