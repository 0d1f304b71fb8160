/* _fastread_event.c: a completed event in C: the _Context (the SYSCALL, CWD, PATH and PROCTITLE
 * records' values, _base, fields(), full_path), interpret.kernel() for records no security
 * module wrote, and interpret_event: interpret.interpret in C where it is sure, else handed to
 * Python as RawRecords (the security modules' decisions are in _fastread_modules.c). */
#include "_fastread.h"

PyObject *stk_index_str(Py_ssize_t index) {
    if (index >= 0 && index < PyTuple_GET_SIZE(g_index)) return Py_NewRef(PyTuple_GET_ITEM(g_index, index));
    return PyUnicode_FromFormat("%zd", index);
}

/* "\n".join of the event's lines */
static PyObject *join_lines(PyObject *event) {
    Py_ssize_t n = PyList_GET_SIZE(event);
    if (n == 1) return Py_NewRef(R_LINE(PyList_GET_ITEM(event, 0)));
    PyObject *lines = PyList_New(n);
    if (!lines) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) PyList_SET_ITEM(lines, i, Py_NewRef(R_LINE(PyList_GET_ITEM(event, i))));
    PyObject *out = PyUnicode_Join(s_newline, lines);
    Py_DECREF(lines);
    return out;
}

static void ctx_clear(ctx_t *c) {
    Py_CLEAR(c->time); Py_CLEAR(c->serial); Py_CLEAR(c->cwd_value); Py_CLEAR(c->first_path);
    Py_CLEAR(c->fields); Py_CLEAR(c->pid); Py_CLEAR(c->comm); Py_CLEAR(c->exe); Py_CLEAR(c->uid);
    Py_CLEAR(c->errno_); Py_CLEAR(c->sc_dict);
}

PyObject *stk_sc_names[SC_N];  /* the SYSCALL fields' names, SC_* order (set by PyInit__fastread) */

/* ctx.syscall().get(name) as a new reference; NULL (no error) for None or absent */
static PyObject *scv(ctx_t *c, int i) {
    if (c->syscall < 0) return NULL;
    if (c->sc_dict) {
        PyObject *v = PyDict_GetItemWithError(c->sc_dict, stk_sc_names[i]);
        return v && v != Py_None ? Py_NewRef(v) : NULL;
    }
    PyObject *body = R_BODY(PyList_GET_ITEM(c->event, c->syscall));
    if (i == SC_COMM || i == SC_EXE || i == SC_KEY) {
        PyObject *v = stk_unquote(body, c->sc[i]);
        if (v == Py_None) { Py_DECREF(v); return NULL; }
        return v;
    }
    if (c->sc[i].a < 0) return NULL;  /* success= and exit= are optional in the lazy regex */
    return PyUnicode_Substring(body, c->sc[i].a, c->sc[i].b);
}

static PyObject *ctx_cwd(ctx_t *c) {
    if (!c->cwd_value) {
        if (c->cwd < 0) {
            c->cwd_value = Py_NewRef(s_empty);
        } else {
            PyObject *v = stk_get_field(R_BODY(PyList_GET_ITEM(c->event, c->cwd)), p_cwd, 1, 0);
            if (!v && PyErr_Occurred()) return NULL;
            c->cwd_value = v && PyUnicode_GET_LENGTH(v) ? v : (Py_XDECREF(v), Py_NewRef(s_empty));
        }
    }
    return c->cwd_value;
}

/* _Context._absolute */
static PyObject *absolute(ctx_t *c, PyObject *name) {
    if (starts_at(name, s_slash, 0)) return Py_NewRef(name);
    PyObject *cwd = ctx_cwd(c);
    if (!cwd) return NULL;
    if (PyUnicode_GET_LENGTH(cwd) == 0) return Py_NewRef(name);
    Py_ssize_t end = PyUnicode_GET_LENGTH(cwd);
    while (end > 0 && ch_at(cwd, end - 1) == '/') end--;
    PyObject *head = PyUnicode_Substring(cwd, 0, end);
    if (!head) return NULL;
    PyObject *out = PyUnicode_FromFormat("%U/%U", head, name);
    Py_DECREF(head);
    return out;
}

/* _Context.first_path */
static PyObject *ctx_first_path(ctx_t *c) {
    if (c->first_path) return c->first_path;
    for (int i = 0; i < c->npaths; i++) {
        PyObject *name = stk_get_field(R_BODY(PyList_GET_ITEM(c->event, c->paths[i])), p_name, 1, 0);
        if (!name) {
            if (PyErr_Occurred()) return NULL;
            continue;
        }
        if (PyUnicode_GET_LENGTH(name) && PyUnicode_Compare(name, s_null) != 0) {
            c->first_path = absolute(c, name);
            Py_DECREF(name);
            return c->first_path;
        }
        Py_DECREF(name);
    }
    c->first_path = Py_NewRef(s_empty);
    return c->first_path;
}

/* the stamp's (time, serial); 0 when the stamp is not plain ASCII (Python decides then) */
static int ctx_when(ctx_t *c, PyObject *stamp) {
    if (c->time) return 1;
    if (!stamp_ascii_ok(stamp)) return 0;
    Py_ssize_t colon = PyUnicode_FindChar(stamp, ':', 0, PyUnicode_GET_LENGTH(stamp), 1);
    PyObject *t = PyUnicode_Substring(stamp, 0, colon);
    PyObject *s = PyUnicode_Substring(stamp, colon + 1, PyUnicode_GET_LENGTH(stamp));
    if (!t || !s) { Py_XDECREF(t); Py_XDECREF(s); return -1; }
    c->time = PyFloat_FromString(t);
    c->serial = PyLong_FromUnicodeObject(s, 10);
    Py_DECREF(t); Py_DECREF(s);
    return c->time && c->serial ? 1 : -1;
}

/* interpret.kernel() */
static PyObject *kernel_record(ctx_t *c, PyObject *rec, Py_ssize_t index, PyObject *raw) {
    PyObject *pid = NULL, *uid = NULL, *comm = NULL, *exe = NULL, *out = NULL;
    PyObject *pid_v = NULL, *uid_v = NULL, *fields = NULL, *idx = NULL, *owned_names = NULL;
    if (c->syscall >= 0) {
        pid = scv(c, SC_PID); uid = scv(c, SC_UID); comm = scv(c, SC_COMM); exe = scv(c, SC_EXE);
        if (PyErr_Occurred()) goto done;
    } else {
        PyObject *body = R_BODY(rec);
        pid = stk_get_field(body, p_pid, 0, 0);
        if (!pid && PyErr_Occurred()) goto done;
        uid = stk_get_field(body, p_uid, 0, 0);
        if (!uid && PyErr_Occurred()) goto done;
        comm = stk_get_field(body, p_comm, 1, 0);
        if (!comm && PyErr_Occurred()) goto done;
        exe = stk_get_field(body, p_exe, 1, 0);
        if (!exe && PyErr_Occurred()) goto done;
    }
    PyObject *type = R_TYPE(rec);
    PyObject *names = PyDict_GetItemWithError(g_kernel_ops, type);
    if (names) owned_names = Py_NewRef(names);  /* held: the AuditRecord call runs Python code */
    else {
        if (PyErr_Occurred()) goto done;
        PyObject *name = PyObject_CallOneArg(g_type_name, type);
        if (!name) goto done;
        PyObject *lower = PyObject_CallMethod(name, "lower", NULL);
        if (!lower) { Py_DECREF(name); goto done; }
        PyObject *pair = PyTuple_Pack(2, name, lower);
        Py_DECREF(name); Py_DECREF(lower);
        if (!pair) goto done;
        if (PyDict_GET_SIZE(g_kernel_ops) < KERNEL_OPS_MAX && PyDict_SetItem(g_kernel_ops, type, pair) < 0) {
            Py_DECREF(pair);
            goto done;
        }
        names = owned_names = pair;
    }
    pid_v = stk_to_int(pid, 0);
    if (!pid_v) goto done;
    if (uid) { uid_v = stk_to_int(uid, 0); if (!uid_v) goto done; }
    else uid_v = Py_NewRef(Py_None);
    idx = stk_index_str(index);
    if (!idx) goto done;
    fields = PyDict_New();
    if (!fields || PyDict_SetItem(fields, s_record_index, idx) < 0
        || PyDict_SetItem(fields, s_type, PyTuple_GET_ITEM(names, 0)) < 0)
        goto done;
    PyObject *first_path = ctx_first_path(c);
    if (!first_path) goto done;
    PyObject *args[21] = {
        c->time, c->serial, PyTuple_GET_ITEM(names, 1), s_kernel, s_AUDIT, pid_v,
        comm && PyUnicode_GET_LENGTH(comm) ? comm : s_empty,
        exe && PyUnicode_GET_LENGTH(exe) ? exe : s_empty,
        uid_v, s_empty, first_path, s_empty, s_empty, s_empty, s_enforce, NULL, Py_False,
        s_empty, type, fields, raw};
    PyObject *zero = PyLong_FromLong(0);
    args[15] = zero;
    out = PyObject_Vectorcall(g_record_cls, args, 21, NULL);
    Py_DECREF(zero);
done:
    Py_XDECREF(pid); Py_XDECREF(uid); Py_XDECREF(comm); Py_XDECREF(exe);
    Py_XDECREF(pid_v); Py_XDECREF(uid_v); Py_XDECREF(fields); Py_XDECREF(idx);
    Py_XDECREF(owned_names);
    return out;
}

/* syscalls.syscall_name(arch, nr), remembered (bounded) */
PyObject *stk_syscall_name(PyObject *a, PyObject *b) {
    PyObject *key = PyTuple_Pack(2, a, b), *out = NULL;
    if (key) {
        out = PyDict_GetItemWithError(g_sysnames, key);
        if (out) Py_INCREF(out);
        else if (!PyErr_Occurred()) {
            out = PyObject_CallFunctionObjArgs(g_syscall_name, a, b, NULL);
            if (out && PyDict_GET_SIZE(g_sysnames) < 4096 && PyDict_SetItem(g_sysnames, key, out) < 0)
                Py_CLEAR(out);
        }
    }
    Py_XDECREF(key);
    return out;
}

/* _Context.fields(): the syscall context kept beside a decision (shared: copied into each) */
PyObject *stk_ctx_fields(ctx_t *c) {
    if (c->fields) return c->fields;
    PyObject *d = PyDict_New();
    if (!d) return NULL;
    if (c->syscall >= 0) {
        PyObject *arch = scv(c, SC_ARCH), *nr = scv(c, SC_SYSCALL);
        PyObject *name = PyErr_Occurred() ? NULL : stk_syscall_name(arch ? arch : s_empty, nr ? nr : s_empty);
        Py_XDECREF(arch); Py_XDECREF(nr);
        if (!name || PyDict_SetItem(d, k_syscall, name) < 0) { Py_XDECREF(name); goto error; }
        Py_DECREF(name);
        static const int kept[] = {SC_SUCCESS, SC_EXIT, SC_PPID, SC_AUID, SC_SES, SC_KEY};
        for (int i = 0; i < 6; i++) {
            PyObject *v = scv(c, kept[i]);
            if (!v) { if (PyErr_Occurred()) goto error; continue; }
            int bad = PyDict_SetItem(d, stk_sc_names[kept[i]], v);
            Py_DECREF(v);
            if (bad < 0) goto error;
        }
    }
    if (c->proctitle >= 0) {
        PyObject *body = R_BODY(PyList_GET_ITEM(c->event, c->proctitle));
        if (PyUnicode_GET_LENGTH(body)) {
            PyObject *title = stk_get_field(body, p_proctitle, 1, 1);
            if (!title && PyErr_Occurred()) goto error;
            int bad = PyDict_SetItem(d, s_proctitle, title ? title : s_empty);
            Py_XDECREF(title);
            if (bad < 0) goto error;
        }
    }
    PyObject *cwd = ctx_cwd(c);
    if (!cwd) goto error;
    if (PyUnicode_GET_LENGTH(cwd) && PyDict_SetItem(d, s_cwd, cwd) < 0) goto error;
    c->fields = d;
    return d;
error:
    Py_DECREF(d);
    return NULL;
}

/* _base()'s values from the SYSCALL record: pid, comm, exe, uid, errno */
int stk_ctx_base(ctx_t *c) {
    if (c->pid) return 0;
    if (c->syscall < 0) {
        c->pid = PyLong_FromLong(0);
        c->comm = Py_NewRef(s_empty);
        c->exe = Py_NewRef(s_empty);
        c->uid = Py_NewRef(Py_None);
        c->errno_ = PyLong_FromLong(0);
        return c->pid && c->errno_ ? 0 : -1;
    }
    PyObject *pid = scv(c, SC_PID), *uid = scv(c, SC_UID), *exit_ = scv(c, SC_EXIT);
    PyObject *comm = scv(c, SC_COMM), *exe = scv(c, SC_EXE);
    int rc = -1;
    if (PyErr_Occurred()) { Py_XDECREF(comm); Py_XDECREF(exe); goto done; }
    c->pid = stk_to_int(pid, 0);
    c->uid = uid ? stk_to_int(uid, 0) : Py_NewRef(Py_None);
    c->comm = comm ? comm : Py_NewRef(s_empty);
    c->exe = exe ? exe : Py_NewRef(s_empty);
    PyObject *code = stk_to_int(exit_, 0);
    if (!c->pid || !c->uid || !code) { Py_XDECREF(code); goto done; }
    PyObject *zero = PyLong_FromLong(0);
    int lt = zero ? PyObject_RichCompareBool(code, zero, Py_LT) : -1;
    Py_XDECREF(zero);
    if (lt < 0) { Py_DECREF(code); goto done; }
    c->errno_ = lt ? PyNumber_Negative(code) : PyLong_FromLong(0);
    Py_DECREF(code);
    if (!c->errno_) goto done;
    if (PyUnicode_GET_LENGTH(c->comm) == 0) Py_SETREF(c->comm, Py_NewRef(s_empty));
    if (PyUnicode_GET_LENGTH(c->exe) == 0) Py_SETREF(c->exe, Py_NewRef(s_empty));
    rc = 0;
done:
    Py_XDECREF(pid); Py_XDECREF(uid); Py_XDECREF(exit_);
    return rc;
}

PyObject *stk_build(ctx_t *c, PyObject *rec, parts_t *p, PyObject *fields) {
    PyObject *args[21] = {
        c->time, c->serial, p->operation, p->module, p->result, p->pid, p->comm, p->exe, p->uid,
        p->subject, p->object, p->requested, p->denied, s_empty, p->mode, p->errno_, Py_False,
        p->profile, R_TYPE(rec), fields, R_LINE(rec)};
    return PyObject_Vectorcall(g_record_cls, args, 21, NULL);
}

/* {"record_index": ..., **ctx.fields()} */
PyObject *stk_base_fields(ctx_t *c, Py_ssize_t index) {
    PyObject *cf = stk_ctx_fields(c);
    if (!cf) return NULL;
    PyObject *idx = stk_index_str(index);
    PyObject *fields = idx ? PyDict_New() : NULL;
    if (!fields || PyDict_SetItem(fields, s_record_index, idx) < 0 || PyDict_Update(fields, cf) < 0) {
        Py_XDECREF(idx); Py_XDECREF(fields);
        return NULL;
    }
    Py_DECREF(idx);
    return fields;
}

/* _Context.full_path(name, inode) */
PyObject *stk_full_path(ctx_t *c, PyObject *name, PyObject *inode) {
    for (int i = 0; i < c->npaths; i++) {
        PyObject *body = R_BODY(PyList_GET_ITEM(c->event, c->paths[i]));
        PyObject *cand = stk_get_field(body, p_name, 1, 0);
        if (!cand) { if (PyErr_Occurred()) return NULL; continue; }
        if (!PyUnicode_GET_LENGTH(cand) || PyUnicode_Compare(cand, s_null) == 0) { Py_DECREF(cand); continue; }
        int hit = 0;
        if (nonempty(inode)) {
            PyObject *ino = stk_get_field(body, p_inode, 0, 0);
            if (!ino && PyErr_Occurred()) { Py_DECREF(cand); return NULL; }
            hit = ino && PyUnicode_Compare(ino, inode) == 0;
            Py_XDECREF(ino);
        }
        if (!hit) {
            Py_ssize_t n = PyUnicode_GET_LENGTH(cand);
            Py_ssize_t slash = PyUnicode_FindChar(cand, '/', 0, n, -1);
            PyObject *last = PyUnicode_Substring(cand, slash >= 0 ? slash + 1 : 0, n);
            if (!last) { Py_DECREF(cand); return NULL; }
            hit = PyUnicode_Compare(last, name) == 0;
            Py_DECREF(last);
        }
        if (hit) {
            PyObject *out = absolute(c, cand);
            Py_DECREF(cand);
            return out;
        }
        Py_DECREF(cand);
    }
    return Py_NewRef(name);
}

unsigned long long stk_deferred_events;  /* events handed to Python (tests, benchmarks) */

/* fn(the event as RawRecords, first) in Python (interpret or event_rows), as a list */
PyObject *stk_call_python(PyObject *fn, PyObject *event, Py_ssize_t first) {
    Py_ssize_t n = PyList_GET_SIZE(event);
    PyObject *raws = PyList_New(n);
    if (!raws) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *r = PyList_GET_ITEM(event, i);
        PyObject *raw = PyObject_Vectorcall(g_raw_cls, &PyTuple_GET_ITEM(r, 0), 5, NULL);
        if (!raw) { Py_DECREF(raws); return NULL; }
        PyList_SET_ITEM(raws, i, raw);
    }
    PyObject *firstobj = PyLong_FromSsize_t(first);
    PyObject *out = firstobj ? PyObject_CallFunctionObjArgs(fn, raws, firstobj, NULL) : NULL;
    Py_XDECREF(firstobj);
    Py_DECREF(raws);
    if (out && !PyList_CheckExact(out)) Py_SETREF(out, PySequence_List(out));
    return out;
}

static PyObject *python_interpret(PyObject *event, Py_ssize_t first) {
    stk_deferred_events++;
    return stk_call_python(g_interpret, event, first);
}

/* interpret.interpret(event, first): in C where it is sure, else in Python */
PyObject *stk_interpret_event(PyObject *event, Py_ssize_t first) {
    Py_ssize_t n = PyList_GET_SIZE(event);
    ctx_t c;
    memset(&c, 0, sizeof(c));
    c.event = event;
    c.syscall = c.cwd = c.proctitle = -1;
    Py_ssize_t primary = -1, rest_first = -1, nrest = 0, deciding = 0;
    PyObject *out = NULL;
    int big, r;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *rec = PyList_GET_ITEM(event, i);
        long t = type_value(R_TYPE(rec), &big);
        if (big) goto python;
        if (is_aux(t)) {
            if (t == T_SYSCALL) { c.syscall = i; if (primary < 0) primary = i; }
            else if (t == T_PATH) {
                if (c.npaths < 8) c.paths[c.npaths++] = i; else c.many_paths = 1;
            } else if (t == T_PROCTITLE) c.proctitle = i;
            else if (t == T_CWD) c.cwd = i;
        } else {
            if ((r = stk_may_decide(rec, t)) < 0) goto error;
            if (r) deciding++;  /* a security module's record */
            if (rest_first < 0) rest_first = i;
            nrest++;
        }
    }
    if (c.many_paths) goto python;
    if (c.syscall >= 0) {
        PyObject *body = R_BODY(PyList_GET_ITEM(event, c.syscall));
        if (PyUnicode_GET_LENGTH(body) == 0) c.syscall = -1;  /* `if ctx.syscall_body:` */
        else if (!(c.have_sc = stk_syscall_exact(body, c.sc))) {
            /* interpret.syscall_fields: the lazy regex, else every field */
            int found = PyUnicode_GET_LENGTH(body) <= SEARCH_MAX ? stk_syscall_search(body, c.sc) : -2;
            if (found == -1) goto error;
            if (found == -2) {  /* a huge body: Python's own regex (the same cost as without C) */
                c.sc_dict = PyObject_CallOneArg(g_syscall_fields, body);
                if (!c.sc_dict) goto error;
            } else if (!found) {
                c.sc_dict = stk_parse_fields(body);
                if (!c.sc_dict) goto error;
            }
        }
    }
    if ((r = ctx_when(&c, R_STAMP(PyList_GET_ITEM(event, 0)))) < 0) goto error;
    if (!r) goto python;
    out = PyList_New(0);
    if (!out) goto error;
    if (nrest == 0 || (nrest == 1 && !deciding)) {
        Py_ssize_t at = nrest == 0 ? (primary > 0 ? primary : 0) : rest_first;
        PyObject *raw = join_lines(event);
        if (!raw) goto error;
        PyObject *rec = kernel_record(&c, PyList_GET_ITEM(event, at), first + at, raw);
        Py_DECREF(raw);
        if (!rec || PyList_Append(out, rec) < 0) { Py_XDECREF(rec); goto error; }
        Py_DECREF(rec);
    } else {
        for (Py_ssize_t i = 0; i < n; i++) {
            PyObject *item = PyList_GET_ITEM(event, i);
            long t = type_value(R_TYPE(item), &big);
            if (is_aux(t)) continue;
            PyObject *rec;
            if ((r = stk_may_decide(item, t)) < 0) goto error;
            if (r) {
                PyObject *f = stk_parse_fields(R_BODY(item));
                if (!f) goto error;
                rec = stk_decision(&c, item, t, first + i, f);
                Py_DECREF(f);
                if (!rec) {
                    if (PyErr_Occurred()) goto error;
                    Py_CLEAR(out);
                    goto python;
                }
            } else {
                rec = kernel_record(&c, item, first + i, R_LINE(item));
            }
            if (!rec || PyList_Append(out, rec) < 0) { Py_XDECREF(rec); goto error; }
            Py_DECREF(rec);
        }
    }
    ctx_clear(&c);
    return out;
python:
    ctx_clear(&c);
    return python_interpret(event, first);
error:
    ctx_clear(&c);
    Py_XDECREF(out);
    return NULL;
}
