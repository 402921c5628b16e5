/*
 * read_segment.c: reads a typed shared-memory segment of ipc-collections using only
 * FORMAT.md (at the repository root), libc (shm_open, fstat, mmap), C11 atomics and, to
 * consume a ring, the futex system call (Linux).
 *
 *   cc -std=c11 -Wall -Wextra -O2 -o read_segment read_segment.c   (add -lrt on old glibc)
 *   ./read_segment /NAME [--max N]
 *   ./read_segment /NAME --consume N [--timeout-ms MS]
 *
 * It validates the header exactly as FORMAT.md says (magic, byte order, version, header
 * length, kind, rank, unused dims, creator pid, type name, schema bounds, the FNV-1a
 * checksum, alignment, the control block length of the kind, the ring rules of kind 3, the
 * derived offsets and lengths with overflow checks against the fstat size, state ==
 * ready, then the control block of a ready array or ring: FORMAT.md, "Control block" and
 * "Which ring it is"), then prints the header as `key=value` lines and:
 *   - for an array (kind 2) of a scalar element type (u8..u64, i8..i64, f32, f64): its
 *     elements in C order, one `[i,j,...]=value` line each (at most --max, default 100);
 *   - for a value (kind 1): every scalar field found by walking the schema string, one
 *     `path=value` line each (e.g. `hits=3`, `pos.x=1.5`, `hist[2]=7`);
 *   - for a ring (kind 3): its control block (`ring.flavor=`, `ring.head=`, `ring.tail=`,
 *     ..., one `ring.producers[i]=PID alive|dead` line per registered participant).
 * With --consume N (an SPSC ring only) it then attaches as the ring's consumer, following
 * FORMAT.md's "Consuming an SPSC ring, step by step", pops N messages printing one
 * `msg=VALUE` line each, detaches, and prints `consumed=` and `end=`; the whole run is
 * bounded by --timeout-ms (default 30000).
 * The object is mapped whole at its fstat size; a peer that shrinks it meanwhile would make
 * reads fault (SIGBUS), which FORMAT.md's trust model leaves out of scope.
 * The array's control block (a pthread mutex) is never touched: the payload is read as a
 * snapshot, which races with a writer that holds the lock at that moment (FORMAT.md,
 * "Control block").
 *
 * Exit status: 0 ok, 1 usage or OS error, 2 refused (not a valid segment: the reason is
 * printed on stderr), 3 valid header but the segment is not ready; with --consume also 4
 * another consumer is attached, 5 the producer left before N messages, 6 timeout.
 */
#define _DEFAULT_SOURCE /* syscall(2) */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <linux/futex.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
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
#define RING_CONTROL_LEN 1536u /* FORMAT.md, "Control block": kind 3 */

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
    /* FORMAT.md, "The schema string": no leading zeros ("0" alone is a number). */
    if (w->s[start] == '0' && w->pos - start > 1) { w->ok = 0; return 0; }
    *out = v;
    return 1;
}

/* FORMAT.md, "The schema string": ALIGN is a power of two and SIZE a multiple of it; a
 * scalar named after a fixed-width Rust scalar (or integer atomic) has that width and an
 * alignment no larger; usize/isize (and their atomics) 2, 4, 8 or 16 bytes. */
static int size_align_ok(const char *name, int scalar, uint64_t size, uint64_t align)
{
    static const struct { const char *n; uint64_t w; } widths[] = {
        {"u8", 1}, {"i8", 1}, {"u16", 2}, {"i16", 2}, {"u32", 4}, {"i32", 4}, {"f32", 4},
        {"u64", 8}, {"i64", 8}, {"f64", 8}, {"u128", 16}, {"i128", 16},
        {"AtomicU8", 1}, {"AtomicI8", 1}, {"AtomicU16", 2}, {"AtomicI16", 2},
        {"AtomicU32", 4}, {"AtomicI32", 4}, {"AtomicU64", 8}, {"AtomicI64", 8},
        {"AtomicU128", 16}, {"AtomicI128", 16},
    };
    size_t i;
    if (align == 0 || (align & (align - 1)) != 0 || size % align != 0) return 0;
    if (!scalar) return 1;
    if (!strcmp(name, "usize") || !strcmp(name, "isize") || !strcmp(name, "AtomicUsize") ||
        !strcmp(name, "AtomicIsize"))
        return (size == 2 || size == 4 || size == 8 || size == 16) && align <= size;
    for (i = 0; i < sizeof widths / sizeof widths[0]; i++)
        if (!strcmp(name, widths[i].n)) return size == widths[i].w && align <= size;
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
        if (!size_align_ok(name, 0, size, align)) { w->ok = 0; return 0; }
        w->align = align;
        w->leaf = 0;
        return size; /* opaque (a lock): not printed */
    }
    if (!number(w, &size) || !eat(w, "/") || !number(w, &align) || !eat(w, ")")) return 0;
    if (!size_align_ok(name, peek(w) != '{', size, align)) { w->ok = 0; return 0; }
    if (peek(w) != '{') {
        uint64_t end;
        if (print) {
            /* FORMAT.md, "The schema string": every access is bounded by payload_len; a
             * field outside the payload is named and skipped, not read. */
            int inside = add_ok(at, size, &end) && end <= w->base_len;
            if (w->printed++ >= w->max_print) return size; /* counted, not printed */
            printf("%s=", w->path[0] ? w->path : "value");
            if (!inside) printf("(%s, %" PRIu64 " bytes: outside the payload, skipped)", name, size);
            else if (!print_scalar(name, size, w->base + at)) printf("(%s, %" PRIu64 " bytes)", name, size);
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

/* ---- Rings (FORMAT.md, "Rings (kind 3)") ------------------------------------------------ */

/* Control block offsets (FORMAT.md, "The control block"). */
enum {
    RC_TAIL = 0, RC_HEAD = 128, RC_DATA_FUTEX = 256, RC_DATA_SLEEPERS = 260,
    RC_SPACE_FUTEX = 264, RC_SPACE_SLEEPERS = 268, RC_FLAVOR = 384, RC_CAPACITY = 392,
    RC_ELEM_SIZE = 400, RC_LOST = 408, RC_PRODUCERS = 512, RC_CONSUMERS = 1024,
    RC_ENTRY_LEN = 32, RC_ENTRIES = 16,
    /* within a registry entry */
    RE_ID = 0, RE_START = 8, RE_CLAIMING = 16
};
#define FLAVOR_SPSC 1u
#define PID_MASK UINT64_C(0xffffffff)
#define START_MASK ((UINT64_C(1) << 48) - 1)
#define PEER_POLL_NS 10000000L /* a futex wait lasts at most 10 ms */

/* Every control-block field is accessed atomically (the block is 64-aligned in a
 * page-aligned mapping, so each u32/u64 is naturally aligned). */
static _Atomic uint64_t *a64(unsigned char *ctrl, size_t off) { return (_Atomic uint64_t *)(void *)(ctrl + off); }
static _Atomic uint32_t *a32(unsigned char *ctrl, size_t off) { return (_Atomic uint32_t *)(void *)(ctrl + off); }

/* FORMAT.md, "Creator liveness": the fields of /proc/PID/stat after the LAST ')' are field 3
 * (state), 4, ...; field 22 is the start time. Returns 0 if the file cannot be read or
 * parsed. */
static int proc_stat(long pid, char *state, uint64_t *start)
{
    char path[64], buf[1024], *p, *end;
    size_t n;
    int field;
    FILE *f;
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    f = fopen(path, "r");
    if (!f) return 0;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    p = strrchr(buf, ')');
    if (!p) return 0;
    p++;
    for (field = 3; field <= 22; field++) {
        while (*p == ' ') p++;
        if (!*p) return 0;
        if (field == 3) *state = *p;
        if (field == 22) {
            errno = 0;
            *start = strtoull(p, &end, 10);
            return errno == 0 && end != p;
        }
        while (*p && *p != ' ') p++;
    }
    return 0;
}

/* Whether process `pid` (> 0) runs and, if start != 0, started at `start`. */
static int pid_alive(long pid, uint64_t start)
{
    char state = 0;
    uint64_t s = 0;
    if (!proc_stat(pid, &state, &s)) return 0;
    if (state == 'Z' || state == 'X' || state == 'x') return 0;
    return start == 0 || (s & START_MASK) == start;
}

/* Whether the occupant `id` (pid != 0) of the registry entry at `e` is alive: by pid and
 * start time, or by pid alone while the entry's start tag is another generation's. */
static int occupant_alive(unsigned char *e, uint64_t id)
{
    uint64_t s = atomic_load_explicit(a64(e, RE_START), memory_order_acquire);
    uint64_t start = (s >> 48) == ((id >> 32) & 0xffff) ? (s & START_MASK) : 0;
    return pid_alive((long)(id & PID_MASK), start);
}

static void print_registry(const char *side, unsigned char *ctrl, size_t off)
{
    int i;
    for (i = 0; i < RC_ENTRIES; i++) {
        unsigned char *e = ctrl + off + (size_t)i * RC_ENTRY_LEN;
        uint64_t id = atomic_load_explicit(a64(e, RE_ID), memory_order_acquire);
        if ((id & PID_MASK) == 0) continue;
        printf("ring.%s[%d]=%" PRIu64 " %s\n", side, i, id & PID_MASK,
               occupant_alive(e, id) ? "alive" : "dead");
    }
}

/* FORMAT.md, "Which ring it is" and "The control block": the checks of a ready ring's
 * control block. The flavour word is 1, 2 or 3 and agrees with the header's payload layout
 * (2 exactly for the MPMC layout); the block's capacity is the header's and its elem_size
 * the header's (0 for a byte ring); the capacity is at least the flavour's minimum (1, 2,
 * 64); a byte ring's schema is "u8(1/1)"; the reserved areas are zero. Returns the reason
 * to refuse, or NULL. */
static const char *check_ring_control(unsigned char *ctrl, uint64_t cap, uint64_t elem_size,
                                      int mpmc, const unsigned char *schema, uint64_t schema_len)
{
    static const uint64_t min_cap[4] = {0, 1, 2, 64};
    static const size_t zero[5][2] = {{8, 128}, {136, 256}, {272, 384}, {388, 392}, {416, 512}};
    uint32_t flavor;
    size_t i, at;
    /* Every control-block word is accessed atomically (FORMAT.md), the reserved ones too:
     * one relaxed load per 4-byte word (every range is 4-aligned), racing with nothing
     * whatever a peer writes. */
    for (i = 0; i < 5; i++)
        for (at = zero[i][0]; at < zero[i][1]; at += 4)
            if (atomic_load_explicit(a32(ctrl, at), memory_order_relaxed) != 0)
                return "the ring control block's reserved bytes are not 0";
    for (i = 0; i < 2 * RC_ENTRIES; i++)
        for (at = 24; at < RC_ENTRY_LEN; at += 4)
            if (atomic_load_explicit(a32(ctrl, RC_PRODUCERS + i * RC_ENTRY_LEN + at),
                                     memory_order_relaxed) != 0)
                return "a registry entry's reserved bytes are not 0";
    flavor = atomic_load_explicit(a32(ctrl, RC_FLAVOR), memory_order_relaxed);
    if (flavor < 1 || flavor > 3 || (flavor == 2) != (mpmc != 0))
        return "the flavour word does not match the header's layout";
    if (atomic_load_explicit(a64(ctrl, RC_CAPACITY), memory_order_relaxed) != cap)
        return "control block capacity differs from the header's";
    if (atomic_load_explicit(a64(ctrl, RC_ELEM_SIZE), memory_order_relaxed) != (flavor == 3 ? 0 : elem_size))
        return "control block element size differs";
    if (cap < min_cap[flavor]) return "ring capacity below the flavour's minimum";
    if (flavor == 3 && (schema_len != 7 || memcmp(schema, "u8(1/1)", 7) != 0))
        return "a byte ring whose elements are not u8(1/1)";
    return NULL;
}

/* Prints what the control block holds (a snapshot: each field one atomic load). */
static void print_ring(unsigned char *ctrl, uint64_t cap, int mpmc)
{
    static const char *const flavors[] = {"unknown", "spsc", "mpmc", "bytes"};
    uint32_t flavor = atomic_load_explicit(a32(ctrl, RC_FLAVOR), memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(a64(ctrl, RC_TAIL), memory_order_acquire);
    uint64_t head = atomic_load_explicit(a64(ctrl, RC_HEAD), memory_order_acquire);
    printf("ring.layout=%s\n", mpmc ? "mpmc" : "spsc-or-bytes");
    printf("ring.flavor=%s\n", flavors[flavor <= 3 ? flavor : 0]);
    printf("ring.capacity=%" PRIu64 "\n", atomic_load_explicit(a64(ctrl, RC_CAPACITY), memory_order_relaxed));
    printf("ring.elem_size=%" PRIu64 "\n", atomic_load_explicit(a64(ctrl, RC_ELEM_SIZE), memory_order_relaxed));
    printf("ring.head=%" PRIu64 "\nring.tail=%" PRIu64 "\n", head, tail);
    if (tail - head <= cap) printf("ring.len=%" PRIu64 "\n", tail - head);
    else printf("ring.len=corrupted\n");
    printf("ring.data_sleepers=%" PRIu32 "\nring.space_sleepers=%" PRIu32 "\nring.lost=%" PRIu64 "\n",
           atomic_load_explicit(a32(ctrl, RC_DATA_SLEEPERS), memory_order_relaxed),
           atomic_load_explicit(a32(ctrl, RC_SPACE_SLEEPERS), memory_order_relaxed),
           atomic_load_explicit(a64(ctrl, RC_LOST), memory_order_relaxed));
    print_registry("producers", ctrl, RC_PRODUCERS);
    print_registry("consumers", ctrl, RC_CONSUMERS);
}

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * UINT64_C(1000000000) + (uint64_t)t.tv_nsec;
}

/* FORMAT.md, step 5: after publishing a counter, a full fence; then, only if someone sleeps
 * on `word`, bump it (Release) and FUTEX_WAKE all its waiters. */
static void wake(unsigned char *ctrl, size_t word, size_t sleepers)
{
    atomic_thread_fence(memory_order_seq_cst);
    if (atomic_load_explicit(a32(ctrl, sleepers), memory_order_relaxed) != 0) {
        atomic_fetch_add_explicit(a32(ctrl, word), 1, memory_order_release);
        syscall(SYS_futex, (void *)a32(ctrl, word), FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
    }
}

/* Whether the producer (producers[0]) is gone: its registration released (pid 0, a
 * generation other than 0), or its process dead. `check_proc`: also read /proc. */
static int producer_gone(unsigned char *ctrl, int check_proc)
{
    unsigned char *e = ctrl + RC_PRODUCERS;
    uint64_t id = atomic_load_explicit(a64(e, RE_ID), memory_order_acquire);
    if ((id & PID_MASK) == 0) return (id >> 32) != 0;
    return check_proc && !occupant_alive(e, id);
}

/* FORMAT.md, "Consuming an SPSC ring, step by step": registers in consumers[0], pops `want`
 * messages (waiting at most timeout_ms in all), prints one `msg=VALUE` line each, leaves.
 * Exit status: 0 all popped, 4 another consumer is attached, 5 the producer left before
 * `want` messages, 6 timeout, 2 not an SPSC ring or corrupted counters, 1 OS error. */
static int consume(const char *name, unsigned char *ctrl, const unsigned char *data,
                   uint64_t cap, uint64_t elem_size, const char *type_name, uint64_t want,
                   uint64_t timeout_ms)
{
    unsigned char *me = ctrl + RC_CONSUMERS; /* consumers[0] */
    const uint64_t mask = cap - 1, deadline = now_ns() + timeout_ms * UINT64_C(1000000);
    uint64_t cur, mine, gen, my_start = 0, head, tail, done = 0, last_proc_check = 0;
    char state;
    int rc = 0;
    const char *end = "done";

    /* 1. The header is validated (kind 3, element layout, capacity); now the control block. */
    if (atomic_load_explicit(a32(ctrl, RC_FLAVOR), memory_order_relaxed) != FLAVOR_SPSC ||
        atomic_load_explicit(a64(ctrl, RC_CAPACITY), memory_order_relaxed) != cap ||
        atomic_load_explicit(a64(ctrl, RC_ELEM_SIZE), memory_order_relaxed) != elem_size)
        return refuse(name, "not an SPSC ring of this capacity and element size");

    /* 2. Register in consumers[0]. */
    if (!proc_stat((long)getpid(), &state, &my_start)) {
        fprintf(stderr, "read_segment: cannot read /proc/self/stat\n");
        return 1;
    }
    cur = atomic_load_explicit(a64(me, RE_ID), memory_order_acquire);
    for (;;) {
        if ((cur & PID_MASK) != 0 && occupant_alive(me, cur)) {
            fprintf(stderr, "read_segment: %s: another consumer (pid %" PRIu64 ") is attached\n",
                    name, cur & PID_MASK);
            return 4;
        }
        gen = ((cur >> 32) + 1) & PID_MASK;
        if (gen == 0) gen = 1;
        mine = gen << 32 | (uint64_t)getpid();
        if (atomic_compare_exchange_strong_explicit(a64(me, RE_ID), &cur, mine,
                                                    memory_order_acq_rel, memory_order_acquire))
            break;
    }
    atomic_store_explicit(a64(me, RE_CLAIMING), 0, memory_order_release);
    atomic_store_explicit(a64(me, RE_START), (gen & 0xffff) << 48 | (my_start & START_MASK),
                          memory_order_release);
    printf("consumer.registered=%ld\n", (long)getpid());
    fflush(stdout);

    /* 3. Our head (we own it from now on), and the producer's tail. */
    head = atomic_load_explicit(a64(ctrl, RC_HEAD), memory_order_relaxed);
    tail = atomic_load_explicit(a64(ctrl, RC_TAIL), memory_order_acquire);
    for (;;) {
        uint64_t n, k;
        if (done == want) break;
        if (tail - head > cap) {
            rc = refuse(name, "ring head and tail more than the capacity apart");
            end = "corrupted";
            break;
        }
        /* 4. Pop what is published (a batch), then release the slots at once. */
        if (head != tail) {
            n = tail - head;
            if (n > want - done) n = want - done;
            for (k = 0; k < n; k++) {
                const unsigned char *slot = data + ((head + k) & mask) * elem_size;
                printf("msg=");
                if (!print_scalar(type_name, elem_size, slot))
                    printf("(%s, %" PRIu64 " bytes)", type_name, elem_size);
                printf("\n");
            }
            head += n;
            done += n;
            atomic_store_explicit(a64(ctrl, RC_HEAD), head, memory_order_release);
            /* 5. Wake a producer waiting for space, if one sleeps. */
            wake(ctrl, RC_SPACE_FUTEX, RC_SPACE_SLEEPERS);
            continue;
        }
        tail = atomic_load_explicit(a64(ctrl, RC_TAIL), memory_order_acquire);
        if (tail != head) continue; /* checked at the top */
        /* 6. Empty: is the producer gone? (/proc at most every 10 ms; a release at once.) */
        {
            uint64_t t = now_ns();
            int check = t - last_proc_check >= (uint64_t)PEER_POLL_NS;
            if (check) last_proc_check = t;
            if (producer_gone(ctrl, check)) {
                /* Seeing it gone (Acquire) comes after all it published: re-read tail. */
                tail = atomic_load_explicit(a64(ctrl, RC_TAIL), memory_order_acquire);
                if (tail == head) { rc = 5; end = "disconnected"; break; }
                continue;
            }
            if (t >= deadline) { rc = 6; end = "timeout"; break; }
        }
        /* Sleep on data_futex, registered as a sleeper, re-checking tail after the fence. */
        {
            uint32_t seen;
            uint64_t left = deadline - now_ns();
            struct timespec ts = {0, PEER_POLL_NS};
            if (left < (uint64_t)PEER_POLL_NS) ts.tv_nsec = (long)left;
            atomic_fetch_add_explicit(a32(ctrl, RC_DATA_SLEEPERS), 1, memory_order_relaxed);
            atomic_thread_fence(memory_order_seq_cst);
            seen = atomic_load_explicit(a32(ctrl, RC_DATA_FUTEX), memory_order_acquire);
            tail = atomic_load_explicit(a64(ctrl, RC_TAIL), memory_order_acquire);
            if (tail == head &&
                syscall(SYS_futex, (void *)a32(ctrl, RC_DATA_FUTEX), FUTEX_WAIT, seen, &ts, NULL, 0) != 0 &&
                errno != EAGAIN && errno != ETIMEDOUT && errno != EINTR) {
                fprintf(stderr, "read_segment: futex wait: %s\n", strerror(errno));
                rc = 1;
                end = "error";
            }
            atomic_fetch_sub_explicit(a32(ctrl, RC_DATA_SLEEPERS), 1, memory_order_relaxed);
            if (rc) break;
        }
    }

    /* 7. Leave: release consumers[0] (keeping the generation), then wake both sides. */
    atomic_store_explicit(a64(me, RE_CLAIMING), 0, memory_order_release);
    cur = mine;
    atomic_compare_exchange_strong_explicit(a64(me, RE_ID), &cur, mine & ~PID_MASK,
                                            memory_order_release, memory_order_relaxed);
    wake(ctrl, RC_DATA_FUTEX, RC_DATA_SLEEPERS);
    wake(ctrl, RC_SPACE_FUTEX, RC_SPACE_SLEEPERS);
    printf("consumed=%" PRIu64 "\nend=%s\n", done, end);
    return rc;
}

/* ---- Main ------------------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    const char *name;
    uint64_t max_print = 100, consume_n = 0, timeout_ms = 30000;
    int fd, consuming = 0, a;
    struct stat st;
    uint64_t size;
    unsigned char *map;
    unsigned char h[HEADER_LEN];
    uint32_t state, byte_order, type_name_len;
    uint16_t version, header_len, kind;
    unsigned rank, pointer_width, i;
    int32_t creator_pid;
    uint64_t elem_size, elem_align, schema_offset, schema_len, control_offset, control_len;
    uint64_t payload_offset, payload_len, ring_capacity, dims[MAX_RANK], sum;
    uint64_t schema_end, want_control_offset, control_end, payload_align, want_payload_offset;
    uint64_t want_payload_len, count, payload_end;
    int ring_mpmc = 0;
    const unsigned char *schema;
    char type_name[MAX_TYPE_NAME + 1];
    static const unsigned char zero4[4] = {0, 0, 0, 0};

    if (argc < 2 || argc % 2 != 0) goto usage;
    name = argv[1];
    for (a = 2; a + 1 < argc; a += 2) {
        uint64_t v = strtoull(argv[a + 1], NULL, 10);
        if (strcmp(argv[a], "--max") == 0) max_print = v;
        else if (strcmp(argv[a], "--consume") == 0) { consume_n = v; consuming = 1; }
        else if (strcmp(argv[a], "--timeout-ms") == 0) timeout_ms = v;
        else goto usage;
    }

    /* 1. shm_open read-only; fstat gives the real size (never trust the header's). */
    fd = shm_open(name, (consuming ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK, 0);
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
    map = mmap(NULL, (size_t)size, consuming ? PROT_READ | PROT_WRITE : PROT_READ, MAP_SHARED, fd, 0);
    if (map == MAP_FAILED) {
        fprintf(stderr, "read_segment: mmap %s: %s\n", name, strerror(errno));
        return 1;
    }
    close(fd);

    /* 2. The state word, loaded with Acquire (pairs with the creator's Release stores),
     *    then a private copy of the header: everything else is immutable from state 1 on. */
    state = atomic_load_explicit((_Atomic uint32_t *)(void *)(map + OFF_STATE), memory_order_acquire);
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
    if (kind == 3 && control_len != RING_CONTROL_LEN) return refuse(name, "control_len of a ring is not 1536");
    /* FORMAT.md, field rules for kind 3: rank 1, dims[0] == ring_capacity, a power of two,
     * elem_size > 0 (the payload_len rule is checked with the derived offsets below). */
    if (kind == 3) {
        if (rank != 1) return refuse(name, "a ring with a rank other than 1");
        if (dims[0] != ring_capacity) return refuse(name, "ring dims[0] differs from ring_capacity");
        if (ring_capacity == 0 || (ring_capacity & (ring_capacity - 1)) != 0)
            return refuse(name, "ring_capacity is not a power of two");
        if (elem_size == 0) return refuse(name, "a ring of zero-sized elements");
    }
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
    } else if (kind == 3) {
        /* FORMAT.md, "Derived offsets": cap * elem_size (SPSC and byte rings), or
         * align_up(cap * 8, elem_align) + cap * elem_size (MPMC: stamps, then slots). */
        uint64_t slots, stamps, mpmc;
        if (!mul_ok(ring_capacity, elem_size, &slots) || !mul_ok(ring_capacity, 8, &stamps) ||
            !align_up_ok(stamps, elem_align, &stamps) || !add_ok(stamps, slots, &mpmc))
            return refuse(name, "ring payload length overflows");
        if (payload_len != slots && payload_len != mpmc)
            return refuse(name, "payload_len is neither ring layout's");
        want_payload_len = payload_len;
        ring_mpmc = payload_len == mpmc;
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

    /* FORMAT.md, "Control block": the control block of a ready segment. */
    if (kind == 2) {
        uint32_t poisoned = atomic_load_explicit(a32(map + control_offset, 40), memory_order_relaxed);
        if (poisoned > 1) return refuse(name, "the array's poisoned flag is neither 0 nor 1");
        if (atomic_load_explicit(a32(map + control_offset, 44), memory_order_relaxed) != 0)
            return refuse(name, "the array control block's reserved bytes are not 0");
    } else if (kind == 3) {
        const char *why = check_ring_control(map + control_offset, ring_capacity, elem_size,
                                             ring_mpmc, schema, schema_len);
        if (why) return refuse(name, why);
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
    } else if (kind == 3) {
        /* The control block is known to lie inside the mapping (derived offsets). */
        print_ring(map + control_offset, ring_capacity, ring_mpmc);
    }
    if (consuming) {
        if (kind != 3 || ring_mpmc) return refuse(name, "--consume: not an SPSC ring segment");
        fflush(stdout);
        return consume(name, map + control_offset, map + payload_offset, ring_capacity,
                       elem_size, type_name, consume_n, timeout_ms);
    }
    return 0;

usage:
    fprintf(stderr, "usage: %s /NAME [--max N] [--consume N [--timeout-ms MS]]\n", argv[0]);
    return 1;
}
