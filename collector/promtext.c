#include "promtext.h"

void promtext_family(struct buf *b, const char *name, const char *type, const char *help)
{
    buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void promtext_scalar(struct buf *b, const char *name, const char *type, const char *help,
                     long long v)
{
    promtext_family(b, name, type, help);
    buf_printf(b, "%s %lld\n", name, v);
}

void promtext_value(struct buf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            buf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            buf_puts(b, "\\n");
        else
            buf_append(b, v, 1);
    }
}
