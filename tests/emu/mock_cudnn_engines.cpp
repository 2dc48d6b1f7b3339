/*
 * mock_cudnn_engines.cpp — the cuDNN mock's fake engines: the catalogue, what each engine
 * takes (heuristics list it, its ENGINE descriptor finalizes) and runs (its plan finalizes),
 * the heuristics that rank them, and cudnnBackendFinalize of ENGINE, ENGINECFG, ENGINEHEUR and
 * EXECUTION_PLAN descriptors.
 *
 * Where each kind of error comes out (as in cuDNN: descriptors check their own consistency,
 * engines say what they cannot run):
 *   descriptor finalize  BAD_PARAM: a missing or inconsistent value, conv output dims that
 *                        differ from the formula, shapes that do not broadcast, a virtual
 *                        tensor nobody produces or consumes, one id for two different tensors
 *   heuristics           a ranked list of engine configs (possibly empty)
 *   plan finalize        NOT_SUPPORTED_*: what the chosen engine cannot run (data types,
 *                        layout, channel vectors of tensor-core engines, filter shape, fusion)
 *
 * The catalogue (every engine computes the same float-accumulated maths, see
 * mock_cudnn_execute.cpp; only eng3's order of partial sums changes from run to run):
 *   eng0  direct, no notes, workspace 0                          plain conv
 *   eng1  implicit GEMM on tensor cores: TENSOR_CORE (TF32 for float data), 1 MiB, channels
 *         in 16-byte vectors                                     plain conv
 *   eng2  Winograd: WINOGRAD + WINOGRAD_TILE_4x4, 3 MiB, 3x3 / stride 1 / dilation 1
 *   eng3  split-K: NONDETERMINISTIC, 512 KiB                     plain conv
 *   eng4  runtime fusion on tensor cores: TENSOR_CORE (TF32 for float data),
 *         RUNTIME_COMPILATION, packed NHWC, 16-byte channel vectors   conv [+ pointwise]
 *   eng5  FFT: FFT, 2 MiB, stride 1 / dilation 1                 plain conv
 *   eng6  tensor cores with half accumulation: TENSOR_CORE + REDUCED_PRECISION_REDUCTION,
 *         16-bit data only                                       plain conv
 *   eng7  runtime fusion without tensor cores: RUNTIME_COMPILATION, packed NHWC
 *                                                                conv [+ pointwise]
 *   eng8  tensor cores on float data converted down to fp16: TENSOR_CORE +
 *         DOWN_CONVERT_INPUTS, float data only, x and w rounded to fp16 (what cuDNN's note
 *         means: frameworks refuse it whatever the precision)         plain conv
 * Ranking: plain conv  A: 8 1 0 4 2 5 3 6 7   B: 4 2 8 1 0 7 5 3 6   FALLBACK: 0
 *          fused       A: 4 7               B: 7 4               FALLBACK: 7
 * Every engine refuses a tensor of more than 2^31 - 1 elements (32-bit indexing).
 * Environment (read at every finalize):
 *   GC_EMU_CUDNN_NO_FUSION=1  no engine runs a graph with pointwise operations: modes A and B
 *                             return no configs for one, FALLBACK returns eng7 whose plan
 *                             fails to finalize (NOT_SUPPORTED_GRAPH_PATTERN)
 *   GC_EMU_CUDNN_TC_ONLY=1    only the tensor-core engines exist (1, 4, 6); FALLBACK gives eng1
 *                             (plain) or eng4 (fused)
 *   GC_EMU_CUDNN_REFUSE_BATCH=n  every plan of a convolution of n images fails to finalize
 *                             (NOT_SUPPORTED_SHAPE; the heuristics still list the engines)
 *   GC_EMU_CUDNN_SMALL_BATCH_WS=b  for convolutions of fewer than b images every engine that
 *                             uses a workspace wants 64 times its own (read at config finalize)
 *   GC_EMU_CUDNN_TF32=1       the TF32 engines (TENSOR_CORE on float data, not eng8) round
 *                             float inputs to TF32 (10-bit mantissa) before multiplying, as
 *                             tensor cores do
 */
#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>

#include "mock_cudnn_internal.h"

namespace gc_mock_cudnn
{

static bool env_on(const char *name)
{
    const char *v = getenv(name);
    return v && *v && strcmp(v, "0") != 0;
}

static bool float_like(cudnnDataType_t dt)
{
    return dt == CUDNN_DATA_FLOAT || dt == CUDNN_DATA_HALF || dt == CUDNN_DATA_BFLOAT16;
}

/* ------------------------------------------------------------------ engine catalogue */

enum Pattern { PAT_CONV, PAT_CONV_PW, PAT_OTHER };

struct EngineSpec {
    int64_t index;
    const char *name;
    bool tensor_core;           /* TENSOR_CORE (TF32 on float data) */
    std::vector<int32_t> notes; /* further numerical notes */
    bool rtc;                   /* RUNTIME_COMPILATION */
    bool plain, fusion;         /* runs a plain conv graph / conv + pointwise graphs */
    bool sixteen_bit_only;      /* half and bfloat16 data only */
    bool winograd, fft;         /* shape limits of those algorithms */
    int64_t workspace;
    std::vector<std::pair<int, int64_t>> knobs; /* (knob type, default choice); values 0..7 */
    bool down_convert;          /* DOWN_CONVERT_INPUTS: float data only, rounded to fp16 */
};

// clang-format off
#define N_ENGINES 9
static const EngineSpec ENGINES[N_ENGINES] = {
    {0, "direct", false, {}, false, true, false, false, false, false, 0, {}, false},
    {1, "implicit GEMM (tensor cores)", true, {}, false, true, false, false, false, false,
     1 << 20, {{CUDNN_KNOB_TYPE_TILE_SIZE, 2}, {CUDNN_KNOB_TYPE_STAGES, 3}}, false},
    {2, "Winograd", false, {CUDNN_NUMERICAL_NOTE_WINOGRAD, CUDNN_NUMERICAL_NOTE_WINOGRAD_TILE_4x4},
     false, true, false, false, true, false, 3 << 20, {{CUDNN_KNOB_TYPE_TILE_SIZE, 4}}, false},
    {3, "split-K", false, {CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC}, false, true, false, false,
     false, false, 512 << 10, {{CUDNN_KNOB_TYPE_SPLIT_K_SLC, 4}}, false},
    {4, "runtime fusion (tensor cores)", true, {}, true, true, true, false, false, false, 0,
     {{CUDNN_KNOB_TYPE_KERNEL_CFG, 5}}, false},
    {5, "FFT", false, {CUDNN_NUMERICAL_NOTE_FFT}, false, true, false, false, false, true, 2 << 20,
     {{CUDNN_KNOB_TYPE_TILE_SIZE, 1}}, false},
    {6, "tensor cores, half accumulation", true,
     {CUDNN_NUMERICAL_NOTE_REDUCED_PRECISION_REDUCTION}, false, true, false, true, false, false,
     0, {}, false},
    {7, "runtime fusion", false, {}, true, true, true, false, false, false, 0,
     {{CUDNN_KNOB_TYPE_KERNEL_CFG, 1}}, false},
    {8, "tensor cores, float converted to fp16", true, {}, false, true, false, false, false,
     false, 1 << 20, {{CUDNN_KNOB_TYPE_TILE_SIZE, 2}}, true},
};
// clang-format on

static const Op *conv_of(const Graph &g)
{
    for (const DescPtr &o : g.ops)
        if (o->op.kind == OP_CONV_FWD)
            return &o->op;
    return nullptr;
}

static Pattern pattern_of(const Graph &g)
{
    if (g.n_conv != 1 || g.ops.empty() || g.ops[0]->op.kind != OP_CONV_FWD)
        return PAT_OTHER;
    return g.n_pointwise ? PAT_CONV_PW : PAT_CONV;
}

static std::vector<int32_t> numerical_notes(const EngineSpec &e, const Graph &g)
{
    std::vector<int32_t> v;
    const Op *c = conv_of(g);
    if (e.tensor_core) {
        v.push_back(CUDNN_NUMERICAL_NOTE_TENSOR_CORE);
        if (e.down_convert && c && c->x->tensor.dt == CUDNN_DATA_FLOAT)
            v.push_back(CUDNN_NUMERICAL_NOTE_DOWN_CONVERT_INPUTS);
    }
    v.insert(v.end(), e.notes.begin(), e.notes.end());
    return v;
}

EngineMath engine_math(const Engine &e)
{
    EngineMath m{false, false, false};
    const Op *c = conv_of(e.graph->graph);
    const bool float_data = c && c->x->tensor.dt == CUDNN_DATA_FLOAT;
    m.half_inputs = e.spec->down_convert && float_data;
    m.tf32_inputs = e.spec->tensor_core && !e.spec->down_convert && float_data &&
                    env_on("GC_EMU_CUDNN_TF32");
    for (int32_t n : numerical_notes(*e.spec, e.graph->graph))
        m.nondeterministic |= n == CUDNN_NUMERICAL_NOTE_NONDETERMINISTIC;
    return m;
}

/* Whether the engine takes the graph at all (heuristics list it; the engine finalizes). */
static cudnnStatus_t engine_takes(const EngineSpec &e, const Graph &g, std::string *why)
{
    const Pattern p = pattern_of(g);
    if (p == PAT_OTHER) {
        *why = "the graph is not one convolution forward followed by pointwise operations";
        return CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN;
    }
    if ((p == PAT_CONV && !e.plain) || (p == PAT_CONV_PW && !e.fusion)) {
        *why = p == PAT_CONV_PW ? "it does not fuse pointwise operations"
                                : "it runs fused graphs only";
        return CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN;
    }
    if (env_on("GC_EMU_CUDNN_TC_ONLY") && !e.tensor_core) {
        *why = "GC_EMU_CUDNN_TC_ONLY=1: only tensor-core engines exist";
        return CUDNN_STATUS_NOT_SUPPORTED;
    }
    const Op &c = *conv_of(g);
    const cudnnDataType_t io = c.x->tensor.dt;
    if (!float_like(io) || c.w->tensor.dt != io) {
        *why = std::string("x is ") + dtype_name(io) + ", w " + dtype_name(c.w->tensor.dt) +
               ": x and w must both be FLOAT, HALF or BFLOAT16";
        return CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE;
    }
    for (const DescPtr &t : g.tensors)
        if (!float_like(t->tensor.dt) ||
            (!t->tensor.is_virtual && t->tensor.dt != io && t->tensor.dt != CUDNN_DATA_FLOAT)) {
            *why = "tensor uid " + std::to_string(t->tensor.uid) + " is " +
                   dtype_name(t->tensor.dt) + " in a " + dtype_name(io) + " graph";
            return CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE;
        }
    if (e.sixteen_bit_only && io == CUDNN_DATA_FLOAT) {
        *why = "it takes 16-bit data only";
        return CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE;
    }
    if (e.down_convert && io != CUDNN_DATA_FLOAT) {
        *why = "it converts float data only";
        return CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE;
    }
    return CUDNN_STATUS_SUCCESS;
}

/* Channels-last and fully packed: strides (H*W*C, 1, W*C, C) for dims (N, C, H, W). */
static bool packed_channels_last(const Tensor &t)
{
    if (t.dims.size() < 2 || t.strides[1] != 1)
        return false;
    int64_t s = t.dims[1];
    for (size_t i = t.dims.size() - 1; i >= 2; i--) {
        if (t.strides[i] != s)
            return false;
        s *= t.dims[i];
    }
    return t.strides[0] == s;
}

/* No two elements at one address: strides sorted, each at least the span below it. */
static bool non_overlapping(const Tensor &t)
{
    std::vector<std::pair<int64_t, int64_t>> sd; /* (stride, dim) */
    for (size_t i = 0; i < t.dims.size(); i++)
        if (t.dims[i] > 1)
            sd.push_back({t.strides[i], t.dims[i]});
    std::sort(sd.begin(), sd.end());
    int64_t span = 1;
    for (const auto &p : sd) {
        if (p.first < span)
            return false;
        span = p.first * p.second;
    }
    return true;
}

/* Everything the engine needs of the graph (plan finalization). */
static cudnnStatus_t engine_runs(const EngineSpec &e, const Graph &g, std::string *why)
{
    if (cudnnStatus_t s = engine_takes(e, g, why))
        return s;
    const Op &c = *conv_of(g);
    const char *refuse = getenv("GC_EMU_CUDNN_REFUSE_BATCH");
    if (refuse && *refuse && atoll(refuse) == c.x->tensor.dims[0]) {
        *why = std::string("GC_EMU_CUDNN_REFUSE_BATCH=") + refuse + ": no engine runs that batch";
        return CUDNN_STATUS_NOT_SUPPORTED_SHAPE;
    }
    const Tensor &x = c.x->tensor, &w = c.w->tensor;
    const ConvDesc &cd = c.conv->conv;
    if (pattern_of(g) == PAT_CONV_PW && env_on("GC_EMU_CUDNN_NO_FUSION")) {
        *why = "GC_EMU_CUDNN_NO_FUSION=1: no engine fuses pointwise operations";
        return CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN;
    }
    if (cd.comp != CUDNN_DATA_FLOAT) {
        *why = std::string("compute type ") + dtype_name(cd.comp) + " (FLOAT is emulated)";
        return CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE;
    }
    if (cd.nsp != 2) {
        *why = std::to_string(cd.nsp) + " spatial dims (2 are emulated)";
        return CUDNN_STATUS_NOT_SUPPORTED_SHAPE;
    }
    if (x.dims[1] != w.dims[1]) {
        *why = "grouped convolution";
        return CUDNN_STATUS_NOT_SUPPORTED_SHAPE;
    }
    if (c.y->tensor.is_virtual && c.beta != 0.0) {
        *why = "beta != 0 with a virtual output";
        return CUDNN_STATUS_NOT_SUPPORTED;
    }
    for (const DescPtr &o : g.ops) {
        if (o->op.kind != OP_POINTWISE)
            continue;
        const PwDesc &pw = o->op.pw->pw;
        const int m = pw.mode;
        if (m != CUDNN_POINTWISE_ADD && m != CUDNN_POINTWISE_SUB && m != CUDNN_POINTWISE_MUL &&
            m != CUDNN_POINTWISE_MAX && m != CUDNN_POINTWISE_MIN && m != CUDNN_POINTWISE_IDENTITY &&
            m != CUDNN_POINTWISE_RELU_FWD) {
            *why = "pointwise mode " + std::to_string(m) + " is not emulated";
            return CUDNN_STATUS_NOT_SUPPORTED;
        }
        if (pw.prec != CUDNN_DATA_FLOAT) {
            *why = std::string("pointwise math precision ") + dtype_name(pw.prec);
            return CUDNN_STATUS_NOT_SUPPORTED_DATA_TYPE;
        }
        if (o->op.x->tensor.dims != o->op.y->tensor.dims) {
            *why = "a broadcast pointwise X (only B may broadcast in a fused graph)";
            return CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN;
        }
    }
    for (const DescPtr &t : g.tensors) {
        int64_t elems = 1;
        for (int64_t d : t->tensor.dims)
            elems *= d;
        if (elems > INT32_MAX) { /* the engines index with 32 bits */
            *why = "tensor uid " + std::to_string(t->tensor.uid) + ": " + std::to_string(elems) +
                   " elements (at most 2^31 - 1)";
            return CUDNN_STATUS_NOT_SUPPORTED_SHAPE;
        }
        if (t->tensor.is_virtual)
            continue;
        if (!non_overlapping(t->tensor)) {
            *why = "tensor uid " + std::to_string(t->tensor.uid) + ": strides " +
                   dims_str(t->tensor.strides) + " overlap";
            return CUDNN_STATUS_NOT_SUPPORTED_LAYOUT;
        }
        if (e.fusion && !packed_channels_last(t->tensor)) {
            *why = "tensor uid " + std::to_string(t->tensor.uid) + ": dims " +
                   dims_str(t->tensor.dims) + ", strides " + dims_str(t->tensor.strides) +
                   " are not fully packed NHWC";
            return CUDNN_STATUS_NOT_SUPPORTED_LAYOUT;
        }
        if (e.tensor_core && t->tensor.align < 16) {
            *why = "tensor uid " + std::to_string(t->tensor.uid) + ": byte alignment " +
                   std::to_string(t->tensor.align) + " (16 needed)";
            return CUDNN_STATUS_NOT_SUPPORTED_LAYOUT;
        }
    }
    if (e.tensor_core) {
        const int64_t vec = 16 / x.elem_bytes;
        if (x.dims[1] % vec || w.dims[0] % vec) {
            *why = "channels " + std::to_string(x.dims[1]) + " -> " + std::to_string(w.dims[0]) +
                   ": tensor cores need multiples of " + std::to_string(vec) + " (16-byte vectors)";
            return CUDNN_STATUS_NOT_SUPPORTED_SHAPE;
        }
    }
    bool unit = true;
    for (int i = 0; i < 2; i++)
        unit = unit && cd.stride[i] == 1 && cd.dil[i] == 1;
    if ((e.winograd || e.fft) && !unit) {
        *why = "strides and dilations must be 1";
        return CUDNN_STATUS_NOT_SUPPORTED_SHAPE;
    }
    if (e.winograd && (w.dims[2] != 3 || w.dims[3] != 3)) {
        *why = "Winograd 4x4 takes 3x3 filters only";
        return CUDNN_STATUS_NOT_SUPPORTED_SHAPE;
    }
    return CUDNN_STATUS_SUCCESS;
}

/* ------------------------------------------------------- engines, configs, heuristics */

cudnnStatus_t finalize_engine(Desc &d)
{
    Engine &e = d.engine;
    e.graph = desc_attr(d, CUDNN_ATTR_ENGINE_OPERATION_GRAPH);
    e.index = attr_i64(*find_attr(d, CUDNN_ATTR_ENGINE_GLOBAL_INDEX));
    if (e.index < 0 || e.index >= N_ENGINES)
        return fail(CUDNN_STATUS_BAD_PARAM_OUT_OF_BOUND, "global index %lld (the graph has %d)",
                    (long long)e.index, N_ENGINES);
    e.spec = &ENGINES[e.index];
    std::string why;
    if (cudnnStatus_t s = engine_takes(*e.spec, e.graph->graph, &why))
        return fail(s, "eng%lld (%s) does not take this graph: %s", (long long)e.index,
                    e.spec->name, why.c_str());
    put_enums(d, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
              numerical_notes(*e.spec, e.graph->graph));
    std::vector<int32_t> behavior;
    if (e.spec->rtc)
        behavior.push_back(CUDNN_BEHAVIOR_NOTE_RUNTIME_COMPILATION);
    put_enums(d, CUDNN_ATTR_ENGINE_BEHAVIOR_NOTE, CUDNN_TYPE_BEHAVIOR_NOTE, behavior);
    std::vector<DescPtr> infos;
    for (const auto &k : e.spec->knobs) {
        DescPtr ki = new_internal(CUDNN_BACKEND_KNOB_INFO_DESCRIPTOR);
        put_enums(*ki, CUDNN_ATTR_KNOB_INFO_TYPE, CUDNN_TYPE_KNOB_TYPE, {k.first});
        put_i64s(*ki, CUDNN_ATTR_KNOB_INFO_MINIMUM_VALUE, {0});
        put_i64s(*ki, CUDNN_ATTR_KNOB_INFO_MAXIMUM_VALUE, {7});
        put_i64s(*ki, CUDNN_ATTR_KNOB_INFO_STRIDE, {1});
        ki->finalized = true;
        infos.push_back(ki);
    }
    put_descs(d, CUDNN_ATTR_ENGINE_KNOB_INFO, infos);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t finalize_cfg(Desc &d)
{
    EngineCfg &c = d.cfg;
    c.engine = desc_attr(d, CUDNN_ATTR_ENGINECFG_ENGINE);
    const EngineSpec &spec = *c.engine->engine.spec;
    c.knobs = spec.knobs;
    if (const Attr *a = find_attr(d, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES))
        for (const DescPtr &k : a->descs) {
            const int type = attr_enum(*find_attr(*k, CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE));
            const int64_t v = attr_i64(*find_attr(*k, CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE));
            bool known = false;
            for (auto &kc : c.knobs)
                if (kc.first == type) {
                    known = true;
                    kc.second = v;
                }
            if (!known || v < 0 || v > 7)
                return fail(CUDNN_STATUS_BAD_PARAM, "eng%lld has no knob %d taking value %lld",
                            (long long)spec.index, type, (long long)v);
        }
    c.workspace = spec.workspace;
    /* GC_EMU_CUDNN_SMALL_BATCH_WS=b: below b images the engines that use a workspace want 64
     * times as much (as split-K-like engines, ranked first for small batches, do) */
    const char *small = getenv("GC_EMU_CUDNN_SMALL_BATCH_WS");
    const Op *cv = conv_of(c.engine->engine.graph->graph);
    if (small && *small && c.workspace > 0 && cv && cv->x->tensor.dims[0] < atoll(small))
        c.workspace *= 64;
    put_i64s(d, CUDNN_ATTR_ENGINECFG_WORKSPACE_SIZE, {c.workspace});
    put_i64s(d, CUDNN_ATTR_ENGINECFG_SHARED_MEMORY_USED, {0});
    std::vector<DescPtr> choices;
    for (const auto &k : c.knobs) {
        DescPtr kd = new_internal(CUDNN_BACKEND_KNOB_CHOICE_DESCRIPTOR);
        put_enums(*kd, CUDNN_ATTR_KNOB_CHOICE_KNOB_TYPE, CUDNN_TYPE_KNOB_TYPE, {k.first});
        put_i64s(*kd, CUDNN_ATTR_KNOB_CHOICE_KNOB_VALUE, {k.second});
        kd->finalized = true;
        choices.push_back(kd);
    }
    put_descs(d, CUDNN_ATTR_ENGINECFG_KNOB_CHOICES, choices);
    return CUDNN_STATUS_SUCCESS;
}

cudnnStatus_t finalize_heur(Desc &d)
{
    const DescPtr &graph = desc_attr(d, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH);
    int mode = attr_enum(*find_attr(d, CUDNN_ATTR_ENGINEHEUR_MODE));
    if (mode == CUDNN_HEUR_MODE_INSTANT)
        mode = CUDNN_HEUR_MODE_A;
    const Graph &g = graph->graph;
    const Pattern p = pattern_of(g);
    if (p == PAT_OTHER)
        return fail(CUDNN_STATUS_NOT_SUPPORTED_GRAPH_PATTERN,
                    "no engine runs this graph (%d convolutions, %d pointwise operations): "
                    "the mock runs one convolution forward followed by pointwise operations",
                    g.n_conv, g.n_pointwise);
    const bool tc_only = env_on("GC_EMU_CUDNN_TC_ONLY");
    std::vector<int> order;
    if (p == PAT_CONV)
        order = mode == CUDNN_HEUR_MODE_A   ? std::vector<int>{8, 1, 0, 4, 2, 5, 3, 6, 7}
                : mode == CUDNN_HEUR_MODE_B ? std::vector<int>{4, 2, 8, 1, 0, 7, 5, 3, 6}
                                            : std::vector<int>{tc_only ? 1 : 0};
    else if (mode != CUDNN_HEUR_MODE_FALLBACK && env_on("GC_EMU_CUDNN_NO_FUSION"))
        order = {}; /* no config at all; FALLBACK's fails at plan finalization */
    else
        order = mode == CUDNN_HEUR_MODE_A   ? std::vector<int>{4, 7}
                : mode == CUDNN_HEUR_MODE_B ? std::vector<int>{7, 4}
                                            : std::vector<int>{tc_only ? 4 : 7};
    std::vector<DescPtr> results;
    for (int idx : order) {
        std::string why;
        if (engine_takes(ENGINES[idx], g, &why) != CUDNN_STATUS_SUCCESS)
            continue;
        DescPtr e = new_internal(CUDNN_BACKEND_ENGINE_DESCRIPTOR);
        put_descs(*e, CUDNN_ATTR_ENGINE_OPERATION_GRAPH, {graph});
        put_i64s(*e, CUDNN_ATTR_ENGINE_GLOBAL_INDEX, {idx});
        if (cudnnStatus_t s = finalize_engine(*e))
            return s;
        e->finalized = true;
        DescPtr c = new_internal(CUDNN_BACKEND_ENGINECFG_DESCRIPTOR);
        put_descs(*c, CUDNN_ATTR_ENGINECFG_ENGINE, {e});
        if (cudnnStatus_t s = finalize_cfg(*c))
            return s;
        c->finalized = true;
        results.push_back(c);
    }
    put_descs(d, CUDNN_ATTR_ENGINEHEUR_RESULTS, results);
    return CUDNN_STATUS_SUCCESS;
}

/* ---------------------------------------------------------------------- plans */

cudnnStatus_t finalize_plan(Desc &d)
{
    Plan &p = d.plan;
    p.cfg = desc_attr(d, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG);
    const Engine &e = p.cfg->cfg.engine->engine;
    std::string why;
    if (cudnnStatus_t s = engine_runs(*e.spec, e.graph->graph, &why))
        return fail(s, "eng%lld (%s) cannot run this graph: %s", (long long)e.index, e.spec->name,
                    why.c_str());
    p.workspace = p.cfg->cfg.workspace;
    put_i64s(d, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, {p.workspace});
    return CUDNN_STATUS_SUCCESS;
}

} /* namespace gc_mock_cudnn */
