/* The hot loop of `postfix-wizard traffic`: Postfix log lines in, anvil(8)'s counting out.

   Why C: a mail log runs to millions of lines, and the issue asks for five times pflogsumm's
   throughput and three times a bare Python loop's time; Python spends a microsecond on each
   line before it has done anything (measured: 10 times the bare loop at the very least), and no
   library parses Postfix's lines or replays anvil. So this file does both, for every line, and
   nothing else: reading.py opens the sources and owns the names (the limit warnings, the
   command counters), replay.py maps syslog names to services and addresses to the networks
   anvil counts (called back once for each new one) and turns what is counted here into
   clients. What a line may look like is documented in reading.py, and the counting, with
   anvil's source for it, in replay.py.

   Optional: setup.py builds it when it can, and where it cannot (no C compiler) the reader uses
   pyscan.py, the same scanner in Python, slower (wizard/traffic/__init__.py chooses).

   Built against the limited API of 3.9 (setup.py defines Py_LIMITED_API), so one wheel serves
   every later CPython: no buffer protocol (3.11), no PyUnicode_AsUTF8AndSize or Py_NewRef
   (3.10), no PyMem_Calloc, hence `feed` takes bytes or a bytearray and `utf8` makes a bytes object. */

#ifndef Py_LIMITED_API
#define Py_LIMITED_API 0x03090000
#endif
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define RATES 5                 /* connection, message, recipient (with VRFY), auth, tls */
#define CONCURRENCY RATES       /* the histogram after the rates' */
#define MAX_LINE 8192
#define CACHE_LIMIT 200000      /* entries in a lookup cache before it is cleared */
#define MAX_REPEATS 100000      /* "message repeated N times": N is capped here */

/* A map from byte strings to indexes: open addressing, FNV-1a. Python's dict would do, but
   each lookup would first build a bytes object, and that was half the time of a line. A slot
   is one cache line, with the key in it when it is short (most are). */
#define INLINE 40
enum { EMPTY, LIVE, DELETED };
typedef struct {
    uint64_t hash;
    Py_ssize_t value;
    uint32_t len, state;
    union { char bytes[INLINE]; char *pointer; } key;
} Slot;
typedef struct { Slot *slots; size_t size, live, used; } Map;   /* used: live and deleted */

/* How often each value was seen, as (value, times) pairs: a client has few distinct ones. */
typedef struct { uint32_t *pairs; uint32_t used, size; } Histogram;

typedef struct {
    PyObject *service, *network;     /* str, str */
    PyObject *refusals;              /* parameter -> times, as logged; NULL for none */
    long long start;                 /* the current window's start; -1 before the first */
    long long largest;               /* the largest message accepted */
    long long seen;                  /* when it was last looked up (a tick, not a time) */
    long connections, open;
    long counts[RATES];              /* in the current window */
    long peaks[RATES + 1];           /* the most in one window; the last: open at once */
    Histogram histograms[RATES + 1]; /* events in a window -> windows; open at a connect */
    Py_ssize_t same_network;         /* the next client with this network, or -1 */
    int wrapped;                     /* its service starts each session with TLS (smtps) */
} Client;

typedef struct {
    PyObject_HEAD
    long long unit;
    PyObject *service_of, *network_of;   /* callables: syslog name -> service, address -> net */
    PyObject *warnings;                  /* bytes (what a limit warning says) -> parameter */
    PyObject *wrapped;                   /* the services in TLS wrapper mode (a set) */
    char counted[5][16];                 /* "mail", "rcpt", "auth", "vrfy", "starttls" */
    size_t counted_len[5];
    PyObject *services;                  /* syslog name (bytes) -> service (a cache) */
    Client *clients;
    Py_ssize_t count, capacity;
    Map by_key;          /* "service\0network" -> client */
    Map networks;        /* network -> its newest client (the rest by same_network) */
    Map by_raw;          /* "syslog name\0address", as logged -> client (a cache) */
    Map sessions;        /* "program[pid]: " -> the client of the session open there */
    Map queue;           /* queue id -> the client that sent it */
    long long tick, since, first, last;
    int has_since, has_first, finished;
    int year, dated_year, dated_month, last_month;
    long long lines, postfix, skipped;
    /* Keys are built here, not in static buffers: a callback into Python may let another
       thread's scanner run in between. `outer` for a line's lookup, `inner` for client(). */
    char outer[2 * MAX_LINE + 2], inner[2 * MAX_LINE + 2];
} Scanner;

/* Text ---------------------------------------------------------------------------------------*/

typedef struct { const char *at; Py_ssize_t len; } Text;

static Text slice(Text t, Py_ssize_t from, Py_ssize_t to)
{
    Text s = {t.at + from, to - from};
    return s;
}

static Py_ssize_t find_n(Text t, const char *what, Py_ssize_t n, Py_ssize_t from)
{
    for (Py_ssize_t i = from; i + n <= t.len; i++) {
        const char *hit = memchr(t.at + i, what[0], (size_t)(t.len - n - i + 1));
        if (hit == NULL)
            return -1;
        i = hit - t.at;
        if (memcmp(hit, what, (size_t)n) == 0)
            return i;
    }
    return -1;
}

/* Literal strings only: their length is known when compiled. */
#define find(t, what, from) find_n((t), (what), (Py_ssize_t)sizeof(what) - 1, (from))
#define starts(t, what) ((size_t)(t).len >= sizeof(what) - 1 && \
                         memcmp((t).at, (what), sizeof(what) - 1) == 0)
#define ends(t, what) ((size_t)(t).len >= sizeof(what) - 1 && \
                       memcmp((t).at + (t).len - (sizeof(what) - 1), (what), sizeof(what) - 1) == 0)

static Py_ssize_t rfind(Text t, const char *what)
{
    Py_ssize_t n = (Py_ssize_t)strlen(what);
    for (Py_ssize_t i = t.len - n; i >= 0; i--)
        if (memcmp(t.at + i, what, (size_t)n) == 0)
            return i;
    return -1;
}

static int digit(char c) { return c >= '0' && c <= '9'; }
static int word(char c)
{
    return digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
           c == '.' || c == '+' || c == '-';
}
static int space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* `name[addr]` or `name[addr]:port` (and any junk after) -> addr; empty when there is none. */
static Text client_address(Text t)
{
    Py_ssize_t start = find(t, "[", 0), end = start < 0 ? -1 : find(t, "]", start + 1);
    return start >= 0 && end > start ? slice(t, start + 1, end) : slice(t, 0, 0);
}

/* An unsigned decimal of all of t, or -1. */
static long long number(Text t)
{
    long long n = 0;
    if (t.len == 0 || t.len > 18)
        return -1;
    for (Py_ssize_t i = 0; i < t.len; i++) {
        if (!digit(t.at[i]))
            return -1;
        n = n * 10 + (t.at[i] - '0');
    }
    return n;
}

/* " ehlo=1 mail=1 rcpt=0/1 ..." -> the total T of each `name=S/T` (or `name=T`) named in
   `names`, the first of each; 0 when absent. */
static void totals(Text stats, const char names[5][16], const size_t lengths[5], long found[5])
{
    int set[5] = {0};
    memset(found, 0, 5 * sizeof(long));
    for (Py_ssize_t i = 0; i < stats.len; i++) {
        if (stats.at[i] != ' ')
            continue;
        Py_ssize_t start = i + 1, equals = -1, slash = -1, end = start;
        for (; end < stats.len && stats.at[end] != ' '; end++) {
            if (stats.at[end] == '=' && equals < 0)
                equals = end;
            else if (stats.at[end] == '/')
                slash = end;
        }
        for (int k = 0; equals > start && k < 5; k++) {
            size_t n = lengths[k];
            if (!set[k] && (size_t)(equals - start) == n && stats.at[start] == names[k][0] &&
                memcmp(stats.at + start, names[k], n) == 0) {
                long long value = number(slice(stats, (slash > equals ? slash : equals) + 1, end));
                found[k] = value < 0 ? 0 : (long)(value > 1000000000 ? 1000000000 : value);
                set[k] = 1;
            }
        }
        i = end - 1;
    }
}

static PyObject *as_str(Text t) { return PyUnicode_DecodeUTF8(t.at, t.len, "replace"); }
static PyObject *as_bytes(Text t) { return PyBytes_FromStringAndSize(t.at, t.len); }

/* Time --------------------------------------------------------------------------------------*/

static long long days_from_civil(long long y, int m, int d)   /* days since 1970-01-01 */
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static int two(const char *p) { return (p[0] - '0') * 10 + (p[1] - '0'); }

static int all_digits(const char *p, int n)
{
    for (int i = 0; i < n; i++)
        if (!digit(p[i]))
            return 0;
    return 1;
}

/* The line's header --------------------------------------------------------------------------*/

typedef struct {
    int classic;                  /* 1: "Jan  5 09:14:08", 0: RFC 3339 */
    int month, day, hour, minute, second, year;
    long long offset;             /* seconds to add for the zone */
    Py_ssize_t program, program_end, end;   /* in the line */
} Header;

static const char MONTHS[] = "JanFebMarAprMayJunJulAugSepOctNovDec";

static Py_ssize_t classic_stamp(Text t, Py_ssize_t i, Header *h)
{
    const char *p = t.at + i;
    Py_ssize_t left = t.len - i;
    if (left < 15 || !(p[0] >= 'A' && p[0] <= 'Z') || !(p[1] >= 'a' && p[1] <= 'z') ||
        !(p[2] >= 'a' && p[2] <= 'z') || p[3] != ' ')
        return -1;
    h->month = 0;
    for (int m = 0; m < 12; m++)
        if (memcmp(p, MONTHS + 3 * m, 3) == 0)
            h->month = m + 1;
    Py_ssize_t j = p[4] == ' ' ? 5 : 4;
    if (!digit(p[j]))
        return -1;
    h->day = p[j] - '0';
    j++;
    if (digit(p[j]))
        h->day = h->day * 10 + (p[j++] - '0');
    if (left < j + 9 || p[j] != ' ' || !all_digits(p + j + 1, 2) || p[j + 3] != ':' ||
        !all_digits(p + j + 4, 2) || p[j + 6] != ':' || !all_digits(p + j + 7, 2))
        return -1;
    h->hour = two(p + j + 1), h->minute = two(p + j + 4), h->second = two(p + j + 7);
    h->classic = 1, h->offset = 0;
    return i + j + 9;
}

static Py_ssize_t iso_stamp(Text t, Py_ssize_t i, Header *h)
{
    const char *p = t.at + i;
    Py_ssize_t left = t.len - i, j = 19;
    if (left < 20 || !all_digits(p, 4) || p[4] != '-' || !all_digits(p + 5, 2) || p[7] != '-' ||
        !all_digits(p + 8, 2) || p[10] != 'T' || !all_digits(p + 11, 2) || p[13] != ':' ||
        !all_digits(p + 14, 2) || p[16] != ':' || !all_digits(p + 17, 2))
        return -1;
    h->classic = 0;
    h->year = (p[0] - '0') * 1000 + (p[1] - '0') * 100 + two(p + 2);
    h->month = two(p + 5), h->day = two(p + 8);
    h->hour = two(p + 11), h->minute = two(p + 14), h->second = two(p + 17);
    h->offset = 0;
    if (j + 1 < left && p[j] == '.' && digit(p[j + 1]))
        for (j++; j < left && digit(p[j]); j++)
            ;
    if (j < left && p[j] == 'Z')
        j++;
    else if (j + 5 <= left && (p[j] == '+' || p[j] == '-') && all_digits(p + j + 1, 2)) {
        Py_ssize_t k = j + 3 + (p[j + 3] == ':');
        if (k + 2 <= left && all_digits(p + k, 2)) {
            long long zone = two(p + j + 1) * 3600LL + two(p + k) * 60LL;
            h->offset = p[j] == '+' ? -zone : zone;
            j = k + 2;
        }
    }
    return i + j;
}

/* stamp, " host ", "postfix[\w.+-]*(/[\w.+-]+)*[pid]: ", and Solaris' "[ID n facility] ". */
static int header(Text t, Py_ssize_t i, Header *h)
{
    i = digit(t.at[i]) ? iso_stamp(t, i, h) : classic_stamp(t, i, h);
    if (i < 0 || i >= t.len || t.at[i] != ' ')
        return 0;
    Py_ssize_t host = ++i;
    while (i < t.len && !space(t.at[i]))
        i++;
    if (i == host || i >= t.len || t.at[i] != ' ')
        return 0;
    h->program = ++i;
    if (!starts(slice(t, i, t.len), "postfix"))
        return 0;
    for (i += 7; i < t.len && word(t.at[i]); i++)
        ;
    while (i + 1 < t.len && t.at[i] == '/' && word(t.at[i + 1]))
        for (i++; i < t.len && word(t.at[i]); i++)
            ;
    h->program_end = i;
    if (i + 1 >= t.len || t.at[i] != '[' || !digit(t.at[i + 1]))
        return 0;
    for (i++; i < t.len && digit(t.at[i]); i++)
        ;
    if (!starts(slice(t, i, t.len), "]: "))
        return 0;
    i += 3;
    if (starts(slice(t, i, t.len), "[ID ") && i + 4 < t.len && digit(t.at[i + 4])) {
        Py_ssize_t j = i + 4;
        while (j < t.len && digit(t.at[j]))
            j++;
        if (j < t.len && t.at[j] == ' ') {
            Py_ssize_t facility = ++j;
            while (j < t.len && (word(t.at[j]) && t.at[j] != '+' && t.at[j] != '-'))
                j++;
            if (j > facility && starts(slice(t, j, t.len), "] "))
                i = j + 2;
        }
    }
    h->end = i;
    return 1;
}

/* The year of a classic stamp: the first file's date gives the first line's; each Dec -> Jan
   turn after it adds one (a line out of order by a month or two does not). */
static int classic_year(Scanner *s, int month)
{
    if (s->last_month == 0 && s->dated_year)
        s->year = s->dated_year - (month > s->dated_month);
    else if (month < s->last_month - 6)
        s->year += 1;
    s->last_month = month;
    return s->year;
}

static int when(Scanner *s, const Header *h, long long *out)
{
    if (h->month < 1 || h->month > 12)
        return 0;
    int year = h->classic ? classic_year(s, h->month) : h->year;
    long long days = days_from_civil(year, h->month, 1) + h->day - 1;
    *out = days * 86400 + h->hour * 3600LL + h->minute * 60LL + h->second + h->offset;
    return 1;
}

/* Maps --------------------------------------------------------------------------------------*/

static uint64_t hash_of(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

static const char *key_of(const Slot *slot)
{
    return slot->len <= INLINE ? slot->key.bytes : slot->key.pointer;
}

/* The slot holding `key`, or the empty slot where it would go. */
static Slot *probe(const Map *m, Text key, uint64_t hash)
{
    size_t mask = m->size - 1;
    for (size_t i = hash & mask;; i = (i + 1) & mask) {
        Slot *slot = &m->slots[i];
        if (slot->state == EMPTY)
            return slot;
        if (slot->state == LIVE && slot->hash == hash && slot->len == (size_t)key.len &&
            memcmp(key_of(slot), key.at, slot->len) == 0)
            return slot;
    }
}

static int map_get(const Map *m, Text key, Py_ssize_t *value)
{
    if (m->size == 0)
        return 0;
    Slot *slot = probe(m, key, hash_of(key.at, (size_t)key.len));
    if (slot->state == EMPTY)
        return 0;
    *value = slot->value;
    return 1;
}

static void forget(Slot *slot)
{
    if (slot->state == LIVE && slot->len > INLINE)
        PyMem_Free(slot->key.pointer);
}

static int map_resize(Map *m)
{
    size_t size = m->size < 64 ? 64 : (m->live * 4 > m->size ? m->size * 2 : m->size);
    Slot *old = m->slots, *slots = PyMem_Malloc(size * sizeof(Slot));   /* no Calloc in 3.9's */
    if (slots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    memset(slots, 0, size * sizeof(Slot));
    Map grown = {slots, size, 0, 0};
    for (size_t i = 0; i < m->size; i++)
        if (old[i].state == LIVE) {
            *probe(&grown, (Text){key_of(&old[i]), (Py_ssize_t)old[i].len}, old[i].hash) = old[i];
            grown.live++, grown.used++;
        }
    PyMem_Free(old);
    *m = grown;
    return 0;
}

static int map_put(Map *m, Text key, Py_ssize_t value)
{
    if ((m->used + 1) * 2 > m->size && map_resize(m) < 0)     /* at most half full */
        return -1;
    uint64_t hash = hash_of(key.at, (size_t)key.len);
    Slot *slot = probe(m, key, hash);
    if (slot->state == EMPTY) {
        char *to = slot->key.bytes;
        if (key.len > INLINE && (to = slot->key.pointer = PyMem_Malloc((size_t)key.len)) == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(to, key.at, (size_t)key.len);
        slot->len = (uint32_t)key.len, slot->hash = hash, slot->state = LIVE;
        m->live++, m->used++;
    }
    slot->value = value;
    return 0;
}

static void map_delete(Map *m, Text key)
{
    if (m->size == 0)
        return;
    Slot *slot = probe(m, key, hash_of(key.at, (size_t)key.len));
    if (slot->state == LIVE) {
        forget(slot);
        slot->state = DELETED;
        m->live--;
    }
}

static void map_free(Map *m)
{
    for (size_t i = 0; i < m->size; i++)
        forget(&m->slots[i]);
    PyMem_Free(m->slots);
    memset(m, 0, sizeof *m);
}

/* A cache is emptied when it grows past CACHE_LIMIT: it holds lookups, not the log. */
static int cache_put(Map *m, Text key, Py_ssize_t value)
{
    if (m->live > CACHE_LIMIT)
        map_free(m);
    return map_put(m, key, value);
}

/* Two strings as one key, "a\0b", in `buffer` (one of the scanner's). */
static Text pair(char *buffer, Text a, Text b)
{
    memcpy(buffer, a.at, (size_t)a.len);
    buffer[a.len] = '\0';
    memcpy(buffer + a.len + 1, b.at, (size_t)b.len);
    return (Text){buffer, a.len + 1 + b.len};
}

/* Clients and anvil's counting -----------------------------------------------------------------*/

static int tally(Histogram *h, long value, uint32_t times)
{
    uint32_t v = value > (long)UINT32_MAX ? UINT32_MAX : (uint32_t)value;
    for (uint32_t i = 0; i < h->used; i++)
        if (h->pairs[2 * i] == v) {
            h->pairs[2 * i + 1] += times;
            return 0;
        }
    if (h->used == h->size) {
        uint32_t size = h->size ? 2 * h->size : 2;
        uint32_t *pairs = PyMem_Realloc(h->pairs, 2 * size * sizeof(uint32_t));
        if (pairs == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        h->pairs = pairs, h->size = size;
    }
    h->pairs[2 * h->used] = v, h->pairs[2 * h->used + 1] = times;
    h->used++;
    return 0;
}

static int close_window(Client *c)
{
    for (int kind = 0; kind < RATES; kind++) {
        long n = c->counts[kind];
        if (n == 0)
            continue;
        if (tally(&c->histograms[kind], n, 1) < 0)
            return -1;
        if (n > c->peaks[kind])
            c->peaks[kind] = n;
        c->counts[kind] = 0;
    }
    return 0;
}

/* An event at `now` first closes the window when start + unit < now, then counts. */
static int count(Scanner *s, Client *c, long long now, int kind, long n)
{
    if (c->start < 0 || c->start + s->unit < now) {
        if (close_window(c) < 0)
            return -1;
        c->start = now;
    }
    c->counts[kind] += n;
    return 0;
}

/* A str's UTF-8, in a new bytes object that the caller keeps while it uses `out` (NULL, and
   out->len -1, on an error). */
static PyObject *utf8(PyObject *text, Text *out)
{
    char *at = NULL;
    Py_ssize_t len = -1;
    PyObject *bytes = PyUnicode_AsUTF8String(text);
    if (bytes != NULL && PyBytes_AsStringAndSize(bytes, &at, &len) < 0)
        Py_CLEAR(bytes);
    *out = bytes ? (Text){at, len} : (Text){NULL, -1};
    return bytes;
}

static PyObject *new_ref(PyObject *object)
{
    Py_INCREF(object);
    return object;
}

static Py_ssize_t new_client(Scanner *s, PyObject *service, PyObject *network, Text net,
                             Text key)
{
    if (s->count == s->capacity) {
        Py_ssize_t more = s->capacity ? 2 * s->capacity : 1024;
        Client *grown = PyMem_Realloc(s->clients, (size_t)more * sizeof(Client));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        s->clients = grown, s->capacity = more;
    }
    Py_ssize_t index = s->count;
    Client *c = &s->clients[index];
    memset(c, 0, sizeof *c);
    c->start = -1, c->same_network = -1;
    if (map_put(&s->by_key, key, index) < 0)
        return -1;
    map_get(&s->networks, net, &c->same_network);
    if (map_put(&s->networks, net, index) < 0)
        return -1;
    if ((c->wrapped = PySet_Contains(s->wrapped, service)) < 0)
        return -1;
    c->service = new_ref(service), c->network = new_ref(network);
    s->count++;
    return index;
}

/* The client anvil counts for (service, address): created when new; -1 on an error. */
static Py_ssize_t client(Scanner *s, PyObject *service, PyObject *address)
{
    PyObject *network = PyObject_CallFunctionObjArgs(s->network_of, address, NULL);
    if (network == NULL)
        return -1;
    Text name, net;
    PyObject *name_bytes = utf8(service, &name);
    PyObject *net_bytes = name_bytes ? utf8(network, &net) : NULL;
    Py_ssize_t index = -1;
    if (net_bytes && name.len + net.len <= 2 * MAX_LINE) {
        Text key = pair(s->inner, name, net);
        if (!map_get(&s->by_key, key, &index))
            index = new_client(s, service, network, net, key);
    } else if (!PyErr_Occurred())
        PyErr_SetString(PyExc_ValueError, "a service or network name too long");
    Py_XDECREF(name_bytes);
    Py_XDECREF(net_bytes);
    Py_DECREF(network);
    if (index >= 0)
        s->clients[index].seen = ++s->tick;
    return index;
}

static PyObject *service(Scanner *s, Text name)
{
    PyObject *key = as_bytes(name), *found = NULL;
    if (key == NULL)
        return NULL;
    found = PyDict_GetItemWithError(s->services, key);
    if (found != NULL)
        Py_INCREF(found);
    else if (!PyErr_Occurred()) {
        PyObject *text = as_str(name);
        found = text ? PyObject_CallFunctionObjArgs(s->service_of, text, NULL) : NULL;
        Py_XDECREF(text);
        if (found != NULL && PyDict_SetItem(s->services, key, found) < 0)
            Py_CLEAR(found);
    }
    Py_DECREF(key);
    return found;
}

/* The client of a syslog name (postfix/submission) and an address, as the line gave them. */
static Py_ssize_t client_named(Scanner *s, Text name, Text address)
{
    Text key = pair(s->outer, name, address);
    Py_ssize_t index;
    if (map_get(&s->by_raw, key, &index)) {
        s->clients[index].seen = ++s->tick;
        return index;
    }
    PyObject *named = service(s, name);
    PyObject *text = named ? as_str(address) : NULL;
    index = text ? client(s, named, text) : -1;
    Py_XDECREF(named);
    Py_XDECREF(text);
    if (index >= 0 && cache_put(&s->by_raw, key, index) < 0)
        return -1;
    return index;
}

/* The client last seen at a network, or -1. */
static Py_ssize_t last_at(Scanner *s, Text net)
{
    Py_ssize_t index, found = -1;
    if (!map_get(&s->networks, net, &index))
        return -1;
    for (; index >= 0; index = s->clients[index].same_network)
        if (found < 0 || s->clients[index].seen > s->clients[found].seen)
            found = index;
    return found;
}

/* What smtpd and qmgr said ---------------------------------------------------------------------*/

typedef struct {
    Text program, session, message;   /* session: b"postfix/smtpd[pid]: " */
    long long now;
} Said;

static Text syslog_name(Text program)
{
    return slice(program, 0, rfind(program, "/"));
}

static int connected(Scanner *s, const Said *l)
{
    Text address = client_address(l->message);
    if (address.len == 0) {                      /* cut short */
        s->skipped++;
        return 0;
    }
    if (!s->has_first)
        s->first = l->now, s->has_first = 1;
    s->last = l->now;
    Py_ssize_t index;
    if (map_get(&s->sessions, l->session, &index)) {   /* its disconnect line is missing */
        Client *earlier = &s->clients[index];
        earlier->open = earlier->open > 0 ? earlier->open - 1 : 0;
    }
    if ((index = client_named(s, syslog_name(l->program), address)) < 0)
        return -1;
    Client *c = &s->clients[index];
    c->connections++;
    if (count(s, c, l->now, 0, 1) < 0 || (c->wrapped && count(s, c, l->now, RATES - 1, 1) < 0))
        return -1;
    c->open++;
    if (c->open > c->peaks[CONCURRENCY])
        c->peaks[CONCURRENCY] = c->open;
    if (tally(&c->histograms[CONCURRENCY], c->open, 1) < 0)
        return -1;
    return map_put(&s->sessions, l->session, index);
}

static int disconnected(Scanner *s, const Said *l)
{
    s->last = l->now;
    Py_ssize_t index;
    if (!map_get(&s->sessions, l->session, &index))
        return 0;                                /* its connect came before the log */
    map_delete(&s->sessions, l->session);
    Client *c = &s->clients[index];
    c->open = c->open > 0 ? c->open - 1 : 0;
    Text message = l->message;
    long found[5];
    totals(slice(message, find(message, "]", 0) + 1, message.len), s->counted, s->counted_len,
           found);
    long events[RATES] = {0, found[0], found[1] + found[3], found[2], found[4]};
    for (int kind = 1; kind < RATES; kind++)
        if (events[kind] && count(s, c, l->now, kind, events[kind]) < 0)
            return -1;
    return 0;
}

/* "Connection rate limit exceeded: 31 from name[addr] for service smtp". The warning names
   master.cf's service, which the syslog name may not show: the client is the one of that
   service and network, else the last seen at the network, else a new one. */
static int warned(Scanner *s, Text text)
{
    Py_ssize_t colon = find(text, ": ", 0);
    Text what = colon < 0 ? text : slice(text, 0, colon);
    Text rest = colon < 0 ? slice(text, text.len, text.len) : slice(text, colon + 2, text.len);
    PyObject *key = as_bytes(what);
    if (key == NULL)
        return -1;
    PyObject *parameter = PyDict_GetItemWithError(s->warnings, key);
    Py_DECREF(key);
    if (parameter == NULL)
        return PyErr_Occurred() ? -1 : 0;
    Text named = slice(rest, 0, 0);
    Py_ssize_t for_service = rfind(rest, " for service ");
    if (for_service >= 0) {
        Py_ssize_t i = for_service + 13, j;
        while (i < rest.len && space(rest.at[i]))
            i++;
        for (j = i; j < rest.len && !space(rest.at[j]); j++)
            ;
        named = slice(rest, i, j);
    }
    PyObject *address = as_str(client_address(rest));
    PyObject *network = address ? PyObject_CallFunctionObjArgs(s->network_of, address, NULL) : NULL;
    Text net = {NULL, -1};
    PyObject *net_bytes = network ? utf8(network, &net) : NULL;
    Py_ssize_t index = -1;
    if (net.len > 2 * MAX_LINE - named.len)
        net.len = -1;                                /* a network no line could name */
    if (net.len >= 0 && !map_get(&s->by_key, pair(s->outer, named, net), &index))
        index = last_at(s, net);
    if (index < 0 && net.len >= 0) {
        PyObject *fallback = as_str(named.len ? named : (Text){"smtp", 4});
        index = fallback ? client(s, fallback, address) : -1;
        Py_XDECREF(fallback);
    }
    int rc = PyErr_Occurred() ? -1 : 0;
    if (index >= 0 && rc == 0) {
        Client *c = &s->clients[index];
        rc = -1;
        if (c->refusals == NULL)
            c->refusals = PyDict_New();
        PyObject *old = c->refusals ? PyDict_GetItemWithError(c->refusals, parameter) : NULL;
        PyObject *now = c->refusals && !PyErr_Occurred() ?
            PyLong_FromLong((old ? PyLong_AsLong(old) : 0) + 1) : NULL;
        rc = now ? PyDict_SetItem(c->refusals, parameter, now) : -1;
        Py_XDECREF(now);
    }
    Py_XDECREF(address);
    Py_XDECREF(network);
    Py_XDECREF(net_bytes);
    return rc;
}

static int smtpd(Scanner *s, const Said *l)
{
    Text m = l->message;
    if (starts(m, "connect from "))
        return connected(s, l);
    if (starts(m, "disconnect from "))
        return disconnected(s, l);
    if (starts(m, "warning: "))
        return warned(s, slice(m, 9, m.len));
    Py_ssize_t client_at = find(m, ": client=", 0);
    if (client_at < 0)
        return 0;
    Text address = client_address(slice(m, client_at + 9, m.len));
    Py_ssize_t index = client_named(s, syslog_name(l->program), address);
    return index < 0 ? -1 : cache_put(&s->queue, slice(m, 0, client_at), index);
}

static int qmgr(Scanner *s, const Said *l)
{
    Text m = l->message;
    if (find(m, ", size=", 0) < 0)
        return 0;
    Py_ssize_t from = find(m, ": from=", 0), index;
    Text queue_id = from < 0 ? m : slice(m, 0, from);
    if (!map_get(&s->queue, queue_id, &index))
        return 0;
    map_delete(&s->queue, queue_id);
    Text rest = from < 0 ? slice(m, m.len, m.len) : slice(m, from + 7, m.len);
    Py_ssize_t size_at = find(rest, ", size=", 0);
    Text size = size_at < 0 ? slice(rest, 0, 0) : slice(rest, size_at + 7, rest.len);
    Py_ssize_t comma = find(size, ",", 0);
    long long bytes = number(comma < 0 ? size : slice(size, 0, comma));
    Client *c = &s->clients[index];
    if (bytes > c->largest)
        c->largest = bytes;
    return 0;
}

/* "message repeated 3 times: [ text]" -> 3 and text; else 1 and the message. */
static long repeats(Text *message)
{
    Text m = *message;
    if (!starts(m, "message repeated "))
        return 1;
    Py_ssize_t i = 17, j = i;
    while (j < m.len && digit(m.at[j]))
        j++;
    if (j == i || !starts(slice(m, j, m.len), " times: ["))
        return 1;
    long long n = number(slice(m, i, j));
    Py_ssize_t from = j + 9 + (j + 9 < m.len && m.at[j + 9] == ' ');
    Py_ssize_t to = m.len > from && m.at[m.len - 1] == ']' ? m.len - 1 : m.len;
    *message = slice(m, from, to);
    return n < 0 || n > MAX_REPEATS ? MAX_REPEATS : (long)n;
}

static int line(Scanner *s, Text t)
{
    Header h;
    s->lines++;
    if (t.len > MAX_LINE || memchr(t.at, 0, (size_t)t.len) != NULL) {
        s->skipped++;
        return 0;
    }
    if (t.len == 0 || !header(t, 0, &h)) {
        Py_ssize_t bar = find(slice(t, 0, t.len < 120 ? t.len : 120), "| ", 0);
        if (bar < 0 || bar + 2 >= t.len || !header(t, bar + 2, &h)) {   /* docker compose */
            s->skipped++;
            return 0;
        }
    }
    s->postfix++;
    Said l;
    l.program = slice(t, h.program, h.program_end);
    int is_smtpd = ends(l.program, "/smtpd");
    if (!is_smtpd && !ends(l.program, "/qmgr"))
        return 0;                        /* counted, nothing more to learn */
    if (!when(s, &h, &l.now)) {
        s->skipped++;
        return 0;
    }
    if (s->has_since && l.now < s->since)
        return 0;
    l.session = slice(t, h.program, h.end);
    l.message = slice(t, h.end, t.len);
    while (l.message.len && (l.message.at[l.message.len - 1] == '\n' ||
                             l.message.at[l.message.len - 1] == '\r'))
        l.message.len--;
    for (long n = repeats(&l.message); n > 0; n--)
        if ((is_smtpd ? smtpd(s, &l) : qmgr(s, &l)) < 0)
            return -1;
    return 0;
}

/* The type -------------------------------------------------------------------------------------*/

static int Scanner_init(Scanner *s, PyObject *args, PyObject *kwargs)
{
    static char *names[] = {"unit", "service_of", "network_of", "warnings", "counted",
                            "wrapped", NULL};
    PyObject *warnings, *counted, *wrapped;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "LOOO!O!O", names, &s->unit, &s->service_of,
                                     &s->network_of, &PyDict_Type, &warnings, &PyTuple_Type,
                                     &counted, &wrapped))
        return -1;
    if ((s->wrapped = PyFrozenSet_New(wrapped)) == NULL)
        return -1;
    if (PyTuple_Size(counted) != 5) {
        PyErr_SetString(PyExc_ValueError, "counted: five names");
        return -1;
    }
    for (Py_ssize_t i = 0; i < 5; i++) {
        Text name;
        PyObject *bytes = utf8(PyTuple_GetItem(counted, i), &name);
        if (bytes == NULL || name.len >= 16) {
            Py_XDECREF(bytes);
            PyErr_SetString(PyExc_ValueError, "counted: names of 1 to 15 bytes");
            return -1;
        }
        memcpy(s->counted[i], name.at, (size_t)name.len);
        s->counted[i][name.len] = '\0';
        s->counted_len[i] = (size_t)name.len;
        Py_DECREF(bytes);
    }
    Py_INCREF(s->service_of);
    Py_INCREF(s->network_of);
    if ((s->warnings = PyDict_New()) == NULL || (s->services = PyDict_New()) == NULL)
        return -1;
    PyObject *what, *parameter;
    Py_ssize_t pos = 0;
    while (PyDict_Next(warnings, &pos, &what, &parameter)) {
        PyObject *key = PyUnicode_AsUTF8String(what);
        if (key == NULL || PyDict_SetItem(s->warnings, key, parameter) < 0) {
            Py_XDECREF(key);
            return -1;
        }
        Py_DECREF(key);
    }
    return 0;
}

static void Scanner_dealloc(Scanner *s)
{
    for (Py_ssize_t i = 0; i < s->count; i++) {
        Client *c = &s->clients[i];
        Py_XDECREF(c->service), Py_XDECREF(c->network), Py_XDECREF(c->refusals);
        for (int k = 0; k <= RATES; k++)
            PyMem_Free(c->histograms[k].pairs);
    }
    PyMem_Free(s->clients);
    map_free(&s->by_key), map_free(&s->networks), map_free(&s->by_raw);
    map_free(&s->sessions), map_free(&s->queue);
    Py_XDECREF(s->service_of), Py_XDECREF(s->network_of), Py_XDECREF(s->warnings);
    Py_XDECREF(s->services), Py_XDECREF(s->wrapped);
    PyTypeObject *type = Py_TYPE((PyObject *)s);
    freefunc tp_free = (freefunc)PyType_GetSlot(type, Py_tp_free);
    tp_free(s);
    Py_DECREF(type);
}

/* feed(data, end=len(data)): the lines in data[:end], data bytes or a bytearray (the reader's
   buffer, which a memoryview held here keeps from being resized meanwhile). */
static PyObject *Scanner_feed(Scanner *s, PyObject *args)
{
    PyObject *data, *held = NULL;
    Py_ssize_t length = -1, size;
    char *start;
    if (!PyArg_ParseTuple(args, "O|n", &data, &length))
        return NULL;
    if (s->finished) {
        PyErr_SetString(PyExc_RuntimeError, "the scanner has finished: no more lines");
        return NULL;
    }
    if (PyBytes_Check(data)) {
        if (PyBytes_AsStringAndSize(data, &start, &size) < 0)
            return NULL;
    } else if (PyByteArray_Check(data)) {
        if ((held = PyMemoryView_FromObject(data)) == NULL)
            return NULL;
        start = PyByteArray_AsString(data), size = PyByteArray_Size(data);
    } else {
        PyErr_SetString(PyExc_TypeError, "feed: bytes or a bytearray");
        return NULL;
    }
    if (length >= 0 && length < size)
        size = length;
    const char *p = start, *end = p + size;
    int rc = 0;
    while (p < end && rc == 0) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *stop = nl ? nl : end;
        Text t = {p, stop - p};
        if (t.len && t.at[t.len - 1] == '\r')
            t.len--;
        rc = line(s, t);
        p = nl ? nl + 1 : end;
    }
    Py_XDECREF(held);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* The end of the reading: closes every window, frees the lookups (a third of the memory), and
   gives each client as a tuple: service, network, connections, largest message, peaks
   (connection, message, recipient, auth, tls, concurrency), refusals (a dict or None), and its
   number for `histogram`. */
static PyObject *Scanner_finish(Scanner *s, PyObject *unused)
{
    map_free(&s->by_key), map_free(&s->networks), map_free(&s->by_raw);
    map_free(&s->sessions), map_free(&s->queue);
    s->finished = 1;
    PyObject *found = PyList_New(s->count);
    for (Py_ssize_t i = 0; found && i < s->count; i++) {
        Client *c = &s->clients[i];
        if (close_window(c) < 0)
            goto failed;
        PyObject *peaks = PyTuple_New(RATES + 1);
        for (int k = 0; peaks && k <= RATES; k++)
            PyTuple_SetItem(peaks, k, PyLong_FromLong(c->peaks[k]));
        PyObject *item = peaks && !PyErr_Occurred() ? Py_BuildValue(
            "(OOlLOOn)", c->service, c->network, c->connections, c->largest, peaks,
            c->refusals ? c->refusals : Py_None, i) : NULL;
        Py_XDECREF(peaks);
        if (item == NULL)
            goto failed;
        PyList_SetItem(found, i, item);
    }
    return found;
failed:
    Py_XDECREF(found);
    return NULL;
}

/* One client's histogram, as a dict: kind 0-4 the rates' windows (events -> windows), 5 the
   sessions open at its connects (open -> times). */
static PyObject *Scanner_histogram(Scanner *s, PyObject *args)
{
    Py_ssize_t index;
    int kind;
    if (!PyArg_ParseTuple(args, "ni", &index, &kind))
        return NULL;
    if (index < 0 || index >= s->count || kind < 0 || kind > RATES) {
        PyErr_SetString(PyExc_IndexError, "no such client or histogram");
        return NULL;
    }
    Histogram *h = &s->clients[index].histograms[kind];
    PyObject *found = PyDict_New();
    for (uint32_t i = 0; found && i < h->used; i++) {
        PyObject *value = PyLong_FromUnsignedLong(h->pairs[2 * i]);
        PyObject *times = PyLong_FromUnsignedLong(h->pairs[2 * i + 1]);
        if (value == NULL || times == NULL || PyDict_SetItem(found, value, times) < 0)
            Py_CLEAR(found);
        Py_XDECREF(value);
        Py_XDECREF(times);
    }
    return found;
}

/* The histograms of kind `kind` of the clients numbered in `numbers`, summed into one dict. */
static PyObject *Scanner_summed(Scanner *s, PyObject *args)
{
    PyObject *numbers, *found = NULL;
    int kind;
    if (!PyArg_ParseTuple(args, "Oi", &numbers, &kind))
        return NULL;
    if (kind < 0 || kind > RATES) {
        PyErr_SetString(PyExc_IndexError, "no such histogram");
        return NULL;
    }
    Histogram sum = {NULL, 0, 0};
    PyObject *iterator = PyObject_GetIter(numbers), *item;
    while (iterator && (item = PyIter_Next(iterator)) != NULL) {
        Py_ssize_t index = PyLong_AsSsize_t(item);
        Py_DECREF(item);
        if (index < 0 || index >= s->count) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_IndexError, "no such client");
            break;
        }
        Histogram *h = &s->clients[index].histograms[kind];
        for (uint32_t i = 0; i < h->used; i++)
            if (tally(&sum, (long)h->pairs[2 * i], h->pairs[2 * i + 1]) < 0)
                goto done;
    }
    if (iterator && !PyErr_Occurred())
        found = PyDict_New();
    for (uint32_t i = 0; found && i < sum.used; i++) {
        PyObject *value = PyLong_FromUnsignedLong(sum.pairs[2 * i]);
        PyObject *times = PyLong_FromUnsignedLong(sum.pairs[2 * i + 1]);
        if (value == NULL || times == NULL || PyDict_SetItem(found, value, times) < 0)
            Py_CLEAR(found);
        Py_XDECREF(value);
        Py_XDECREF(times);
    }
done:
    Py_XDECREF(iterator);
    PyMem_Free(sum.pairs);
    return found;
}

static PyObject *Scanner_date(Scanner *s, PyObject *args)
{
    int year, month;
    if (!PyArg_ParseTuple(args, "ii", &year, &month))
        return NULL;
    if (!s->dated_year)
        s->dated_year = year, s->dated_month = month;
    Py_RETURN_NONE;
}

static PyObject *Scanner_figures(Scanner *s, PyObject *unused)
{
    return Py_BuildValue("{sLsLsLsNsN}", "lines", s->lines, "postfix", s->postfix,
                         "skipped", s->skipped,
                         "first", s->has_first ? PyLong_FromLongLong(s->first) : new_ref(Py_None),
                         "last", s->has_first ? PyLong_FromLongLong(s->last) : new_ref(Py_None));
}

static PyObject *Scanner_set_since(Scanner *s, PyObject *arg)
{
    s->has_since = arg != Py_None;
    if (s->has_since && (s->since = PyLong_AsLongLong(arg)) == -1 && PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *Scanner_set_year(Scanner *s, PyObject *arg)
{
    long year = PyLong_AsLong(arg);
    if (year == -1 && PyErr_Occurred())
        return NULL;
    s->year = (int)year;
    Py_RETURN_NONE;
}

static PyMethodDef Scanner_methods[] = {
    {"feed", (PyCFunction)Scanner_feed, METH_VARARGS, "Read the lines in data[:end]."},
    {"finish", (PyCFunction)Scanner_finish, METH_NOARGS, "Close every window; the clients."},
    {"histogram", (PyCFunction)Scanner_histogram, METH_VARARGS, "One client's histogram."},
    {"summed", (PyCFunction)Scanner_summed, METH_VARARGS, "Clients' histograms, summed."},
    {"date", (PyCFunction)Scanner_date, METH_VARARGS, "The first file's (year, month)."},
    {"figures", (PyCFunction)Scanner_figures, METH_NOARGS, "Lines read, skipped; first, last."},
    {"set_since", (PyCFunction)Scanner_set_since, METH_O, "Pass over lines before this time."},
    {"set_year", (PyCFunction)Scanner_set_year, METH_O, "The year before any file's date."},
    {NULL},
};

static PyType_Slot Scanner_slots[] = {
    {Py_tp_doc, "Postfix log lines in (feed), anvil's counting per client out (clients)."},
    {Py_tp_init, Scanner_init},
    {Py_tp_dealloc, Scanner_dealloc},
    {Py_tp_methods, Scanner_methods},
    {Py_tp_new, PyType_GenericNew},
    {0, NULL},
};

static PyType_Spec Scanner_spec = {
    "wizard.traffic._scan.Scanner", sizeof(Scanner), 0, Py_TPFLAGS_DEFAULT, Scanner_slots,
};

static int exec_module(PyObject *module)
{
    PyObject *type = PyType_FromSpec(&Scanner_spec);
    if (type == NULL)
        return -1;
    if (PyModule_AddObject(module, "Scanner", type) < 0) {    /* it steals on success */
        Py_DECREF(type);
        return -1;
    }
    return 0;
}

static PyModuleDef_Slot module_slots[] = {{Py_mod_exec, exec_module}, {0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_scan", "The traffic reader's hot loop (see _scan.c).", 0, NULL,
    module_slots,
};

PyMODINIT_FUNC PyInit__scan(void) { return PyModuleDef_Init(&module_def); }
