/* Unit tests for the route trie, parameters and percent-decoding. */
#include <errno.h>
#include <string.h>

#include "app/app-int.h"
#include "test-support.h"

static void h1(weft_request_t *req, weft_response_t *res, void *arg)
{
}

static struct rnode root;

static int fresh(void **state)
{
    memset(&root, 0, sizeof(root));
    return 0;
}

static int drop(void **state)
{
    weft__router_free(&root);
    memset(&root, 0, sizeof(root));
    return 0;
}

static const struct route *match(const char *method, const char *path, struct app_req *ar)
{
    memset(ar, 0, sizeof(*ar));
    const struct rnode *n = weft__router_match(&root, (weft_slice_t){path, strlen(path)}, ar);
    return n ? weft__router_method(n, (weft_slice_t){method, strlen(method)}) : NULL;
}

static const char *param(struct app_req *ar, const char *name, char *buf)
{
    for (unsigned i = 0; i < ar->n_params; i++)
        if (!strcmp(ar->params[i].name, name)) {
            memcpy(buf, ar->params[i].raw.ptr, ar->params[i].raw.len);
            buf[ar->params[i].raw.len] = '\0';
            return buf;
        }
    return NULL;
}

static void static_param_and_rest_routes(void **state)
{
    int a, b, c, d, e;
    assert_int_equal(weft__router_add(&root, "GET", "/users/new", h1, &a, NULL), 0);
    assert_int_equal(weft__router_add(&root, "GET", "/users/:id", h1, &b, NULL), 0);
    assert_int_equal(weft__router_add(&root, "GET", "/users/:id/edit", h1, &c, NULL), 0);
    assert_int_equal(weft__router_add(&root, "GET", "/files/*path", h1, &d, NULL), 0);
    assert_int_equal(weft__router_add(&root, "GET", "/", h1, &e, NULL), 0);
    struct app_req ar;
    char buf[64];
    assert_ptr_equal(match("GET", "/users/new", &ar)->arg, &a); /* static wins */
    assert_ptr_equal(match("GET", "/users/42", &ar)->arg, &b);
    assert_string_equal(param(&ar, "id", buf), "42");
    assert_ptr_equal(match("GET", "/users/new/edit", &ar)->arg, &c); /* backs up to :id */
    assert_string_equal(param(&ar, "id", buf), "new");
    assert_ptr_equal(match("GET", "/files/a/b/c.txt", &ar)->arg, &d);
    assert_string_equal(param(&ar, "path", buf), "a/b/c.txt");
    assert_ptr_equal(match("GET", "/files/", &ar)->arg, &d);
    assert_string_equal(param(&ar, "path", buf), "");
    assert_ptr_equal(match("GET", "/", &ar)->arg, &e);
    assert_null(match("GET", "/users", &ar));
    assert_null(match("GET", "/users/", &ar)); /* an empty :id does not match */
    assert_null(match("GET", "/nope", &ar));
}

static void methods_head_from_get_and_any(void **state)
{
    int g, p, any;
    weft__router_add(&root, "GET", "/x", h1, &g, NULL);
    weft__router_add(&root, "POST", "/x", h1, &p, NULL);
    weft__router_add(&root, "*", "/y", h1, &any, NULL);
    struct app_req ar;
    assert_ptr_equal(match("GET", "/x", &ar)->arg, &g);
    assert_ptr_equal(match("HEAD", "/x", &ar)->arg, &g);
    assert_ptr_equal(match("POST", "/x", &ar)->arg, &p);
    assert_null(match("DELETE", "/x", &ar));
    assert_ptr_equal(match("PATCH", "/y", &ar)->arg, &any);
    char allow[64];
    const struct rnode *n = weft__router_match(&root, (weft_slice_t){"/x", 2}, &ar);
    weft__router_allow(n, allow, sizeof(allow));
    assert_non_null(strstr(allow, "GET"));
    assert_non_null(strstr(allow, "POST"));
    assert_non_null(strstr(allow, "HEAD"));
}

static void bad_and_duplicate_routes(void **state)
{
    assert_int_equal(weft__router_add(&root, "GET", "/a/:id", h1, NULL, NULL), 0);
    assert_int_equal(weft__router_add(&root, "GET", "/a/:id", h1, NULL, NULL), -EEXIST);
    assert_int_equal(weft__router_add(&root, "GET", "/a/:name/x", h1, NULL, NULL), -EINVAL);
    assert_int_equal(weft__router_add(&root, "GET", "no-slash", h1, NULL, NULL), -EINVAL);
    assert_int_equal(weft__router_add(&root, "GET", "/a//b", h1, NULL, NULL), -EINVAL);
    assert_int_equal(weft__router_add(&root, "GET", "/*rest/more", h1, NULL, NULL), -EINVAL);
    assert_int_equal(weft__router_add(&root, "get", "/b", h1, NULL, NULL), -EINVAL);
    assert_int_equal(weft__router_add(&root, "GET", "/b/:", h1, NULL, NULL), -EINVAL);
}

static void many_routes_match_the_same_way(void **state)
{
    char pat[64];
    static int args[500];
    for (int i = 0; i < 500; i++) {
        snprintf(pat, sizeof(pat), "/r%03d/:id/items", i);
        assert_int_equal(weft__router_add(&root, "GET", pat, h1, &args[i], NULL), 0);
    }
    struct app_req ar;
    char buf[64];
    assert_ptr_equal(match("GET", "/r000/7/items", &ar)->arg, &args[0]);
    assert_ptr_equal(match("GET", "/r499/9/items", &ar)->arg, &args[499]);
    assert_ptr_equal(match("GET", "/r250/x/items", &ar)->arg, &args[250]);
    assert_string_equal(param(&ar, "id", buf), "x");
    assert_null(match("GET", "/r500/1/items", &ar));
}

static void url_decoding(void **state)
{
    char out[64];
    weft_slice_t in = {"a%20b%2Fc+d", 11};
    assert_int_equal(weft_url_decode(in, out, false), 7);
    assert_memory_equal(out, "a b/c+d", 7);
    assert_int_equal(weft_url_decode(in, out, true), 7);
    assert_memory_equal(out, "a b/c d", 7);
    assert_int_equal(weft_url_decode((weft_slice_t){"%zz", 3}, out, false), -EINVAL);
    assert_int_equal(weft_url_decode((weft_slice_t){"%2", 2}, out, false), -EINVAL);
    assert_int_equal(weft_url_decode((weft_slice_t){"a%00", 4}, out, false), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(static_param_and_rest_routes, fresh, drop),
        cmocka_unit_test_setup_teardown(methods_head_from_get_and_any, fresh, drop),
        cmocka_unit_test_setup_teardown(bad_and_duplicate_routes, fresh, drop),
        cmocka_unit_test_setup_teardown(many_routes_match_the_same_way, fresh, drop),
        cmocka_unit_test(url_decoding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
