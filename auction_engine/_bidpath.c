/* The engine's hot path for an English bid (auction_engine.engine.Engine.submit), in C.
 *
 * A valid manual bid on an English lot is most of what a market handles. In Python its path runs
 * through about fifteen functions (submit, Market.handle, the English rule `_bid`, `accept`, `_write`,
 * the recorder, `_record_bid`, `_arm`); here it is one call. The Python rules stay the reference and
 * the only place a rule is decided: this function takes only the case that every rule accepts, and
 * declines everything else *before changing anything* by returning None, and then `submit` runs the
 * Python path, which accepts or rejects the bid and writes its reasons. A property test plays random
 * commands through both paths and compares the ledgers byte for byte and the lots field by field.
 *
 *   configure(Engine, Market, Recorder, Lot, EnglishState, EnglishParams, SettlementParams, Ranked, Result,
 *             Event, Appended, log_append, SimClock, Environment)
 *       The classes the path checks, reads by their __slots__ and builds, the ledger's native
 *       `log_append` (or None: then it calls `log.append`), and the simulated clock's classes (whose
 *       time it reads directly). engine.py calls it once, at import.
 *   english_bid(engine, cmd, now) -> Result | None
 *       Engine.submit(cmd) at time `now` (due deadlines already fired); with now=None, at submit's own
 *       time, max(clock.now(), the last entry's time), declining if a deadline is due by then. For cmd exactly
 *       {"op": "bid", "actor": str, "lot": str, "amount": int} (any order; ASCII texts), when the
 *       lot is an English lot taking bids (free or timed bidding, before its deadline) with no proxy
 *       bids standing, the actor is admitted with the deposit the lot requires, is not its seller,
 *       an operator or (unless the lot allows it) the leader, and the amount is on the bid grid above
 *       the current price; the engine is not replaying (`_expect` is None) and records through a
 *       plain `Recorder`; the engine, its market, the lot, its state and params are exactly the
 *       configured classes, and the lot counts its own entries (`lot.entries` an int). It does what the Python path does, in the same order: the bid's entry
 *       (the command less `op`, `ok`, `rule`, `lot_seq`), the event, the lot's entry count, new price,
 *       leader, best bid and countdown, the deadline heap. None in every other case, with nothing changed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "_small_int.h"
#include <structmember.h> /* T_OBJECT_EX: how a __slots__ field is stored */


static PyObject *Engine_cls, *Market_cls, *Recorder_cls, *Lot_cls, *State_cls, *Params_cls, *Settle_cls;
static PyObject *Ranked_cls, *Result_cls, *Event_cls, *Appended_cls, *log_append_fn, *SimClock_cls, *Environment_cls;

/* Interned names: dict keys, attribute names and the texts the path writes. */
static PyObject *k_op, *k_actor, *k_lot, *k_amount, *k_ok, *k_rule, *k_lot_seq;
static PyObject *v_bid, *v_english, *v_free, *v_timed, *v_append;
static PyObject *r_start_free, *r_start_timed, *r_inc_free, *r_inc_timed;
static PyObject *a_arm, *a_now_, *a_now;

/* Where the fields of the objects this path reads sit (classes with __slots__: Engine, Market, Recorder,
 * SimClock, Lot, EnglishState, EnglishParams, SettlementParams), read from their member descriptors at
 * configure time: for an object whose class is exactly that class, a field is then one pointer (NULL:
 * unset), without an attribute lookup (which cost most of this path's instructions). */
enum {
    E_CLOCK, E_RECORDER, E_MARKET, E_KEEP_EVENTS, E_EVENTS, E_ON_EVENT, E_HEAP, E_LAST_T, E_CURRENT, E_ACCEPTED,
    E_T, E_IN_RULE, E_RULE, E_EXPECT, E_COUNT
};
enum { M_LOTS, M_OPERATORS, M_COUNT };
enum { R_LOG, R_SIZE, R_COUNT };
enum { C_ENV, C_COUNT };
enum { L_MODE, L_PHASE, L_SELLER, L_STATE, L_PARAMS, L_SETTLEMENT, L_DEPOSITS, L_ENTRIES, L_ARMED, L_COUNT };
enum {
    S_DEADLINE, S_PROXIES, S_LEADER, S_HIGH, S_ORDER, S_BIDS, S_EXTENSIONS, S_BEST, S_HARD_CLOSE,
    S_LEADER_PRIORITY, S_LEADER_ORDER, S_COUNT
};
enum { P_START_PRICE, P_INCREMENT, P_MAX_EXTENSIONS, P_COUNTDOWN_MS, P_LEADER_MAY_RAISE, P_COUNT };
enum { SP_DEPOSIT, SP_DEPOSIT_BP, SP_COUNT };
static const char *engine_fields[E_COUNT] = {
    "clock", "recorder", "market", "keep_events", "events", "on_event", "_heap", "_last_t", "_current",
    "_accepted", "_t", "_in_rule", "_rule", "_expect"};
static const char *market_fields[M_COUNT] = {"lots", "operators"};
static const char *recorder_fields[R_COUNT] = {"log", "size"};
static const char *clock_fields[C_COUNT] = {"env"};
static const char *lot_fields[L_COUNT] = {
    "mode", "phase", "seller", "state", "params", "settlement", "deposits", "entries", "armed"};
static const char *state_fields[S_COUNT] = {
    "deadline", "proxies", "leader", "high", "order", "bids", "extensions", "best", "hard_close",
    "leader_priority", "leader_order"};
static const char *params_fields[P_COUNT] = {
    "start_price", "increment", "max_extensions", "countdown_ms", "leader_may_raise"};
static const char *settle_fields[SP_COUNT] = {"deposit", "deposit_bp"};
static Py_ssize_t engine_at[E_COUNT], market_at[M_COUNT], recorder_at[R_COUNT], clock_at[C_COUNT];
static Py_ssize_t lot_at[L_COUNT], state_at[S_COUNT], params_at[P_COUNT], settle_at[SP_COUNT];

#define SLOT(obj, offset) (*(PyObject **)((char *)(obj) + (offset)))

/* Ask for an object's first two cache lines ahead of its use. A market's lots are many, so a lot's
 * objects are seldom in the caches, and each is found through the one before: asked for together,
 * their fetches overlap instead of waiting one after another. (A hint: it changes no result.) */
static inline void
prefetch(const void *p)
{
#if defined(__GNUC__)
    if (p != NULL) {
        __builtin_prefetch(p);
        __builtin_prefetch((const char *)p + 64);
    }
#else
    (void)p;
#endif
}

/* The same for the header of the allocator's pool holding `p` (pymalloc's pools are 16 KiB, aligned),
 * which freeing `p` writes to: for the objects a bid replaces. */
static inline void
prefetch_pool(const void *p)
{
#if defined(__GNUC__)
    if (p != NULL) __builtin_prefetch((const void *)((uintptr_t)p & ~(uintptr_t)16383), 1);
#else
    (void)p;
#endif
}

/* Set a slot to a new reference (stolen); the old value is released. */
static int
put_slot(PyObject *obj, Py_ssize_t offset, PyObject *value)
{
    if (value == NULL) return -1;
    PyObject *old = SLOT(obj, offset);
    SLOT(obj, offset) = value;
    Py_XDECREF(old);
    return 0;
}

static int
find_slots(PyObject *cls, const char **names, Py_ssize_t *offsets, int n)
{
    for (int i = 0; i < n; i++) {
        PyObject *descr = PyObject_GetAttrString(cls, names[i]);
        if (descr == NULL) return -1;
        int ok = Py_TYPE(descr) == &PyMemberDescr_Type;
        if (ok) {
            PyMemberDef *m = ((PyMemberDescrObject *)descr)->d_member;
            ok = m->type == T_OBJECT_EX && !(m->flags & READONLY);
            offsets[i] = m->offset;
        }
        Py_DECREF(descr);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "configure: %R.%s must be a writable __slots__ field", cls, names[i]);
            return -1;
        }
    }
    return 0;
}

/* Whether a and b are equal exact str objects: by identity, else two interned strings differ, else by
 * length, kind and code units (CPython keeps every str in its narrowest kind, so equal texts agree on all). */
static int
same_text(PyObject *a, PyObject *b)
{
    if (a == b) return 1;
    if (!PyUnicode_CheckExact(a) || !PyUnicode_CheckExact(b)) return 0;
    if (PyUnicode_CHECK_INTERNED(a) && PyUnicode_CHECK_INTERNED(b)) return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(a);
    if (n != PyUnicode_GET_LENGTH(b) || PyUnicode_KIND(a) != PyUnicode_KIND(b)) return 0;
    return memcmp(PyUnicode_DATA(a), PyUnicode_DATA(b), (size_t)n * PyUnicode_KIND(a)) == 0;
}

/* A new instance of a tuple subclass (a named tuple) holding `n` new references, stolen (also on failure,
 * which a NULL item, an allocation that failed while building them, means too). */
static PyObject *
new_tuple_of(PyObject *cls, Py_ssize_t n, PyObject **items)
{
    PyTypeObject *type = (PyTypeObject *)cls;
    PyObject *t = NULL;
    for (Py_ssize_t i = 0; i < n; i++)
        if (items[i] == NULL) goto fail;
    if ((t = type->tp_alloc(type, n)) == NULL) goto fail;
    for (Py_ssize_t i = 0; i < n; i++) PyTuple_SET_ITEM(t, i, items[i]);
    return t;
fail:
    for (Py_ssize_t i = 0; i < n; i++) Py_XDECREF(items[i]);
    return NULL;
}

/* A slot's value (borrowed), declining if it is unset (the Python path raises AttributeError for it). */
#define FIELD(var, obj, offset)         \
    do {                                \
        var = SLOT((obj), (offset));    \
        if (var == NULL) goto decline;  \
    } while (0)

/* The bid's entry: the command without its op, in its own order, then ok, rule and lot_seq (accept, _write). */
static PyObject *
bid_payload(PyObject *cmd, PyObject *rule, PyObject *lot_seq)
{
#if PY_VERSION_HEX < 0x030D0000
    PyObject *payload = _PyDict_NewPresized(6); /* one allocation for the six fields, no resize */
#else
    PyObject *payload = PyDict_New();
#endif
    if (payload == NULL) return NULL;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(cmd, &pos, &key, &value)) {
        if (same_text(key, k_op)) continue; /* cmd's keys are the four checked ones */
        if (PyDict_SetItem(payload, key, value) < 0) goto error;
    }
    if (PyDict_SetItem(payload, k_ok, Py_True) < 0 || PyDict_SetItem(payload, k_rule, rule) < 0 ||
        PyDict_SetItem(payload, k_lot_seq, lot_seq) < 0)
        goto error;
    return payload;
error:
    Py_DECREF(payload);
    return NULL;
}

/* Hand the entry to the ledger: its native append, else (declined, or not built) `log.append`. */
static int
append_entry(PyObject *log, PyObject *payload, PyObject *now_obj)
{
    PyObject *appended = NULL;
    if (log_append_fn != NULL) { /* it declines a log that is not exactly a Log, or in an odd state */
        PyObject *call[5] = {log, Appended_cls, v_bid, payload, now_obj};
        appended = PyObject_Vectorcall(log_append_fn, call, 5, NULL);
        if (appended == NULL) return -1;
        if (appended == Py_None) Py_CLEAR(appended); /* declined: the Python method decides */
    }
    if (appended == NULL) {
        PyObject *call[4] = {log, v_bid, payload, now_obj};
        appended = PyObject_VectorcallMethod(v_append, call, 4, NULL);
        if (appended == NULL) return -1;
    }
    Py_DECREF(appended); /* a bid's leaf hash is not kept (only a deal's is) */
    return 0;
}

/* Engine.events.append(event) and/or Engine.on_event(event), as _write does. */
static int
hand_on_event(PyObject *engine, int keeping, PyObject *on_event, long long seq, PyObject *now_obj, PyObject *payload)
{
    Py_INCREF(now_obj);
    Py_INCREF(v_bid);
    Py_INCREF(payload);
    PyObject *items[4] = {PyLong_FromLongLong(seq), now_obj, v_bid, payload};
    PyObject *event = new_tuple_of(Event_cls, 4, items);
    if (event == NULL) return -1;
    int bad = 0;
    if (keeping) {
        PyObject *events = SLOT(engine, engine_at[E_EVENTS]);
        if (events == NULL) {
            PyErr_SetString(PyExc_AttributeError, "'Engine' object has no attribute 'events'");
            bad = 1;
        }
        else {
            Py_INCREF(events);
            bad = PyList_Append(events, event) < 0; /* any list-like: Python calls its append */
            Py_DECREF(events);
        }
    }
    if (!bad && on_event != Py_None) {
        PyObject *r = PyObject_CallOneArg(on_event, event);
        bad = r == NULL;
        Py_XDECREF(r);
    }
    Py_DECREF(event);
    return bad ? -1 : 0;
}

/* Set an engine slot to `value` (a new reference is taken). */
static void
set_field(PyObject *engine, int field, PyObject *value)
{
    Py_INCREF(value);
    PyObject *old = SLOT(engine, engine_at[field]);
    SLOT(engine, engine_at[field]) = value;
    Py_XDECREF(old);
}

/* The engine's fields as `submit` leaves them once `accept` has run: in the rule (or out of it, after). */
static void
set_engine_state(PyObject *engine, PyObject *now_obj, PyObject *cmd, PyObject *rule, int in_rule)
{
    set_field(engine, E_T, now_obj);
    set_field(engine, E_CURRENT, cmd);
    set_field(engine, E_ACCEPTED, Py_True);
    set_field(engine, E_RULE, rule);
    set_field(engine, E_IN_RULE, in_rule ? Py_True : Py_False);
}

static PyObject *
bp_english_bid(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "english_bid(engine, cmd, now)");
        return NULL;
    }
    if (Result_cls == NULL) Py_RETURN_NONE; /* not configured */
    PyObject *engine = args[0], *cmd = args[1], *now_obj = args[2];
    long long now, amount;
    if (!PyDict_CheckExact(cmd) || PyDict_GET_SIZE(cmd) != 4) Py_RETURN_NONE;
    PyObject *op = PyDict_GetItemWithError(cmd, k_op);
    if (op == NULL || !same_text(op, v_bid)) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    PyObject *actor = PyDict_GetItemWithError(cmd, k_actor);
    PyObject *lot_id = actor ? PyDict_GetItemWithError(cmd, k_lot) : NULL;
    PyObject *amount_obj = lot_id ? PyDict_GetItemWithError(cmd, k_amount) : NULL;
    if (amount_obj == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    if (!PyUnicode_CheckExact(actor) || !PyUnicode_IS_ASCII(actor) || PyUnicode_GET_LENGTH(actor) == 0 ||
        !PyUnicode_CheckExact(lot_id) || !PyUnicode_IS_ASCII(lot_id) || !small_int(amount_obj, &amount) || amount < 0)
        Py_RETURN_NONE;

    PyObject *held[40];
    int nheld = 0;
    /* The command's values and the lot are used after callbacks (on_event) may have run: hold them. */
    Py_INCREF(actor);
    Py_INCREF(lot_id);
    Py_INCREF(amount_obj);
    held[nheld++] = actor;
    held[nheld++] = lot_id;
    held[nheld++] = amount_obj;
    PyObject *result = NULL, *payload = NULL, *on_event = NULL;
    PyObject *expect, *recorder, *market, *lots, *operators, *lot, *params, *state, *settle, *deposit, *log;
    PyObject *size_obj, *keep, *start_obj, *inc_obj, *rule, *max_ext_obj, *countdown_obj;
    long long deadline, high = 0, start, inc, needed, held_fen = 0, order, bids, ext, max_ext = 0, hard = 0;
    long long countdown = 0, size, seq_n = 0, prior_amount = 0;
    int capped = 0, hard_capped = 0; /* max_extensions and hard_close set (read before any callback) */

    if ((PyObject *)Py_TYPE(engine) != Engine_cls) goto decline; /* a subclass may do things its own way */
    if (now_obj == Py_None) {
        /* submit's own time: max(clock.now(), the last entry's time); a simpy clock read directly */
        PyObject *clock, *last_obj, *heap;
        long long last;
        FIELD(clock, engine, engine_at[E_CLOCK]);
        if ((PyObject *)Py_TYPE(clock) == SimClock_cls) {
            PyObject *env;
            FIELD(env, clock, clock_at[C_ENV]);
            if ((PyObject *)Py_TYPE(env) != Environment_cls) goto decline;
            now_obj = PyObject_GetAttr(env, a_now_);
        }
        else
            now_obj = PyObject_CallMethodNoArgs(clock, a_now);
        if (now_obj == NULL) goto error;
        held[nheld++] = now_obj;
        FIELD(last_obj, engine, engine_at[E_LAST_T]);
        if (!small_int(now_obj, &now) || !small_int(last_obj, &last)) goto decline;
        if (last > now) {
            now = last;
            now_obj = last_obj;
            Py_INCREF(now_obj);
            held[nheld++] = now_obj;
        }
        /* a deadline due first: `submit` fires it (and may then come back here with its time) */
        FIELD(heap, engine, engine_at[E_HEAP]);
        if (!PyList_CheckExact(heap)) goto decline;
        if (PyList_GET_SIZE(heap)) {
            PyObject *top = PyList_GET_ITEM(heap, 0);
            long long due;
            if (!PyTuple_Check(top) || PyTuple_GET_SIZE(top) < 1 || !small_int(PyTuple_GET_ITEM(top, 0), &due) ||
                due <= now)
                goto decline;
        }
    }
    else if (!small_int(now_obj, &now))
        goto decline;

    /* -- everything checked first: decline (None) before any change ------------------------------- */
    FIELD(expect, engine, engine_at[E_EXPECT]);
    if (expect != Py_None) goto decline; /* replaying: the Python path compares every entry */
    FIELD(recorder, engine, engine_at[E_RECORDER]);
    if ((PyObject *)Py_TYPE(recorder) != Recorder_cls) goto decline;
    Py_INCREF(recorder);
    held[nheld++] = recorder;
    FIELD(market, engine, engine_at[E_MARKET]);
    if ((PyObject *)Py_TYPE(market) != Market_cls) goto decline;
    FIELD(lots, market, market_at[M_LOTS]);
    if (!PyDict_CheckExact(lots)) goto decline;
    lot = PyDict_GetItemWithError(lots, lot_id);
    if (lot == NULL) {
        if (PyErr_Occurred()) goto error;
        goto decline; /* an unknown lot: the Python path rejects it */
    }
    prefetch((const char *)lot + 128); /* a Lot's fields span three lines; Py_INCREF reads the first */
    Py_INCREF(lot);
    held[nheld++] = lot;
    if ((PyObject *)Py_TYPE(lot) != Lot_cls) goto decline;
    prefetch(SLOT(lot, lot_at[L_STATE]));
    prefetch(SLOT(lot, lot_at[L_DEPOSITS]));
    prefetch(SLOT(lot, lot_at[L_ARMED])); /* read at the end, to re-arm or not */
    PyObject *mode = SLOT(lot, lot_at[L_MODE]), *phase = SLOT(lot, lot_at[L_PHASE]);
    if (mode == NULL || phase == NULL || !same_text(mode, v_english)) goto decline;
    int timed = same_text(phase, v_timed);
    if (!timed && !same_text(phase, v_free)) goto decline;
    PyObject *seller = SLOT(lot, lot_at[L_SELLER]);
    if (seller == NULL || same_text(actor, seller)) goto decline;
    FIELD(operators, market, market_at[M_OPERATORS]);
    if (!PyAnySet_Check(operators)) goto decline;
    int is_operator = PySet_Contains(operators, actor);
    if (is_operator < 0) goto error;
    if (is_operator) goto decline;
    state = SLOT(lot, lot_at[L_STATE]);
    params = SLOT(lot, lot_at[L_PARAMS]);
    if (state == NULL || params == NULL || (PyObject *)Py_TYPE(state) != State_cls ||
        (PyObject *)Py_TYPE(params) != Params_cls)
        goto decline;
    Py_INCREF(state);
    held[nheld++] = state;
    PyObject **f[S_COUNT];
    for (int i = 0; i < S_COUNT; i++) {
        f[i] = &SLOT(state, state_at[i]);
        if (*f[i] == NULL) goto decline; /* an unset field: Python raises for it */
    }
    prefetch(*f[S_DEADLINE]);
    prefetch(*f[S_HIGH]);
    prefetch(*f[S_BEST]);
    prefetch(*f[S_PROXIES]);
    {
        PyObject *d = SLOT(lot, lot_at[L_DEPOSITS]); /* asked for above: its keys next */
        if (d != NULL && PyDict_CheckExact(d)) prefetch(((PyDictObject *)d)->ma_keys);
    }
    if (!small_int(*f[S_DEADLINE], &deadline) || now >= deadline) goto decline;
    if (!PyDict_CheckExact(*f[S_PROXIES]) || PyDict_GET_SIZE(*f[S_PROXIES]) != 0) goto decline; /* proxies: Python */
    FIELD(start_obj, params, params_at[P_START_PRICE]);
    FIELD(inc_obj, params, params_at[P_INCREMENT]);
    if (!small_int(start_obj, &start) || !small_int(inc_obj, &inc) || inc <= 0 || start < 0) goto decline;
    /* Admitted with the deposit required_deposit(lot, start_price) asks. */
    settle = SLOT(lot, lot_at[L_SETTLEMENT]);
    if (settle == NULL || (PyObject *)Py_TYPE(settle) != Settle_cls) goto decline;
    FIELD(deposit, settle, settle_at[SP_DEPOSIT]);
    if (deposit == Py_None) {
        PyObject *bp_obj;
        long long bp;
        FIELD(bp_obj, settle, settle_at[SP_DEPOSIT_BP]);
        if (!small_int(bp_obj, &bp) || bp < 0) goto decline;
        __int128 product = (__int128)bp * start / 10000; /* non-negative: C's division floors as Python's */
        if (product >= LIMIT) goto decline;
        needed = (long long)product;
    }
    else if (!small_int(deposit, &needed)) goto decline;
    if (PyDict_CheckExact(*f[S_BEST])) prefetch(((PyDictObject *)*f[S_BEST])->ma_keys); /* looked up below */
    PyObject *deposits = SLOT(lot, lot_at[L_DEPOSITS]);
    if (deposits == NULL || !PyDict_CheckExact(deposits)) goto decline;
    PyObject *held_obj = PyDict_GetItemWithError(deposits, actor);
    if (held_obj == NULL && PyErr_Occurred()) goto error;
    if (held_obj != NULL && !small_int(held_obj, &held_fen)) goto decline;
    if (!(held_fen >= needed && (held_fen != 0 || needed != 0 || held_obj != NULL))) goto decline;
    PyObject *leader = *f[S_LEADER];
    if (leader != Py_None && same_text(leader, actor)) {
        PyObject *may;
        FIELD(may, params, params_at[P_LEADER_MAY_RAISE]);
        if (may != Py_True) goto decline;
    }
    /* On the grid: the first bid at least the start, every later one above the price by whole increments. */
    if (*f[S_HIGH] == Py_None) {
        if (amount < start || (amount - start) % inc) goto decline;
        rule = timed ? r_start_timed : r_start_free;
    }
    else {
        if (!small_int(*f[S_HIGH], &high) || amount <= high || (amount - high) % inc) goto decline;
        rule = timed ? r_inc_timed : r_inc_free;
    }
    /* What _record_bid and _write read, checked now so that nothing can fail half-way for lack of it. */
    PyObject *best = *f[S_BEST], *hard_obj = *f[S_HARD_CLOSE];
    if (!small_int(*f[S_ORDER], &order) || !small_int(*f[S_BIDS], &bids) || !small_int(*f[S_EXTENSIONS], &ext) ||
        !PyDict_CheckExact(best))
        goto decline;
    Py_INCREF(best);
    held[nheld++] = best;
    PyObject *prior = PyDict_GetItemWithError(best, actor);
    if (prior == NULL && PyErr_Occurred()) goto error;
    if (prior != NULL &&
        (!PyTuple_Check(prior) || PyTuple_GET_SIZE(prior) < 2 || !small_int(PyTuple_GET_ITEM(prior, 1), &prior_amount)))
        goto decline;
    if (prior != NULL && PyTuple_GET_SIZE(prior) >= 3) { /* a better bid frees it, and maybe its price and time */
        prefetch_pool(prior);
        prefetch_pool(PyTuple_GET_ITEM(prior, 1));
        prefetch(PyTuple_GET_ITEM(prior, 2));
        prefetch_pool(PyTuple_GET_ITEM(prior, 2));
    }
    prefetch_pool(*f[S_DEADLINE]); /* a restarted countdown frees the old deadline */
    if (timed) {
        FIELD(max_ext_obj, params, params_at[P_MAX_EXTENSIONS]);
        FIELD(countdown_obj, params, params_at[P_COUNTDOWN_MS]);
        capped = max_ext_obj != Py_None;
        hard_capped = hard_obj != Py_None;
        if ((capped && !small_int(max_ext_obj, &max_ext)) || (hard_capped && !small_int(hard_obj, &hard)) ||
            !small_int(countdown_obj, &countdown))
            goto decline;
    }
    /* the lot's entries so far (None: still counted in the engine's map, which Python takes over) */
    if (!small_int(SLOT(lot, lot_at[L_ENTRIES]), &seq_n) || seq_n < 0) goto decline;
    FIELD(log, recorder, recorder_at[R_LOG]);
    Py_INCREF(log);
    held[nheld++] = log;
    FIELD(size_obj, recorder, recorder_at[R_SIZE]);
    if (!small_int(size_obj, &size)) goto decline;
    FIELD(keep, engine, engine_at[E_KEEP_EVENTS]);
    FIELD(on_event, engine, engine_at[E_ON_EVENT]);
    Py_INCREF(on_event); /* released at `done` (no decline below) */
    int keeping = PyObject_IsTrue(keep);
    if (keeping < 0) goto error;

    /* -- the Python path's changes, in its order (submit, accept, _write, _record_bid, _arm) -------
     * The engine's fields are set as `accept` leaves them; with an on_event callback, which may look,
     * before the entry is handed on, else once (nothing else runs in between). */
    {
        PyObject *n = PyLong_FromLongLong(seq_n);
        payload = n == NULL ? NULL : bid_payload(cmd, rule, n);
        Py_XDECREF(n);
        if (payload == NULL) goto error;
    }
    if (on_event != Py_None) set_engine_state(engine, now_obj, cmd, rule, 1);
    if (put_slot(lot, lot_at[L_ENTRIES], PyLong_FromLongLong(seq_n + 1)) < 0) goto failed;
    if (log != Py_None && append_entry(log, payload, now_obj) < 0) goto failed;
    {
        PyObject *n = PyLong_FromLongLong(size + 1);
        if (n == NULL) goto failed;
        PyObject *old = SLOT(recorder, recorder_at[R_SIZE]);
        SLOT(recorder, recorder_at[R_SIZE]) = n;
        Py_XDECREF(old);
        set_field(engine, E_LAST_T, now_obj);
    }
    if ((keeping || on_event != Py_None) && hand_on_event(engine, keeping, on_event, size, now_obj, payload) < 0)
        goto failed;
    /* _record_bid: the new price, leader and priority; the bidder's best bid; the countdown */
    order += 1;
    Py_INCREF(amount_obj);
    Py_INCREF(actor);
    Py_INCREF(now_obj);
    if (put_slot(state, state_at[S_ORDER], PyLong_FromLongLong(order)) < 0 ||
        put_slot(state, state_at[S_HIGH], amount_obj) < 0 || put_slot(state, state_at[S_LEADER], actor) < 0 ||
        put_slot(state, state_at[S_LEADER_PRIORITY], now_obj) < 0 ||
        put_slot(state, state_at[S_LEADER_ORDER], PyLong_FromLongLong(order)) < 0 ||
        put_slot(state, state_at[S_BIDS], PyLong_FromLongLong(bids + 1)) < 0)
        goto failed;
    if (prior == NULL || amount > prior_amount) {
        Py_INCREF(actor);
        Py_INCREF(amount_obj);
        Py_INCREF(now_obj);
        PyObject *items[4] = {actor, amount_obj, now_obj, PyLong_FromLongLong(order)};
        PyObject *ranked = new_tuple_of(Ranked_cls, 4, items);
        if (ranked == NULL) goto failed;
        /* A text and three ints can form no cycle: out of the collector's lists, it costs nothing to keep
         * and, when replaced, frees without touching the neighbours it would have been linked to. */
        PyObject_GC_UnTrack(ranked);
        int bad = PyDict_SetItem(best, actor, ranked) < 0;
        Py_DECREF(ranked);
        if (bad) goto failed;
    }
    long long new_deadline = deadline;
    if (timed && (!capped || ext < max_ext)) {
        long long end = now + countdown;
        if (hard_capped && hard < end) end = hard;
        if (end > deadline) {
            new_deadline = end;
            if (put_slot(state, state_at[S_DEADLINE], PyLong_FromLongLong(end)) < 0 ||
                put_slot(state, state_at[S_EXTENSIONS], PyLong_FromLongLong(ext + 1)) < 0)
                goto failed;
        }
    }
    set_engine_state(engine, now_obj, Py_None, rule, 0);
    {   /* _arm: the heap already holds an entry at or before the new deadline, or Python adds one */
        long long armed;
        if (!small_int(SLOT(lot, lot_at[L_ARMED]), &armed) || armed > new_deadline) {
            PyObject *r = PyObject_CallMethodOneArg(engine, a_arm, lot);
            if (r == NULL) goto error;
            Py_DECREF(r);
        }
    }
    {
        Py_INCREF(Py_True);
        Py_INCREF(Py_None);
        Py_INCREF(Py_None);
        Py_INCREF(rule);
        PyObject *items[5] = {Py_True, PyLong_FromLongLong(size), Py_None, Py_None, rule};
        result = new_tuple_of(Result_cls, 5, items);
    }
    goto done;

failed: /* as the Python path leaves the engine when an exception escapes `accept` or `_record_bid` */
    {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        set_engine_state(engine, now_obj, cmd, rule, 0);
        PyErr_Restore(type, value, tb);
    }
error:
    result = NULL;
done:
    Py_XDECREF(payload);
    Py_XDECREF(on_event);
    for (int i = 0; i < nheld; i++) Py_DECREF(held[i]);
    return result;
decline:
    for (int i = 0; i < nheld; i++) Py_DECREF(held[i]);
    Py_RETURN_NONE;
}

static PyObject *
bp_configure(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    enum {
        ENGINE, MARKET, RECORDER, LOT, STATE, PARAMS, SETTLE, RANKED, RESULT, EVENT, APPENDED, LOG_APPEND, SIMCLOCK,
        ENVIRONMENT, NARGS
    };
    if (nargs != NARGS) {
        PyErr_SetString(PyExc_TypeError, "configure(Engine, Market, Recorder, Lot, EnglishState, EnglishParams, "
                                         "SettlementParams, Ranked, Result, Event, Appended, log_append, SimClock, "
                                         "Environment)");
        return NULL;
    }
    for (int i = 0; i < NARGS; i++) {
        if (i != LOG_APPEND && !PyType_Check(args[i])) {
            PyErr_Format(PyExc_TypeError, "configure: argument %d must be a class", i + 1);
            return NULL;
        }
    }
    for (int i = RANKED; i <= APPENDED; i++) {
        if (!PyType_IsSubtype((PyTypeObject *)args[i], &PyTuple_Type)) {
            PyErr_Format(PyExc_TypeError, "configure: argument %d must be a named tuple class", i + 1);
            return NULL;
        }
    }
    if (args[LOG_APPEND] != Py_None && !PyCallable_Check(args[LOG_APPEND])) {
        PyErr_SetString(PyExc_TypeError, "configure: log_append must be callable or None");
        return NULL;
    }
    if (find_slots(args[ENGINE], engine_fields, engine_at, E_COUNT) < 0 ||
        find_slots(args[MARKET], market_fields, market_at, M_COUNT) < 0 ||
        find_slots(args[RECORDER], recorder_fields, recorder_at, R_COUNT) < 0 ||
        find_slots(args[SIMCLOCK], clock_fields, clock_at, C_COUNT) < 0 ||
        find_slots(args[LOT], lot_fields, lot_at, L_COUNT) < 0 ||
        find_slots(args[STATE], state_fields, state_at, S_COUNT) < 0 ||
        find_slots(args[PARAMS], params_fields, params_at, P_COUNT) < 0 ||
        find_slots(args[SETTLE], settle_fields, settle_at, SP_COUNT) < 0)
        return NULL;
    PyObject **slots[NARGS] = {&Engine_cls,  &Market_cls, &Recorder_cls, &Lot_cls,       &State_cls,
                               &Params_cls,  &Settle_cls, &Ranked_cls,   &Result_cls,    &Event_cls,
                               &Appended_cls, &log_append_fn, &SimClock_cls, &Environment_cls};
    for (int i = 0; i < NARGS; i++) {
        PyObject *v = (i == LOG_APPEND && args[i] == Py_None) ? NULL : args[i];
        Py_XINCREF(v);
        Py_XSETREF(*slots[i], v);
    }
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"configure", (PyCFunction)(void (*)(void))bp_configure, METH_FASTCALL,
     "configure(Engine, Market, Recorder, Lot, EnglishState, EnglishParams, SettlementParams, Ranked, Result, "
     "Event, Appended, log_append, SimClock, Environment)"},
    {"english_bid", (PyCFunction)(void (*)(void))bp_english_bid, METH_FASTCALL,
     "english_bid(engine, cmd, now) -> Result, or None (the Python path decides); now=None: the engine's time"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_bidpath", NULL, -1, methods};

#define INTERN(var, text)                                            \
    do {                                                             \
        if ((var = PyUnicode_InternFromString(text)) == NULL) return NULL; \
    } while (0)

PyMODINIT_FUNC
PyInit__bidpath(void)
{
    INTERN(k_op, "op");
    INTERN(k_actor, "actor");
    INTERN(k_lot, "lot");
    INTERN(k_amount, "amount");
    INTERN(k_ok, "ok");
    INTERN(k_rule, "rule");
    INTERN(k_lot_seq, "lot_seq");
    INTERN(v_bid, "bid");
    INTERN(v_english, "english");
    INTERN(v_free, "free");
    INTERN(v_timed, "timed");
    INTERN(v_append, "append");
    INTERN(r_start_free, "english.start.free");
    INTERN(r_start_timed, "english.start.timed");
    INTERN(r_inc_free, "english.increment.free");
    INTERN(r_inc_timed, "english.increment.timed");
    INTERN(a_arm, "_arm");
    INTERN(a_now_, "_now");
    INTERN(a_now, "now");
    return PyModule_Create(&module);
}
