"""Module 2's checks accept the solution and correct alternatives, reject
plausible mistakes (the visible check too, when a mistake breaks a rule the
exercise states), and a mistake in an earlier helper costs only its own
exercise.

Each entry of WRONG_ANSWERS is a mistake a student could make: the whole test
cell, and its visible part alone, must fail on it with an AssertionError that
explains. CORRECT_ANSWERS are other correct ways to write the answer, which
the whole test cell must accept. CASCADES put a mistake in a helper that later
exercises call, with the later functions built on it, and check that only the
helper's own exercise fails.

Most answers are one of the correct BASES below with their mistake edited in
(`edited(BASE, (old, new))`), so that the edit is all there is to read: the
rest of the answer is known to pass (test_bases_are_correct).
"""

import pytest

from graded import Answer, SolvedNotebook, Wrong, edited

# Exercise 1: symmetric quantization
SYMMETRIC = '''
def quantize_symmetric(x, bits):
    qmax = 2 ** (bits - 1) - 1
    scale = x.abs().max().item() / qmax
    if scale == 0:
        return torch.zeros_like(x, dtype=torch.int32), 0.0
    return torch.clamp(torch.round(x / scale), -qmax, qmax).to(torch.int32), scale
'''
SYMMETRIC_ZERO_GUARD = '''    if scale == 0:
        return torch.zeros_like(x, dtype=torch.int32), 0.0
'''
DEQUANTIZE_SYMMETRIC = '''
def dequantize_symmetric(q, scale):
    return q.to(torch.float32) * scale
'''

# Exercise 2: asymmetric quantization
ASYMMETRIC_PARAMS = '''
def asymmetric_params(lo, hi, bits):
    qmax = 2 ** bits - 1
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / qmax
    if scale == 0:
        return 0.0, 0
    return scale, int(min(max(round(-lo / scale), 0), qmax))
'''
ASYMMETRIC_ZERO_POINT = "int(min(max(round(-lo / scale), 0), qmax))"
QUANTIZE_ASYMMETRIC = '''
def quantize_asymmetric(x, bits):
    scale, zero_point = asymmetric_params(x.min().item(), x.max().item(), bits)
    if scale == 0:
        return torch.zeros_like(x, dtype=torch.int32), scale, zero_point
    q = torch.clamp(torch.round(x / scale) + zero_point, 0, 2 ** bits - 1)
    return q.to(torch.int32), scale, zero_point
'''
DEQUANTIZE_ASYMMETRIC = '''
def dequantize_asymmetric(q, scale, zero_point):
    return (q.to(torch.float32) - zero_point) * scale
'''

# Exercise 3: error
QUANTIZATION_ERROR = '''
def quantization_error(x, x_hat):
    return ((x - x_hat) ** 2).mean().item(), (x - x_hat).abs().max().item()
'''

# Exercise 4: per-channel
PER_CHANNEL = '''
def quantize_per_channel(w, bits):
    qmax = 2 ** (bits - 1) - 1
    scales = w.abs().amax(dim=1, keepdim=True) / qmax
    safe = torch.where(scales > 0, scales, torch.ones_like(scales))
    return torch.clamp(torch.round(w / safe), -qmax, qmax).to(torch.int32), scales
'''
# Wrong (a zero row divides by zero); other mistakes are built on it too.
PER_CHANNEL_UNGUARDED = edited(PER_CHANNEL, ("    safe = torch.where(scales > 0, scales, torch.ones_like(scales))\n", ""),
                               ("w / safe", "w / scales"))

# Exercise 5: per-group, on top of quantize_per_channel or written out by hand
PER_GROUP = '''
def quantize_per_group(w, bits, group_size):
    rows, cols = w.shape
    n_groups = -(-cols // group_size)
    q = torch.empty(rows, cols, dtype=torch.int32)
    scales = torch.empty(rows, n_groups)
    for g in range(n_groups):
        q[:, g * group_size:(g + 1) * group_size], s = quantize_per_channel(w[:, g * group_size:(g + 1) * group_size], bits)
        scales[:, g] = s[:, 0]
    return q, scales
'''
PER_GROUP_BY_HAND = '''
def quantize_per_group(w, bits, group_size):
    rows, cols = w.shape
    qmax = 2 ** (bits - 1) - 1
    n_groups = -(-cols // group_size)
    q = torch.empty(rows, cols, dtype=torch.int32)
    scales = torch.empty(rows, n_groups)
    for g in range(n_groups):
        block = w[:, g * group_size:(g + 1) * group_size]
        s = block.abs().amax(dim=1, keepdim=True) / qmax
        v = block / torch.where(s > 0, s, torch.ones_like(s))
        q[:, g * group_size:(g + 1) * group_size] = torch.clamp(torch.round(v), -qmax, qmax).to(torch.int32)
        scales[:, g] = s[:, 0]
    return q, scales
'''
DEQUANTIZE_PER_GROUP = '''
def dequantize_per_group(q, scales, group_size):
    expanded = scales.repeat_interleave(group_size, dim=1)[:, : q.shape[1]]
    return q.to(torch.float32) * expanded
'''

# Exercise 6: calibration
CALIBRATE = '''
def calibrate_range(activations, method="minmax", percentile=99.9):
    values = activations.flatten().float()
    if method == "minmax":
        return values.min().item(), values.max().item()
    if method == "percentile":
        return (torch.quantile(values, (100 - percentile) / 100).item(),
                torch.quantile(values, percentile / 100).item())
    raise ValueError(f"unknown method {method!r}")
'''
PERCENTILE_RANGE = '''        return (torch.quantile(values, (100 - percentile) / 100).item(),
                torch.quantile(values, percentile / 100).item())'''

# Exercise 7: the straight-through estimator
FAKE_QUANTIZE = '''
class FakeQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):
        scale = torch.as_tensor(scale, dtype=x.dtype)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        unclamped = torch.round(x / safe) + zero_point
        ctx.save_for_backward((unclamped >= qmin) & (unclamped <= qmax))
        return (torch.clamp(unclamped, qmin, qmax) - zero_point) * scale

    @staticmethod
    def backward(ctx, grad_output):
        (inside,) = ctx.saved_tensors
        return grad_output * inside, None, None, None, None
'''
FAKE_QUANTIZE_SAFE_SCALE = '''        scale = torch.as_tensor(scale, dtype=x.dtype)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
'''
STE_MASK = "(unclamped >= qmin) & (unclamped <= qmax)"

# Exercise 8: the quantized linear layer
QUANT_LINEAR = '''
def quant_linear(x, weight, bias, bits, act_scale, act_zero_point):
    x_q = FakeQuantize.apply(x, act_scale, act_zero_point, 0, 2 ** bits - 1)
    qmax = 2 ** (bits - 1) - 1
    _, weight_scales = quantize_per_channel(weight.detach(), bits)
    return F.linear(x_q, FakeQuantize.apply(weight, weight_scales, 0, -qmax, qmax), bias)
'''
FAKE_QUANTIZED_INPUT = "FakeQuantize.apply(x, act_scale, act_zero_point, 0, 2 ** bits - 1)"
# The same forward values as FAKE_QUANTIZED_INPUT, but torch.round has no gradient.
ROUNDED_INPUT = "(torch.clamp(torch.round(x / act_scale) + act_zero_point, 0, 2 ** bits - 1) - act_zero_point) * act_scale"
FAKE_QUANTIZED_WEIGHT = "FakeQuantize.apply(weight, weight_scales, 0, -qmax, qmax)"
PER_CHANNEL_WEIGHT_SCALES = "_, weight_scales = quantize_per_channel(weight.detach(), bits)"

# Exercise 9: QAT
QAT = '''
def qat(model, bits, calib_x, x, y, epochs=10, lr=1e-3, seed=0):
    qmodel = ptq(model, bits, calib_x, "percentile")
    return train(qmodel, x, y, epochs=epochs, lr=lr, seed=seed)
'''

# Exercise 11: fixed-point multiplier and requantization
QUANTIZE_MULTIPLIER = """
def quantize_multiplier(M):
    if not 0 < M < 1:
        raise ValueError(M)
    m, e = math.frexp(M)
    M0, shift = math.floor(m * 2 ** 31 + 0.5), 31 - e
    if M0 == 2 ** 31:
        M0, shift = 2 ** 30, shift - 1
    return M0, shift
"""
M0_ROUNDED = "math.floor(m * 2 ** 31 + 0.5)"
REQUANTIZE = """
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    product = acc.to(torch.int64) * torch.as_tensor(M0, dtype=torch.int64)
    shift = torch.as_tensor(shift, dtype=torch.int64)
    magnitude = torch.bitwise_right_shift(product.abs() + torch.bitwise_left_shift(torch.ones_like(shift), shift - 1), shift)
    return torch.clamp(torch.where(product < 0, -magnitude, magnitude) + zero_point, qmin, qmax).to(torch.int32)
"""
REQUANTIZE_RETURN = "    return torch.clamp(torch.where(product < 0, -magnitude, magnitude) + zero_point, qmin, qmax).to(torch.int32)"
REQUANTIZE_DIV = """
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    p = acc.to(torch.int64) * torch.as_tensor(M0, dtype=torch.int64)
    d = 2 ** torch.as_tensor(shift, dtype=torch.int64)
    q = torch.div(p + torch.sign(p) * (d // 2), d, rounding_mode="trunc")
    return torch.clamp(q + zero_point, qmin, qmax).to(torch.int32)
"""
REQUANTIZE_ELEMENT_LOOP = """
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    M0s = torch.as_tensor(M0).expand(acc.shape).reshape(-1).tolist()
    shifts = torch.as_tensor(shift).expand(acc.shape).reshape(-1).tolist()
    out = []
    for a, m, s in zip(acc.reshape(-1).tolist(), M0s, shifts):
        p = a * m
        q = (abs(p) + (1 << (s - 1))) >> s
        out.append(min(max((q if p >= 0 else -q) + zero_point, qmin), qmax))
    return torch.tensor(out, dtype=torch.int32).reshape(acc.shape)
"""
# Wrong (float64 rounds ties to even and is inexact past 2**53); other mistakes are built on it too.
REQUANTIZE_IN_FLOAT64 = """
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    value = acc.double() * torch.as_tensor(M0, dtype=torch.float64) / torch.pow(2.0, torch.as_tensor(shift, dtype=torch.float64))
    return torch.clamp(torch.round(value) + zero_point, qmin, qmax).to(torch.int32)
"""

# Exercise 12: integer-only linear layer
INTEGER_LINEAR = """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    return requantize((x_q - x_zero_point) @ w_q.T + bias_q, M0, shift, y_zero_point, 0, 255)
"""
# (x_q - z_x) @ w.T expanded: z_x times each output row's sum of weights is subtracted.
INTEGER_LINEAR_CROSS_TERM = """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    acc = x_q.long() @ w_q.long().T - x_zero_point * w_q.long().sum(dim=1) + bias_q
    return requantize(acc.to(torch.int32), M0, shift, y_zero_point, 0, 255)
"""

BASES = {
    "SYMMETRIC, DEQUANTIZE_SYMMETRIC": Answer("test_quantize_symmetric", SYMMETRIC + DEQUANTIZE_SYMMETRIC),
    "ASYMMETRIC_PARAMS, QUANTIZE_ASYMMETRIC, DEQUANTIZE_ASYMMETRIC": Answer(
        "test_quantize_asymmetric", ASYMMETRIC_PARAMS + QUANTIZE_ASYMMETRIC + DEQUANTIZE_ASYMMETRIC),
    "QUANTIZATION_ERROR": Answer("test_quantization_error", QUANTIZATION_ERROR),
    "PER_CHANNEL": Answer("test_quantize_per_channel", PER_CHANNEL),
    "PER_GROUP, DEQUANTIZE_PER_GROUP": Answer("test_quantize_per_group", PER_GROUP + DEQUANTIZE_PER_GROUP),
    "PER_GROUP_BY_HAND": Answer("test_quantize_per_group", PER_GROUP_BY_HAND),
    "CALIBRATE": Answer("test_calibrate_range", CALIBRATE),
    "FAKE_QUANTIZE": Answer("test_fake_quantize", FAKE_QUANTIZE),
    "QUANT_LINEAR": Answer("test_quant_linear", QUANT_LINEAR),
    "QAT": Answer("test_qat", QAT),
    "QUANTIZE_MULTIPLIER, REQUANTIZE": Answer("test_requantize", QUANTIZE_MULTIPLIER + REQUANTIZE),
    "REQUANTIZE_DIV": Answer("test_requantize", REQUANTIZE_DIV),
    "REQUANTIZE_ELEMENT_LOOP": Answer("test_requantize", REQUANTIZE_ELEMENT_LOOP),
    "INTEGER_LINEAR": Answer("test_integer_linear", INTEGER_LINEAR),
    "INTEGER_LINEAR_CROSS_TERM": Answer("test_integer_linear", INTEGER_LINEAR_CROSS_TERM),
}

WRONG_ANSWERS = {
    # Exercise 1: symmetric quantization
    "symmetric: full signed range, scale absmax / 2**(b-1)": Wrong("test_quantize_symmetric", edited(
        SYMMETRIC, ("qmax = 2 ** (bits - 1) - 1\n    scale = x.abs().max().item() / qmax",
                    "scale = x.abs().max().item() / 2 ** (bits - 1)"),
        ("-qmax, qmax", "-2 ** (bits - 1), 2 ** (bits - 1) - 1"))),
    "symmetric: rounding before scaling": Wrong("test_quantize_symmetric", edited(
        SYMMETRIC, ("torch.round(x / scale)", "torch.round(x) / scale"))),
    "symmetric: clamped to [0, qmax]": Wrong("test_quantize_symmetric", edited(SYMMETRIC, ("-qmax, qmax", "0, qmax"))),
    "symmetric: truncation instead of rounding": Wrong("test_quantize_symmetric", edited(
        SYMMETRIC, ("torch.round(x / scale)", "x / scale"))),
    "symmetric: all-zero tensor divides by zero": Wrong("test_quantize_symmetric", edited(
        SYMMETRIC, (SYMMETRIC_ZERO_GUARD, ""), (".max().item() / qmax", ".max() / qmax"),
        (".to(torch.int32), scale", ".to(torch.int32), scale.item()"))),
    "symmetric: all-zero tensor, 1 / scale raises ZeroDivisionError": Wrong("test_quantize_symmetric", edited(
        SYMMETRIC, (SYMMETRIC_ZERO_GUARD, ""), ("torch.round(x / scale)", "torch.round(x * (1 / scale))"))),
    "symmetric: always 8 bits": Wrong("test_quantize_symmetric", edited(
        SYMMETRIC, ("qmax = 2 ** (bits - 1) - 1", "qmax = 127"))),
    "symmetric: rounds half away from zero": Wrong("test_quantize_symmetric", edited(
        SYMMETRIC, ("    return torch.clamp(torch.round(x / scale)",
                    "    v = x / scale\n    return torch.clamp(torch.sign(v) * torch.floor(v.abs() + 0.5)"))),
    "symmetric: rounds with floor(v + 0.5)": Wrong("test_quantize_symmetric", edited(
        SYMMETRIC, ("torch.round(x / scale)", "torch.floor(x / scale + 0.5)"))),
    "symmetric: divides the input in place (x /= scale)": Wrong("test_quantize_symmetric", edited(
        SYMMETRIC, ("    return torch.clamp(torch.round(x / scale)", "    x /= scale\n    return torch.clamp(torch.round(x)"))),
    "symmetric: scale returned as a 0-d tensor": Wrong("test_quantize_symmetric", edited(
        SYMMETRIC, (".max().item() / qmax", ".max() / qmax"), ("dtype=torch.int32), 0.0", "dtype=torch.int32), scale"))),
    "symmetric: all-zero scale returned as the int 0": Wrong("test_quantize_symmetric", edited(
        SYMMETRIC, ("dtype=torch.int32), 0.0", "dtype=torch.int32), 0"))),
    "symmetric: codes as int64": Wrong("test_quantize_symmetric", edited(
        SYMMETRIC, ("dtype=torch.int32), 0.0", "dtype=torch.int64), 0.0"), (".to(torch.int32), scale", ".long(), scale"))),
    "symmetric: codes flattened to 1-D": Wrong("test_quantize_symmetric", edited(
        SYMMETRIC, ("    qmax = 2 ** (bits - 1) - 1", "    x = x.flatten()\n    qmax = 2 ** (bits - 1) - 1"))),
    # right on the check's bit widths (8, 4, 2) only: the hidden tests use others
    "symmetric: q_max from a table of the bit widths the check uses": Wrong("test_quantize_symmetric", edited(
        SYMMETRIC, ("qmax = 2 ** (bits - 1) - 1", "qmax = {8: 127, 4: 7, 2: 1}.get(bits, 2 ** bits)")), visible=False),
    "symmetric: dequantize returns integers": Wrong("test_quantize_symmetric", edited(
        DEQUANTIZE_SYMMETRIC, ("q.to(torch.float32) * scale", "torch.round(q * scale).to(torch.int32)"))),
    "symmetric: dequantize returns float64": Wrong("test_quantize_symmetric", edited(
        DEQUANTIZE_SYMMETRIC, ("q.to(torch.float32)", "q.double()"))),
    "symmetric: dequantize converts the scale with float() (no broadcasting)": Wrong("test_quantize_symmetric", edited(
        DEQUANTIZE_SYMMETRIC, ("* scale", "* float(scale)"))),

    # Exercise 2: asymmetric quantization
    "asymmetric: zero point one too high": Wrong("test_quantize_asymmetric", edited(
        ASYMMETRIC_PARAMS, ("round(-lo / scale)", "round(-lo / scale) + 1"))),
    "asymmetric: zero point truncated, not rounded": Wrong("test_quantize_asymmetric", edited(
        ASYMMETRIC_PARAMS, (ASYMMETRIC_ZERO_POINT, "int(-lo / scale)"))),
    "asymmetric: zero point rounded half up, int(v + 0.5)": Wrong("test_quantize_asymmetric", edited(
        ASYMMETRIC_PARAMS, ("round(-lo / scale)", "int(-lo / scale + 0.5)"))),
    "asymmetric: range not widened to include zero": Wrong("test_quantize_asymmetric", edited(
        ASYMMETRIC_PARAMS, ("    lo, hi = min(lo, 0.0), max(hi, 0.0)\n", ""))),
    "asymmetric: only lo widened to include zero": Wrong("test_quantize_asymmetric", edited(
        ASYMMETRIC_PARAMS, ("lo, hi = min(lo, 0.0), max(hi, 0.0)", "lo = min(lo, 0.0)"))),
    "asymmetric: 2**bits steps instead of 2**bits - 1": Wrong("test_quantize_asymmetric", edited(
        ASYMMETRIC_PARAMS, ("qmax = 2 ** bits - 1", "qmax = 2 ** bits"))),
    "asymmetric: clamped to the signed range": Wrong("test_quantize_asymmetric", edited(
        QUANTIZE_ASYMMETRIC, ("0, 2 ** bits - 1)", "-2 ** (bits - 1), 2 ** (bits - 1) - 1)"))),
    "asymmetric: rounding before scaling": Wrong("test_quantize_asymmetric", edited(
        QUANTIZE_ASYMMETRIC, ("torch.round(x / scale)", "torch.round(x) / scale"))),
    "asymmetric: codes round(x / s + z), the zero point added before rounding": Wrong("test_quantize_asymmetric", edited(
        QUANTIZE_ASYMMETRIC, ("torch.round(x / scale) + zero_point", "torch.round(x / scale + zero_point)"))),
    "asymmetric: codes round half away from zero": Wrong("test_quantize_asymmetric", edited(
        QUANTIZE_ASYMMETRIC, ("    q = torch.clamp(torch.round(x / scale)",
                              "    v = x / scale\n    q = torch.clamp(torch.sign(v) * torch.floor(v.abs() + 0.5)"))),
    "asymmetric: codes from (x - lo) / s instead of x / s + z": Wrong("test_quantize_asymmetric", edited(
        QUANTIZE_ASYMMETRIC, ("    q = torch.clamp(torch.round(x / scale) + zero_point",
                              "    lo = min(x.min().item(), 0.0)\n    q = torch.clamp(torch.round((x - lo) / scale)"))),
    "asymmetric: codes flattened to 1-D": Wrong("test_quantize_asymmetric", edited(
        QUANTIZE_ASYMMETRIC, ("    scale, zero_point =", "    x = x.reshape(-1)\n    scale, zero_point ="))),
    "asymmetric: all-zero tensor divided by its zero scale": Wrong("test_quantize_asymmetric", edited(
        QUANTIZE_ASYMMETRIC, ("    if scale == 0:\n        return torch.zeros_like(x, dtype=torch.int32), scale, zero_point\n", ""))),
    # right on the check's bit widths (8, 3, 2) only: the hidden tests use others
    "asymmetric: 2**bits - 1 from a table of the bit widths the check uses": Wrong("test_quantize_asymmetric", edited(
        ASYMMETRIC_PARAMS, ("qmax = 2 ** bits - 1", "qmax = {8: 255, 3: 7, 2: 3}.get(bits, 2 ** bits)")), visible=False),
    "asymmetric: dequantize forgets the zero point": Wrong("test_quantize_asymmetric", edited(
        DEQUANTIZE_ASYMMETRIC, ("(q.to(torch.float32) - zero_point) * scale", "q.to(torch.float32) * scale"))),
    "asymmetric: dequantize returns float64": Wrong("test_quantize_asymmetric", edited(
        DEQUANTIZE_ASYMMETRIC, ("q.to(torch.float32)", "q.double()"))),
    "asymmetric: zero range divides by zero": Wrong("test_quantize_asymmetric", edited(
        ASYMMETRIC_PARAMS, ("    if scale == 0:\n        return 0.0, 0\n", ""))),
    "asymmetric: empty range returns the ints (0, 0)": Wrong("test_quantize_asymmetric", edited(
        ASYMMETRIC_PARAMS, ("return 0.0, 0", "return 0, 0"))),
    "asymmetric: zero point as a tensor": Wrong("test_quantize_asymmetric", edited(
        ASYMMETRIC_PARAMS, (ASYMMETRIC_ZERO_POINT, "torch.tensor(-lo / scale).round().clamp(0, qmax).to(torch.int32)"))),
    "asymmetric: zero point as a float (numpy round)": Wrong("test_quantize_asymmetric", "import numpy as np\n" + edited(
        ASYMMETRIC_PARAMS, (ASYMMETRIC_ZERO_POINT, "float(np.clip(np.round(-lo / scale), 0, qmax))"))),

    # Exercise 3: error
    "error: root mean square instead of mean square": Wrong("test_quantization_error", edited(
        QUANTIZATION_ERROR, (".mean().item()", ".mean().sqrt().item()"))),
    "error: mean absolute error instead of max": Wrong("test_quantization_error", edited(
        QUANTIZATION_ERROR, (".abs().max()", ".abs().mean()"))),
    "error: max of the signed error": Wrong("test_quantization_error", edited(
        QUANTIZATION_ERROR, (".abs().max()", ".max()"))),
    "error: max of the signed error, x_hat - x": Wrong("test_quantization_error", edited(
        QUANTIZATION_ERROR, ("((x - x_hat) ** 2)", "((x_hat - x) ** 2)"), ("(x - x_hat).abs().max()", "(x_hat - x).max()"))),
    "error: variance of the error instead of its mean square": Wrong("test_quantization_error", edited(
        QUANTIZATION_ERROR, ("((x - x_hat) ** 2).mean()", "(x - x_hat).var()"))),
    "error: sum of squares instead of the mean": Wrong("test_quantization_error", edited(
        QUANTIZATION_ERROR, (".mean()", ".sum()"))),
    "error: 0-d tensors instead of floats": Wrong("test_quantization_error", edited(
        QUANTIZATION_ERROR, (".mean().item()", ".mean()"), (".max().item()", ".max()"))),
    "error: numpy float32 instead of Python floats": Wrong("test_quantization_error", '''
import numpy as np


def quantization_error(x, x_hat):
    e = x.numpy() - x_hat.numpy()
    return np.mean(e ** 2), np.abs(e).max()
'''),
    "error: subtracts in place (x -= x_hat)": Wrong("test_quantization_error", '''
def quantization_error(x, x_hat):
    x -= x_hat
    return (x ** 2).mean().item(), x.abs().max().item()
'''),

    # right on 1-D tensors (the check's) only: len(x) counts the rows of a 2-D tensor
    "error: divides by len(x), the number of rows": Wrong("test_quantization_error", edited(
        QUANTIZATION_ERROR, ("((x - x_hat) ** 2).mean().item()", "(((x - x_hat) ** 2).sum() / len(x)).item()")), visible=False),

    # Exercise 4: per-channel
    "per-channel: one scale per column": Wrong("test_quantize_per_channel", edited(PER_CHANNEL, ("dim=1", "dim=0"))),
    "per-channel: the per-tensor scale repeated": Wrong("test_quantize_per_channel", edited(
        PER_CHANNEL_UNGUARDED, ("w.abs().amax(dim=1, keepdim=True) / qmax", "torch.full((w.shape[0], 1), w.abs().max().item() / qmax)"))),
    "per-channel: zero row divides by zero": Wrong("test_quantize_per_channel", PER_CHANNEL_UNGUARDED),
    "per-channel: zero row gets the safe scale 1 back": Wrong("test_quantize_per_channel", edited(
        PER_CHANNEL, ("    safe = torch.where", "    scales = torch.where"), ("w / safe", "w / scales"))),
    "per-channel: scales of shape [rows] (no keepdim)": Wrong("test_quantize_per_channel", edited(
        PER_CHANNEL, (".to(torch.int32), scales", ".to(torch.int32), scales[:, 0]"))),
    "per-channel: scales in float64": Wrong("test_quantize_per_channel", edited(PER_CHANNEL, ("w.abs()", "w.double().abs()"))),
    "per-channel: rounds half away from zero": Wrong("test_quantize_per_channel", edited(
        PER_CHANNEL, ("    return torch.clamp(torch.round(w / safe)",
                      "    v = w / safe\n    return torch.clamp(torch.sign(v) * torch.floor(v.abs() + 0.5)"))),
    "per-channel: unsigned q_max = 2**bits - 1": Wrong("test_quantize_per_channel", edited(
        PER_CHANNEL, ("qmax = 2 ** (bits - 1) - 1", "qmax = 2 ** bits - 1"))),
    # right on the check's bit widths (8, 4) only: the hidden tests use others
    "per-channel: q_max from a table of the bit widths the check uses": Wrong("test_quantize_per_channel", edited(
        PER_CHANNEL, ("qmax = 2 ** (bits - 1) - 1", "qmax = {8: 127, 4: 7}.get(bits, 2 ** bits)")), visible=False),
    "per-channel: divides w in place": Wrong("test_quantize_per_channel", edited(
        PER_CHANNEL, ("safe = torch.where(scales > 0, scales, torch.ones_like(scales))",
                      "w.div_(torch.where(scales > 0, scales, torch.ones_like(scales)))"),
        ("torch.round(w / safe)", "torch.round(w)"))),

    # Exercise 5: per-group
    "per-group: remainder columns folded into the last full group": Wrong("test_quantize_per_group", '''
def quantize_per_group(w, bits, group_size):
    rows, cols = w.shape
    n_groups = max(cols // group_size, 1)
    q = torch.empty(rows, cols, dtype=torch.int32)
    scales = torch.empty(rows, n_groups)
    for g in range(n_groups):
        end = (g + 1) * group_size if g < n_groups - 1 else cols
        q[:, g * group_size:end], s = quantize_per_channel(w[:, g * group_size:end], bits)
        scales[:, g] = s[:, 0]
    return q, scales


def dequantize_per_group(q, scales, group_size):
    starts = [min(g, scales.shape[1] - 1) for g in range(q.shape[1] // group_size + 1)]
    expanded = scales[:, starts].repeat_interleave(group_size, dim=1)[:, : q.shape[1]]
    return q.to(torch.float32) * expanded
'''),
    "per-group: the shorter last group dropped": Wrong("test_quantize_per_group", edited(
        PER_GROUP, ("n_groups = -(-cols // group_size)", "n_groups = cols // group_size"),
        # the dropped columns would hold whatever torch.empty left there
        ("q = torch.empty(", "q = torch.zeros("))),
    "per-group: reshape that assumes group_size divides the columns": Wrong("test_quantize_per_group", '''
def quantize_per_group(w, bits, group_size):
    rows, cols = w.shape
    qmax = 2 ** (bits - 1) - 1
    groups = w.reshape(rows, cols // group_size, group_size)
    scales = groups.abs().amax(dim=2) / qmax
    safe = torch.where(scales > 0, scales, torch.ones_like(scales)).unsqueeze(2)
    q = torch.clamp(torch.round(groups / safe), -qmax, qmax).reshape(rows, cols)
    return q.to(torch.int32), scales
'''),
    "per-group: groups taken down the columns": Wrong("test_quantize_per_group", '''
def quantize_per_group(w, bits, group_size):
    q, scales = quantize_per_group_rows(w.T, bits, group_size)
    return q.T.contiguous(), scales.T.contiguous()
''' + edited(PER_GROUP, ("def quantize_per_group(", "def quantize_per_group_rows("))),
    "per-group: an all-zero group divided by its zero scale": Wrong("test_quantize_per_group", edited(
        PER_GROUP_BY_HAND, ("block / torch.where(s > 0, s, torch.ones_like(s))", "block / s"))),
    "per-group: rounds half away from zero": Wrong("test_quantize_per_group", edited(
        PER_GROUP_BY_HAND, ("torch.round(v)", "torch.sign(v) * torch.floor(v.abs() + 0.5)"))),
    "per-group: divides each block of w in place": Wrong("test_quantize_per_group", edited(
        PER_GROUP_BY_HAND, ("v = block / torch.where", "block /= torch.where"), ("torch.round(v)", "torch.round(block)"))),
    "per-group: one group too many when group_size divides the columns": Wrong("test_quantize_per_group", edited(
        PER_GROUP, ("n_groups = -(-cols // group_size)", "n_groups = cols // group_size + 1"),
        # the extra group is empty: skipped, with its scale left at 0
        ("scales = torch.empty(", "scales = torch.zeros("),
        ("        q[:, g * group_size:(g + 1) * group_size], s = quantize_per_channel(w[:, g * group_size:(g + 1) * group_size], bits)",
         "        block = w[:, g * group_size:(g + 1) * group_size]\n"
         "        if block.shape[1] == 0:\n"
         "            continue\n"
         "        q[:, g * group_size:(g + 1) * group_size], s = quantize_per_channel(block, bits)"))),
    "per-group: dequantize repeats scales in the wrong order": Wrong("test_quantize_per_group", edited(
        DEQUANTIZE_PER_GROUP, ("scales.repeat_interleave(group_size, dim=1)", "scales.repeat(1, group_size)"))),

    # Exercise 6: calibration
    "calibration: the same percentile for both ends": Wrong("test_calibrate_range", edited(
        CALIBRATE, ("torch.quantile(values, percentile / 100)", "torch.quantile(values, (100 - percentile) / 100)"))),
    "calibration: symmetric range from the percentile of |x|": Wrong("test_calibrate_range", edited(
        CALIBRATE, (PERCENTILE_RANGE, "        hi = torch.quantile(values.abs(), percentile / 100).item()\n        return -hi, hi"))),
    "calibration: unknown method falls back to min-max": Wrong("test_calibrate_range", edited(
        CALIBRATE, ('raise ValueError(f"unknown method {method!r}")', "return values.min().item(), values.max().item()"))),
    "calibration: unknown method returns None": Wrong("test_calibrate_range", edited(
        CALIBRATE, ('    raise ValueError(f"unknown method {method!r}")\n', ""))),
    "calibration: ValueError that does not name the method": Wrong("test_calibrate_range", edited(
        CALIBRATE, ('f"unknown method {method!r}"', '"unknown calibration method"'))),
    "calibration: KeyError from a dict of methods instead of ValueError": Wrong("test_calibrate_range", '''
def calibrate_range(activations, method="minmax", percentile=99.9):
    values = activations.flatten().float()
    methods = {
        "minmax": lambda: (values.min().item(), values.max().item()),
        "percentile": lambda: (torch.quantile(values, (100 - percentile) / 100).item(),
                               torch.quantile(values, percentile / 100).item()),
    }
    return methods[method]()
'''),
    "calibration: percentile of the first row only": Wrong("test_calibrate_range", edited(
        CALIBRATE, ("values = activations.flatten().float()",
                    "values = activations.reshape(activations.shape[0], -1)[0].float() if activations.dim() > 1 else activations"),
        # min-max still right, over every row
        ("return values.min().item(), values.max().item()", "return activations.min().item(), activations.max().item()"))),
    "calibration: nearest-rank percentile (kthvalue), no interpolation": Wrong("test_calibrate_range", "import math as _math\n" + edited(
        CALIBRATE, (PERCENTILE_RANGE, "        n = values.numel()\n"
                                      "        lo = values.kthvalue(max(1, _math.ceil((100 - percentile) / 100 * n))).values.item()\n"
                                      "        hi = values.kthvalue(max(1, _math.ceil(percentile / 100 * n))).values.item()\n"
                                      "        return lo, hi"))),
    "calibration: percentile passed to torch.quantile in percent": Wrong("test_calibrate_range", edited(
        CALIBRATE, ("(100 - percentile) / 100", "100 - percentile"), ("values, percentile / 100)", "values, percentile)"))),
    "calibration: default percentile 99": Wrong("test_calibrate_range", edited(CALIBRATE, ("percentile=99.9", "percentile=99.0"))),
    "calibration: default method percentile": Wrong("test_calibrate_range", edited(
        CALIBRATE, ('method="minmax"', 'method="percentile"'))),
    "calibration: 0-d tensors instead of floats": Wrong("test_calibrate_range", edited(
        CALIBRATE, ("values.min().item(), values.max().item()", "values.min(), values.max()"),
        (PERCENTILE_RANGE, "        return torch.quantile(values, (100 - percentile) / 100), torch.quantile(values, percentile / 100)"))),

    # Exercise 7: the straight-through estimator
    "STE passes the gradient everywhere": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, ("return grad_output * inside,", "return grad_output,"))),
    "STE with round's true derivative (zero)": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, ("grad_output * inside", "torch.zeros_like(grad_output)"))),
    "STE mask computed from the clamped code": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, (f"ctx.save_for_backward({STE_MASK})",
                        "q = torch.clamp(unclamped, qmin, qmax)\n        ctx.save_for_backward((q >= qmin) & (q <= qmax))"))),
    "STE mask with the ends excluded": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, (STE_MASK, "(unclamped > qmin) & (unclamped < qmax)"))),
    "STE mask taken on x, the range [(qmin - z) s, (qmax - z) s]": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, (STE_MASK, "(x >= (qmin - zero_point) * scale) & (x <= (qmax - zero_point) * scale)"))),
    "STE mask taken on x / s + z before rounding": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, (f"ctx.save_for_backward({STE_MASK})",
                        "code = x / safe + zero_point\n        ctx.save_for_backward((code >= qmin) & (code <= qmax))"))),
    "fake quantization forgets the zero point when dequantizing": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, ("(torch.clamp(unclamped, qmin, qmax) - zero_point) * scale", "torch.clamp(unclamped, qmin, qmax) * scale"))),
    "fake quantization rounds x / s + z (zero point added before rounding)": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, ("torch.round(x / safe) + zero_point", "torch.round(x / safe + zero_point)"))),
    "fake quantization rounds half away from zero": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, ("        unclamped = torch.round(x / safe)",
                        "        v = x / safe\n        unclamped = torch.sign(v) * torch.floor(v.abs() + 0.5)"))),
    "fake quantization computes in float64": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, ("dtype=x.dtype", "dtype=torch.float64"))),
    "fake quantization divides by a zero scale": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, (FAKE_QUANTIZE_SAFE_SCALE, ""), ("x / safe", "x / scale"))),
    "fake quantization multiplies by the safe scale, so a zero scale gives codes, not 0": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, ("- zero_point) * scale", "- zero_point) * safe"))),
    "fake quantization turns the scale into a float (no per-channel scales)": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, (FAKE_QUANTIZE_SAFE_SCALE, "        scale = float(scale)\n"
                                                  "        if scale == 0:\n"
                                                  "            ctx.save_for_backward(torch.zeros_like(x, dtype=torch.bool))\n"
                                                  "            return torch.zeros_like(x)\n"),
        ("x / safe", "x / scale"))),
    "STE gradient multiplied by the scale": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, (f"save_for_backward({STE_MASK})", f"save_for_backward({STE_MASK}, scale)"),
        ("(inside,) = ctx.saved_tensors\n        return grad_output * inside,",
         "inside, scale = ctx.saved_tensors\n        return grad_output * inside * scale,"))),
    "STE backward returns only the gradient for x": Wrong("test_fake_quantize", edited(
        FAKE_QUANTIZE, ("return grad_output * inside, None, None, None, None", "return grad_output * inside"))),

    # Exercise 8: the quantized linear layer
    "quant_linear: per-tensor weight scale": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, (PER_CHANNEL_WEIGHT_SCALES, "weight_scales = weight.detach().abs().max() / qmax"))),
    "quant_linear: activations left in float": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, (f"    x_q = {FAKE_QUANTIZED_INPUT}\n", ""), ("F.linear(x_q,", "F.linear(x,"))),
    "quant_linear: weights rounded without the STE": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, (FAKE_QUANTIZED_WEIGHT, "torch.clamp(torch.round(weight / weight_scales), -qmax, qmax) * weight_scales"))),
    "quant_linear: input rounded without the STE (no gradient to x)": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, (FAKE_QUANTIZED_INPUT, ROUNDED_INPUT))),
    "quant_linear: input detached before fake quantization": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, ("FakeQuantize.apply(x,", "FakeQuantize.apply(x.detach(),"))),
    "quant_linear: activations through a detach trick (gradient passes where x was clipped)": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, (FAKE_QUANTIZED_INPUT, ROUNDED_INPUT), ("    qmax =", "    x_q = x + (x_q - x).detach()\n    qmax ="))),
    "quant_linear: rounds both with torch.round (no gradient at all)": Wrong("test_quant_linear", f'''
def quant_linear(x, weight, bias, bits, act_scale, act_zero_point):
    x_q = {ROUNDED_INPUT}
    qmax = 2 ** (bits - 1) - 1
    codes, scales = quantize_per_channel(weight.detach(), bits)
    return F.linear(x_q.detach(), codes.to(torch.float32) * scales, bias)
'''),
    "quant_linear: activations on the signed grid": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, ("0, 2 ** bits - 1)", "-2 ** (bits - 1), 2 ** (bits - 1) - 1)"))),
    "quant_linear: activation zero point ignored": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, ("act_scale, act_zero_point, 0,", "act_scale, 0, 0,"))),
    "quant_linear: activation codes [0, 2**bits], one too many": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, ("0, 2 ** bits - 1)", "0, 2 ** bits)"))),
    "quant_linear: bit width ignored (always 2)": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, ("    x_q =", "    bits = 2\n    x_q ="))),
    "quant_linear: the bias fake-quantized too": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, ("    return F.linear",
                       "    bias_q = FakeQuantize.apply(bias, bias.abs().max() / qmax, 0, -qmax, qmax)\n    return F.linear"),
        ("), bias)", "), bias_q)"))),
    "quant_linear: weight scales divide by 2**bits - 1": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, ("qmax = 2 ** (bits - 1) - 1", "qmax = 2 ** bits - 1"),
        (PER_CHANNEL_WEIGHT_SCALES, "weight_scales = weight.detach().abs().amax(dim=1, keepdim=True) / qmax"))),

    "quant_linear: weight scales per input column": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, (PER_CHANNEL_WEIGHT_SCALES, "weight_scales = weight.detach().abs().amax(dim=0, keepdim=True) / qmax"))),
    "quant_linear: the quantized weight transposed": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, (f"{FAKE_QUANTIZED_WEIGHT}, bias)", f"{FAKE_QUANTIZED_WEIGHT}.T, bias)"))),
    "quant_linear: writes the quantized weights into weight.data": Wrong("test_quant_linear", edited(
        QUANT_LINEAR, (f"    return F.linear(x_q, {FAKE_QUANTIZED_WEIGHT}, bias)",
                       "    weight.data = FakeQuantize.apply(weight.detach(), weight_scales, 0, -qmax, qmax)\n"
                       "    return F.linear(x_q, weight, bias)"))),

    # Exercise 9: QAT
    "QAT: PTQ without fine-tuning": Wrong("test_qat", '''
def qat(model, bits, calib_x, x, y, epochs=10, lr=1e-3, seed=0):
    return ptq(model, bits, calib_x, "percentile")
'''),
    "QAT: fine-tunes a float copy, then PTQ": Wrong("test_qat", '''
def qat(model, bits, calib_x, x, y, epochs=10, lr=1e-3, seed=0):
    tuned = train(copy.deepcopy(model), x, y, epochs=epochs, lr=lr, seed=seed)
    return ptq(tuned, bits, calib_x, "percentile")
'''),
    # `model` is rebound to a copy first, so this mistake cannot damage the
    # FP32 model that the other tests share.
    "QAT: trains the FP32 model in place": Wrong("test_qat", '''
model = copy.deepcopy(model)


def qat(model, bits, calib_x, x, y, epochs=10, lr=1e-3, seed=0):
    qmodel = ptq(model, bits, calib_x, "percentile")
    train(qmodel, x, y, epochs=epochs, lr=lr, seed=seed)
    model.load_state_dict({"layers." + k: v for k, v in qmodel.layers.state_dict().items()})
    return qmodel
'''),
    "QAT: min-max calibration": Wrong("test_qat", edited(QAT, ('"percentile"', '"minmax"'))),
    "QAT: bit width ignored (always 2)": Wrong("test_qat", edited(QAT, ("ptq(model, bits,", "ptq(model, 2,"))),
    "QAT: seed ignored (always 0)": Wrong("test_qat", edited(QAT, ("seed=seed", "seed=0"))),
    "QAT: learning rate ignored (always 1e-3)": Wrong("test_qat", edited(QAT, ("lr=lr", "lr=1e-3"))),
    "QAT: epochs ignored (always 10)": Wrong("test_qat", edited(QAT, ("epochs=epochs", "epochs=10"))),
    "QAT: trains on the notebook's x_train, y_train": Wrong("test_qat", edited(
        QAT, ("train(qmodel, x, y,", "train(qmodel, x_train, y_train,"))),
    "QAT: calibrates on the notebook's global calib_x": Wrong("test_qat", edited(
        QAT, ("def qat(model, bits, calib_x,", "def qat(model, bits, calib,"))),
    "QAT: calibrates on the training data x": Wrong("test_qat", edited(QAT, ("calib_x, \"percentile\"", "x, \"percentile\""))),
    "QAT: its own training loop with another batch size": Wrong("test_qat", '''
def qat(model, bits, calib_x, x, y, epochs=10, lr=1e-3, seed=0):
    qmodel = ptq(model, bits, calib_x, "percentile")
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(qmodel.parameters(), lr=lr)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), 32):
            batch = order[start:start + 32]
            loss = F.cross_entropy(qmodel(x[batch]), y[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return qmodel
''', visible=False),  # only the exact weights of the recipe tell batches of 32 from 64: hidden, so that
    # the release shows no code that computes qat's answer (the visible check tests every argument's effect)
    "QAT: trains one QuantMLP, returns a fresh PTQ one": Wrong("test_qat", '''
def qat(model, bits, calib_x, x, y, epochs=10, lr=1e-3, seed=0):
    train(ptq(model, bits, calib_x, "percentile"), x, y, epochs=epochs, lr=lr, seed=seed)
    return ptq(model, bits, calib_x, "percentile")
'''),
    # Exercise 11: fixed-point multiplier and requantization
    "multiplier: Python round (ties to even) for M0": Wrong("test_requantize", edited(
        QUANTIZE_MULTIPLIER, (M0_ROUNDED, "round(m * 2 ** 31)"))),
    "multiplier: M0 truncated with int()": Wrong("test_requantize", edited(QUANTIZE_MULTIPLIER, (M0_ROUNDED, "int(m * 2 ** 31)"))),
    "multiplier: M0 = 2**31 not renormalised": Wrong("test_requantize", edited(
        QUANTIZE_MULTIPLIER, ("    if M0 == 2 ** 31:\n        M0, shift = 2 ** 30, shift - 1\n", ""))),
    "multiplier: M0 = 2**31 clamped to 2**31 - 1": Wrong("test_requantize", edited(
        QUANTIZE_MULTIPLIER, ("M0, shift = 2 ** 30, shift - 1", "M0 = 2 ** 31 - 1"))),
    "multiplier: shift = -e, forgetting M0's 31 bits": Wrong("test_requantize", edited(QUANTIZE_MULTIPLIER, ("31 - e", "-e"))),
    "multiplier: M * 2**31 without normalising m": Wrong("test_requantize", """
def quantize_multiplier(M):
    if not 0 < M < 1:
        raise ValueError(M)
    return math.floor(M * 2 ** 31 + 0.5), 31
"""),
    "multiplier: no ValueError outside (0, 1)": Wrong("test_requantize", edited(
        QUANTIZE_MULTIPLIER, ("    if not 0 < M < 1:\n        raise ValueError(M)\n", ""))),
    "multiplier: accepts M = 0 (checks only M < 1)": Wrong("test_requantize", edited(
        QUANTIZE_MULTIPLIER, ("if not 0 < M < 1:", "if M >= 1:"))),
    "multiplier: M0 as a float (numpy floor)": Wrong("test_requantize", "import numpy as np\n" + edited(
        QUANTIZE_MULTIPLIER, ("math.floor(", "np.floor("), ("return M0, shift", "return float(M0), shift"))),
    "requantize: torch.round in float64 (ties to even)": Wrong("test_requantize", REQUANTIZE_IN_FLOAT64),
    "requantize: half away from zero, but in float64": Wrong("test_requantize", edited(
        REQUANTIZE_IN_FLOAT64, ("    return torch.clamp(torch.round(value)",
                                "    rounded = torch.sign(value) * torch.floor(value.abs() + 0.5)\n    return torch.clamp(rounded"))),
    "requantize: plain >> (floor, no rounding)": Wrong("test_requantize", """
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    product = acc.to(torch.int64) * torch.as_tensor(M0, dtype=torch.int64)
    rounded = torch.bitwise_right_shift(product, torch.as_tensor(shift, dtype=torch.int64))
    return torch.clamp(rounded + zero_point, qmin, qmax).to(torch.int32)
"""),
    "requantize: (p + 2**(shift-1)) >> shift, ties toward +infinity": Wrong("test_requantize", """
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    product = acc.to(torch.int64) * torch.as_tensor(M0, dtype=torch.int64)
    shift = torch.as_tensor(shift, dtype=torch.int64)
    rounded = torch.bitwise_right_shift(product + torch.bitwise_left_shift(torch.ones_like(shift), shift - 1), shift)
    return torch.clamp(rounded + zero_point, qmin, qmax).to(torch.int32)
"""),
    "requantize: truncation toward zero (integer division of |p|)": Wrong("test_requantize", edited(
        REQUANTIZE, ("product.abs() + torch.bitwise_left_shift(torch.ones_like(shift), shift - 1)", "product.abs()"))),
    "requantize: product in int32 overflows": Wrong("test_requantize", edited(
        REQUANTIZE, ("acc.to(torch.int64) * torch.as_tensor(M0, dtype=torch.int64)", "acc * torch.as_tensor(M0).to(torch.int32)"),
        ("torch.as_tensor(shift, dtype=torch.int64)", "torch.as_tensor(shift, dtype=torch.int32)"))),
    "requantize: zero point added before rounding": Wrong("test_requantize", edited(
        REQUANTIZE, ("    magnitude =", "    product = product + zero_point * torch.bitwise_left_shift(torch.ones_like(shift), shift)\n"
                                      "    magnitude ="),
        ("magnitude) + zero_point,", "magnitude),"))),
    "requantize: clamped before adding the zero point": Wrong("test_requantize", edited(
        REQUANTIZE, (REQUANTIZE_RETURN,
                     "    return (torch.clamp(torch.where(product < 0, -magnitude, magnitude), qmin, qmax) + zero_point).to(torch.int32)"))),
    "requantize: no clamp": Wrong("test_requantize", edited(
        REQUANTIZE, ("torch.clamp(torch.where(product < 0, -magnitude, magnitude) + zero_point, qmin, qmax)",
                     "(torch.where(product < 0, -magnitude, magnitude) + zero_point)"))),
    "requantize: gemmlowp's two roundings (high mul, then RoundingDivideByPOT)": Wrong("test_requantize", """
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    product = acc.to(torch.int64) * torch.as_tensor(M0, dtype=torch.int64)
    shift = torch.as_tensor(shift, dtype=torch.int64)
    nudge = torch.where(product >= 0, torch.tensor(1 << 30), torch.tensor(1 - (1 << 30)))
    high = torch.div(product + nudge, 1 << 31, rounding_mode="trunc")
    exponent = shift - 31
    mask = torch.bitwise_left_shift(torch.ones_like(exponent), exponent) - 1
    remainder = torch.bitwise_and(high, mask)
    threshold = torch.bitwise_right_shift(mask, 1) + (high < 0).long()
    rounded = torch.bitwise_right_shift(high, exponent) + (remainder > threshold).long()
    return torch.clamp(rounded + zero_point, qmin, qmax).to(torch.int32)
"""),
    "requantize: int64 result": Wrong("test_requantize", edited(REQUANTIZE, (", qmin, qmax).to(torch.int32)", ", qmin, qmax)"))),
    "requantize: one multiplier for every channel (the first)": Wrong("test_requantize", edited(
        REQUANTIZE, ("    product =", "    M0 = int(torch.as_tensor(M0).flatten()[0])\n"
                                     "    shift = int(torch.as_tensor(shift).flatten()[0])\n"
                                     "    product ="))),
    "multiplier: round(m * 2**31 + 0.5), rounding twice": Wrong("test_requantize", edited(
        QUANTIZE_MULTIPLIER, (M0_ROUNDED, "round(m * 2 ** 31 + 0.5)"))),
    "multiplier: ceil(m * 2**31 - 0.5), ties rounded down": Wrong("test_requantize", edited(
        QUANTIZE_MULTIPLIER, (M0_ROUNDED, "math.ceil(m * 2 ** 31 - 0.5)"))),
    "multiplier: M0 = 2**31 halved, but shift + 1": Wrong("test_requantize", edited(
        QUANTIZE_MULTIPLIER, ("shift - 1", "shift + 1"))),
    "multiplier: m * 2**31 rounded in a float32 tensor": Wrong("test_requantize", edited(
        QUANTIZE_MULTIPLIER, (M0_ROUNDED, "int(torch.floor(torch.tensor(m) * 2 ** 31 + 0.5))"))),
    "multiplier: assert instead of raising ValueError": Wrong("test_requantize", edited(
        QUANTIZE_MULTIPLIER, ("    if not 0 < M < 1:\n        raise ValueError(M)", "    assert 0 < M < 1, M"))),
    "multiplier: numpy integers (np.frexp, np.int64) returned": Wrong("test_requantize", "import numpy as np\n" + edited(
        QUANTIZE_MULTIPLIER, ("math.frexp", "np.frexp"), (M0_ROUNDED, "np.int64(np.floor(m * 2 ** 31 + 0.5))"),
        ("2 ** 30,", "np.int64(2 ** 30),"))),
    "multiplier: a list instead of a tuple": Wrong("test_requantize", edited(
        QUANTIZE_MULTIPLIER, ("return M0, shift", "return [M0, shift]"))),
    "requantize: torch.div(p + 2**(shift-1), rounding_mode='trunc'), negatives toward zero": Wrong("test_requantize", edited(
        REQUANTIZE_DIV, ("p + torch.sign(p) * (d // 2)", "p + d // 2"))),
    "requantize: torch.div(p + sign(p) * 2**(shift-1), rounding_mode='floor')": Wrong("test_requantize", edited(
        REQUANTIZE_DIV, ('rounding_mode="trunc"', 'rounding_mode="floor"'))),
    "requantize: |acc| taken in int32 (-2**31 stays negative)": Wrong("test_requantize", """
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    magnitude = acc.abs().to(torch.int64) * torch.as_tensor(M0, dtype=torch.int64)
    shift = torch.as_tensor(shift, dtype=torch.int64)
    magnitude = (magnitude + (torch.ones_like(shift) << (shift - 1))) >> shift
    return torch.clamp(torch.sign(acc) * magnitude + zero_point, qmin, qmax).to(torch.int32)
"""),
    "requantize: converted to int32 before adding the zero point (overflows)": Wrong("test_requantize", edited(
        REQUANTIZE, (REQUANTIZE_RETURN, "    rounded = torch.where(product < 0, -magnitude, magnitude).to(torch.int32)\n"
                                        "    return torch.clamp(rounded + zero_point, qmin, qmax)"))),
    "requantize: zero point subtracted": Wrong("test_requantize", edited(
        REQUANTIZE, ("magnitude) + zero_point", "magnitude) - zero_point"))),
    "requantize: 2**shift built in int32 (ones_like(acc) << shift)": Wrong("test_requantize", """
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    p = acc.to(torch.int64) * torch.as_tensor(M0, dtype=torch.int64)
    d = torch.bitwise_left_shift(torch.ones_like(acc), torch.as_tensor(shift).to(torch.int32))
    mag = (p.abs() + d // 2) // d
    return torch.clamp(torch.where(p < 0, -mag, mag) + zero_point, qmin, qmax).to(torch.int32)
"""),
    "requantize: Python round on exact Fractions (ties to even)": Wrong("test_requantize", """
from fractions import Fraction
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    M0s = torch.as_tensor(M0).expand(acc.shape).reshape(-1).tolist()
    shifts = torch.as_tensor(shift).expand(acc.shape).reshape(-1).tolist()
    out = [min(max(round(Fraction(a * m, 2 ** s)) + zero_point, qmin), qmax)
           for a, m, s in zip(acc.reshape(-1).tolist(), M0s, shifts)]
    return torch.tensor(out, dtype=torch.int32).reshape(acc.shape)
"""),
    "requantize: uint8 result for an unsigned grid": Wrong("test_requantize", edited(
        REQUANTIZE, (REQUANTIZE_RETURN, "    out = torch.clamp(torch.where(product < 0, -magnitude, magnitude) + zero_point, qmin, qmax)\n"
                                        "    return out.to(torch.uint8 if qmin >= 0 and qmax <= 255 else torch.int32)"))),
    "requantize: acc.abs_() in place": Wrong("test_requantize", """
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    negative = acc < 0
    magnitude = acc.abs_().to(torch.int64) * torch.as_tensor(M0, dtype=torch.int64)
    shift = torch.as_tensor(shift, dtype=torch.int64)
    magnitude = (magnitude + (torch.ones_like(shift) << (shift - 1))) >> shift
    return torch.clamp(torch.where(negative, -magnitude, magnitude) + zero_point, qmin, qmax).to(torch.int32)
"""),
    "requantize: element loop, result left flat": Wrong("test_requantize", edited(
        REQUANTIZE_ELEMENT_LOOP, ("torch.tensor(out, dtype=torch.int32).reshape(acc.shape)", "torch.tensor(out, dtype=torch.int32)"))),
    "requantize: int64 product, then p / 2**shift (float32) rounded half away": Wrong("test_requantize", """
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    p = acc.to(torch.int64) * torch.as_tensor(M0, dtype=torch.int64)
    v = p / 2 ** torch.as_tensor(shift, dtype=torch.int64)
    r = torch.sign(v) * torch.floor(v.abs() + 0.5)
    return torch.clamp(r + zero_point, qmin, qmax).to(torch.int32)
"""),
    "requantize: high multiply truncated (p >> 31), then a rounding shift": Wrong("test_requantize", """
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    p = acc.to(torch.int64) * torch.as_tensor(M0, dtype=torch.int64)
    high = p >> 31
    e = torch.as_tensor(shift, dtype=torch.int64) - 31
    half = torch.where(e > 0, torch.ones_like(e) << (e - 1).clamp(min=0), torch.zeros_like(e))
    mag = (high.abs() + half) >> e
    return torch.clamp(torch.where(high < 0, -mag, mag) + zero_point, qmin, qmax).to(torch.int32)
"""),
    "requantize: shift -= 1 in place on the caller's per-channel tensor": Wrong("test_requantize", """
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    shift = torch.as_tensor(shift)
    p = acc.to(torch.int64) * torch.as_tensor(M0, dtype=torch.int64)
    shift -= 1
    magnitude = ((p.abs() >> shift) + 1) >> 1
    return torch.clamp(torch.sign(p) * magnitude + zero_point, qmin, qmax).to(torch.int32)
"""),
    "requantize: (2|p| + 2**shift) // 2**(shift+1), overflows int64 at shift 62": Wrong("test_requantize", edited(
        REQUANTIZE_DIV, ('torch.div(p + torch.sign(p) * (d // 2), d, rounding_mode="trunc")',
                         "torch.sign(p) * ((2 * p.abs() + d) // (2 * d))"))),

    # Exercise 12: integer-only linear layer
    "integer linear: input zero point forgotten": Wrong("test_integer_linear", edited(
        INTEGER_LINEAR, ("(x_q - x_zero_point)", "x_q"))),
    "integer linear: cross term with the column sums of w": Wrong("test_integer_linear", edited(
        INTEGER_LINEAR_CROSS_TERM, ("sum(dim=1)", "sum(dim=0)"))),
    "integer linear: cross term added instead of subtracted": Wrong("test_integer_linear", edited(
        INTEGER_LINEAR_CROSS_TERM, ("- x_zero_point *", "+ x_zero_point *"))),
    "integer linear: bias forgotten": Wrong("test_integer_linear", edited(INTEGER_LINEAR, (" + bias_q", ""))),
    "integer linear: bias added after requantization": Wrong("test_integer_linear", """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    out = requantize((x_q - x_zero_point) @ w_q.T, M0, shift, y_zero_point, -2 ** 31, 2 ** 31 - 1)
    return torch.clamp(out.long() + bias_q, 0, 255).to(torch.int32)
"""),
    "integer linear: output zero point forgotten": Wrong("test_integer_linear", edited(
        INTEGER_LINEAR, ("shift, y_zero_point, 0, 255", "shift, 0, 0, 255"))),
    "integer linear: signed output range [-128, 127]": Wrong("test_integer_linear", edited(INTEGER_LINEAR, ("0, 255", "-128, 127"))),
    "integer linear: accumulator in float32": Wrong("test_integer_linear", """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    acc = (x_q.float() - x_zero_point) @ w_q.float().T + bias_q
    return requantize(acc.to(torch.int32), M0, shift, y_zero_point, 0, 255)
"""),
    "integer linear: one multiplier for the whole layer": Wrong("test_integer_linear", edited(
        INTEGER_LINEAR, ("M0, shift, y_zero_point, 0, 255", "int(M0[0]), int(shift[0]), y_zero_point, 0, 255"))),
    "integer linear: int64 result": Wrong("test_integer_linear", edited(INTEGER_LINEAR, ("0, 255)", "0, 255).long()"))),
    "integer linear: rounds with torch.round instead of requantize": Wrong("test_integer_linear", """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    acc = ((x_q - x_zero_point) @ w_q.T + bias_q).double()
    y = torch.round(acc * M0.double() / torch.pow(2.0, shift.double())) + y_zero_point
    return torch.clamp(y, 0, 255).to(torch.int32)
"""),
    "integer linear: subtracts the zero point in place": Wrong("test_integer_linear", edited(
        INTEGER_LINEAR, ("    return requantize((x_q - x_zero_point) @", "    x_q -= x_zero_point\n    return requantize(x_q @"))),
    "integer linear: x @ w_q, weights not transposed": Wrong("test_integer_linear", edited(INTEGER_LINEAR, ("@ w_q.T", "@ w_q"))),
    "integer linear: z_x subtracted from the weights too": Wrong("test_integer_linear", edited(
        INTEGER_LINEAR, ("@ w_q.T", "@ (w_q - x_zero_point).T"))),
    "integer linear: weight zero point 128 assumed": Wrong("test_integer_linear", edited(INTEGER_LINEAR, ("@ w_q.T", "@ (w_q - 128).T"))),
    "integer linear: codes as uint8, x_q - z_x wraps around": Wrong("test_integer_linear", """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    x = x_q.to(torch.uint8) - x_zero_point
    return requantize(x.int() @ w_q.T + bias_q, M0, shift, y_zero_point, 0, 255)
"""),
    "integer linear: int16 matmul overflows": Wrong("test_integer_linear", """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    x = (x_q - x_zero_point).to(torch.int16)
    acc = (x @ w_q.to(torch.int16).T).int() + bias_q
    return requantize(acc, M0, shift, y_zero_point, 0, 255)
"""),
    "integer linear: output zero point added after requantize": Wrong("test_integer_linear", edited(
        INTEGER_LINEAR, ("y_zero_point, 0, 255)", "0, 0, 255) + y_zero_point"))),
    "integer linear: input zero point added instead of subtracted": Wrong("test_integer_linear", edited(
        INTEGER_LINEAR, ("x_q - x_zero_point", "x_q + x_zero_point"))),
    "integer linear: inputs through float16, accumulator in float32": Wrong("test_integer_linear", """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    acc = (x_q.half() - x_zero_point).float() @ w_q.float().T + bias_q
    return requantize(acc.round().int(), M0, shift, y_zero_point, 0, 255)
"""),
    "integer linear: z_x subtracted once from the accumulator": Wrong("test_integer_linear", edited(
        INTEGER_LINEAR, ("(x_q - x_zero_point) @ w_q.T", "x_q @ w_q.T - x_zero_point"))),
}

# Correct alternatives to the solution, which every test cell must accept.
CORRECT_ANSWERS = {
    # Exercise 1
    "symmetric: numpy (np.round is half to even too)": Answer("test_quantize_symmetric", '''
import numpy as np


def quantize_symmetric(x, bits):
    qmax = 2 ** (bits - 1) - 1
    values = x.detach().numpy()
    scale = float(np.abs(values).max()) / qmax
    if scale == 0.0:
        return torch.zeros(x.shape, dtype=torch.int32), 0.0
    return torch.from_numpy(np.clip(np.round(values / scale), -qmax, qmax).astype(np.int32)), scale


def dequantize_symmetric(q, scale):
    return torch.mul(q.float(), torch.as_tensor(scale, dtype=torch.float32))
'''),
    "symmetric: float64 arithmetic with the reciprocal of the scale": Answer("test_quantize_symmetric", '''
def quantize_symmetric(x, bits):
    qmax = 2 ** (bits - 1) - 1
    absmax = float(torch.max(torch.abs(x)))
    if torch.count_nonzero(x) == 0:
        return torch.zeros_like(x, dtype=torch.int32), 0.0
    scale = absmax / qmax
    return (x.double() * (1.0 / scale)).round().clamp(-qmax, qmax).int(), scale


def dequantize_symmetric(q, scale):
    return (q * scale).to(torch.float32)
'''),
    # Exercise 2
    "asymmetric: numpy rounding of the zero point, codes in int arithmetic": Answer("test_quantize_asymmetric", '''
import numpy as np


def asymmetric_params(lo, hi, bits):
    qmax = 2 ** bits - 1
    lo, hi = min(lo, 0), max(hi, 0)
    if lo == hi:
        return 0.0, 0
    scale = float(hi - lo) / qmax
    return scale, int(np.clip(np.round(-lo / scale), 0, qmax))


def quantize_asymmetric(x, bits):
    scale, zero_point = asymmetric_params(float(x.min()), float(x.max()), bits)
    if scale == 0.0:
        return torch.zeros(x.shape, dtype=torch.int32), 0.0, 0
    codes = torch.round(x / scale).to(torch.int32) + zero_point
    return codes.clamp(min=0, max=2 ** bits - 1), scale, zero_point


def dequantize_asymmetric(q, scale, zero_point):
    return (q - zero_point).to(torch.float32) * scale
'''),
    "asymmetric: torch rounding of the zero point in float64": Answer("test_quantize_asymmetric", '''
def asymmetric_params(lo, hi, bits):
    qmax = 2 ** bits - 1
    lo = lo if lo < 0 else 0.0
    hi = hi if hi > 0 else 0.0
    scale = (hi - lo) / qmax
    if scale == 0:
        return 0.0, 0
    zero_point = torch.tensor(-lo / scale, dtype=torch.float64).round().clamp(0, qmax)
    return float(scale), int(zero_point.item())


def quantize_asymmetric(x, bits):
    lo, hi = torch.aminmax(x)
    scale, zero_point = asymmetric_params(lo.item(), hi.item(), bits)
    if scale == 0:
        return torch.zeros_like(x, dtype=torch.int32), scale, zero_point
    return torch.clamp(torch.round(torch.div(x, scale)) + zero_point, 0, 2 ** bits - 1).int(), scale, zero_point


def dequantize_asymmetric(q, scale, zero_point):
    return scale * (q.float() - float(zero_point))
'''),
    # Exercise 3
    "error: numpy, converted with float()": Answer("test_quantization_error", '''
import numpy as np


def quantization_error(x, x_hat):
    e = x.numpy().astype(np.float64) - x_hat.numpy().astype(np.float64)
    return float(np.mean(e ** 2)), float(np.max(np.abs(e)))
'''),
    "error: F.mse_loss and amax": Answer("test_quantization_error", '''
def quantization_error(x, x_hat):
    return F.mse_loss(x_hat, x).item(), torch.amax(torch.abs(x_hat - x)).item()
'''),
    "error: a Python loop over the elements": Answer("test_quantization_error", '''
def quantization_error(x, x_hat):
    errors = [a - b for a, b in zip(x.flatten().tolist(), x_hat.flatten().tolist())]
    return sum(e * e for e in errors) / len(errors), max(abs(e) for e in errors)
'''),
    # Exercise 4
    "per-channel: a loop over rows with quantize_symmetric": Answer("test_quantize_per_channel", '''
def quantize_per_channel(w, bits):
    codes, scales = [], []
    for row in w:
        q, s = quantize_symmetric(row, bits)
        codes.append(q)
        scales.append(s)
    return torch.stack(codes), torch.tensor(scales, dtype=torch.float32).unsqueeze(1)
'''),
    "per-channel: zero rows fixed with nan_to_num": Answer("test_quantize_per_channel", '''
def quantize_per_channel(w, bits):
    qmax = 2 ** (bits - 1) - 1
    scales = torch.amax(torch.abs(w), dim=1).unsqueeze(1) / qmax
    codes = torch.nan_to_num(torch.round(w / scales), nan=0.0)
    return codes.clamp(-qmax, qmax).to(torch.int32), scales.float()
'''),
    # Exercise 5
    "per-group: vectorised, padded to whole groups": Answer("test_quantize_per_group", '''
def quantize_per_group(w, bits, group_size):
    qmax = 2 ** (bits - 1) - 1
    rows, cols = w.shape
    n_groups = (cols + group_size - 1) // group_size
    padded = F.pad(w, (0, n_groups * group_size - cols)).reshape(rows, n_groups, group_size)
    scales = padded.abs().amax(dim=2) / qmax
    safe = torch.where(scales > 0, scales, torch.ones_like(scales)).unsqueeze(2)
    q = torch.clamp(torch.round(padded / safe), -qmax, qmax).reshape(rows, -1)[:, :cols]
    return q.to(torch.int32).contiguous(), scales


def dequantize_per_group(q, scales, group_size):
    columns = torch.arange(q.shape[1]) // group_size
    return q.to(torch.float32) * scales[:, columns]
'''),
    "per-group: loops over rows and groups with quantize_symmetric": Answer("test_quantize_per_group", '''
import math


def quantize_per_group(w, bits, group_size):
    rows, cols = w.shape
    n_groups = math.ceil(cols / group_size)
    q = torch.zeros(rows, cols, dtype=torch.int32)
    scales = torch.zeros(rows, n_groups)
    for r in range(rows):
        for g in range(n_groups):
            start, end = g * group_size, min((g + 1) * group_size, cols)
            q[r, start:end], scales[r, g] = quantize_symmetric(w[r, start:end], bits)
    return q, scales


def dequantize_per_group(q, scales, group_size):
    parts = [dequantize_symmetric(block, scales[:, g:g + 1])
             for g, block in enumerate(torch.split(q, group_size, dim=1))]
    return torch.cat(parts, dim=1)
'''),
    "per-group: torch.split with quantize_per_channel": Answer("test_quantize_per_group", '''
def quantize_per_group(w, bits, group_size):
    results = [quantize_per_channel(block, bits) for block in torch.split(w, group_size, dim=1)]
    return torch.cat([q for q, _ in results], dim=1), torch.cat([s for _, s in results], dim=1)
'''),
    # Exercise 6
    "calibration: numpy.percentile": Answer("test_calibrate_range", '''
import numpy as np


def calibrate_range(activations, method="minmax", percentile=99.9):
    values = activations.detach().numpy().ravel()
    if method == "minmax":
        return float(values.min()), float(values.max())
    elif method == "percentile":
        return float(np.percentile(values, 100 - percentile)), float(np.percentile(values, percentile))
    else:
        raise ValueError("calibrate_range: no method called " + repr(method))
'''),
    "calibration: one torch.quantile call and aminmax": Answer("test_calibrate_range", '''
def calibrate_range(activations, method="minmax", percentile=99.9):
    if method not in ("minmax", "percentile"):
        raise ValueError(f"method must be 'minmax' or 'percentile', not {method}")
    values = activations.reshape(-1).to(torch.float32)
    if method == "minmax":
        lo, hi = torch.aminmax(values)
    else:
        lo, hi = torch.quantile(values, torch.tensor([100 - percentile, percentile]) / 100)
    return lo.item(), hi.item()
'''),
    # Exercise 7
    "fake quantize: saves x and the grid, recomputes the mask in backward": Answer("test_fake_quantize", '''
class FakeQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):
        scale = torch.as_tensor(scale).to(x.dtype)
        zero_point = torch.as_tensor(zero_point).to(x.dtype)
        safe = torch.where(scale == 0, torch.ones_like(scale), scale)
        ctx.save_for_backward(x, safe, zero_point)
        ctx.qmin, ctx.qmax = qmin, qmax
        q = torch.clamp(torch.round(x / safe) + zero_point, min=qmin, max=qmax)
        return (q - zero_point) * scale

    @staticmethod
    def backward(ctx, grad_output):
        x, safe, zero_point = ctx.saved_tensors
        code = torch.round(x / safe) + zero_point
        inside = torch.logical_and(code >= ctx.qmin, code <= ctx.qmax)
        return torch.where(inside, grad_output, torch.zeros_like(grad_output)), None, None, None, None
'''),
    "fake quantize: zero scale handled with torch.where on the output": Answer("test_fake_quantize", '''
class FakeQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):
        scale = torch.as_tensor(scale, dtype=x.dtype)
        code = torch.round(x / scale) + zero_point
        ctx.save_for_backward(((code >= qmin) & (code <= qmax)).to(x.dtype))
        out = (code.clamp(qmin, qmax) - zero_point) * scale
        return torch.where(scale == 0, torch.zeros_like(out), out)

    @staticmethod
    def backward(ctx, grad_output):
        (mask,) = ctx.saved_tensors
        return grad_output * mask, None, None, None, None
'''),
    # Exercise 8
    "quant_linear: scales computed inline, matmul instead of F.linear": Answer("test_quant_linear", '''
def quant_linear(x, weight, bias, bits, act_scale, act_zero_point):
    qmax = 2 ** (bits - 1) - 1
    x_q = FakeQuantize.apply(x, act_scale, act_zero_point, 0, 2 ** bits - 1)
    scales = weight.detach().abs().amax(dim=1, keepdim=True) / qmax
    w_q = FakeQuantize.apply(weight, scales, 0, -qmax, qmax)
    out = x_q @ w_q.T
    return out if bias is None else out + bias
'''),
    "quant_linear: quantize_per_channel on the weight itself": Answer("test_quant_linear", '''
def quant_linear(x, weight, bias, bits, act_scale, act_zero_point):
    levels = 2 ** bits - 1
    qmax = 2 ** (bits - 1) - 1
    _, scales = quantize_per_channel(weight, bits)
    return F.linear(FakeQuantize.apply(x, act_scale, act_zero_point, 0, levels),
                    FakeQuantize.apply(weight, scales, 0, -qmax, qmax), bias=bias)
'''),
    "quant_linear: weights through a detach trick (no weight is ever clipped)": Answer("test_quant_linear", '''
def quant_linear(x, weight, bias, bits, act_scale, act_zero_point):
    x_q = FakeQuantize.apply(x, act_scale, act_zero_point, 0, 2 ** bits - 1)
    qmax = 2 ** (bits - 1) - 1
    codes, scales = quantize_per_channel(weight.detach(), bits)
    weight_q = weight + (codes.to(torch.float32) * scales - weight).detach()
    return F.linear(x_q, weight_q, bias)
'''),
    # Exercise 9
    "QAT: one line, ptq's default method": Answer("test_qat", '''
def qat(model, bits, calib_x, x, y, epochs=10, lr=1e-3, seed=0):
    return train(ptq(model, bits, calib_x), x, y, epochs, lr, seed)
'''),
    "QAT: keyword arguments, copies the model first": Answer("test_qat", '''
def qat(model, bits, calib_x, x, y, epochs=10, lr=1e-3, seed=0):
    qmodel = ptq(copy.deepcopy(model), bits=bits, calib_x=calib_x, method="percentile")
    qmodel = train(qmodel, x=x, y=y, epochs=epochs, lr=lr, seed=seed)
    return qmodel
'''),
    # Exercise 11
    "requantize: Python integers, element by element": Answer("test_requantize", """
def quantize_multiplier(M):
    if not (M > 0 and M < 1):
        raise ValueError("M must lie strictly between 0 and 1")
    m, e = math.frexp(M)
    M0 = int(m * 2 ** 31 + 0.5)
    if M0 == 1 << 31:
        return 1 << 30, 30 - e
    return M0, 31 - e
""" + REQUANTIZE_ELEMENT_LOOP),
    "requantize: numpy int64, floor division": Answer("test_requantize", """
import numpy as np


def quantize_multiplier(M):
    if M <= 0 or M >= 1:
        raise ValueError(f"M = {M} is not in (0, 1)")
    m, e = math.frexp(M)
    M0 = math.floor(m * (1 << 31) + 0.5)
    shift = 31 - e
    if M0 >= 1 << 31:
        M0 //= 2
        shift -= 1
    return int(M0), int(shift)


def requantize(acc, M0, shift, zero_point, qmin, qmax):
    p = acc.numpy().astype(np.int64) * np.asarray(M0, dtype=np.int64)
    divisor = np.left_shift(np.int64(1), np.asarray(shift, dtype=np.int64))
    q = (np.abs(p) + divisor // 2) // divisor
    q = np.where(p < 0, -q, q) + zero_point
    return torch.from_numpy(np.clip(q, qmin, qmax).astype(np.int32))
"""),
    "multiplier: exponent from ceil(log2(M)) (powers of two land on the M0 = 2**31 rule)": Answer("test_requantize", edited(
        QUANTIZE_MULTIPLIER, ("    m, e = math.frexp(M)", "    e = math.ceil(math.log2(M))\n    m = M / 2 ** e"))),
    "requantize: Fraction multiplier, floor((p + half - [p < 0]) / 2**shift)": Answer("test_requantize", """
from fractions import Fraction
def quantize_multiplier(M):
    if not (0.0 < M < 1.0):
        raise ValueError("need 0 < M < 1")
    m, e = math.frexp(M)
    M0 = math.floor(Fraction(m) * 2 ** 31 + Fraction(1, 2))
    shift = 31 - e
    if M0 == 2 ** 31:
        return 2 ** 30, shift - 1
    return M0, shift
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    p = acc.long() * torch.as_tensor(M0, dtype=torch.long)
    s = torch.as_tensor(shift, dtype=torch.long)
    half = torch.ones_like(s) << (s - 1)
    # floor((p + half - [p < 0]) / 2**s) rounds ties away from zero
    q = (p + half - (p < 0).long()) >> s
    return (q + zero_point).clamp(qmin, qmax).int()
"""),
    "requantize: doubling loop for the multiplier, ((|p| >> (shift-1)) + 1) >> 1": Answer("test_requantize", """
def quantize_multiplier(M):
    if M <= 0 or M >= 1:
        raise ValueError(M)
    shift = 31
    while M < 0.5:
        M *= 2
        shift += 1
    M0 = int(M * 2 ** 31 + 0.5)
    if M0 >= 2 ** 31:
        M0, shift = M0 >> 1, shift - 1
    return M0, shift
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    p = acc.to(torch.int64) * M0
    s = torch.as_tensor(shift)
    q = ((p.abs() >> (s - 1)) + 1) >> 1
    q = torch.sign(acc).to(torch.int64) * q
    return torch.clamp(q + zero_point, min=qmin, max=qmax).to(torch.int32)
"""),
    "requantize: torch.div(p + sign(p) * half, rounding_mode='trunc')": Answer("test_requantize", REQUANTIZE_DIV),
    "requantize: Decimal ROUND_HALF_UP multiplier, floor division of |p|": Answer("test_requantize", """
from decimal import Decimal, ROUND_HALF_UP
def quantize_multiplier(M):
    if not 0 < M < 1:
        raise ValueError(M)
    m, e = math.frexp(M)
    M0 = int((Decimal(m) * 2 ** 31).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    return (2 ** 30, 30 - e) if M0 == 2 ** 31 else (M0, 31 - e)
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    p = acc.to(torch.int64) * torch.as_tensor(M0, dtype=torch.int64)
    d = torch.ones_like(p) << torch.as_tensor(shift, dtype=torch.int64)
    mag = torch.div(p.abs() + d // 2, d, rounding_mode="floor")
    return torch.where(p < 0, -mag, mag).add(zero_point).clamp(qmin, qmax).to(torch.int32)
"""),
    "requantize: floor division // by 2 ** shift (tensor powers)": Answer("test_requantize", """
def requantize(acc, M0, shift, zero_point, qmin, qmax):
    p = acc.to(torch.int64) * M0
    half = 2 ** (shift - 1)
    magnitude = (p.abs() + half) // 2 ** shift
    return torch.clamp(torch.where(p < 0, -magnitude, magnitude) + zero_point, qmin, qmax).to(torch.int32)
"""),
    # Exercise 12
    "integer linear: cross-term expansion with precomputed row sums": Answer("test_integer_linear", """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    row_sums = w_q.sum(dim=1)
    acc = x_q @ w_q.T - x_zero_point * row_sums + bias_q
    return requantize(acc, M0, shift, y_zero_point, 0, 255)
"""),
    "integer linear: int64 broadcast products": Answer("test_integer_linear", """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    products = (x_q.long() - x_zero_point)[:, None, :] * w_q.long()[None, :, :]
    acc = products.sum(dim=2) + bias_q.long()
    return requantize(acc.to(torch.int32), M0, shift, y_zero_point, 0, 255)
"""),
    "integer linear: numpy int64 matmul": Answer("test_integer_linear", """
import numpy as np


def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    acc = (x_q.numpy().astype(np.int64) - x_zero_point) @ w_q.numpy().astype(np.int64).T + bias_q.numpy()
    return requantize(torch.from_numpy(acc.astype(np.int32)), M0, shift, y_zero_point, 0, 255)
"""),
    "integer linear: float64 accumulator (exact for int32 values)": Answer("test_integer_linear", """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    acc = (x_q.double() - x_zero_point) @ w_q.double().T + bias_q.double()
    return requantize(acc.to(torch.int32), M0, shift, y_zero_point, 0, 255)
"""),
    "integer linear: int64 einsum": Answer("test_integer_linear", """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    acc = torch.einsum("bi,oi->bo", x_q.long() - x_zero_point, w_q.long()) + bias_q
    return requantize(acc.int(), M0, shift, y_zero_point, 0, 255)
"""),
    "integer linear: w_q @ (x_q - z_x).T, transposed back": Answer("test_integer_linear", """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    acc = (w_q.long() @ (x_q.long() - x_zero_point).T + bias_q.long()[:, None]).T
    return requantize(acc.contiguous().int(), M0, shift, y_zero_point, 0, 255)
"""),
    "integer linear: F.linear on int32 tensors": Answer("test_integer_linear", """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    return requantize(F.linear(x_q - x_zero_point, w_q, bias_q), M0, shift, y_zero_point, 0, 255)
"""),
    "integer linear: int64 accumulator passed to requantize": Answer("test_integer_linear", """
def integer_linear(x_q, x_zero_point, w_q, bias_q, M0, shift, y_zero_point):
    acc = torch.matmul(x_q.to(torch.int64) - x_zero_point, w_q.to(torch.int64).t()).add(bias_q)
    return requantize(acc, M0, shift, y_zero_point, 0, 255)
"""),
}


# A mistake in a helper that later exercises call, with those later functions
# written the way a student may write them (on top of the helper). Each must
# cost exactly the helper's own exercise: the later test cells use the course's
# versions of the helpers.
CASCADES = {
    "quantize_symmetric rounds half away from zero; per-channel and per-group built on it": Wrong(
        "test_quantize_symmetric", WRONG_ANSWERS["symmetric: rounds half away from zero"].code + '''

def quantize_per_channel(w, bits):
    results = [quantize_symmetric(row, bits) for row in w]
    return torch.stack([q for q, _ in results]), torch.tensor([[s] for _, s in results], dtype=torch.float32)


def quantize_per_group(w, bits, group_size):
    n_groups = -(-w.shape[1] // group_size)
    q = torch.zeros(w.shape, dtype=torch.int32)
    scales = torch.zeros(w.shape[0], n_groups)
    for r in range(w.shape[0]):
        for g in range(n_groups):
            q[r, g * group_size:(g + 1) * group_size], scales[r, g] = quantize_symmetric(w[r, g * group_size:(g + 1) * group_size], bits)
    return q, scales
'''),
    "dequantize_symmetric returns float64; dequantize_per_group built on it": Wrong(
        "test_quantize_symmetric", WRONG_ANSWERS["symmetric: dequantize returns float64"].code + edited(
            DEQUANTIZE_PER_GROUP, ("q.to(torch.float32) * expanded", "dequantize_symmetric(q, expanded)"))),
    "asymmetric_params rounds the zero point half up (used by QuantMLP)": WRONG_ANSWERS[
        "asymmetric: zero point rounded half up, int(v + 0.5)"],
    "quantize_per_channel divides a zero row by zero (used by per-group and quant_linear)": WRONG_ANSWERS[
        "per-channel: zero row divides by zero"],
    "quantize_per_channel left unimplemented": Wrong("test_quantize_per_channel", '''
def quantize_per_channel(w, bits):
    raise NotImplementedError()
''', error=NotImplementedError),
    "calibrate_range uses one percentile for both ends (used by ptq)": WRONG_ANSWERS["calibration: the same percentile for both ends"],
    "FakeQuantize takes the STE mask on x (used by quant_linear)": WRONG_ANSWERS[
        "STE mask taken on x, the range [(qmin - z) s, (qmax - z) s]"],
    "FakeQuantize passes the gradient everywhere (QAT trains through it)": WRONG_ANSWERS["STE passes the gradient everywhere"],
    "quant_linear puts activations on the signed grid (used by QuantMLP)": WRONG_ANSWERS["quant_linear: activations on the signed grid"],
    "requantize rounds ties to even in float64; integer_linear built on it": Wrong(
        "test_requantize", REQUANTIZE_IN_FLOAT64 + INTEGER_LINEAR),
    "requantize changes the caller's shift in place; integer_linear built on it": Wrong(
        "test_requantize", WRONG_ANSWERS["requantize: shift -= 1 in place on the caller's per-channel tensor"].code + INTEGER_LINEAR),
    "quantize_multiplier left unimplemented": Wrong("test_requantize", """
def quantize_multiplier(M):
    raise NotImplementedError()
""", error=NotImplementedError),
}

# The student's functions, by the grade id of the cell that defines them.
ANSWER_CELLS = ("quantize_symmetric", "quantize_asymmetric", "quantization_error", "quantize_per_channel",
                "quantize_per_group", "calibrate_range", "fake_quantize", "quant_linear", "qat", "requantize",
                "integer_linear")
ANSWER_NAMES = ("quantize_symmetric", "dequantize_symmetric", "asymmetric_params", "quantize_asymmetric",
                "dequantize_asymmetric", "quantization_error", "quantize_per_channel", "quantize_per_group",
                "dequantize_per_group", "calibrate_range", "FakeQuantize", "quant_linear", "qat",
                "quantize_multiplier", "requantize", "integer_linear")


@pytest.fixture(scope="module")
def notebook():
    return SolvedNotebook("02_ptq_vs_qat")


def in_one_namespace(notebook, code):
    """`code` after the solution's functions and the notebook's QuantMLP and ptq
    are defined again in the test's namespace, so that they call whatever `code`
    redefines, as they do in the notebook, where one namespace holds everything."""
    (quant_cell,) = [source for source in notebook.code_cells if source.startswith("class QuantMLP")]
    parts = [notebook.cells[grade_id] for grade_id in ANSWER_CELLS] + [quant_cell.split("\nBITS = ")[0], code]
    return "\n\n\n".join(parts)


def test_solution_passes_every_test_cell(notebook):
    assert len(notebook.test_ids()) == 11
    notebook.run_all_tests()


@pytest.mark.parametrize("mistake", WRONG_ANSWERS)
def test_checks_reject(notebook, mistake):
    notebook.assert_rejects(WRONG_ANSWERS[mistake])


@pytest.mark.parametrize("alternative", CORRECT_ANSWERS)
def test_correct_alternatives_pass(notebook, alternative):
    notebook.assert_accepts(CORRECT_ANSWERS[alternative])


@pytest.mark.parametrize("base", BASES)
def test_bases_are_correct(notebook, base):
    """So that an answer edited from a base is wrong for its edit alone."""
    notebook.assert_accepts(BASES[base])


@pytest.mark.parametrize("mistake", CASCADES)
def test_a_helper_mistake_costs_one_exercise(notebook, mistake):
    wrong = CASCADES[mistake]
    notebook.assert_rejects(Wrong(wrong.test_id, in_one_namespace(notebook, wrong.code), error=wrong.error))
    notebook.assert_costs_one_exercise(Wrong(wrong.test_id, in_one_namespace(notebook, wrong.code)))


def test_one_namespace_reproduces_the_solution(notebook):
    """The cascade tests' redefinitions, without a mistake, pass every test cell."""
    for test_id in notebook.test_ids():
        notebook.run_test(test_id, in_one_namespace(notebook, ""))


def test_check_cells_leave_your_functions_in_place(notebook):
    """The checks swap in the course's helpers only while they run."""
    for test_id in notebook.test_ids():
        namespace = dict(notebook.namespace)
        before = {name: namespace[name] for name in ANSWER_NAMES}
        notebook._exec(notebook.cells[test_id], namespace)
        assert {name: namespace[name] for name in ANSWER_NAMES} == before, test_id


def test_fp32_model_untouched_by_the_wrong_answers(notebook):
    """The wrong answers run on a shallow copy of the namespace; none may change the shared model."""
    import torch

    model, saved = notebook.namespace["model"], notebook.namespace["fp32_state"]
    assert all(torch.equal(value, saved[name]) for name, value in model.state_dict().items())


def test_release_test_cells_define_no_reference_solution():
    """The course's versions of the exercises live in hidden tests only: the student's
    release notebook must not show them."""
    import re
    from pathlib import Path

    import nbformat

    root = Path(__file__).resolve().parents[1]
    release = nbformat.read(root / "release" / "02_ptq_vs_qat" / "ptq_vs_qat.ipynb", as_version=4)
    test_cells = [cell for cell in release.cells
                  if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade")
                  and not cell.metadata.get("nbgrader", {}).get("solution")]
    assert len(test_cells) == 11
    for cell in test_cells:
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        assert not re.search(r"^\s*(def|class)\s+_ref", cell.source, re.M | re.I), grade_id
        assert "_reference" not in cell.source and "_Reference" not in cell.source, grade_id
        assert "### BEGIN HIDDEN TESTS" not in cell.source, grade_id
