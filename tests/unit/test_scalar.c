/* SCALAR fields (the original mmstats's types): each type set and added to
 * in its own width (wrapping), read back in its type, statics of every
 * type, the generic setters' conversions, and models of scalar kinds. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil.h"

static const struct mms_value *val(mms_snapshot *s, const char *name,
                                   enum mms_type want)
{
    const struct mms_field_info *fi;
    const struct mms_value *v = tu_value(s, name, &fi);
    assert_int_equal(fi->kind, MMS_KIND_SCALAR);
    assert_int_equal(fi->type, want);
    assert_int_equal(v->kind, MMS_KIND_SCALAR);
    return v;
}

static void test_every_type_set_add_wrap(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "s.mmstats", NULL);
    mms_field *b, *i8, *i16, *i32, *u8, *u16, *u32, *u64, *f32;
    assert_int_equal(mms_bool_new(fx->w, "t.bool", NULL, &b), 0);
    assert_int_equal(mms_i8_new(fx->w, "t.i8", NULL, &i8), 0);
    assert_int_equal(mms_i16_new(fx->w, "t.i16", NULL, &i16), 0);
    assert_int_equal(mms_i32_new(fx->w, "t.i32", "ms", &i32), 0);
    assert_int_equal(mms_u8_new(fx->w, "t.u8", NULL, &u8), 0);
    assert_int_equal(mms_u16_new(fx->w, "t.u16", NULL, &u16), 0);
    assert_int_equal(mms_u32_new(fx->w, "t.u32", NULL, &u32), 0);
    assert_int_equal(mms_u64_new(fx->w, "t.u64", NULL, &u64), 0);
    assert_int_equal(mms_f32_new(fx->w, "t.f32", "C", &f32), 0);
    mms_bool_set(b, true);
    mms_bool_add(b, true); /* no add for bool */
    mms_i8_set(i8, 127);
    mms_i8_add(i8, 1); /* wraps to -128 */
    mms_i16_set(i16, -300);
    mms_i32_set(i32, -70000);
    mms_i32_add(i32, 5);
    mms_u8_set(u8, 255);
    mms_u8_add(u8, 2); /* wraps to 1 */
    mms_u16_set(u16, 65535);
    mms_u32_set(u32, 4000000000u);
    mms_u64_set(u64, UINT64_MAX);
    mms_f32_set(f32, 1.5f);
    mms_f32_add(f32, 0.25f);
    /* A typed setter of another type does nothing. */
    mms_u16_set(u8, 9);
    mms_u8_set(NULL, 1);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(fx->r, &s), 0);
    assert_int_equal(val(s, "t.bool", MMS_TYPE_BOOL)->v.u64, 1);
    assert_int_equal(val(s, "t.i8", MMS_TYPE_I8)->v.i64, -128);
    assert_int_equal(val(s, "t.i16", MMS_TYPE_I16)->v.i64, -300);
    assert_int_equal(val(s, "t.i32", MMS_TYPE_I32)->v.i64, -69995);
    assert_int_equal(val(s, "t.u8", MMS_TYPE_U8)->v.u64, 1);
    assert_int_equal(val(s, "t.u16", MMS_TYPE_U16)->v.u64, 65535);
    assert_int_equal(val(s, "t.u32", MMS_TYPE_U32)->v.u64, 4000000000u);
    assert_true(val(s, "t.u64", MMS_TYPE_U64)->v.u64 == UINT64_MAX);
    assert_true(val(s, "t.f32", MMS_TYPE_F32)->v.f64 == 1.75);
    const struct mms_field_info *fi;
    tu_value(s, "t.i32", &fi);
    assert_string_equal(fi->units, "ms");
    assert_int_equal(fi->value_size, 8);
    mms_snapshot_free(s);
    assert_string_equal(mms_type_name(MMS_TYPE_U16), "u16");
    assert_string_equal(mms_type_name(MMS_TYPE_F64), "f64");
    assert_string_equal(mms_type_name(0), "unknown");
    assert_string_equal(mms_kind_name(MMS_KIND_SCALAR), "scalar");
}

static void test_generic_setters_convert(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "s.mmstats", NULL);
    mms_field *u8, *i16, *f64, *g, *b;
    assert_int_equal(mms_scalar_new(fx->w, "g.u8", MMS_TYPE_U8, NULL, &u8), 0);
    assert_int_equal(mms_scalar_new(fx->w, "g.i16", MMS_TYPE_I16, NULL, &i16),
                     0);
    assert_int_equal(mms_scalar_new(fx->w, "g.f64", MMS_TYPE_F64, NULL, &f64),
                     0);
    assert_int_equal(mms_gauge_new(fx->w, "g.gauge", NULL, &g), 0);
    assert_int_equal(mms_scalar_new(fx->w, "g.b", MMS_TYPE_BOOL, NULL, &b), 0);
    mms_scalar_set_i64(u8, 300);     /* C cast: 44 */
    mms_scalar_set_f64(i16, -12.75); /* C cast: -12 */
    mms_scalar_add_i64(i16, -1);     /* -13 */
    mms_scalar_set_u64(f64, 3);      /* 3.0 */
    mms_scalar_add_f64(f64, 0.5);    /* 3.5 */
    mms_scalar_set_i64(g, -9);       /* a GAUGE is an i64 scalar */
    mms_scalar_add_i64(g, 2);
    mms_scalar_set_f64(b, 0.1); /* non-zero: true */
    mms_field *c;
    assert_int_equal(mms_counter_new(fx->w, "g.c", NULL, &c), 0);
    mms_scalar_set_i64(c, 5); /* not a scalar: nothing */
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(fx->r, &s), 0);
    assert_int_equal(val(s, "g.u8", MMS_TYPE_U8)->v.u64, 44);
    assert_int_equal(val(s, "g.i16", MMS_TYPE_I16)->v.i64, -13);
    assert_true(val(s, "g.f64", MMS_TYPE_F64)->v.f64 == 3.5);
    assert_int_equal(tu_value(s, "g.gauge", NULL)->v.i64, -7);
    assert_int_equal(val(s, "g.b", MMS_TYPE_BOOL)->v.u64, 1);
    assert_int_equal(tu_value(s, "g.c", NULL)->v.u64, 0);
    mms_snapshot_free(s);
    /* Kinds and types are checked when adding. */
    mms_field *f;
    assert_int_equal(mms_scalar_new(fx->w, "g.bad", 0, NULL, &f), -EINVAL);
    assert_int_equal(mms_scalar_new(fx->w, "g.bad", 12, NULL, &f), -EINVAL);
    assert_int_equal(mms_scalar_new(fx->w, "g.u8", MMS_TYPE_U16, NULL, &f),
                     MMS_EKIND);
    assert_int_equal(mms_scalar_new(fx->w, "g.u8", MMS_TYPE_U8, NULL, &f), 0);
    assert_ptr_equal(f, u8);
}

static void test_statics_of_every_type(void **state)
{
    struct tu_fx *fx = *state;
    tu_open_pair(fx, "s.mmstats", NULL);
    assert_int_equal(mms_static_bool(fx->w, "st.b", NULL, true), 0);
    assert_int_equal(mms_static_i8(fx->w, "st.i8", NULL, -5), 0);
    assert_int_equal(mms_static_i16(fx->w, "st.i16", NULL, -500), 0);
    assert_int_equal(mms_static_i32(fx->w, "st.i32", NULL, -50000), 0);
    assert_int_equal(mms_static_u8(fx->w, "st.u8", NULL, 200), 0);
    assert_int_equal(mms_static_u16(fx->w, "st.u16", NULL, 60000), 0);
    assert_int_equal(mms_static_u32(fx->w, "st.u32", NULL, 3000000000u), 0);
    assert_int_equal(mms_static_u64(fx->w, "st.u64", NULL, 1ull << 60), 0);
    assert_int_equal(mms_static_f32(fx->w, "st.f32", NULL, 0.5f), 0);
    assert_int_equal(mms_static_f64(fx->w, "st.f64", "s", 2.25), 0);
    assert_int_equal(mms_static_i64(fx->w, "st.i64", NULL, -1), 0);
    assert_int_equal(
        mms_static_scalar(fx->w, "st.gen", MMS_TYPE_I32, NULL, -7.9), 0);
    /* Again with another value: the first stays. */
    assert_int_equal(mms_static_u8(fx->w, "st.u8", NULL, 1), 0);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(fx->r, &s), 0);
    const struct mms_field_info *fi;
    const struct mms_value *v = tu_value(s, "st.b", &fi);
    assert_true(fi->flags & MMS_DF_STATIC);
    assert_int_equal(v->v.u64, 1);
    assert_int_equal(val(s, "st.i8", MMS_TYPE_I8)->v.i64, -5);
    assert_int_equal(val(s, "st.i16", MMS_TYPE_I16)->v.i64, -500);
    assert_int_equal(val(s, "st.i32", MMS_TYPE_I32)->v.i64, -50000);
    assert_int_equal(val(s, "st.u8", MMS_TYPE_U8)->v.u64, 200);
    assert_int_equal(val(s, "st.u16", MMS_TYPE_U16)->v.u64, 60000);
    assert_int_equal(val(s, "st.u32", MMS_TYPE_U32)->v.u64, 3000000000u);
    assert_true(val(s, "st.u64", MMS_TYPE_U64)->v.u64 == 1ull << 60);
    assert_true(val(s, "st.f32", MMS_TYPE_F32)->v.f64 == 0.5);
    v = tu_value(s, "st.f64", &fi);
    assert_int_equal(fi->kind, MMS_KIND_GAUGE_F64);
    assert_true(fi->flags & MMS_DF_STATIC);
    assert_true(v->v.f64 == 2.25);
    assert_int_equal(tu_value(s, "st.i64", NULL)->v.i64, -1);
    assert_int_equal(val(s, "st.gen", MMS_TYPE_I32)->v.i64, -7);
    mms_snapshot_free(s);
}

#define SCALAR_MODEL(X)                                                        \
    X(bool, up, NULL, "serving")                                               \
    X(u16, port, NULL, "listening port")                                       \
    X(i32, delta, "ms", NULL)                                                  \
    X(f32, temp, "C", NULL)                                                    \
    X(counter, hits, NULL, NULL)
MMS_MODEL(scalar_model, SCALAR_MODEL)

static void test_model_scalar_kinds(void **state)
{
    struct tu_fx *fx = *state;
    struct mms_writer_options o;
    mms_writer_options_init(&o);
    o.dir = fx->dir;
    o.flags = MMS_W_NO_ENV;
    struct scalar_model m;
    assert_int_equal(scalar_model_open(&m, &o), 0);
    mms_bool_set(m.up, true);
    mms_u16_set(m.port, 443);
    mms_i32_add(m.delta, -3);
    mms_f32_set(m.temp, 36.5f);
    mms_counter_inc(m.hits);
    mms_reader *r;
    assert_int_equal(mms_reader_open(&r, mms_writer_path(m.writer)), 0);
    mms_snapshot *s;
    assert_int_equal(mms_snapshot_take(r, &s), 0);
    assert_int_equal(val(s, "up", MMS_TYPE_BOOL)->v.u64, 1);
    assert_int_equal(val(s, "port", MMS_TYPE_U16)->v.u64, 443);
    assert_int_equal(val(s, "delta", MMS_TYPE_I32)->v.i64, -3);
    assert_true(val(s, "temp", MMS_TYPE_F32)->v.f64 == 36.5);
    assert_int_equal(tu_value(s, "hits", NULL)->v.u64, 1);
    mms_snapshot_free(s);
    mms_reader_close(r);
    scalar_model_close(&m);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, tu_setup, tu_teardown)
    const struct CMUnitTest tests[] = {
        T(test_every_type_set_add_wrap),
        T(test_generic_setters_convert),
        T(test_statics_of_every_type),
        T(test_model_scalar_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
