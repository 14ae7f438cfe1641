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

   Built against the limited API (3.11), so one wheel serves every later CPython. */

#define Py_LIMITED_API 0x030B0000
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#define RATES 5                 /* connection, message, recipient (with VRFY), auth, tls */
#define MAX_LINE 8192
#define CACHE_LIMIT 200000      /* entries in a lookup cache before it is cleared */
#define MAX_REPEATS 100000      /* "message repeated N times": N is capped here */
#define SMTP "smtp"

typedef struct {
    PyObject *service, *network;     /* str, str */
    PyObject *index;                 /* int: this client's place, as the dicts hold it */
    long long start;                 /* the current window's start; -1 before the first */
    long long largest;               /* the largest message accepted */
    long connections, open;
    long counts[RATES];              /* in the current window */
    long peaks[RATES + 1];           /* per window; the last is concurrency */
    PyObject *windows[RATES];        /* events in a window -> how many windows, or NULL */
    PyObject *concurrency;           /* sessions open at a connect -> times, or NULL */
    PyObject *refusals;              /* parameter -> times, as logged, or NULL */
} Client;

typedef struct {
    PyObject_HEAD
    long long unit;
    PyObject *service_of, *network_of;   /* callables: syslog name -> service, address -> net */
    PyObject *warnings;                  /* bytes (what a limit warning says) -> parameter */
    PyObject *counted;                   /* bytes: " mail=", " rcpt=", " auth=", " vrfy=",
                                            " starttls=" */
    Client *clients;
    Py_ssize_t count, capacity;
    PyObject *by_key;        /* (service, network) -> index */
    PyObject *by_raw;        /* b"syslog name\0address" -> index (a cache) */
    PyObject *by_network;    /* network -> the index of the last client seen there */
    PyObject *services;      /* syslog name (bytes) -> service (a cache) */
    PyObject *sessions;      /* b"program[pid]: " -> index of the session's client */
    PyObject *queue;         /* queue id (bytes) -> b"syslog name\0address" */
    long long since, first, last;
    int has_since, has_first;
    int year, dated_year, dated_month, last_month;
    long long lines, postfix, skipped;
} Scanner;

/* Text ---------------------------------------------------------------------------------------*/

typedef struct { const char *at; Py_ssize_t len; } Text;

static Text slice(Text t, Py_ssize_t from, Py_ssize_t to)
{
    Text s = {t.at + from, to - from};
    return s;
}

static Py_ssize_t find(Text t, const char *what, Py_ssize_t from)
{
    Py_ssize_t n = (Py_ssize_t)strlen(what);
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

static Py_ssize_t rfind(Text t, const char *what)
{
    Py_ssize_t n = (Py_ssize_t)strlen(what);
    for (Py_ssize_t i = t.len - n; i >= 0; i--)
        if (memcmp(t.at + i, what, (size_t)n) == 0)
            return i;
    return -1;
}

static int starts(Text t, const char *what)
{
    size_t n = strlen(what);
    return (size_t)t.len >= n && memcmp(t.at, what, n) == 0;
}

static int ends(Text t, const char *what)
{
    size_t n = strlen(what);
    return (size_t)t.len >= n && memcmp(t.at + t.len - n, what, n) == 0;
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

/* ` mail=1 rcpt=0/1 ` -> the total T of `name=S/T` (or of `name=T`); 0 when absent. */
static long total(Text stats, const char *name)
{
    Py_ssize_t at = find(stats, name, 0);
    if (at < 0)
        return 0;
    at += (Py_ssize_t)strlen(name);
    Py_ssize_t end = find(stats, " ", at), slash = at - 1;
    for (Py_ssize_t i = at; i < end; i++)
        if (stats.at[i] == '/')
            slash = i;
    long long n = number(slice(stats, slash + 1, end));
    return n < 0 ? 0 : (long)(n > 1000000000 ? 1000000000 : n);
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

/* Clients and anvil's counting -----------------------------------------------------------------*/

static int bump(PyObject **dict, long key, long by)
{
    if (*dict == NULL && (*dict = PyDict_New()) == NULL)
        return -1;
    PyObject *k = PyLong_FromLong(key);
    if (k == NULL)
        return -1;
    PyObject *old = PyDict_GetItemWithError(*dict, k);
    long now = (old ? PyLong_AsLong(old) : 0) + by;
    PyObject *v = PyLong_FromLong(now);
    int rc = v == NULL ? -1 : PyDict_SetItem(*dict, k, v);
    Py_DECREF(k);
    Py_XDECREF(v);
    return rc;
}

static int close_window(Client *c)
{
    for (int kind = 0; kind < RATES; kind++) {
        long n = c->counts[kind];
        if (n == 0)
            continue;
        if (bump(&c->windows[kind], n, 1) < 0)
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

static Client *at(Scanner *s, PyObject *index)
{
    return &s->clients[PyLong_AsSsize_t(index)];
}

static int cache(PyObject *dict, PyObject *key, PyObject *value)
{
    if (PyDict_Size(dict) > CACHE_LIMIT)
        PyDict_Clear(dict);
    return PyDict_SetItem(dict, key, value);
}

/* The client anvil counts for (service, address): created when new. Borrowed index. */
static PyObject *client(Scanner *s, PyObject *service, PyObject *address)
{
    PyObject *network = PyObject_CallFunctionObjArgs(s->network_of, address, NULL);
    if (network == NULL)
        return NULL;
    PyObject *key = PyTuple_Pack(2, service, network), *index = NULL;
    if (key == NULL)
        goto done;
    index = PyDict_GetItemWithError(s->by_key, key);
    if (index == NULL && !PyErr_Occurred()) {
        if (s->count == s->capacity) {
            Py_ssize_t more = s->capacity ? 2 * s->capacity : 1024;
            Client *grown = PyMem_Realloc(s->clients, (size_t)more * sizeof(Client));
            if (grown == NULL) {
                PyErr_NoMemory();
                goto done;
            }
            s->clients = grown, s->capacity = more;
        }
        Client *c = &s->clients[s->count];
        memset(c, 0, sizeof *c);
        c->start = -1;
        c->index = PyLong_FromSsize_t(s->count);
        if (c->index == NULL || PyDict_SetItem(s->by_key, key, c->index) < 0) {
            Py_XDECREF(c->index);
            goto done;
        }
        Py_INCREF(service);
        Py_INCREF(network);
        c->service = service, c->network = network;
        index = c->index;
        s->count++;
    }
    if (index != NULL && PyDict_SetItem(s->by_network, network, index) < 0)
        index = NULL;
done:
    Py_XDECREF(key);
    Py_DECREF(network);
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

/* `raw` is b"syslog name\0address", as the line gave them. Borrowed index. */
static PyObject *client_raw(Scanner *s, PyObject *raw)
{
    PyObject *index = PyDict_GetItemWithError(s->by_raw, raw);
    if (index != NULL) {
        Client *c = at(s, index);
        return PyDict_SetItem(s->by_network, c->network, index) < 0 ? NULL : index;
    }
    if (PyErr_Occurred())
        return NULL;
    char *bytes;
    Py_ssize_t len;
    if (PyBytes_AsStringAndSize(raw, &bytes, &len) < 0)
        return NULL;
    Py_ssize_t zero = (Py_ssize_t)strlen(bytes);
    Text whole = {bytes, len};
    PyObject *name = service(s, slice(whole, 0, zero));
    PyObject *address = name ? as_str(slice(whole, zero + 1, len)) : NULL;
    index = address ? client(s, name, address) : NULL;
    Py_XDECREF(name);
    Py_XDECREF(address);
    if (index != NULL && cache(s->by_raw, raw, index) < 0)
        return NULL;
    return index;
}

static PyObject *raw_key(Text name, Text address)
{
    PyObject *raw = PyBytes_FromStringAndSize(NULL, name.len + 1 + address.len);
    if (raw == NULL)
        return NULL;
    char *p = PyBytes_AsString(raw);
    memcpy(p, name.at, (size_t)name.len);
    p[name.len] = '\0';
    memcpy(p + name.len + 1, address.at, (size_t)address.len);
    return raw;
}

static PyObject *client_named(Scanner *s, Text name, Text address)
{
    PyObject *raw = raw_key(name, address);
    PyObject *index = raw ? client_raw(s, raw) : NULL;
    Py_XDECREF(raw);
    return index;
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

static int seen(Scanner *s, long long now)
{
    if (!s->has_first)
        s->first = now, s->has_first = 1;
    s->last = now;
    return 0;
}

static int connected(Scanner *s, const Said *l)
{
    Text address = client_address(l->message);
    if (address.len == 0) {                      /* cut short */
        s->skipped++;
        return 0;
    }
    seen(s, l->now);
    PyObject *session = as_bytes(l->session);
    if (session == NULL)
        return -1;
    PyObject *earlier = PyDict_GetItemWithError(s->sessions, session);
    if (earlier != NULL) {                       /* its disconnect line is missing */
        Client *c = at(s, earlier);
        c->open = c->open > 0 ? c->open - 1 : 0;
    }
    PyObject *index = PyErr_Occurred() ? NULL : client_named(s, syslog_name(l->program), address);
    int rc = -1;
    if (index != NULL) {
        Client *c = at(s, index);
        c->connections++;
        if (count(s, c, l->now, 0, 1) == 0) {
            c->open++;
            if (c->open > c->peaks[RATES])
                c->peaks[RATES] = c->open;
            if (bump(&c->concurrency, c->open, 1) == 0)
                rc = PyDict_SetItem(s->sessions, session, index);
        }
    }
    Py_DECREF(session);
    return rc;
}

static int disconnected(Scanner *s, const Said *l)
{
    s->last = l->now;
    PyObject *session = as_bytes(l->session);
    if (session == NULL)
        return -1;
    PyObject *index = PyDict_GetItemWithError(s->sessions, session);
    int rc = PyErr_Occurred() ? -1 : 0;
    if (index != NULL) {                         /* else its connect came before the log */
        Client *c = at(s, index);
        c->open = c->open > 0 ? c->open - 1 : 0;
        Text message = l->message;
        Text stats = slice(message, find(message, "]", 0) + 1, message.len);
        char padded[MAX_LINE + 2];
        memcpy(padded, stats.at, (size_t)stats.len);
        padded[stats.len] = ' ';
        Text counters = {padded, stats.len + 1};
        long totals[5];
        for (int i = 0; i < 5; i++) {
            const char *name = PyBytes_AsString(PyTuple_GetItem(s->counted, i));
            totals[i] = total(counters, name);
        }
        long events[RATES] = {0, totals[0], totals[1] + totals[3], totals[2], totals[4]};
        for (int kind = 1; kind < RATES && rc == 0; kind++)
            if (events[kind])
                rc = count(s, c, l->now, kind, events[kind]);
        if (rc == 0)
            rc = PyDict_DelItem(s->sessions, session);
    }
    Py_DECREF(session);
    return rc;
}

/* "Connection rate limit exceeded: 31 from name[addr] for service smtp". The warning names
   master.cf's service, which the syslog name may not show. */
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
    PyObject *name = as_str(named);
    PyObject *network = address ? PyObject_CallFunctionObjArgs(s->network_of, address, NULL) : NULL;
    PyObject *key2 = name && network ? PyTuple_Pack(2, name, network) : NULL;
    PyObject *index = key2 ? PyDict_GetItemWithError(s->by_key, key2) : NULL;
    if (index == NULL && network != NULL && !PyErr_Occurred())
        index = PyDict_GetItemWithError(s->by_network, network);
    if (index == NULL && network != NULL && !PyErr_Occurred()) {
        PyObject *fallback = named.len ? name : PyUnicode_FromString(SMTP);
        index = fallback ? client(s, fallback, address) : NULL;
        if (fallback != name)
            Py_XDECREF(fallback);
    }
    int rc = -1;
    if (index != NULL) {
        Client *c = at(s, index);
        if (c->refusals == NULL)
            c->refusals = PyDict_New();
        if (c->refusals != NULL) {
            PyObject *old = PyDict_GetItemWithError(c->refusals, parameter);
            PyObject *now = PyLong_FromLong((old ? PyLong_AsLong(old) : 0) + 1);
            rc = now ? PyDict_SetItem(c->refusals, parameter, now) : -1;
            Py_XDECREF(now);
        }
    }
    Py_XDECREF(address);
    Py_XDECREF(name);
    Py_XDECREF(network);
    Py_XDECREF(key2);
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
    PyObject *queue_id = as_bytes(slice(m, 0, client_at));
    PyObject *raw = queue_id ? raw_key(syslog_name(l->program),
                                       client_address(slice(m, client_at + 9, m.len))) : NULL;
    int rc = raw ? cache(s->queue, queue_id, raw) : -1;
    Py_XDECREF(queue_id);
    Py_XDECREF(raw);
    return rc;
}

static int qmgr(Scanner *s, const Said *l)
{
    Text m = l->message;
    if (find(m, ", size=", 0) < 0)
        return 0;
    Py_ssize_t from = find(m, ": from=", 0);
    Text queue_id = from < 0 ? m : slice(m, 0, from);
    Text rest = from < 0 ? slice(m, m.len, m.len) : slice(m, from + 7, m.len);
    PyObject *key = as_bytes(queue_id);
    if (key == NULL)
        return -1;
    PyObject *raw = PyDict_GetItemWithError(s->queue, key);
    int rc = 0;
    if (raw != NULL) {
        Py_INCREF(raw);
        rc = PyDict_DelItem(s->queue, key);
        Py_ssize_t size_at = find(rest, ", size=", 0);
        Text size = size_at < 0 ? slice(rest, 0, 0) : slice(rest, size_at + 7, rest.len);
        Py_ssize_t comma = find(size, ",", 0);
        long long bytes = number(comma < 0 ? size : slice(size, 0, comma));
        if (rc == 0 && bytes >= 0) {
            PyObject *index = client_raw(s, raw);
            if (index == NULL)
                rc = -1;
            else if (bytes > at(s, index)->largest)
                at(s, index)->largest = bytes;
        }
        Py_DECREF(raw);
    } else if (PyErr_Occurred())
        rc = -1;
    Py_DECREF(key);
    return rc;
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
    static char *names[] = {"unit", "service_of", "network_of", "warnings", "counted", NULL};
    PyObject *warnings, *counted;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "LOOO!O!", names, &s->unit, &s->service_of,
                                     &s->network_of, &PyDict_Type, &warnings, &PyTuple_Type,
                                     &counted))
        return -1;
    if (PyTuple_Size(counted) != 5) {
        PyErr_SetString(PyExc_ValueError, "counted: five names");
        return -1;
    }
    Py_INCREF(s->service_of);
    Py_INCREF(s->network_of);
    s->warnings = PyDict_New();
    s->counted = PyTuple_New(5);
    if (s->warnings == NULL || s->counted == NULL)
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
    for (Py_ssize_t i = 0; i < 5; i++) {
        PyObject *name = PyUnicode_FromFormat(" %U=", PyTuple_GetItem(counted, i));
        PyObject *bytes = name ? PyUnicode_AsUTF8String(name) : NULL;
        Py_XDECREF(name);
        if (bytes == NULL || PyTuple_SetItem(s->counted, i, bytes) < 0)
            return -1;
    }
    s->by_key = PyDict_New(), s->by_raw = PyDict_New(), s->by_network = PyDict_New();
    s->services = PyDict_New(), s->sessions = PyDict_New(), s->queue = PyDict_New();
    if (!s->by_key || !s->by_raw || !s->by_network || !s->services || !s->sessions || !s->queue)
        return -1;
    return 0;
}

static void Scanner_dealloc(Scanner *s)
{
    for (Py_ssize_t i = 0; i < s->count; i++) {
        Client *c = &s->clients[i];
        Py_XDECREF(c->service), Py_XDECREF(c->network), Py_XDECREF(c->index);
        for (int k = 0; k < RATES; k++)
            Py_XDECREF(c->windows[k]);
        Py_XDECREF(c->concurrency), Py_XDECREF(c->refusals);
    }
    PyMem_Free(s->clients);
    Py_XDECREF(s->service_of), Py_XDECREF(s->network_of), Py_XDECREF(s->warnings);
    Py_XDECREF(s->counted), Py_XDECREF(s->by_key), Py_XDECREF(s->by_raw);
    Py_XDECREF(s->by_network), Py_XDECREF(s->services), Py_XDECREF(s->sessions);
    Py_XDECREF(s->queue);
    PyTypeObject *type = Py_TYPE((PyObject *)s);
    freefunc tp_free = (freefunc)PyType_GetSlot(type, Py_tp_free);
    tp_free(s);
    Py_DECREF(type);
}

static PyObject *Scanner_feed(Scanner *s, PyObject *data)
{
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const char *p = view.buf, *end = p + view.len;
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
    PyBuffer_Release(&view);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* Closes every window and gives each client as a tuple: service, network, connections, largest
   message, peaks (connection, message, recipient, auth, tls, concurrency), window histograms
   (one dict per rate, None for none), concurrency histogram, refusals (dict or None). */
static PyObject *Scanner_clients(Scanner *s, PyObject *unused)
{
    PyObject *found = PyList_New(s->count);
    for (Py_ssize_t i = 0; found && i < s->count; i++) {
        Client *c = &s->clients[i];
        if (close_window(c) < 0)
            goto failed;
        PyObject *peaks = PyTuple_New(RATES + 1), *windows = PyTuple_New(RATES);
        for (int k = 0; peaks && windows && k <= RATES; k++) {
            PyTuple_SetItem(peaks, k, PyLong_FromLong(c->peaks[k]));
            if (k < RATES)
                PyTuple_SetItem(windows, k, Py_NewRef(c->windows[k] ? c->windows[k] : Py_None));
        }
        PyObject *item = peaks && windows ? Py_BuildValue(
            "(OOlLOOOO)", c->service, c->network, c->connections, c->largest, peaks, windows,
            c->concurrency ? c->concurrency : Py_None, c->refusals ? c->refusals : Py_None)
            : NULL;
        Py_XDECREF(peaks);
        Py_XDECREF(windows);
        if (item == NULL || PyErr_Occurred())
            goto failed;
        PyList_SetItem(found, i, item);
    }
    return found;
failed:
    Py_XDECREF(found);
    return NULL;
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
                         "first", s->has_first ? PyLong_FromLongLong(s->first) : Py_NewRef(Py_None),
                         "last", s->has_first ? PyLong_FromLongLong(s->last) : Py_NewRef(Py_None));
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
    {"feed", (PyCFunction)Scanner_feed, METH_O, "Read the lines in a bytes-like object."},
    {"clients", (PyCFunction)Scanner_clients, METH_NOARGS, "Close every window; the clients."},
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
    int rc = PyModule_AddObjectRef(module, "Scanner", type);
    Py_DECREF(type);
    return rc;
}

static PyModuleDef_Slot module_slots[] = {{Py_mod_exec, exec_module}, {0, NULL}};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_scan", "The traffic reader's hot loop (see _scan.c).", 0, NULL,
    module_slots,
};

PyMODINIT_FUNC PyInit__scan(void) { return PyModuleDef_Init(&module_def); }
