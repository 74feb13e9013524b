"""Module 3's hidden tests accept the solution and reject plausible mistakes:
wrong hooks, detectors that use the mean instead of the max, decompositions
that drop or double-count the outlier columns, smoothing along the wrong axis."""

import pytest

from graded import Answer, SolvedNotebook, Wrong

WRONG_ANSWERS = {
    # Exercise 1: hooks
    "hook keeps the output, not the input": Wrong("test_collect_linear_inputs", '''
def collect_linear_inputs(model, batch, names):
    captured = {}
    handles = [model.get_submodule(n).register_forward_hook(
        lambda m, args, out, n=n: captured.__setitem__(n, out.detach())) for n in names]
    try:
        with torch.no_grad():
            model(**batch)
    finally:
        for h in handles:
            h.remove()
    real = batch["attention_mask"].bool()
    return {n: captured[n][real].float() for n in names}
'''),
    "padding tokens kept": Wrong("test_collect_linear_inputs", '''
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
    return {n: captured[n].reshape(-1, captured[n].shape[-1]).float() for n in names}
'''),
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
    "hooks left behind when the forward pass fails": Wrong("test_collect_linear_inputs", '''
def collect_linear_inputs(model, batch, names):
    captured = {}
    handles = [model.get_submodule(n).register_forward_hook(
        lambda m, args, out, n=n: captured.__setitem__(n, args[0].detach())) for n in names]
    with torch.no_grad():
        model(**batch)
    for h in handles:
        h.remove()
    real = batch["attention_mask"].bool()
    return {n: captured[n][real].float() for n in names}
'''),
    "inputs not reshaped (OPT flattens tokens before fc1)": Wrong("test_collect_linear_inputs", '''
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
    return {n: captured[n][real].float() for n in names}
'''),
    "only the first sentence kept": Wrong("test_collect_linear_inputs", '''
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
    return {n: captured[n][0][real[0]].float() for n in names}
'''),
    # Exercise 2: spikiness
    "excess kurtosis": Wrong("test_spikiness", '''
def spikiness(t):
    t = t.detach().flatten().double()
    m = t.abs()
    return (((t - t.mean()) / t.std(unbiased=False)) ** 4).mean().item() - 3, (m.max() / m.median()).item()
'''),
    "unbiased standard deviation": Wrong("test_spikiness", '''
def spikiness(t):
    t = t.detach().flatten().double()
    m = t.abs()
    return (((t - t.mean()) / t.std()) ** 4).mean().item(), (m.max() / m.median()).item()
'''),
    "mean magnitude instead of median": Wrong("test_spikiness", '''
def spikiness(t):
    t = t.detach().flatten().double()
    m = t.abs()
    return (((t - t.mean()) / t.std(unbiased=False)) ** 4).mean().item(), (m.max() / m.mean()).item()
'''),
    "mean computed in float32 without centring": Wrong("test_spikiness", '''
def spikiness(t):
    t = t.detach().flatten().float()
    m = t.abs()
    return ((t / t.std(unbiased=False)) ** 4).mean().item(), (m.max() / m.median()).item()
'''),
    # Exercise 3: outlier dimensions
    "detector uses the mean magnitude instead of the max": Wrong("test_outlier_dimensions", '''
def outlier_dimensions(acts, threshold=6.0, min_layer_fraction=0.25, min_token_fraction=0.06):
    q = torch.stack([a.abs().mean(dim=0) >= threshold for a in acts])
    return [int(j) for j in torch.nonzero(q.double().mean(dim=0) >= min_layer_fraction).flatten()]
'''),
    "detector uses the max only, ignoring how many tokens": Wrong("test_outlier_dimensions", '''
def outlier_dimensions(acts, threshold=6.0, min_layer_fraction=0.25, min_token_fraction=0.06):
    q = torch.stack([a.abs().amax(dim=0) >= threshold for a in acts])
    return [int(j) for j in torch.nonzero(q.double().mean(dim=0) >= min_layer_fraction).flatten()]
'''),
    "signed values instead of magnitudes": Wrong("test_outlier_dimensions", '''
def outlier_dimensions(acts, threshold=6.0, min_layer_fraction=0.25, min_token_fraction=0.06):
    q = torch.stack([(a >= threshold).double().mean(dim=0) >= min_token_fraction for a in acts])
    return [int(j) for j in torch.nonzero(q.double().mean(dim=0) >= min_layer_fraction).flatten()]
'''),
    "strictly greater than the threshold": Wrong("test_outlier_dimensions", '''
def outlier_dimensions(acts, threshold=6.0, min_layer_fraction=0.25, min_token_fraction=0.06):
    q = torch.stack([(a.abs() > threshold).double().mean(dim=0) >= min_token_fraction for a in acts])
    return [int(j) for j in torch.nonzero(q.double().mean(dim=0) >= min_layer_fraction).flatten()]
'''),
    "must qualify in every layer": Wrong("test_outlier_dimensions", '''
def outlier_dimensions(acts, threshold=6.0, min_layer_fraction=0.25, min_token_fraction=0.06):
    q = torch.stack([(a.abs() >= threshold).double().mean(dim=0) >= min_token_fraction for a in acts])
    return [int(j) for j in torch.nonzero(q.all(dim=0)).flatten()]
'''),
    "tokens pooled over all layers": Wrong("test_outlier_dimensions", '''
def outlier_dimensions(acts, threshold=6.0, min_layer_fraction=0.25, min_token_fraction=0.06):
    pooled = torch.cat(list(acts))
    return [int(j) for j in torch.nonzero((pooled.abs() >= threshold).double().mean(dim=0) >= min_token_fraction).flatten()]
'''),
    # Exercise 4: INT8 quantizer
    "divides by 128": Wrong("test_quantize_int8", '''
def quantize_int8(x, dim=None):
    absmax = x.abs().amax() if dim is None else x.abs().amax(dim=dim, keepdim=True)
    scale = (absmax.clamp(min=1e-8) / 128).float()
    return torch.clamp(torch.round(x / scale), -127, 127).to(torch.int8), scale
'''),
    "truncates instead of rounding": Wrong("test_quantize_int8", '''
def quantize_int8(x, dim=None):
    absmax = x.abs().amax() if dim is None else x.abs().amax(dim=dim, keepdim=True)
    scale = (absmax.clamp(min=1e-8) / 127).float()
    return (x / scale).to(torch.int8), scale
'''),
    "scale without keepdim": Wrong("test_quantize_int8", '''
def quantize_int8(x, dim=None):
    absmax = x.abs().amax() if dim is None else x.abs().amax(dim=dim)
    scale = (absmax.clamp(min=1e-8) / 127).float()
    s = scale if dim is None else scale.unsqueeze(dim)
    return torch.clamp(torch.round(x / s), -127, 127).to(torch.int8), scale
'''),
    "zero slices divide by zero": Wrong("test_quantize_int8", '''
def quantize_int8(x, dim=None):
    absmax = x.abs().amax() if dim is None else x.abs().amax(dim=dim, keepdim=True)
    scale = (absmax / 127).float()
    return torch.clamp(torch.round(x / scale), -127, 127).to(torch.int8), scale
'''),
    "dim ignored (always per tensor)": Wrong("test_quantize_int8", '''
def quantize_int8(x, dim=None):
    scale = (x.abs().amax().clamp(min=1e-8) / 127).float()
    return torch.clamp(torch.round(x / scale), -127, 127).to(torch.int8), scale
'''),
    # Exercise 5: activation error
    "per channel instead of per token": Wrong("test_int8_activation_error", '''
def int8_activation_error(X, W, per):
    if per not in ("tensor", "token"):
        raise ValueError(per)
    codes, scale = quantize_int8(X, None if per == "tensor" else 0)
    return relative_error((codes.float() * scale) @ W.T, X @ W.T)
'''),
    "weights quantized too": Wrong("test_int8_activation_error", '''
def int8_activation_error(X, W, per):
    if per not in ("tensor", "token"):
        raise ValueError(per)
    codes, scale = quantize_int8(X, None if per == "tensor" else -1)
    cw, sw = quantize_int8(W, -1)
    return relative_error((codes.float() * scale) @ (cw.float() * sw).T, X @ W.T)
'''),
    "error of X instead of the product": Wrong("test_int8_activation_error", '''
def int8_activation_error(X, W, per):
    if per not in ("tensor", "token"):
        raise ValueError(per)
    codes, scale = quantize_int8(X, None if per == "tensor" else -1)
    return relative_error(codes.float() * scale, X)
'''),
    "absolute instead of relative error": Wrong("test_int8_activation_error", '''
def int8_activation_error(X, W, per):
    if per not in ("tensor", "token"):
        raise ValueError(per)
    codes, scale = quantize_int8(X, None if per == "tensor" else -1)
    return ((codes.float() * scale) @ W.T - X @ W.T).norm().item()
'''),
    "no ValueError for an unknown granularity": Wrong("test_int8_activation_error", '''
def int8_activation_error(X, W, per):
    codes, scale = quantize_int8(X, None if per == "tensor" else -1)
    return relative_error((codes.float() * scale) @ W.T, X @ W.T)
'''),
    # Exercise 6: vector-wise INT8 matmul
    "one scale for all of X": Wrong("test_int8_matmul", '''
def int8_matmul(X, W):
    cx, sx = quantize_int8(X)
    cw, sw = quantize_int8(W, dim=-1)
    return (cx.to(torch.int32) @ cw.to(torch.int32).T).float() * sx * sw.T
'''),
    "one scale for all of W": Wrong("test_int8_matmul", '''
def int8_matmul(X, W):
    cx, sx = quantize_int8(X, dim=-1)
    cw, sw = quantize_int8(W)
    return (cx.to(torch.int32) @ cw.to(torch.int32).T).float() * sx * sw
'''),
    "W scaled per input column": Wrong("test_int8_matmul", '''
def int8_matmul(X, W):
    cx, sx = quantize_int8(X, dim=-1)
    cw, sw = quantize_int8(W, dim=0)
    return (cx.float() * sx) @ (cw.float() * sw).T
'''),
    "accumulates in int8": Wrong("test_int8_matmul", '''
def int8_matmul(X, W):
    cx, sx = quantize_int8(X, dim=-1)
    cw, sw = quantize_int8(W, dim=-1)
    acc = (cx.to(torch.int32) @ cw.to(torch.int32).T).to(torch.int8)
    return acc.float() * sx * sw.T
'''),
    "accumulates in int16": Wrong("test_int8_matmul", '''
def int8_matmul(X, W):
    cx, sx = quantize_int8(X, dim=-1)
    cw, sw = quantize_int8(W, dim=-1)
    acc = (cx.to(torch.int32) @ cw.to(torch.int32).T).to(torch.int16)
    return acc.float() * sx * sw.T
'''),
    "scales applied twice": Wrong("test_int8_matmul", '''
def int8_matmul(X, W):
    cx, sx = quantize_int8(X, dim=-1)
    cw, sw = quantize_int8(W, dim=-1)
    return (cx.to(torch.int32) @ cw.to(torch.int32).T).float() * sx * sw.T / 127
'''),
    # Exercise 7: LLM.int8()
    "decomposition drops the outlier columns": Wrong("test_llm_int8_matmul", '''
def llm_int8_matmul(X, W, threshold=6.0):
    is_outlier = (X.abs() >= threshold).any(dim=0)
    cols, rest = torch.nonzero(is_outlier).flatten(), torch.nonzero(~is_outlier).flatten()
    return int8_matmul(X[:, rest], W[:, rest]), cols
'''),
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
    "strict threshold": Wrong("test_llm_int8_matmul", '''
def llm_int8_matmul(X, W, threshold=6.0):
    is_outlier = (X.abs() > threshold).any(dim=0)
    cols, rest = torch.nonzero(is_outlier).flatten(), torch.nonzero(~is_outlier).flatten()
    return (X[:, cols].half() @ W[:, cols].half().T).float() + int8_matmul(X[:, rest], W[:, rest]), cols
'''),
    "outlier columns picked from the weights": Wrong("test_llm_int8_matmul", '''
def llm_int8_matmul(X, W, threshold=6.0):
    is_outlier = (W.abs() >= threshold).any(dim=0)
    cols, rest = torch.nonzero(is_outlier).flatten(), torch.nonzero(~is_outlier).flatten()
    return (X[:, cols].half() @ W[:, cols].half().T).float() + int8_matmul(X[:, rest], W[:, rest]), cols
'''),
    "outlier columns where the mean magnitude reaches the threshold": Wrong("test_llm_int8_matmul", '''
def llm_int8_matmul(X, W, threshold=6.0):
    is_outlier = X.abs().mean(dim=0) >= threshold
    cols, rest = torch.nonzero(is_outlier).flatten(), torch.nonzero(~is_outlier).flatten()
    return (X[:, cols].half() @ W[:, cols].half().T).float() + int8_matmul(X[:, rest], W[:, rest]), cols
'''),
    "INT8 part with one scale per tensor": Wrong("test_llm_int8_matmul", '''
def llm_int8_matmul(X, W, threshold=6.0):
    is_outlier = (X.abs() >= threshold).any(dim=0)
    cols, rest = torch.nonzero(is_outlier).flatten(), torch.nonzero(~is_outlier).flatten()
    cx, sx = quantize_int8(X[:, rest])
    cw, sw = quantize_int8(W[:, rest])
    y8 = (cx.to(torch.int32) @ cw.to(torch.int32).T).float() * sx * sw
    return (X[:, cols].half() @ W[:, cols].half().T).float() + y8, cols
'''),
    "outlier rows (tokens) instead of columns": Wrong("test_llm_int8_matmul", '''
def llm_int8_matmul(X, W, threshold=6.0):
    rows = (X.abs() >= threshold).any(dim=1)
    Y = int8_matmul(X, W)
    Y[rows] = (X[rows].half() @ W.half().T).float()
    return Y, torch.nonzero(rows).flatten()
'''),
    # Exercise 8: smoothing factors
    "weight maximum over the wrong axis": Wrong("test_smoothing_factors", '''
def smoothing_factors(X, W, alpha=0.5):
    return (X.abs().amax(dim=0) ** alpha / W.abs().amax(dim=1) ** (1 - alpha)).float()
'''),
    "exponents swapped": Wrong("test_smoothing_factors", '''
def smoothing_factors(X, W, alpha=0.5):
    return (X.abs().amax(dim=0) ** (1 - alpha) / W.abs().amax(dim=0) ** alpha).float()
'''),
    "mean activation instead of max": Wrong("test_smoothing_factors", '''
def smoothing_factors(X, W, alpha=0.5):
    return (X.abs().mean(dim=0) ** alpha / W.abs().amax(dim=0) ** (1 - alpha)).float()
'''),
    "signed weight maximum": Wrong("test_smoothing_factors", '''
def smoothing_factors(X, W, alpha=0.5):
    return (X.abs().amax(dim=0) ** alpha / W.amax(dim=0).clamp(min=1e-5) ** (1 - alpha)).float()
'''),
    "maxima over the whole tensors": Wrong("test_smoothing_factors", '''
def smoothing_factors(X, W, alpha=0.5):
    return (X.abs().amax(dim=0) ** alpha / W.abs().amax() ** (1 - alpha)).float()
'''),
    # Exercise 9: smoothing
    "migration in the wrong direction (X * s, W / s)": Wrong("test_smooth", '''
def smooth(X, W, s):
    return X * s, W / s
'''),
    "weights scaled along the output axis": Wrong("test_smooth", '''
def smooth(X, W, s):
    return X / s, W * s[:, None]
'''),
    "weights left unscaled": Wrong("test_smooth", '''
def smooth(X, W, s):
    return X / s, W
'''),
    "weights divided too": Wrong("test_smooth", '''
def smooth(X, W, s):
    return X / s, W / s
'''),
}

# Correct alternatives to the solution, which every test cell must accept.
CORRECT_ANSWERS = {
}


@pytest.fixture(scope="module")
def notebook():
    return SolvedNotebook("03_activation_outliers")


def test_solution_passes_every_test_cell(notebook):
    notebook.run_all_tests()


@pytest.mark.parametrize("mistake", WRONG_ANSWERS)
def test_hidden_tests_reject(notebook, mistake):
    notebook.assert_rejects(WRONG_ANSWERS[mistake])


@pytest.mark.parametrize("alternative", CORRECT_ANSWERS)
def test_correct_alternatives_pass(notebook, alternative):
    notebook.assert_accepts(CORRECT_ANSWERS[alternative])
