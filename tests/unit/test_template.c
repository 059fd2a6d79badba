/* Unit tests for probe/template.c: {{name}} syntax, rendering and typed JSON values. */
#include <stdlib.h>

#include "check.h"
#include "template.h"

static json_t *lookup(void *ctx, const char *name)
{
    json_t *v = json_object_get(ctx, name);
    return v ? json_incref(v) : NULL;
}

static void count_name(void *ctx, const char *name)
{
    (void)name;
    (*(int *)ctx)++;
}

int main(void)
{
    char err[256];
    json_t *vars = json_pack("{s:s,s:i,s:f,s:b,s:n,s:[i,i]}", "base", "http://h:1",
                             "n", 42, "r", 2.5, "t", 1, "nil", "list", 1, 2);
    char *s;

    s = template_render("{{base}}/api?x={{ n }}", lookup, vars, err, sizeof err);
    CHECK_STR(s, "http://h:1/api?x=42", "render: string and integer, spaces inside braces");
    free(s);
    s = template_render("{{r}} {{t}} {{nil}} {{list}}", lookup, vars, err, sizeof err);
    CHECK_STR(s, "2.5 true null [1,2]", "render: real, boolean, null and array as text");
    free(s);
    s = template_render("no braces here", lookup, vars, err, sizeof err);
    CHECK_STR(s, "no braces here", "render: text without templates unchanged");
    free(s);
    s = template_render("Bearer {{token}}", lookup, vars, err, sizeof err);
    CHECK(s == NULL, "render: undefined variable fails");
    CHECK_STR(err, "undefined variable \"token\"", "render: message names the variable");
    free(s);

    int n = 0;
    CHECK(template_names("{{a}}-{{b.c}}-{{random_int:1:6}}", count_name, &n, err, sizeof err) == 0
          && n == 3, "names: three names found");
    CHECK(template_names("{{a", NULL, NULL, err, sizeof err) < 0, "names: unclosed {{ is an error");
    CHECK_STR(err, "\"{{\" without a closing \"}}\"", "names: unclosed message");
    CHECK(template_names("{{}}", NULL, NULL, err, sizeof err) < 0, "names: empty name is an error");
    CHECK(template_names("{{a b}}", NULL, NULL, err, sizeof err) < 0, "names: space inside a name is an error");

    json_t *body = json_pack("{s:s,s:s,s:[s],s:i}", "qty", "{{n}}", "label", "n={{n}}",
                             "items", "{{list}}", "fixed", 7);
    json_t *out = template_render_json(body, lookup, vars, err, sizeof err);
    CHECK(out && json_is_integer(json_object_get(out, "qty"))
          && json_integer_value(json_object_get(out, "qty")) == 42,
          "json: a whole-string template keeps the number type");
    CHECK_STR(json_string_value(json_object_get(out, "label")), "n=42",
              "json: a template inside text stays text");
    CHECK(out && json_is_array(json_array_get(json_object_get(out, "items"), 0)),
          "json: nested whole-string template keeps the array type");
    CHECK(out && json_integer_value(json_object_get(out, "fixed")) == 7,
          "json: non-string values are copied");
    json_decref(out);
    json_t *bad = json_pack("{s:[s]}", "a", "{{missing}}");
    CHECK(template_render_json(bad, lookup, vars, err, sizeof err) == NULL,
          "json: undefined variable deep inside fails");
    json_decref(bad);
    json_decref(body);
    json_decref(vars);
    return check_done();
}
