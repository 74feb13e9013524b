"""Module 3's hidden tests accept the solution and reject plausible mistakes:
wrong hooks, detectors that use the mean instead of the max, decompositions
that drop or double-count the outlier columns, smoothing along the wrong axis."""

import pytest

from graded import Answer, SolvedNotebook, Wrong, edited

# Each exercise's reference answer, written the way its variants need it. A variant is the reference
# with the edit that makes its mistake (or its different but correct way), so the edit is what it tests;
# edited() raises when an edit no longer fits, rather than testing the reference unchanged.

COLLECT_LINEAR_INPUTS = '''
def collect_linear_inputs(model, batch, names):
    captured = {}
    handles = [model.get_submodule(n).register_forward_hook(
        lambda m, args, out, n=n: captured.__setitem__(n, args[0].detach())) for n in names]
    try:
        with torch.no_grad():
            model(**batch)
    finally:
        for h in handles:
            h.remove()
    real = batch["attention_mask"].bool()
    return {n: captured[n].reshape(*real.shape, -1)[real].float() for n in names}
'''

SPIKINESS = '''
def spikiness(t):
    t = t.detach().flatten().double()
    m = t.abs()
    return (((t - t.mean()) / t.std(unbiased=False)) ** 4).mean().item(), (m.max() / m.median()).item()
'''

OUTLIER_DIMENSIONS = '''
def outlier_dimensions(acts, threshold=6.0, min_layer_fraction=0.25, min_token_fraction=0.06):
    q = torch.stack([(a.abs() >= threshold).double().mean(dim=0) >= min_token_fraction for a in acts])
    return [int(j) for j in torch.nonzero(q.double().mean(dim=0) >= min_layer_fraction).flatten()]
'''

QUANTIZE_INT8 = '''
def quantize_int8(x, dim=None):
    absmax = x.abs().amax() if dim is None else x.abs().amax(dim=dim, keepdim=True)
    scale = (absmax.clamp(min=1e-8) / 127).float()
    return torch.clamp(torch.round(x / scale), -127, 127).to(torch.int8), scale
'''

INT8_ACTIVATION_ERROR = '''
def int8_activation_error(X, W, per):
    if per not in ("tensor", "token"):
        raise ValueError(per)
    codes, scale = quantize_int8(X, None if per == "tensor" else -1)
    return relative_error((codes.float() * scale) @ W.T, X @ W.T)
'''

INT8_MATMUL = '''
def int8_matmul(X, W):
    cx, sx = quantize_int8(X, dim=-1)
    cw, sw = quantize_int8(W, dim=-1)
    return (cx.to(torch.int32) @ cw.to(torch.int32).T).float() * sx * sw.T
'''

LLM_INT8_MATMUL = '''
def llm_int8_matmul(X, W, threshold=6.0):
    is_outlier = (X.abs() >= threshold).any(dim=0)
    cols, rest = torch.nonzero(is_outlier).flatten(), torch.nonzero(~is_outlier).flatten()
    y16 = (X[:, cols].half() @ W[:, cols].half().T).float()
    return (y16 + int8_matmul(X[:, rest], W[:, rest]) if len(rest) else y16), cols
'''

# Without the guard for "every column is an outlier" (int8_matmul of zero columns fails): itself a
# wrong answer, and what several variants below were written on, so they make that mistake as well.
LLM_INT8_MATMUL_UNGUARDED = edited(LLM_INT8_MATMUL, (
    "    y16 = (X[:, cols].half() @ W[:, cols].half().T).float()\n"
    "    return (y16 + int8_matmul(X[:, rest], W[:, rest]) if len(rest) else y16), cols",
    "    return (X[:, cols].half() @ W[:, cols].half().T).float() + int8_matmul(X[:, rest], W[:, rest]), cols"))

SMOOTHING_FACTORS = '''
def smoothing_factors(X, W, alpha=0.5):
    return (X.abs().amax(dim=0) ** alpha / W.abs().amax(dim=0) ** (1 - alpha)).float()
'''

SMOOTH = '''
def smooth(X, W, s):
    return X / s, W * s
'''

MASSIVE_ACTIVATIONS = '''
def massive_activations(acts, attention_mask, factor=100.0):
    real = attention_mask.bool()
    position = (real.long().cumsum(dim=1) - 1)[real]
    massive = acts.abs() > factor * acts.abs().median()
    found = []
    for p in range(int(real.sum(dim=1).min())):
        found += [(p, int(f)) for f in torch.nonzero(massive[position == p].all(dim=0)).flatten()]
    return found
'''

# The same pairs as one set of (position, feature) per sentence, intersected.
MASSIVE_ACTIVATIONS_BY_SETS = '''
def massive_activations(acts, attention_mask, factor=100.0):
    threshold = factor * acts.abs().median()
    per_sentence = []
    for block in acts.split(attention_mask.sum(dim=1).tolist()):
        per_sentence.append({(k, j) for k, j in torch.nonzero(block.abs() > threshold).tolist()})
    return sorted(set.intersection(*per_sentence))
'''

# The same intersection, folded sentence by sentence into the first one's set.
MASSIVE_ACTIVATIONS_FOLDED = '''
def massive_activations(acts, attention_mask, factor=100.0):
    lengths = attention_mask.sum(dim=1).tolist()
    t = factor * acts.abs().median()
    blocks = acts.split(lengths)
    common = {(k, j) for k, j in torch.nonzero(blocks[0].abs() > t).tolist()}
    for s in range(1, len(blocks)):
        common &= {(k, j) for k, j in torch.nonzero(blocks[s].abs() > t).tolist()}
    return sorted(common)
'''

WRONG_ANSWERS = {
    # Exercise 1: hooks
    # As first written, this one skips the reshape as well (the mistake of "inputs not reshaped").
    "hook keeps the output, not the input": Wrong("test_collect_linear_inputs", edited(
        COLLECT_LINEAR_INPUTS, ("args[0].detach()", "out.detach()"), ("captured[n].reshape(*real.shape, -1)[real]", "captured[n][real]"))),
    "padding tokens kept": Wrong("test_collect_linear_inputs", edited(
        COLLECT_LINEAR_INPUTS,
        ('    real = batch["attention_mask"].bool()\n', ""),
        ("captured[n].reshape(*real.shape, -1)[real]", "captured[n].reshape(-1, captured[n].shape[-1])"))),
    "hooks never removed": Wrong("test_collect_linear_inputs", '''
def collect_linear_inputs(model, batch, names):
    captured = {}
    for n in names:
        model.get_submodule(n).register_forward_hook(
            lambda m, args, out, n=n: captured.__setitem__(n, args[0].detach()))
    with torch.no_grad():
        model(**batch)
    real = batch["attention_mask"].bool()
    return {n: captured[n][real].float() for n in names}
'''),
    "hooks left behind when the forward pass fails": Wrong("test_collect_linear_inputs", edited(COLLECT_LINEAR_INPUTS, (
        "    try:\n"
        "        with torch.no_grad():\n"
        "            model(**batch)\n"
        "    finally:\n"
        "        for h in handles:\n"
        "            h.remove()\n",
        "    with torch.no_grad():\n"
        "        model(**batch)\n"
        "    for h in handles:\n"
        "        h.remove()\n"))),
    "inputs not reshaped (OPT flattens tokens before fc1)": Wrong("test_collect_linear_inputs", edited(
        COLLECT_LINEAR_INPUTS, ("captured[n].reshape(*real.shape, -1)[real]", "captured[n][real]"))),
    "only the first sentence kept": Wrong("test_collect_linear_inputs", edited(
        COLLECT_LINEAR_INPUTS, ("captured[n].reshape(*real.shape, -1)[real]", "captured[n][0][real[0]]"))),
    "hook closures all see the last name (late binding in a comprehension)": Wrong("test_collect_linear_inputs", edited(
        COLLECT_LINEAR_INPUTS, ("lambda m, args, out, n=n:", "lambda m, args, out:"))),
    "the model's dtype kept (no .float())": Wrong("test_collect_linear_inputs", edited(
        COLLECT_LINEAR_INPUTS, ("[real].float() for", "[real] for"))),
    "neither detached nor under no_grad (autograd history kept)": Wrong("test_collect_linear_inputs", edited(
        COLLECT_LINEAR_INPUTS,
        ("args[0].detach()", "args[0]"),
        ("        with torch.no_grad():\n            model(**batch)\n", "        model(**batch)\n"))),
    "first n tokens of each sentence (assumes padding at the end)": Wrong("test_collect_linear_inputs", edited(COLLECT_LINEAR_INPUTS, (
        '    real = batch["attention_mask"].bool()\n'
        "    return {n: captured[n].reshape(*real.shape, -1)[real].float() for n in names}\n",
        '''    mask = batch["attention_mask"]
    lengths = mask.sum(dim=1).tolist()
    out = {}
    for n in names:
        x = captured[n].reshape(*mask.shape, -1)
        out[n] = torch.cat([x[b, :length] for b, length in enumerate(lengths)]).float()
    return out
'''))),
    "tokens ordered by position, not sentence by sentence": Wrong("test_collect_linear_inputs", edited(
        COLLECT_LINEAR_INPUTS,
        ("captured[n].reshape(*real.shape, -1)[real]", "captured[n].reshape(*real.shape, -1).transpose(0, 1)[real.T]"))),
    # Exercise 2: spikiness
    "excess kurtosis": Wrong("test_spikiness", edited(SPIKINESS, ("** 4).mean().item()", "** 4).mean().item() - 3"))),
    "unbiased standard deviation": Wrong("test_spikiness", edited(SPIKINESS, ("t.std(unbiased=False)", "t.std()"))),
    "mean magnitude instead of median": Wrong("test_spikiness", edited(SPIKINESS, ("m.median()", "m.mean()"))),
    "not centred (E[x^4] / sigma^4)": Wrong("test_spikiness", edited(SPIKINESS, ("((t - t.mean()) / t.std", "(t / t.std"))),
    "computed in float32": Wrong("test_spikiness", edited(SPIKINESS, (".double()", ".float()"))),
    "0-d tensors returned (no .item())": Wrong("test_spikiness", edited(
        SPIKINESS, (".mean().item(), (m.max() / m.median()).item()", ".mean(), m.max() / m.median()"))),
    "numpy.median (averages the two middle values)": Wrong("test_spikiness", '''
import numpy as np

def spikiness(t):
    a = t.detach().double().numpy().ravel()
    z = (a - a.mean()) / a.std()
    return float((z ** 4).mean()), float(np.abs(a).max() / np.median(np.abs(a)))
'''),
    "signed max over median magnitude": Wrong("test_spikiness", edited(SPIKINESS, ("m.max()", "t.max()"))),
    "scipy.stats.kurtosis with its default axis=0 (per column of a matrix)": Wrong("test_spikiness", '''
import scipy.stats

def spikiness(t):
    a = t.detach().double().numpy()
    m = t.detach().double().abs()
    return scipy.stats.kurtosis(a, fisher=False), (m.max() / m.median()).item()
'''),
    # Exercise 3: outlier dimensions
    "detector uses the mean magnitude instead of the max": Wrong("test_outlier_dimensions", edited(
        OUTLIER_DIMENSIONS, ("(a.abs() >= threshold).double().mean(dim=0) >= min_token_fraction", "a.abs().mean(dim=0) >= threshold"))),
    "detector uses the max only, ignoring how many tokens": Wrong("test_outlier_dimensions", edited(
        OUTLIER_DIMENSIONS, ("(a.abs() >= threshold).double().mean(dim=0) >= min_token_fraction", "a.abs().amax(dim=0) >= threshold"))),
    "signed values instead of magnitudes": Wrong("test_outlier_dimensions", edited(
        OUTLIER_DIMENSIONS, ("(a.abs() >= threshold)", "(a >= threshold)"))),
    "strictly greater than the threshold": Wrong("test_outlier_dimensions", edited(
        OUTLIER_DIMENSIONS, ("a.abs() >= threshold", "a.abs() > threshold"))),
    "must qualify in every layer": Wrong("test_outlier_dimensions", edited(
        OUTLIER_DIMENSIONS, ("q.double().mean(dim=0) >= min_layer_fraction", "q.all(dim=0)"))),
    "tokens pooled over all layers": Wrong("test_outlier_dimensions", '''
def outlier_dimensions(acts, threshold=6.0, min_layer_fraction=0.25, min_token_fraction=0.06):
    pooled = torch.cat(list(acts))
    return [int(j) for j in torch.nonzero((pooled.abs() >= threshold).double().mean(dim=0) >= min_token_fraction).flatten()]
'''),
    "strictly more than min_token_fraction of the tokens": Wrong("test_outlier_dimensions", edited(
        OUTLIER_DIMENSIONS, (">= min_token_fraction", "> min_token_fraction"))),
    "strictly more than min_layer_fraction of the layers": Wrong("test_outlier_dimensions", edited(
        OUTLIER_DIMENSIONS, (">= min_layer_fraction", "> min_layer_fraction"))),
    "a list of 0-d tensors instead of ints": Wrong("test_outlier_dimensions", edited(
        OUTLIER_DIMENSIONS, ("[int(j) for j in torch.nonzero(", "list(torch.nonzero("), (".flatten()]", ".flatten())"))),
    "detector ignores its threshold argument (6.0 hard-coded)": Wrong("test_outlier_dimensions", edited(
        OUTLIER_DIMENSIONS, ("a.abs() >= threshold", "a.abs() >= 6.0"))),
    "token count compared with the fraction (any single token qualifies)": Wrong("test_outlier_dimensions", edited(
        OUTLIER_DIMENSIONS, ("(a.abs() >= threshold).double().mean(dim=0)", "(a.abs() >= threshold).sum(dim=0)"))),
    "layer count compared with int(min_layer_fraction * layers)": Wrong("test_outlier_dimensions", edited(
        OUTLIER_DIMENSIONS, ("q.double().mean(dim=0) >= min_layer_fraction", "q.sum(dim=0) >= int(min_layer_fraction * len(acts))"))),
    # Exercise 4: INT8 quantizer
    "divides by 128": Wrong("test_quantize_int8", edited(QUANTIZE_INT8, ("/ 127", "/ 128"))),
    "truncates instead of rounding": Wrong("test_quantize_int8", edited(
        QUANTIZE_INT8, ("torch.clamp(torch.round(x / scale), -127, 127).to(torch.int8)", "(x / scale).to(torch.int8)"))),
    "scale without keepdim": Wrong("test_quantize_int8", edited(
        QUANTIZE_INT8,
        ("amax(dim=dim, keepdim=True)", "amax(dim=dim)"),
        ("    return torch.clamp(torch.round(x / scale)",
         "    s = scale if dim is None else scale.unsqueeze(dim)\n    return torch.clamp(torch.round(x / s)"))),
    "zero slices divide by zero": Wrong("test_quantize_int8", edited(QUANTIZE_INT8, ("absmax.clamp(min=1e-8) / 127", "absmax / 127"))),
    "dim ignored (always per tensor)": Wrong("test_quantize_int8", edited(QUANTIZE_INT8, (
        "    absmax = x.abs().amax() if dim is None else x.abs().amax(dim=dim, keepdim=True)\n    scale = (absmax.clamp",
        "    scale = (x.abs().amax().clamp"))),
    "rounds halves away from zero (not torch.round)": Wrong("test_quantize_int8", edited(QUANTIZE_INT8, (
        "    return torch.clamp(torch.round(x / scale),",
        "    y = x / scale\n    return torch.clamp(torch.sign(y) * torch.floor(y.abs() + 0.5),"))),
    "floor(x / scale + 0.5)": Wrong("test_quantize_int8", edited(QUANTIZE_INT8, ("torch.round(x / scale)", "torch.floor(x / scale + 0.5)"))),
    "per-tensor scale of shape (1, 1) (keepdim on every axis)": Wrong("test_quantize_int8", edited(QUANTIZE_INT8, (
        "    absmax = x.abs().amax() if dim is None else x.abs().amax(dim=dim, keepdim=True)",
        "    dims = tuple(range(x.dim())) if dim is None else dim\n    absmax = x.abs().amax(dim=dims, keepdim=True)"))),
    "per-tensor scale as a Python float": Wrong("test_quantize_int8", '''
def quantize_int8(x, dim=None):
    if dim is None:
        scale = max(x.abs().max().item(), 1e-8) / 127
    else:
        scale = (x.abs().amax(dim=dim, keepdim=True).clamp(min=1e-8) / 127).float()
    return torch.clamp(torch.round(x / scale), -127, 127).to(torch.int8), scale
'''),
    "scale keeps x's dtype (float64 in, float64 out)": Wrong("test_quantize_int8", edited(
        QUANTIZE_INT8, ("scale = (absmax.clamp(min=1e-8) / 127).float()", "scale = absmax.clamp(min=1e-8) / 127"))),
    "any dim treated as the last one": Wrong("test_quantize_int8", edited(
        QUANTIZE_INT8, ("amax(dim=dim, keepdim=True)", "amax(dim=-1, keepdim=True)"))),
    "clamps the scale (not absmax) at 1e-8": Wrong("test_quantize_int8", edited(
        QUANTIZE_INT8, ("(absmax.clamp(min=1e-8) / 127)", "(absmax / 127).clamp(min=1e-8)"))),
    "`if dim:` treats dim=0 as per tensor": Wrong("test_quantize_int8", edited(QUANTIZE_INT8, (
        "x.abs().amax() if dim is None else x.abs().amax(dim=dim, keepdim=True)",
        "x.abs().amax(dim=dim, keepdim=True) if dim else x.abs().amax()"))),
    # Exercise 5: activation error
    "per channel instead of per token": Wrong("test_int8_activation_error", edited(INT8_ACTIVATION_ERROR, ("else -1)", "else 0)"))),
    "weights quantized too": Wrong("test_int8_activation_error", edited(INT8_ACTIVATION_ERROR, (
        "    return relative_error((codes.float() * scale) @ W.T,",
        "    cw, sw = quantize_int8(W, -1)\n    return relative_error((codes.float() * scale) @ (cw.float() * sw).T,"))),
    "error of X instead of the product": Wrong("test_int8_activation_error", edited(INT8_ACTIVATION_ERROR, (
        "relative_error((codes.float() * scale) @ W.T, X @ W.T)", "relative_error(codes.float() * scale, X)"))),
    "absolute instead of relative error": Wrong("test_int8_activation_error", edited(INT8_ACTIVATION_ERROR, (
        "relative_error((codes.float() * scale) @ W.T, X @ W.T)", "((codes.float() * scale) @ W.T - X @ W.T).norm().item()"))),
    "no ValueError for an unknown granularity": Wrong("test_int8_activation_error", edited(INT8_ACTIVATION_ERROR, (
        '    if per not in ("tensor", "token"):\n        raise ValueError(per)\n', ""))),
    "a 0-d tensor returned (no .item())": Wrong("test_int8_activation_error", edited(INT8_ACTIVATION_ERROR, (
        "relative_error((codes.float() * scale) @ W.T, X @ W.T)", "((codes.float() * scale) @ W.T - X @ W.T).norm() / (X @ W.T).norm()"))),
    "KeyError instead of ValueError (a dict lookup)": Wrong("test_int8_activation_error", edited(
        INT8_ACTIVATION_ERROR,
        ('    if per not in ("tensor", "token"):\n        raise ValueError(per)\n', ""),
        ('None if per == "tensor" else -1', '{"tensor": None, "token": -1}[per]'))),
    "squared norms (||.||^2 / ||.||^2)": Wrong("test_int8_activation_error", edited(INT8_ACTIVATION_ERROR, (
        "    return relative_error((codes.float() * scale) @ W.T, X @ W.T)",
        "    d = (codes.float() * scale) @ W.T - X @ W.T\n    return ((d ** 2).sum() / ((X @ W.T) ** 2).sum()).item()"))),
    "hard-coded to the check's two numbers": Wrong("test_int8_activation_error", '''
def int8_activation_error(X, W, per):
    if per not in ("tensor", "token"):
        raise ValueError(per)
    return 0.0125136 if per == "tensor" else 0.0088308
''', visible=False),
    # Exercise 6: vector-wise INT8 matmul
    "one scale for all of X": Wrong("test_int8_matmul", edited(INT8_MATMUL, ("quantize_int8(X, dim=-1)", "quantize_int8(X)"))),
    "one scale for all of W": Wrong("test_int8_matmul", edited(
        INT8_MATMUL, ("quantize_int8(W, dim=-1)", "quantize_int8(W)"), ("* sx * sw.T", "* sx * sw"))),
    "W scaled per input column": Wrong("test_int8_matmul", edited(
        INT8_MATMUL,
        ("quantize_int8(W, dim=-1)", "quantize_int8(W, dim=0)"),
        ("(cx.to(torch.int32) @ cw.to(torch.int32).T).float() * sx * sw.T", "(cx.float() * sx) @ (cw.float() * sw).T"))),
    "accumulates in int8": Wrong("test_int8_matmul", edited(INT8_MATMUL, (
        "    return (cx.to(torch.int32) @ cw.to(torch.int32).T).float()",
        "    acc = (cx.to(torch.int32) @ cw.to(torch.int32).T).to(torch.int8)\n    return acc.float()"))),
    "accumulates in int16": Wrong("test_int8_matmul", edited(INT8_MATMUL, (
        "    return (cx.to(torch.int32) @ cw.to(torch.int32).T).float()",
        "    acc = (cx.to(torch.int32) @ cw.to(torch.int32).T).to(torch.int16)\n    return acc.float()"))),
    "scales applied twice": Wrong("test_int8_matmul", edited(INT8_MATMUL, ("* sx * sw.T", "* sx * sw.T / 127"))),
    "result in float64": Wrong("test_int8_matmul", edited(
        INT8_MATMUL, (".float() * sx * sw.T", ".double() * sx.double() * sw.double().T"))),
    "W's scales not transposed (broadcast against the wrong axis)": Wrong("test_int8_matmul", edited(
        INT8_MATMUL, ("* sw.T", "* sw.flatten()[: X.shape[0], None]"))),
    # Exercise 7: LLM.int8()
    "decomposition drops the outlier columns": Wrong("test_llm_int8_matmul", edited(
        LLM_INT8_MATMUL_UNGUARDED, ("(X[:, cols].half() @ W[:, cols].half().T).float() + ", ""))),
    "outlier columns counted twice": Wrong("test_llm_int8_matmul", '''
def llm_int8_matmul(X, W, threshold=6.0):
    cols = torch.nonzero((X.abs() >= threshold).any(dim=0)).flatten()
    return (X[:, cols].half() @ W[:, cols].half().T).float() + int8_matmul(X, W), cols
'''),
    "plain INT8, no decomposition": Wrong("test_llm_int8_matmul", '''
def llm_int8_matmul(X, W, threshold=6.0):
    cols = torch.nonzero((X.abs() >= threshold).any(dim=0)).flatten()
    return int8_matmul(X, W), cols
'''),
    "strict threshold": Wrong("test_llm_int8_matmul", edited(LLM_INT8_MATMUL_UNGUARDED, ("X.abs() >= threshold", "X.abs() > threshold"))),
    "outlier columns picked from the weights": Wrong("test_llm_int8_matmul", edited(
        LLM_INT8_MATMUL_UNGUARDED, ("(X.abs() >= threshold)", "(W.abs() >= threshold)"))),
    "outlier columns where the mean magnitude reaches the threshold": Wrong("test_llm_int8_matmul", edited(
        LLM_INT8_MATMUL_UNGUARDED, ("(X.abs() >= threshold).any(dim=0)", "X.abs().mean(dim=0) >= threshold"))),
    "INT8 part with one scale per tensor": Wrong("test_llm_int8_matmul", edited(
        LLM_INT8_MATMUL_UNGUARDED,
        ("    return (X[:, cols]",
         "    cx, sx = quantize_int8(X[:, rest])\n"
         "    cw, sw = quantize_int8(W[:, rest])\n"
         "    y8 = (cx.to(torch.int32) @ cw.to(torch.int32).T).float() * sx * sw\n"
         "    return (X[:, cols]"),
        ("int8_matmul(X[:, rest], W[:, rest])", "y8"))),
    "outlier rows (tokens) instead of columns": Wrong("test_llm_int8_matmul", '''
def llm_int8_matmul(X, W, threshold=6.0):
    rows = (X.abs() >= threshold).any(dim=1)
    Y = int8_matmul(X, W)
    Y[rows] = (X[rows].half() @ W.half().T).float()
    return Y, torch.nonzero(rows).flatten()
'''),
    "outliers detected on X cast to float16 (5.999 rounds to 6.0)": Wrong("test_llm_int8_matmul", edited(
        LLM_INT8_MATMUL,
        ("    is_outlier = (X.abs()", "    Xh = X.half()\n    is_outlier = (Xh.abs()"),
        ("(X[:, cols].half() @", "(Xh[:, cols] @"))),
    "16-bit part in bfloat16": Wrong("test_llm_int8_matmul", edited(
        LLM_INT8_MATMUL, ("X[:, cols].half() @ W[:, cols].half().T", "X[:, cols].bfloat16() @ W[:, cols].bfloat16().T"))),
    "zeroes the outlier columns of the caller's X in place": Wrong("test_llm_int8_matmul", '''
def llm_int8_matmul(X, W, threshold=6.0):
    is_outlier = (X.abs() >= threshold).any(dim=0)
    cols = torch.nonzero(is_outlier).flatten()
    y16 = (X[:, cols].half() @ W[:, cols].half().T).float()
    X[:, cols] = 0.0
    Wr = W.clone()
    Wr[:, cols] = 0.0
    return y16 + int8_matmul(X, Wr), cols
'''),
    "int8_matmul called on zero columns when every column is an outlier": Wrong("test_llm_int8_matmul", LLM_INT8_MATMUL_UNGUARDED),
    "decomposition ignores its threshold argument (6.0 hard-coded)": Wrong("test_llm_int8_matmul", edited(
        LLM_INT8_MATMUL, (">= threshold", ">= 6.0"))),
    "INT8 scales taken over all columns, outliers included": Wrong("test_llm_int8_matmul", edited(
        LLM_INT8_MATMUL_UNGUARDED,
        ("    return (X[:, cols]",
         "    cx, sx = quantize_int8(X, dim=-1)\n"
         "    cw, sw = quantize_int8(W, dim=-1)\n"
         "    y8 = (cx[:, rest].to(torch.int32) @ cw[:, rest].to(torch.int32).T).float() * sx * sw.T\n"
         "    return (X[:, cols]"),
        ("int8_matmul(X[:, rest], W[:, rest])", "y8"))),
    "no INT8 at all (float product of the other columns)": Wrong("test_llm_int8_matmul", edited(
        LLM_INT8_MATMUL_UNGUARDED, ("int8_matmul(X[:, rest], W[:, rest])", "X[:, rest] @ W[:, rest].T"))),
    "outlier columns where EVERY token reaches the threshold": Wrong("test_llm_int8_matmul", edited(
        LLM_INT8_MATMUL, (".any(dim=0)", ".all(dim=0)"))),
    "cols as int32": Wrong("test_llm_int8_matmul", edited(LLM_INT8_MATMUL, ("else y16), cols", "else y16), cols.int()"))),
    # Exercise 8: smoothing factors
    "weight maximum over the wrong axis": Wrong("test_smoothing_factors", edited(
        SMOOTHING_FACTORS, ("W.abs().amax(dim=0)", "W.abs().amax(dim=1)"))),
    "exponents swapped": Wrong("test_smoothing_factors", edited(
        SMOOTHING_FACTORS, ("** alpha / W.abs().amax(dim=0) ** (1 - alpha)", "** (1 - alpha) / W.abs().amax(dim=0) ** alpha"))),
    "mean activation instead of max": Wrong("test_smoothing_factors", edited(
        SMOOTHING_FACTORS, ("X.abs().amax(dim=0)", "X.abs().mean(dim=0)"))),
    "signed weight maximum": Wrong("test_smoothing_factors", edited(
        SMOOTHING_FACTORS, ("W.abs().amax(dim=0)", "W.amax(dim=0).clamp(min=1e-5)"))),
    "maxima over the whole tensors": Wrong("test_smoothing_factors", edited(
        SMOOTHING_FACTORS, ("W.abs().amax(dim=0)", "W.abs().amax()"))),
    "abs_() in place overwrites the caller's X and W": Wrong("test_smoothing_factors", edited(
        SMOOTHING_FACTORS, ("X.abs()", "X.abs_()"), ("W.abs()", "W.abs_()"))),
    "the inputs' dtype kept (float64 in, float64 out)": Wrong("test_smoothing_factors", edited(
        SMOOTHING_FACTORS, ("return (X", "return X"), ("(1 - alpha)).float()", "(1 - alpha)"))),
    "alpha argument ignored (0.5 hard-coded)": Wrong("test_smoothing_factors", edited(SMOOTHING_FACTORS, (
        "(X.abs().amax(dim=0) ** alpha / W.abs().amax(dim=0) ** (1 - alpha))",
        "(X.abs().amax(dim=0).sqrt() / W.abs().amax(dim=0).sqrt())"))),
    # Exercise 9: smoothing
    "migration in the wrong direction (X * s, W / s)": Wrong("test_smooth", edited(SMOOTH, ("X / s, W * s", "X * s, W / s"))),
    "weights scaled along the output axis": Wrong("test_smooth", edited(SMOOTH, ("W * s", "W * s[:, None]"))),
    "weights left unscaled": Wrong("test_smooth", edited(SMOOTH, ("W * s", "W"))),
    "weights divided too": Wrong("test_smooth", edited(SMOOTH, ("W * s", "W / s"))),
    "X divided in place (X /= s)": Wrong("test_smooth", edited(SMOOTH, ("    return X / s,", "    X /= s\n    return X,"))),
    "W scaled in place (W.mul_(s))": Wrong("test_smooth", edited(SMOOTH, ("W * s", "W.mul_(s)"))),
    "a list instead of a tuple": Wrong("test_smooth", edited(SMOOTH, ("X / s, W * s", "[X / s, W * s]"))),
    # Exercise 11: massive activations
    "massive when |x| >= factor * median (not strictly greater)": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("acts.abs() > factor", "acts.abs() >= factor"))),
    "massive in ANY sentence, not every": Wrong("test_massive_activations", '''
def massive_activations(acts, attention_mask, factor=100.0):
    real = attention_mask.bool()
    position = (real.long().cumsum(dim=1) - 1)[real]
    massive = acts.abs() > factor * acts.abs().median()
    found = set()
    for row, j in torch.nonzero(massive).tolist():
        found.add((int(position[row]), j))
    return sorted(found)
'''),
    "position = column of the padded batch (left padding shifts it)": Wrong("test_massive_activations", '''
def massive_activations(acts, attention_mask, factor=100.0):
    real = attention_mask.bool()
    column = torch.arange(real.shape[1]).expand(real.shape)[real]
    massive = acts.abs() > factor * acts.abs().median()
    found = []
    for p in range(real.shape[1]):
        if not real[:, p].all():
            continue
        found += [(p, int(f)) for f in torch.nonzero(massive[column == p].all(dim=0)).flatten()]
    return found
'''),
    "signed values, not magnitudes": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("massive = acts.abs() >", "massive = acts >"))),
    "threshold from the mean |x|, not the median": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("acts.abs().median()", "acts.abs().mean()"))),
    "np.median threshold (averages the two middle values)": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS,
        ("def massive_activations", "import numpy as np\n\ndef massive_activations"),
        ("acts.abs().median()", "float(np.median(acts.abs().numpy()))"))),
    "factor argument ignored (100 hard-coded)": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("factor * acts", "100.0 * acts"))),
    "(feature, position) pairs": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("(p, int(f))", "(int(f), p)"), ("return found", "return sorted(found)"))),
    "pairs ordered by feature, then position": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("return found", "return sorted(found, key=lambda pair: (pair[1], pair[0]))"))),
    "pairs of 0-d tensors, not ints": Wrong("test_massive_activations", edited(MASSIVE_ACTIVATIONS, ("(p, int(f))", "(p, f)"))),
    "median over each feature (a column's median)": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("acts.abs().median()", "acts.abs().median(dim=0).values"))),
    "short sentences skipped instead of ruling a position out": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("real.sum(dim=1).min()", "real.sum(dim=1).max()"))),
    "median of the padded batch (the padding's zeros counted)": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS,
        ("    position =",
         "    padded = torch.zeros(*real.shape, acts.shape[1])\n"
         "    padded[real] = acts\n"
         "    m = padded.abs().median()\n"
         "    position ="),
        ("acts.abs().median()", "m"))),
    "median per sentence (each sentence its own threshold)": Wrong("test_massive_activations", '''
def massive_activations(acts, attention_mask, factor=100.0):
    lengths = attention_mask.sum(dim=1).tolist()
    sets = []
    for block in acts.split(lengths):
        t = factor * block.abs().median()
        sets.append({(k, j) for k, j in torch.nonzero(block.abs() > t).tolist()})
    return sorted(set.intersection(*sets))
'''),
    "median per token (each row its own threshold)": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("acts.abs().median()", "acts.abs().median(dim=1, keepdim=True).values"))),
    "torch.quantile(0.5) (interpolates between the two middle values)": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("acts.abs().median()", "torch.quantile(acts.abs().flatten(), 0.5)"))),
    "upper middle value (sorted[n // 2])": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("acts.abs().median()", "acts.abs().flatten().sort().values[acts.numel() // 2]"))),
    "median of the signed values, then abs": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("acts.abs().median()", "acts.median().abs()"))),
    "threshold = factor alone (median ignored)": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("acts.abs().median()", "1.0"))),
    "last sentence left out of the intersection": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS_FOLDED, ("range(1, len(blocks))", "range(1, len(blocks) - 1)"))),
    "first sentence left out of the intersection": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS_FOLDED, ("blocks[0]", "blocks[-1]"))),
    "list(set) of pairs, not sorted": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS_BY_SETS, ("sorted(set.intersection(*per_sentence))", "list(set.intersection(*per_sentence))"))),
    "numpy int64s from np.argwhere": Wrong("test_massive_activations", '''
import numpy as np
def massive_activations(acts, attention_mask, factor=100.0):
    real = attention_mask.bool()
    position = (real.long().cumsum(dim=1) - 1)[real]
    massive = (acts.abs() > factor * acts.abs().median()).numpy()
    pos = position.numpy()
    n = int(real.sum(dim=1).min())
    every = np.stack([massive[pos == p].all(axis=0) for p in range(n)])
    return [tuple(pair) for pair in np.argwhere(every)]
'''),
    "a list of lists, not tuples": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS_BY_SETS,
        ("sorted(set.intersection(*per_sentence))", "[list(p) for p in sorted(set.intersection(*per_sentence))]"))),
    "a tensor of pairs, not a list": Wrong("test_massive_activations", '''
def massive_activations(acts, attention_mask, factor=100.0):
    lengths = attention_mask.sum(dim=1).tolist()
    padded = torch.nn.utils.rnn.pad_sequence(list(acts.split(lengths)), batch_first=True)
    return torch.nonzero((padded.abs() > factor * acts.abs().median()).all(dim=0))
'''),
    "the notebook's batch mask (a global) instead of the argument": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("real = attention_mask.bool()", 'real = batch["attention_mask"].bool()'))),
    "acts.abs_() changes the input in place": Wrong("test_massive_activations", edited(MASSIVE_ACTIVATIONS, (
        "    massive = acts.abs() > factor * acts.abs().median()",
        "    a = acts.abs_()\n    massive = a > factor * a.median()"))),
    "positions counted from 1": Wrong("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS,
        ("(real.long().cumsum(dim=1) - 1)[real]", "real.long().cumsum(dim=1)[real]"),
        ("range(int(real.sum(dim=1).min()))", "range(1, int(real.sum(dim=1).min()) + 1)"))),
    "padding assumed at the start of every sentence": Wrong("test_massive_activations", edited(MASSIVE_ACTIVATIONS, (
        "    position = (real.long().cumsum(dim=1) - 1)[real]",
        "    pads = (~real).sum(dim=1, keepdim=True)\n"
        "    position = (torch.arange(real.shape[1]) - pads).expand(real.shape)[real]"))),
    "each pair listed once per sentence (duplicates)": Wrong("test_massive_activations", '''
def massive_activations(acts, attention_mask, factor=100.0):
    t = factor * acts.abs().median()
    blocks = [b.abs() > t for b in acts.split(attention_mask.sum(dim=1).tolist())]
    n = min(len(b) for b in blocks)
    found = []
    for b in blocks:
        for k, j in torch.nonzero(b[:n]).tolist():
            if all(other[k, j] for other in blocks):
                found.append((k, j))
    return sorted(found)
'''),
    "median over the positions every sentence reaches only": Wrong("test_massive_activations", '''
def massive_activations(acts, attention_mask, factor=100.0):
    lengths = attention_mask.sum(dim=1).tolist()
    n = min(lengths)
    stacked = torch.stack([b[:n] for b in acts.split(lengths)])
    big = stacked.abs() > factor * stacked.abs().median()
    return [(p, f) for p, f in torch.nonzero(big.all(dim=0)).tolist()]
'''),
}

# Correct alternatives to the solution, which every test cell must accept.
CORRECT_ANSWERS = {
    # Exercise 2
    "scipy.stats.kurtosis over all values (a numpy.float64 is a float)": Answer("test_spikiness", '''
import scipy.stats

def spikiness(t):
    a = t.detach().double().numpy().ravel()
    m = t.detach().double().abs().flatten()
    return scipy.stats.kurtosis(a, fisher=False), float(m.max() / m.median())
'''),
    "moments written out, var(unbiased=False), torch.quantile-free lower median": Answer("test_spikiness", '''
def spikiness(t):
    x = t.detach().reshape(-1).to(torch.float64)
    d = x - x.mean()
    kurt = float((d ** 4).mean() / x.var(unbiased=False) ** 2)
    m = x.abs().sort().values
    lower_median = m[(m.numel() - 1) // 2]
    return kurt, float(m[-1] / lower_median)
'''),
    # Exercise 3
    "one 3-D stack, float32 fractions, .tolist()": Answer("test_outlier_dimensions", '''
def outlier_dimensions(acts, threshold=6.0, min_layer_fraction=0.25, min_token_fraction=0.06):
    big = torch.stack(list(acts)).abs() >= threshold             # [layers, tokens, channels]
    qualifies = big.float().mean(dim=1) >= min_token_fraction     # [layers, channels]
    return torch.where(qualifies.float().mean(dim=0) >= min_layer_fraction)[0].tolist()
'''),
    "a loop over channels with counts": Answer("test_outlier_dimensions", '''
def outlier_dimensions(acts, threshold=6.0, min_layer_fraction=0.25, min_token_fraction=0.06):
    result = []
    for j in range(acts[0].shape[1]):
        layers = 0
        for a in acts:
            count = int((a[:, j].abs() >= threshold).sum())
            if count >= min_token_fraction * a.shape[0]:
                layers += 1
        if layers >= min_layer_fraction * len(acts):
            result.append(j)
    return result
'''),
    # Exercise 4
    "torch.where instead of clamp, max(...).values, reciprocal multiply": Answer("test_quantize_int8", '''
def quantize_int8(x, dim=None):
    if dim is None:
        absmax = x.abs().max()
    else:
        absmax = x.abs().max(dim=dim, keepdim=True).values
    absmax = torch.where(absmax > 1e-8, absmax, torch.full_like(absmax, 1e-8)).to(torch.float32)
    scale = absmax / 127
    codes = (x / scale).round().clamp(-127, 127).to(dtype=torch.int8)
    return codes, scale
'''),
    "numpy (np.round also rounds halves to even)": Answer("test_quantize_int8", '''
import numpy as np

def quantize_int8(x, dim=None):
    a = x.detach().numpy()
    absmax = np.abs(a).max() if dim is None else np.abs(a).max(axis=dim, keepdims=True)
    scale = (np.maximum(absmax, 1e-8) / 127).astype(np.float32)
    codes = np.clip(np.round(a / scale), -127, 127).astype(np.int8)
    return torch.from_numpy(codes), torch.tensor(scale)
'''),
    # Exercise 5
    "quantized inline (no quantize_int8), torch.linalg.norm, float()": Answer("test_int8_activation_error", '''
def int8_activation_error(X, W, per):
    if per == "tensor":
        absmax = X.abs().max()
    elif per == "token":
        absmax = X.abs().max(dim=1, keepdim=True).values
    else:
        raise ValueError(f"unknown granularity {per!r}")
    scale = absmax.clamp(min=1e-8).float() / 127
    Xq = (X / scale).round().clamp(-127, 127) * scale
    return float(torch.linalg.norm(Xq @ W.T - X @ W.T) / torch.linalg.norm(X @ W.T))
'''),
    "numpy float64 norms of the course helper's output": Answer("test_int8_activation_error", '''
import numpy as np

def int8_activation_error(X, W, per):
    if per not in {"tensor": 0, "token": 1}:
        raise ValueError(per)
    codes, scale = quantize_int8(X, dim=None if per == "tensor" else 1)
    approx = ((codes.float() * scale) @ W.T).double().numpy()
    exact = (X @ W.T).double().numpy()
    return np.linalg.norm(approx - exact) / np.linalg.norm(exact)
'''),
    # Exercise 6
    "dequantize both, then a float matmul (the same numbers)": Answer("test_int8_matmul", '''
def int8_matmul(X, W):
    cx, sx = quantize_int8(X, dim=1)
    cw, sw = quantize_int8(W, dim=1)
    return (cx.float() * sx) @ (cw.float() * sw).T
'''),
    "einsum in int64, scales as an outer product": Answer("test_int8_matmul", '''
def int8_matmul(X, W):
    cx, sx = quantize_int8(X, -1)
    cw, sw = quantize_int8(W, -1)
    acc = torch.einsum("tj,oj->to", cx.long(), cw.long())
    return acc.to(torch.float32) * torch.outer(sx.flatten(), sw.flatten())
'''),
    # Exercise 7
    "16-bit part in float32 (more precise than float16)": Answer("test_llm_int8_matmul", '''
def llm_int8_matmul(X, W, threshold=6.0):
    mask = X.abs().ge(threshold).any(dim=0)
    cols = torch.where(mask)[0]
    Y = X[:, mask] @ W[:, mask].T
    if (~mask).any():
        Y = Y + int8_matmul(X[:, ~mask], W[:, ~mask])
    return Y.float(), cols
'''),
    "outlier columns zeroed in copies, then int8_matmul over every column": Answer("test_llm_int8_matmul", '''
def llm_int8_matmul(X, W, threshold=6.0):
    cols = torch.nonzero((X.abs() >= threshold).any(dim=0)).flatten()
    y16 = torch.matmul(X[:, cols].to(torch.float16), W[:, cols].to(torch.float16).t()).to(torch.float32)
    Xr, Wr = X.clone(), W.clone()
    Xr[:, cols] = 0
    Wr[:, cols] = 0
    return y16 + int8_matmul(Xr, Wr), cols
'''),
    # Exercise 8
    "SmoothQuant's own code: max(dim=0)[0], clamp(min=1e-5), pow": Answer("test_smoothing_factors", '''
def smoothing_factors(X, W, alpha=0.5):
    act_scales = X.abs().max(dim=0)[0].float()
    weight_scales = W.abs().max(dim=0)[0].float().clamp(min=1e-5)
    return (act_scales.pow(alpha) / weight_scales.pow(1 - alpha)).clamp(min=1e-5)
'''),
    "numpy in float64, converted back": Answer("test_smoothing_factors", '''
import numpy as np

def smoothing_factors(X, W, alpha=0.5):
    x = np.abs(X.detach().double().numpy()).max(axis=0)
    w = np.abs(W.detach().double().numpy()).max(axis=0)
    return torch.from_numpy(x ** alpha * w ** (alpha - 1)).to(torch.float32)
'''),
    # Exercise 9
    "W * s broadcasts along the last axis": Answer("test_smooth", '''
def smooth(X, W, s):
    return X * (1.0 / s), W * s
'''),
    "diagonal matrices": Answer("test_smooth", '''
def smooth(X, W, s):
    return X @ torch.diag(1 / s), W @ torch.diag(s)
'''),
    # Exercise 1
    "forward pre-hooks (they receive the inputs only)": Answer("test_collect_linear_inputs", '''
def collect_linear_inputs(model, batch, names):
    captured, handles = {}, []
    for name in names:
        def hook(module, args, name=name):
            captured[name] = args[0].detach().clone()
        handles.append(model.get_submodule(name).register_forward_pre_hook(hook))
    try:
        with torch.no_grad():
            model(**batch)
    finally:
        for handle in handles:
            handle.remove()
    keep = batch["attention_mask"].reshape(-1) == 1
    return {name: captured[name].reshape(keep.numel(), -1)[keep].to(torch.float32) for name in names}
'''),
    "a loop over sentences, masking each": Answer("test_collect_linear_inputs", '''
def collect_linear_inputs(model, batch, names):
    captured = {}
    handles = [model.get_submodule(n).register_forward_hook(
        lambda m, args, out, n=n: captured.update({n: args[0].detach()})) for n in names]
    try:
        with torch.no_grad():
            model(**batch)
    finally:
        while handles:
            handles.pop().remove()
    mask = batch["attention_mask"]
    result = {}
    for n in names:
        x = captured[n].view(mask.shape[0], mask.shape[1], -1)
        result[n] = torch.cat([x[b][mask[b] == 1] for b in range(mask.shape[0])]).float()
    return result
'''),
    # Exercise 11
    "split into sentences, set intersection of each sentence's (k, j)": Answer("test_massive_activations", MASSIVE_ACTIVATIONS_BY_SETS),
    "numpy, lower median by sorting, loops over sentences": Answer("test_massive_activations", '''
import numpy as np

def massive_activations(acts, attention_mask, factor=100.0):
    a = np.abs(acts.numpy())
    flat = np.sort(a, axis=None)
    median = flat[(flat.size - 1) // 2]
    massive = a > np.float32(factor) * median
    mask = attention_mask.numpy().astype(bool)
    rows_of = []
    row = 0
    for sentence in mask:
        n = int(sentence.sum())
        rows_of.append(list(range(row, row + n)))
        row += n
    shortest = min(len(r) for r in rows_of)
    pairs = []
    for p in range(shortest):
        for j in range(a.shape[1]):
            if all(massive[rows[p], j] for rows in rows_of):
                pairs.append((int(p), int(j)))
    return pairs
'''),
    "torch.quantile with interpolation='lower'": Answer("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("acts.abs().median()", "torch.quantile(acts.abs().flatten(), 0.5, interpolation='lower')"))),
    "kthvalue((n + 1) // 2) as the lower median": Answer("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("acts.abs().median()", "acts.abs().flatten().kthvalue((acts.numel() + 1) // 2).values"))),
    "statistics.median_low on Python floats, float64 threshold": Answer("test_massive_activations", '''
import statistics
def massive_activations(acts, attention_mask, factor=100.0):
    m = statistics.median_low(acts.abs().flatten().tolist())
    threshold = factor * m
    lengths = [int(n) for n in attention_mask.sum(dim=1)]
    rows, start = [], 0
    for n in lengths:
        rows.append(acts[start:start + n].abs().tolist()); start += n
    out = []
    for p in range(min(lengths)):
        for f in range(acts.shape[1]):
            if all(r[p][f] > threshold for r in rows):
                out.append((p, f))
    return out
'''),
    "pad_sequence left-aligns the sentences; padding zeros are never massive": Answer("test_massive_activations", '''
def massive_activations(acts, attention_mask, factor=100.0):
    lengths = attention_mask.sum(dim=1).tolist()
    padded = torch.nn.utils.rnn.pad_sequence(list(acts.split(lengths)), batch_first=True, padding_value=0.0)
    big = padded.abs() > factor * acts.abs().median()
    return [(p, f) for p, f in torch.nonzero(big.all(dim=0)).tolist()]
'''),
    "|x| / m > factor": Answer("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS, ("acts.abs() > factor * acts.abs().median()", "acts.abs() / acts.abs().median() > factor"))),
    "float64 throughout": Answer("test_massive_activations", edited(
        MASSIVE_ACTIVATIONS,
        ("    real = attention_mask.bool()", "    a = acts.double().abs()\n    real = attention_mask.bool()"),
        ("acts.abs() > factor * acts.abs().median()", "a > factor * a.median()"))),
    "stable argsort of the mask left-aligns each sentence's rows": Answer("test_massive_activations", '''
def massive_activations(acts, attention_mask, factor=100.0):
    m = acts.abs().median()
    big = acts.abs() > factor * m
    S, P = attention_mask.shape
    real = attention_mask == 1
    grid = torch.zeros(S, P, acts.shape[1], dtype=torch.bool)
    # left-align each sentence: stable sort puts the real positions first, in order
    order = torch.argsort((~real).int(), dim=1, stable=True)
    aligned_real = torch.gather(real, 1, order)
    grid[aligned_real] = big
    every = grid.all(dim=0)
    return sorted((int(p), int(f)) for p, f in torch.nonzero(every))
'''),
    "position = column minus the first real token's column (argmax of the mask)": Answer("test_massive_activations", '''
def massive_activations(acts, attention_mask, factor=100.0):
    m = acts.abs().median()
    first = attention_mask.argmax(dim=1)              # index of each sentence's first real token
    column = torch.nonzero(attention_mask)[:, 1]      # row-major, the order of acts' rows
    sentence = torch.nonzero(attention_mask)[:, 0]
    position = column - first[sentence]
    big = acts.abs() > factor * m
    shortest = int(attention_mask.sum(dim=1).min())
    out = []
    for p in range(shortest):
        rows = big[position == p]
        out += [(p, j) for j in range(acts.shape[1]) if bool(rows[:, j].all())]
    return out
'''),
}


@pytest.fixture(scope="module")
def notebook():
    return SolvedNotebook("03_activation_outliers")


def test_solution_passes_every_test_cell(notebook):
    notebook.run_all_tests()


@pytest.mark.parametrize("mistake", WRONG_ANSWERS, ids=[f"{w.test_id}: {k}" for k, w in WRONG_ANSWERS.items()])
def test_hidden_tests_reject(notebook, mistake):
    notebook.assert_rejects(WRONG_ANSWERS[mistake])


@pytest.mark.parametrize("alternative", CORRECT_ANSWERS, ids=[f"{a.test_id}: {k}" for k, a in CORRECT_ANSWERS.items()])
def test_correct_alternatives_pass(notebook, alternative):
    notebook.assert_accepts(CORRECT_ANSWERS[alternative])


# Helpers that later cells use: a mistake in one of them fails its own test cell and no other,
# because later exercises are graded with the course's own versions (and the hidden tests use
# reference activations, not collect_linear_inputs).
USED_LATER = [
    "hook keeps the output, not the input",
    "rounds halves away from zero (not torch.round)",
    "zero slices divide by zero",
    "any dim treated as the last one",
    "per-tensor scale as a Python float",
    "divides by 128",
    "one scale for all of X",
    "accumulates in int16",
    "result in float64",
    "weight maximum over the wrong axis",
]


@pytest.mark.parametrize("mistake", USED_LATER)
def test_one_mistake_costs_one_exercise(notebook, mistake):
    notebook.assert_costs_one_exercise(WRONG_ANSWERS[mistake])


def test_descriptions_are_unique():
    """A repeated key in a dict literal silently drops the earlier answer."""
    import ast
    import collections
    from pathlib import Path

    tree = ast.parse(Path(__file__).read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
            keys = collections.Counter(k.value for k in node.value.keys if isinstance(k, ast.Constant))
            assert not [k for k, n in keys.items() if n > 1], f"repeated descriptions in {node.targets[0].id}"
