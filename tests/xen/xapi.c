/* xapi: a small XenAPI client for shell scripts, over the daemon's unix socket (or
 * http://host:port/), for the real-hypervisor test in dom0 where there is no Python.
 *
 *   xapi [-s URL] login USER PASSWORD        print the session ref
 *   xapi [-s URL] call METHOD [ARG ...]      print the result
 *
 * URL is unix:/path or http://host:port/ (default: $XAPI_URL, else
 * unix:/run/xenapid/xenapid.sock).  Nothing is implied: the session ref is the first
 * ARG of every call but session.login_with_password, as on the wire.
 *
 * ARG: b:true / b:false a boolean, i:N an int, s:TEXT a string, anything else a
 * string; "{" KEY=ARG ... "}" a struct (record or map), "[" ARG ... "]" an array.
 *
 * Output: a string, int, bool or datetime as it is; an array one item per line; a
 * struct one KEY=VALUE line per member, with a nested array as "a; b" and a nested
 * struct as "k: v; k2: v2" (as xe prints map params).  A failure prints
 * "FAILURE CODE p1 p2 ..." on standard output and exits 1; bad usage exits 2. */
#include "rpc.h"
#include "util.h"
#include "xv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    fprintf(stderr, "usage: xapi [-s URL] login USER PASSWORD\n"
                    "       xapi [-s URL] call METHOD [ARG ...]\n"
                    "ARG: b:true|b:false, i:N, s:TEXT, TEXT, { KEY=ARG ... }, [ ARG ... ]\n");
    exit(2);
}

static xv *parse_arg(char **argv, int argc, int *i);

/* A scalar from its text form. */
static xv *scalar(const char *a)
{
    if (str_startswith(a, "b:")) {
        if (strcmp(a + 2, "true") == 0)
            return xv_bool(true);
        if (strcmp(a + 2, "false") == 0)
            return xv_bool(false);
        fprintf(stderr, "xapi: not a boolean: %s\n", a);
        exit(2);
    }
    if (str_startswith(a, "i:")) {
        int64_t v;
        if (!parse_int64(a + 2, &v)) {
            fprintf(stderr, "xapi: not an int: %s\n", a);
            exit(2);
        }
        return xv_int(v);
    }
    if (str_startswith(a, "s:"))
        return xv_string(a + 2);
    return xv_string(a);
}

static xv *parse_arg(char **argv, int argc, int *i)
{
    const char *a = argv[*i];
    (*i)++;
    if (strcmp(a, "[") == 0) {
        xv *arr = xv_array();
        while (*i < argc && strcmp(argv[*i], "]") != 0)
            xv_array_push(arr, parse_arg(argv, argc, i));
        if (*i >= argc) {
            fprintf(stderr, "xapi: '[' without ']'\n");
            exit(2);
        }
        (*i)++;
        return arr;
    }
    if (strcmp(a, "{") == 0) {
        xv *st = xv_struct();
        while (*i < argc && strcmp(argv[*i], "}") != 0) {
            const char *m = argv[*i];
            const char *eq = strchr(m, '=');
            if (!eq || eq == m) {
                fprintf(stderr, "xapi: struct member is not KEY=ARG: %s\n", m);
                exit(2);
            }
            _cleanup_free_ char *key = xstrndup(m, (size_t)(eq - m));
            (*i)++;
            xv_struct_set(st, key, scalar(eq + 1));
        }
        if (*i >= argc) {
            fprintf(stderr, "xapi: '{' without '}'\n");
            exit(2);
        }
        (*i)++;
        return st;
    }
    return scalar(a);
}

static void print_flat(const xv *v, FILE *f);

static void print_scalar(const xv *v, FILE *f)
{
    switch (v->type) {
    case XV_NIL: break;
    case XV_STRING:
    case XV_DATETIME: fputs(xv_str(v), f); break;
    case XV_INT: fprintf(f, "%lld", (long long)v->u.i); break;
    case XV_BOOL: fputs(v->u.b ? "true" : "false", f); break;
    case XV_FLOAT: fprintf(f, "%g", v->u.f); break;
    default: print_flat(v, f); break;
    }
}

/* A nested value on one line. */
static void print_flat(const xv *v, FILE *f)
{
    if (v->type == XV_ARRAY) {
        for (size_t k = 0; k < v->u.arr.n; k++) {
            if (k)
                fputs("; ", f);
            print_scalar(v->u.arr.v[k], f);
        }
    } else if (v->type == XV_STRUCT) {
        for (size_t k = 0; k < v->u.st.n; k++) {
            if (k)
                fputs("; ", f);
            fprintf(f, "%s: ", v->u.st.m[k].key);
            print_scalar(v->u.st.m[k].val, f);
        }
    } else {
        print_scalar(v, f);
    }
}

static void print_result(const xv *v)
{
    if (v->type == XV_ARRAY) {
        for (size_t k = 0; k < v->u.arr.n; k++) {
            print_flat(v->u.arr.v[k], stdout);
            putchar('\n');
        }
    } else if (v->type == XV_STRUCT) {
        for (size_t k = 0; k < v->u.st.n; k++) {
            printf("%s=", v->u.st.m[k].key);
            print_flat(v->u.st.m[k].val, stdout);
            putchar('\n');
        }
    } else if (v->type != XV_NIL) {
        print_scalar(v, stdout);
        putchar('\n');
    }
}

int main(int argc, char **argv)
{
    const char *url = getenv("XAPI_URL");
    if (!url || !*url)
        url = "unix:/run/xenapid/xenapid.sock";
    int i = 1;
    if (i + 1 < argc && strcmp(argv[i], "-s") == 0) {
        url = argv[i + 1];
        i += 2;
    }
    if (i >= argc)
        usage();
    const char *method;
    xv *params = xv_array();
    if (strcmp(argv[i], "login") == 0) {
        if (argc - i != 3)
            usage();
        method = "session.login_with_password";
        xv_array_push(params, xv_string(argv[i + 1]));
        xv_array_push(params, xv_string(argv[i + 2]));
    } else if (strcmp(argv[i], "call") == 0) {
        if (argc - i < 2)
            usage();
        method = argv[i + 1];
        i += 2;
        while (i < argc)
            xv_array_push(params, parse_arg(argv, argc, &i));
    } else {
        usage();
    }

    struct rpc_client *c = NULL;
    xv *result = NULL;
    xerr *e = rpc_client_open(url, &c);
    if (!e)
        e = rpc_client_call(c, method, params, &result);
    rpc_client_close(c);
    xv_free(params);
    if (e) {
        printf("FAILURE %s", e->code);
        for (size_t k = 0; k < e->nparams; k++)
            printf(" %s", e->params[k]);
        putchar('\n');
        xerr_free(e);
        return 1;
    }
    if (result)
        print_result(result);
    xv_free(result);
    return 0;
}
