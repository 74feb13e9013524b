"""Module 2's hidden tests accept the solution and reject plausible mistakes.

Each entry of WRONG_ANSWERS is a mistake a student could make: the test cell
(visible and hidden checks) must fail on it. Most fail with an
AssertionError from a check; a few crash the way they would for the student
(the third element names that exception), which nbgrader also scores 0.
"""

import pytest

from graded import Answer, SolvedNotebook, Wrong

WRONG_ANSWERS = {
    # Exercise 1: symmetric quantization
    "symmetric: full signed range, scale absmax / 2**(b-1)": Wrong("test_quantize_symmetric", '''
def quantize_symmetric(x, bits):
    scale = x.abs().max().item() / 2 ** (bits - 1)
    if scale == 0:
        return torch.zeros_like(x, dtype=torch.int32), 0.0
    return torch.clamp(torch.round(x / scale), -2 ** (bits - 1), 2 ** (bits - 1) - 1).to(torch.int32), scale
'''),
    "symmetric: rounding before scaling": Wrong("test_quantize_symmetric", '''
def quantize_symmetric(x, bits):
    qmax = 2 ** (bits - 1) - 1
    scale = x.abs().max().item() / qmax
    if scale == 0:
        return torch.zeros_like(x, dtype=torch.int32), 0.0
    return torch.clamp(torch.round(x) / scale, -qmax, qmax).to(torch.int32), scale
'''),
    "symmetric: clamped to [0, qmax]": Wrong("test_quantize_symmetric", '''
def quantize_symmetric(x, bits):
    qmax = 2 ** (bits - 1) - 1
    scale = x.abs().max().item() / qmax
    if scale == 0:
        return torch.zeros_like(x, dtype=torch.int32), 0.0
    return torch.clamp(torch.round(x / scale), 0, qmax).to(torch.int32), scale
'''),
    "symmetric: truncation instead of rounding": Wrong("test_quantize_symmetric", '''
def quantize_symmetric(x, bits):
    qmax = 2 ** (bits - 1) - 1
    scale = x.abs().max().item() / qmax
    if scale == 0:
        return torch.zeros_like(x, dtype=torch.int32), 0.0
    return torch.clamp(x / scale, -qmax, qmax).to(torch.int32), scale
'''),
    "symmetric: all-zero tensor divides by zero": Wrong("test_quantize_symmetric", '''
def quantize_symmetric(x, bits):
    qmax = 2 ** (bits - 1) - 1
    scale = x.abs().max() / qmax
    return torch.clamp(torch.round(x / scale), -qmax, qmax).to(torch.int32), scale.item()
'''),
    "symmetric: always 8 bits": Wrong("test_quantize_symmetric", '''
def quantize_symmetric(x, bits):
    scale = x.abs().max().item() / 127
    if scale == 0:
        return torch.zeros_like(x, dtype=torch.int32), 0.0
    return torch.clamp(torch.round(x / scale), -127, 127).to(torch.int32), scale
'''),
    "symmetric: dequantize returns integers": Wrong("test_quantize_symmetric", '''
def dequantize_symmetric(q, scale):
    return torch.round(q * scale).to(torch.int32)
'''),
    # Exercise 2: asymmetric quantization
    "asymmetric: zero point one too high": Wrong("test_quantize_asymmetric", '''
def asymmetric_params(lo, hi, bits):
    qmax = 2 ** bits - 1
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / qmax
    if scale == 0:
        return 0.0, 0
    return scale, int(min(max(round(-lo / scale) + 1, 0), qmax))
'''),
    "asymmetric: zero point truncated, not rounded": Wrong("test_quantize_asymmetric", '''
def asymmetric_params(lo, hi, bits):
    qmax = 2 ** bits - 1
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / qmax
    if scale == 0:
        return 0.0, 0
    return scale, int(-lo / scale)
'''),
    "asymmetric: range not widened to include zero": Wrong("test_quantize_asymmetric", '''
def asymmetric_params(lo, hi, bits):
    qmax = 2 ** bits - 1
    scale = (hi - lo) / qmax
    if scale == 0:
        return 0.0, 0
    return scale, int(min(max(round(-lo / scale), 0), qmax))
'''),
    "asymmetric: 2**bits steps instead of 2**bits - 1": Wrong("test_quantize_asymmetric", '''
def asymmetric_params(lo, hi, bits):
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / 2 ** bits
    if scale == 0:
        return 0.0, 0
    return scale, int(round(-lo / scale))
'''),
    "asymmetric: clamped to the signed range": Wrong("test_quantize_asymmetric", '''
def quantize_asymmetric(x, bits):
    scale, zero_point = asymmetric_params(x.min().item(), x.max().item(), bits)
    if scale == 0:
        return torch.zeros_like(x, dtype=torch.int32), scale, zero_point
    q = torch.clamp(torch.round(x / scale) + zero_point, -2 ** (bits - 1), 2 ** (bits - 1) - 1)
    return q.to(torch.int32), scale, zero_point
'''),
    "asymmetric: rounding before scaling": Wrong("test_quantize_asymmetric", '''
def quantize_asymmetric(x, bits):
    scale, zero_point = asymmetric_params(x.min().item(), x.max().item(), bits)
    if scale == 0:
        return torch.zeros_like(x, dtype=torch.int32), scale, zero_point
    q = torch.clamp(torch.round(x) / scale + zero_point, 0, 2 ** bits - 1)
    return q.to(torch.int32), scale, zero_point
'''),
    "asymmetric: dequantize forgets the zero point": Wrong("test_quantize_asymmetric", '''
def dequantize_asymmetric(q, scale, zero_point):
    return q.to(torch.float32) * scale
'''),
    "asymmetric: zero range divides by zero": Wrong("test_quantize_asymmetric", '''
def asymmetric_params(lo, hi, bits):
    qmax = 2 ** bits - 1
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / qmax
    return scale, int(min(max(round(-lo / scale), 0), qmax))
''', error=ZeroDivisionError),
    "asymmetric: zero point as a tensor": Wrong("test_quantize_asymmetric", '''
def asymmetric_params(lo, hi, bits):
    qmax = 2 ** bits - 1
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = (hi - lo) / qmax
    if scale == 0:
        return 0.0, 0
    return scale, torch.tensor(-lo / scale).round().clamp(0, qmax).to(torch.int32)
'''),
    # Exercise 3: error
    "error: root mean square instead of mean square": Wrong("test_quantization_error", '''
def quantization_error(x, x_hat):
    return ((x - x_hat) ** 2).mean().sqrt().item(), (x - x_hat).abs().max().item()
'''),
    "error: mean absolute error instead of max": Wrong("test_quantization_error", '''
def quantization_error(x, x_hat):
    return ((x - x_hat) ** 2).mean().item(), (x - x_hat).abs().mean().item()
'''),
    "error: max of the signed error": Wrong("test_quantization_error", '''
def quantization_error(x, x_hat):
    return ((x - x_hat) ** 2).mean().item(), (x - x_hat).max().item()
'''),
    # Exercise 4: per-channel
    "per-channel: one scale per column": Wrong("test_quantize_per_channel", '''
def quantize_per_channel(w, bits):
    qmax = 2 ** (bits - 1) - 1
    scales = w.abs().amax(dim=0, keepdim=True) / qmax
    safe = torch.where(scales > 0, scales, torch.ones_like(scales))
    return torch.clamp(torch.round(w / safe), -qmax, qmax).to(torch.int32), scales
'''),
    "per-channel: the per-tensor scale repeated": Wrong("test_quantize_per_channel", '''
def quantize_per_channel(w, bits):
    qmax = 2 ** (bits - 1) - 1
    scales = torch.full((w.shape[0], 1), w.abs().max().item() / qmax)
    return torch.clamp(torch.round(w / scales), -qmax, qmax).to(torch.int32), scales
'''),
    "per-channel: zero row divides by zero": Wrong("test_quantize_per_channel", '''
def quantize_per_channel(w, bits):
    qmax = 2 ** (bits - 1) - 1
    scales = w.abs().amax(dim=1, keepdim=True) / qmax
    return torch.clamp(torch.round(w / scales), -qmax, qmax).to(torch.int32), scales
'''),
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
    "per-group: groups taken down the columns": Wrong("test_quantize_per_group", '''
def quantize_per_group(w, bits, group_size):
    q, scales = quantize_per_group_rows(w.T, bits, group_size)
    return q.T.contiguous(), scales.T.contiguous()


def quantize_per_group_rows(w, bits, group_size):
    rows, cols = w.shape
    n_groups = -(-cols // group_size)
    q = torch.empty(rows, cols, dtype=torch.int32)
    scales = torch.empty(rows, n_groups)
    for g in range(n_groups):
        q[:, g * group_size:(g + 1) * group_size], s = quantize_per_channel(w[:, g * group_size:(g + 1) * group_size], bits)
        scales[:, g] = s[:, 0]
    return q, scales
'''),
    "per-group: dequantize repeats scales in the wrong order": Wrong("test_quantize_per_group", '''
def dequantize_per_group(q, scales, group_size):
    expanded = scales.repeat(1, group_size)[:, : q.shape[1]]
    return q.to(torch.float32) * expanded
'''),
    # Exercise 6: calibration
    "calibration: the same percentile for both ends": Wrong("test_calibrate_range", '''
def calibrate_range(activations, method="minmax", percentile=99.9):
    values = activations.flatten().float()
    if method == "minmax":
        return values.min().item(), values.max().item()
    if method == "percentile":
        return torch.quantile(values, 1 - percentile / 100).item(), torch.quantile(values, 1 - percentile / 100).item()
    raise ValueError(method)
'''),
    "calibration: symmetric range from the percentile of |x|": Wrong("test_calibrate_range", '''
def calibrate_range(activations, method="minmax", percentile=99.9):
    values = activations.flatten().float()
    if method == "minmax":
        return values.min().item(), values.max().item()
    if method == "percentile":
        hi = torch.quantile(values.abs(), percentile / 100).item()
        return -hi, hi
    raise ValueError(method)
'''),
    "calibration: unknown method falls back to min-max": Wrong("test_calibrate_range", '''
def calibrate_range(activations, method="minmax", percentile=99.9):
    values = activations.flatten().float()
    if method == "percentile":
        return (torch.quantile(values, (100 - percentile) / 100).item(),
                torch.quantile(values, percentile / 100).item())
    return values.min().item(), values.max().item()
'''),
    "calibration: percentile of the first row only": Wrong("test_calibrate_range", '''
def calibrate_range(activations, method="minmax", percentile=99.9):
    values = activations.reshape(activations.shape[0], -1)[0].float() if activations.dim() > 1 else activations
    if method == "minmax":
        return activations.min().item(), activations.max().item()
    if method == "percentile":
        return (torch.quantile(values, (100 - percentile) / 100).item(),
                torch.quantile(values, percentile / 100).item())
    raise ValueError(method)
'''),
    # Exercise 7: the straight-through estimator
    "STE passes the gradient everywhere": Wrong("test_fake_quantize", '''
class FakeQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):
        scale = torch.as_tensor(scale, dtype=x.dtype)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        return (torch.clamp(torch.round(x / safe) + zero_point, qmin, qmax) - zero_point) * scale

    @staticmethod
    def backward(ctx, grad_output):
        return grad_output, None, None, None, None
'''),
    "STE with round's true derivative (zero)": Wrong("test_fake_quantize", '''
class FakeQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):
        scale = torch.as_tensor(scale, dtype=x.dtype)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        return (torch.clamp(torch.round(x / safe) + zero_point, qmin, qmax) - zero_point) * scale

    @staticmethod
    def backward(ctx, grad_output):
        return torch.zeros_like(grad_output), None, None, None, None
'''),
    "STE mask computed from the clamped code": Wrong("test_fake_quantize", '''
class FakeQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):
        scale = torch.as_tensor(scale, dtype=x.dtype)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        q = torch.clamp(torch.round(x / safe) + zero_point, qmin, qmax)
        ctx.save_for_backward((q >= qmin) & (q <= qmax))
        return (q - zero_point) * scale

    @staticmethod
    def backward(ctx, grad_output):
        (inside,) = ctx.saved_tensors
        return grad_output * inside, None, None, None, None
'''),
    "STE mask with the ends excluded": Wrong("test_fake_quantize", '''
class FakeQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):
        scale = torch.as_tensor(scale, dtype=x.dtype)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        unclamped = torch.round(x / safe) + zero_point
        ctx.save_for_backward((unclamped > qmin) & (unclamped < qmax))
        return (torch.clamp(unclamped, qmin, qmax) - zero_point) * scale

    @staticmethod
    def backward(ctx, grad_output):
        (inside,) = ctx.saved_tensors
        return grad_output * inside, None, None, None, None
'''),
    "fake quantization forgets the zero point when dequantizing": Wrong("test_fake_quantize", '''
class FakeQuantize(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, scale, zero_point, qmin, qmax):
        scale = torch.as_tensor(scale, dtype=x.dtype)
        safe = torch.where(scale > 0, scale, torch.ones_like(scale))
        unclamped = torch.round(x / safe) + zero_point
        ctx.save_for_backward((unclamped >= qmin) & (unclamped <= qmax))
        return torch.clamp(unclamped, qmin, qmax) * scale

    @staticmethod
    def backward(ctx, grad_output):
        (inside,) = ctx.saved_tensors
        return grad_output * inside, None, None, None, None
'''),
    # Exercise 8: the quantized linear layer
    "quant_linear: per-tensor weight scale": Wrong("test_quant_linear", '''
def quant_linear(x, weight, bias, bits, act_scale, act_zero_point):
    x_q = FakeQuantize.apply(x, act_scale, act_zero_point, 0, 2 ** bits - 1)
    qmax = 2 ** (bits - 1) - 1
    weight_q = FakeQuantize.apply(weight, weight.detach().abs().max() / qmax, 0, -qmax, qmax)
    return F.linear(x_q, weight_q, bias)
'''),
    "quant_linear: activations left in float": Wrong("test_quant_linear", '''
def quant_linear(x, weight, bias, bits, act_scale, act_zero_point):
    qmax = 2 ** (bits - 1) - 1
    _, weight_scales = quantize_per_channel(weight.detach(), bits)
    return F.linear(x, FakeQuantize.apply(weight, weight_scales, 0, -qmax, qmax), bias)
'''),
    "quant_linear: weights rounded without the STE": Wrong("test_quant_linear", '''
def quant_linear(x, weight, bias, bits, act_scale, act_zero_point):
    x_q = FakeQuantize.apply(x, act_scale, act_zero_point, 0, 2 ** bits - 1)
    qmax = 2 ** (bits - 1) - 1
    _, weight_scales = quantize_per_channel(weight.detach(), bits)
    weight_q = torch.clamp(torch.round(weight / weight_scales), -qmax, qmax) * weight_scales
    return F.linear(x_q, weight_q, bias)
'''),
    "quant_linear: activations on the signed grid": Wrong("test_quant_linear", '''
def quant_linear(x, weight, bias, bits, act_scale, act_zero_point):
    x_q = FakeQuantize.apply(x, act_scale, act_zero_point, -2 ** (bits - 1), 2 ** (bits - 1) - 1)
    qmax = 2 ** (bits - 1) - 1
    _, weight_scales = quantize_per_channel(weight.detach(), bits)
    return F.linear(x_q, FakeQuantize.apply(weight, weight_scales, 0, -qmax, qmax), bias)
'''),
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
    "QAT: min-max calibration": Wrong("test_qat", '''
def qat(model, bits, calib_x, x, y, epochs=10, lr=1e-3, seed=0):
    qmodel = ptq(model, bits, calib_x, "minmax")
    return train(qmodel, x, y, epochs=epochs, lr=lr, seed=seed)
'''),
}

# Correct alternatives to the solution, which every test cell must accept.
CORRECT_ANSWERS = {
}


@pytest.fixture(scope="module")
def notebook():
    return SolvedNotebook("02_ptq_vs_qat")


def test_solution_passes_every_test_cell(notebook):
    assert len(notebook.test_ids()) >= 7
    notebook.run_all_tests()


@pytest.mark.parametrize("mistake", WRONG_ANSWERS)
def test_hidden_tests_reject(notebook, mistake):
    notebook.assert_rejects(WRONG_ANSWERS[mistake])


@pytest.mark.parametrize("alternative", CORRECT_ANSWERS)
def test_correct_alternatives_pass(notebook, alternative):
    notebook.assert_accepts(CORRECT_ANSWERS[alternative])


def test_fp32_model_untouched_by_the_wrong_answers(notebook):
    """The wrong answers run on a shallow copy of the namespace; none may change the shared model."""
    import torch

    model, saved = notebook.namespace["model"], notebook.namespace["fp32_state"]
    assert all(torch.equal(value, saved[name]) for name, value in model.state_dict().items())
