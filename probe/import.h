/*
 * import: `probe import postman|har|openapi|curl FILE`, other tools' files turned into
 * journey files (probe/README.md, "Import").
 *
 * Each format has its module (import_postman, import_har, import_openapi, import_curl)
 * that reads its input and hands finished journeys (JSON objects in the journey format)
 * to the context here. This module owns what they share: reading a JSON input with
 * positions, the listing of what could not be converted ("FILE:LINE:COL: ... not
 * converted"), secret placeholders, declaring the variables a journey uses, and writing
 * the files, each of which is loaded back with journey_load before import says it is done.
 */
#ifndef VIGIL_IMPORT_H
#define VIGIL_IMPORT_H

#include <jansson.h>
#include <stddef.h>

#include "jsonpos.h"

#define IMPORT_INPUT_MAX (64L * 1024 * 1024)   /* bytes of one input file */
#define IMPORT_JOURNEYS_MAX 1000               /* journey files one import writes */

/* Exit codes of `probe import` (as probe's own: 2 for anything invalid, 3 for nothing). */
#define IMPORT_OK 0          /* journeys written; items not converted are listed */
#define IMPORT_LOSSY 1       /* with --strict: journeys written, but some items were listed */
#define IMPORT_INVALID 2     /* usage error, unreadable or invalid input; nothing written */
#define IMPORT_NOTHING 3     /* the input held nothing to convert; nothing written */

struct import_opts {
    const char *format;         /* postman, har, openapi or curl */
    const char *input;          /* the file to read ("-" for stdin with curl) */
    const char *outdir;         /* where journey files go; default "." */
    const char *environment;    /* postman: an environment file, or NULL */
    const char *working_dir;    /* postman: where form-data files are read from (newman's
                                 * --working-dir); NULL: the collection's folder */
    const char *base_url;       /* openapi: overrides servers[0] */
    int all;                    /* har: keep static assets too */
    int force;                  /* overwrite existing journey files */
    int strict;                 /* exit IMPORT_LOSSY when something was not converted */
};

/* One import in progress. The format modules fill it; import_main writes it out. */
struct import_ctx {
    const struct import_opts *opts;
    const char *input;          /* the input's name as given, the start of every message */
    struct jsonpos *pos;        /* positions in the input (JSON formats), or NULL */
    json_t *journeys;           /* array of journey objects to write, in order */
    json_t *secrets;            /* object: placeholder NAME -> the value it stands for */
    size_t nnotes;              /* items listed as not converted */
};

/* The path of the file src (relative to dir when not absolute) as a journey written into
 * outdir names it: relative to outdir when both exist, else src unchanged (the journey's
 * load then says the file is missing). Fills out (outlen bytes). */
void import_relpath(const char *src, const char *dir, const char *outdir, char *out,
                    size_t outlen);

/* Runs `probe import` with the arguments after "import". Returns an IMPORT_* exit code. */
int import_main(int argc, char **argv);

/* Reads the JSON file at path (at most IMPORT_INPUT_MAX bytes; a UTF-8 byte order mark
 * is skipped) and indexes its positions into *pos when pos is not NULL (free with
 * jsonpos_free). Returns a new reference, or NULL with "PATH:LINE:COL: what" in err. */
json_t *import_read_json(const char *path, struct jsonpos **pos, char *err, size_t errlen);

/* Lists one item that was not converted, at the JSON pointer ptr of the input (NULL or
 * no index: no position): "INPUT:LINE:COL: what". Counts it in c->nnotes. */
void import_skip(struct import_ctx *c, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As import_skip, at a line and column of a text input (0: none). */
void import_skip_at(struct import_ctx *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prints a note that loses nothing (a secret placeholder to set, a variable without a
 * value) in the same form as import_skip, without counting it. */
void import_note(struct import_ctx *c, const char *ptr, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* As import_note, at a line and column of a text input. */
void import_note_at(struct import_ctx *c, int line, int col, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Hands a finished journey to the context (the reference is stolen). */
void import_add(struct import_ctx *c, json_t *journey);

/* Returns a new string "{{secret.NAME}}" standing for value, NAME made of hint (upper
 * case, other characters as '_'): the same value gets the same NAME, another value under
 * the same hint NAME_2, NAME_3... The first use of each NAME is noted with where, at the
 * JSON pointer ptr of the input, or at line and col when ptr is NULL. */
json_t *import_secret(struct import_ctx *c, const char *hint, const char *value,
                      const char *ptr, int line, int col, const char *where);

/* 1 if a header name carries credentials: Authorization, Proxy-Authorization, Cookie,
 * or a name with token, secret, password, api-key, apikey, session or csrf in it. */
int import_secret_header(const char *name);


/* 1 if the text of a recorded request (HAR, curl) can stand in a journey as it is:
 * "{{" would be read as a variable. */
int import_literal_ok(const char *s);

/* Splits an absolute http(s) URL into its origin ("https://host:port", copied into
 * origin) and returns a pointer to the rest ("/path?q", possibly ""). NULL if url is not
 * http or https. */
const char *import_split_origin(const char *url, char *origin, size_t originlen);

/* 1 if journey_load takes a request body of this shape, "multipart" or "graphql" (the
 * shapes are journey.c's to define; until it takes one, bodies of that kind are listed as
 * not converted). */
int import_shape_supported(const char *shape);

/* A step's "json" or "body" from a request body text and its media type: JSON that
 * parses becomes "json", anything else a raw "body". Sets it on the request object. */
void import_set_body(json_t *request, const char *text, const char *mime);

/* Replaces each string in the request's "json" or "form" body whose key names a secret
 * (password, passwd, secret, token, api_key, apikey) with a {{secret.KEY}} placeholder
 * (import_secret), noted at ptr (or line and col) as "WHERE: body field KEY". */
void import_secret_fields(struct import_ctx *c, json_t *request, const char *ptr, int line,
                          int col, const char *where);

/* Returns a new string "Basic BASE64(user:password)" (RFC 7617), or NULL when memory
 * ran out. The caller frees it. */
char *import_basic_auth(const char *user, const char *password);

/* Returns a new journey object {"name": name, "steps": []} with, when origin is not
 * empty, the variable "base" set to it (the importers write "{{base}}/path" for the
 * requests to that origin, so that --var base=... aims the journey at a canary). */
json_t *import_journey_new(const char *name, const char *origin);

/* The url of a step: "{{base}}REST" when url's origin is the journey's base, else url. */
json_t *import_url(const json_t *journey, const char *url);

#endif
