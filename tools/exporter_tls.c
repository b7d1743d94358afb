/* mmstat-exporter's --web.config.file: TLS and basic authentication in
 * the Prometheus exporter-toolkit's convention (the same YAML file a Go
 * exporter takes), read once at start-up with libyaml; TLS itself is
 * libmicrohttpd's (GnuTLS), basic auth checks bcrypt hashes with
 * libcrypt's crypt_r, remembering the credentials that passed so that a
 * scrape every second does not pay a bcrypt each time. */
#define _GNU_SOURCE
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <yaml.h>

#include "exporter.h"

#define PEM_MAX_BYTES (1u << 20)
#define CONFIG_MAX_BYTES (1u << 20)
#define MAX_USERS 1024
#define DIGEST_LEN 32 /* SHA-256 */
#define AUTH_CACHE 64

struct web_user {
    char *name, *hash;
};

struct web_config {
    char *cert, *key, *ca; /* PEM texts; cert NULL: plain HTTP */
    enum web_client_auth client_auth;
    const char *priorities; /* GnuTLS priority string (min_version) */
    struct web_user *users;
    size_t nusers;
    /* Credentials that passed: SHA-256 of user, password and hash. */
    pthread_mutex_t lock;
    unsigned char passed[AUTH_CACHE][DIGEST_LEN];
    unsigned npassed, next;
};

/* ------------------------------------------------------------- loading */

/* What the loader carries: the file's name (for messages), its
 * directory (relative paths in it are relative to it) and the document. */
struct loader {
    const char *path;
    char dir[4096];
    yaml_document_t doc;
    char err[512];
};

static int fail(struct loader *l, const yaml_node_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct loader *l, const yaml_node_t *n, const char *fmt, ...)
{
    char msg[384];
    va_list ap;
    va_start(ap, fmt);
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): as in cli.c
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (n)
        snprintf(l->err, sizeof l->err, "%s:%zu: %s", l->path,
                 n->start_mark.line + 1, msg);
    else
        snprintf(l->err, sizeof l->err, "%s: %s", l->path, msg);
    return -EINVAL;
}

/* The scalar N as a string, or NULL (after a message) if it is not one. */
static const char *scalar(struct loader *l, const yaml_node_t *n,
                          const char *what)
{
    if (!n || n->type != YAML_SCALAR_NODE) {
        fail(l, n, "%s: a string expected", what);
        return NULL;
    }
    return (const char *)n->data.scalar.value;
}

/* The whole of file PATH (at most MAX bytes) as a NUL-terminated string. */
static int slurp(const char *path, size_t max, char **out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    if ((size_t)st.st_size > max) {
        close(fd);
        return -EFBIG;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    size_t len = 0;
    ssize_t r = 0;
    while (buf && len < (size_t)st.st_size &&
           (r = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
        len += (size_t)r;
    int e = !buf ? -ENOMEM : r < 0 ? -errno : 0;
    close(fd);
    if (e < 0) {
        free(buf);
        return e;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

/* The file named by scalar N (relative to the config's directory) into
 * *OUT. */
static int load_pem(struct loader *l, const yaml_node_t *n, const char *what,
                    char **out)
{
    const char *name = scalar(l, n, what);
    if (!name)
        return -EINVAL;
    if (!name[0])
        return fail(l, n, "%s: empty", what);
    char path[8192];
    snprintf(path, sizeof path, "%s%s%s", name[0] == '/' ? "" : l->dir,
             name[0] == '/' ? "" : "/", name);
    free(*out);
    *out = NULL;
    int e = slurp(path, PEM_MAX_BYTES, out);
    if (e < 0)
        return fail(l, n, "%s %s: %s", what, path,
                    e == -EFBIG ? "over 1 MiB" : strerror(-e));
    return 0;
}

static const struct {
    const char *name;
    enum web_client_auth v;
} client_auths[] = {
    {"NoClientCert", WEB_NO_CLIENT_CERT},
    {"VerifyClientCertIfGiven", WEB_VERIFY_CLIENT_CERT_IF_GIVEN},
    {"RequireAndVerifyClientCert", WEB_REQUIRE_AND_VERIFY_CLIENT_CERT},
};

/* min_version: GnuTLS priorities that leave out the older versions. */
static const struct {
    const char *name, *priorities;
} tls_versions[] = {
    {"TLS10", "NORMAL"},
    {"TLS11", "NORMAL:-VERS-TLS1.0"},
    {"TLS12", "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1"},
    {"TLS13", "NORMAL:-VERS-TLS1.0:-VERS-TLS1.1:-VERS-TLS1.2"},
};

static int tls_key(struct loader *l, struct web_config *w, const char *key,
                   const yaml_node_t *v)
{
    const char *s;
    if (!strcmp(key, "cert_file"))
        return load_pem(l, v, key, &w->cert);
    if (!strcmp(key, "key_file"))
        return load_pem(l, v, key, &w->key);
    if (!strcmp(key, "client_ca_file"))
        return load_pem(l, v, key, &w->ca);
    if (!strcmp(key, "client_auth_type")) {
        if (!(s = scalar(l, v, key)))
            return -EINVAL;
        for (size_t i = 0; i < sizeof client_auths / sizeof *client_auths; i++)
            if (!strcmp(s, client_auths[i].name)) {
                w->client_auth = client_auths[i].v;
                return 0;
            }
        return fail(l, v,
                    "client_auth_type: NoClientCert, VerifyClientCertIfGiven "
                    "or RequireAndVerifyClientCert, not '%s'",
                    s);
    }
    if (!strcmp(key, "min_version")) {
        if (!(s = scalar(l, v, key)))
            return -EINVAL;
        for (size_t i = 0; i < sizeof tls_versions / sizeof *tls_versions; i++)
            if (!strcmp(s, tls_versions[i].name)) {
                w->priorities = tls_versions[i].priorities;
                return 0;
            }
        return fail(l, v, "min_version: TLS10, TLS11, TLS12 or TLS13, not '%s'",
                    s);
    }
    return fail(l, v, "tls_server_config: '%s' is not supported", key);
}

/* A bcrypt hash that crypt_r takes ("$2y$", "$2b$" or "$2a$"). */
static bool valid_bcrypt(const char *hash)
{
    if (strncmp(hash, "$2y$", 4) != 0 && strncmp(hash, "$2b$", 4) != 0 &&
        strncmp(hash, "$2a$", 4) != 0)
        return false;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd)
        return false;
    /* Checked by hashing with it: the cost is the hash's own (once per
     * user at start-up). */
    const char *r = crypt_r("", hash, cd);
    bool ok = r && r[0] == '$' && strlen(r) == strlen(hash);
    free(cd);
    return ok;
}

static int user_key(struct loader *l, struct web_config *w, const char *name,
                    const yaml_node_t *v)
{
    const char *hash = scalar(l, v, name);
    if (!hash)
        return -EINVAL;
    if (!name[0] || strchr(name, ':'))
        return fail(l, v, "basic_auth_users: bad user name '%s'", name);
    for (size_t i = 0; i < w->nusers; i++)
        if (!strcmp(w->users[i].name, name))
            return fail(l, v, "basic_auth_users: '%s' twice", name);
    if (!valid_bcrypt(hash))
        return fail(l, v, "basic_auth_users: %s: not a bcrypt hash ($2y$...)",
                    name);
    if (w->nusers == MAX_USERS)
        return fail(l, v, "basic_auth_users: more than %d users", MAX_USERS);
    struct web_user *u = realloc(w->users, (w->nusers + 1) * sizeof *u);
    if (!u)
        return -ENOMEM;
    w->users = u;
    u[w->nusers].name = strdup(name);
    u[w->nusers].hash = strdup(hash);
    if (!u[w->nusers].name || !u[w->nusers].hash) {
        free(u[w->nusers].name);
        free(u[w->nusers].hash);
        return -ENOMEM;
    }
    w->nusers++;
    return 0;
}

typedef int (*key_fn)(struct loader *l, struct web_config *w, const char *key,
                      const yaml_node_t *v);

/* Each key of mapping N (unique) through FN. */
static int each_key(struct loader *l, struct web_config *w,
                    const yaml_node_t *n, const char *what, key_fn fn)
{
    if (n->type == YAML_SCALAR_NODE && !n->data.scalar.length)
        return 0; /* "key:" with nothing: an empty mapping */
    if (n->type != YAML_MAPPING_NODE)
        return fail(l, n, "%s: a mapping expected", what);
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
        const char *key =
            scalar(l, yaml_document_get_node(&l->doc, p->key), what);
        if (!key)
            return -EINVAL;
        for (yaml_node_pair_t *q = n->data.mapping.pairs.start; q < p; q++) {
            const yaml_node_t *k = yaml_document_get_node(&l->doc, q->key);
            if (!strcmp((const char *)k->data.scalar.value, key))
                return fail(l, k, "%s: '%s' twice", what, key);
        }
        int e = fn(l, w, key, yaml_document_get_node(&l->doc, p->value));
        if (e < 0)
            return e;
    }
    return 0;
}

static int top_key(struct loader *l, struct web_config *w, const char *key,
                   const yaml_node_t *v)
{
    if (!strcmp(key, "tls_server_config"))
        return each_key(l, w, v, key, tls_key);
    if (!strcmp(key, "basic_auth_users"))
        return each_key(l, w, v, key, user_key);
    return fail(l, v,
                "'%s' is not supported (tls_server_config, "
                "basic_auth_users)",
                key);
}

/* What the keys say together. */
static int check_config(struct loader *l, const struct web_config *w)
{
    if (!w->cert != !w->key)
        return fail(l, NULL,
                    "tls_server_config: cert_file and key_file go "
                    "together");
    if (!w->cert && (w->ca || w->client_auth || w->priorities))
        return fail(l, NULL,
                    "tls_server_config: cert_file and key_file "
                    "missing");
    if (w->ca && w->client_auth == WEB_NO_CLIENT_CERT)
        return fail(l, NULL,
                    "tls_server_config: client_ca_file without a "
                    "client_auth_type that verifies");
    if (!w->ca && w->client_auth != WEB_NO_CLIENT_CERT)
        return fail(l, NULL,
                    "tls_server_config: client_auth_type %s needs "
                    "client_ca_file",
                    client_auths[w->client_auth].name);
    return 0;
}

static int parse_config(struct loader *l, const char *text,
                        struct web_config *w)
{
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser))
        return -ENOMEM;
    yaml_parser_set_input_string(&parser, (const unsigned char *)text,
                                 strlen(text));
    if (!yaml_parser_load(&parser, &l->doc)) {
        int e = fail(l, NULL, "line %zu: %s", parser.problem_mark.line + 1,
                     parser.problem ? parser.problem : "YAML error");
        yaml_parser_delete(&parser);
        return e;
    }
    yaml_parser_delete(&parser);
    const yaml_node_t *root = yaml_document_get_root_node(&l->doc);
    /* An empty file: plain HTTP, no authentication (as the toolkit). */
    int e = root ? each_key(l, w, root, "the file", top_key) : 0;
    if (e == 0)
        e = check_config(l, w);
    yaml_document_delete(&l->doc);
    return e;
}

int web_config_load(const char *path, struct web_config **out, char *err,
                    size_t errlen)
{
    struct loader l = {.path = path};
    const char *slash = strrchr(path, '/');
    if (!slash)
        snprintf(l.dir, sizeof l.dir, ".");
    else
        snprintf(l.dir, sizeof l.dir, "%.*s",
                 (int)(slash - path + !!(slash == path)), path);
    struct web_config *w = calloc(1, sizeof *w);
    char *text = NULL;
    if (!w)
        return -ENOMEM;
    pthread_mutex_init(&w->lock, NULL);
    int e = slurp(path, CONFIG_MAX_BYTES, &text);
    if (e < 0)
        fail(&l, NULL, "%s", e == -EFBIG ? "over 1 MiB" : strerror(-e));
    else
        e = text ? parse_config(&l, text, w) : -ENOMEM;
    free(text);
    if (e < 0) {
        snprintf(err, errlen, "%s", l.err[0] ? l.err : strerror(-e));
        web_config_free(w);
        return e;
    }
    *out = w;
    return 0;
}

void web_config_free(struct web_config *w)
{
    if (!w)
        return;
    for (size_t i = 0; i < w->nusers; i++) {
        free(w->users[i].name);
        free(w->users[i].hash);
    }
    free(w->users);
    free(w->cert);
    if (w->key)
        explicit_bzero(w->key, strlen(w->key));
    free(w->key);
    free(w->ca);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* ---------------------------------------------------------------- TLS */

bool web_tls(const struct web_config *w)
{
    return w && w->cert;
}

bool web_auth(const struct web_config *w)
{
    return w && w->nusers;
}

int web_mhd_options(const struct web_config *w, struct MHD_OptionItem *opt,
                    size_t n)
{
    size_t i = 0;
    if (!web_tls(w) || n < 5)
        return 0;
    opt[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, w->cert};
    opt[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, w->key};
    /* With a trust list MHD's GnuTLS asks the client for a certificate;
     * whether one is needed and valid is checked per request. */
    if (w->ca)
        opt[i++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, w->ca};
    opt[i++] = (struct MHD_OptionItem){
        MHD_OPTION_HTTPS_PRIORITIES, 0,
        (void *)(w->priorities ? w->priorities : tls_versions[2].priorities)};
    opt[i++] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return (int)i;
}

bool web_client_cert_ok(const struct web_config *w, struct MHD_Connection *c)
{
    if (!web_tls(w) || w->client_auth == WEB_NO_CLIENT_CERT)
        return true;
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return false;
    gnutls_session_t s = (gnutls_session_t)ci->tls_session;
    unsigned n = 0;
    if (!gnutls_certificate_get_peers(s, &n) || n == 0)
        return w->client_auth == WEB_VERIFY_CLIENT_CERT_IF_GIVEN;
    unsigned status = 0;
    return gnutls_certificate_verify_peers2(s, &status) == 0 && status == 0;
}

/* ---------------------------------------------------------- basic auth */

static void digest(const char *user, const char *pass, const char *hash,
                   unsigned char out[DIGEST_LEN])
{
    size_t nu = strlen(user), np = strlen(pass), nh = strlen(hash);
    char *buf = malloc(nu + np + nh + 3);
    if (!buf) {
        memset(out, 0, DIGEST_LEN);
        return;
    }
    memcpy(buf, user, nu + 1);
    memcpy(buf + nu + 1, pass, np + 1);
    memcpy(buf + nu + np + 2, hash, nh + 1);
    gnutls_hash_fast(GNUTLS_DIG_SHA256, buf, nu + np + nh + 3, out);
    explicit_bzero(buf, nu + np + nh + 3);
    free(buf);
}

bool web_password_ok(struct web_config *w, const char *user, const char *pass)
{
    /* A user not in the list is checked against a hash of its own all the
     * same, so that the time taken does not tell which names exist. */
    static const char dummy[] =
        "$2y$10$QOauhQNbBCuQDKes6eFzPeEKVIlhTHC3j7qZo5eONXgpNVBCs.Jqy";
    const char *hash = dummy;
    for (size_t i = 0; i < w->nusers; i++)
        if (!strcmp(w->users[i].name, user))
            hash = w->users[i].hash;
    unsigned char d[DIGEST_LEN];
    digest(user, pass, hash, d);
    pthread_mutex_lock(&w->lock);
    bool ok = false;
    for (unsigned i = 0; i < w->npassed && !ok; i++)
        ok = !memcmp(w->passed[i], d, DIGEST_LEN);
    pthread_mutex_unlock(&w->lock);
    if (ok)
        return hash != dummy;
    struct crypt_data *cd = calloc(1, sizeof *cd);
    if (!cd)
        return false;
    const char *r = crypt_r(pass, hash, cd);
    ok = r && strlen(r) == strlen(hash) && !strcmp(r, hash) && hash != dummy;
    explicit_bzero(cd, sizeof *cd);
    free(cd);
    if (ok) {
        pthread_mutex_lock(&w->lock);
        memcpy(w->passed[w->next], d, DIGEST_LEN);
        w->next = (w->next + 1) % AUTH_CACHE;
        if (w->npassed < AUTH_CACHE)
            w->npassed++;
        pthread_mutex_unlock(&w->lock);
    }
    return ok;
}
