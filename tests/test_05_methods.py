"""Module 5's checks accept the solution and correct alternatives, reject
plausible mistakes (in the visible check too, when they break a rule the
exercise states), and a mistake in an earlier helper costs only its own
exercise.

The notebook runs offline on the packaged all-MiniLM-L6-v2: one real layer
(encoder.layer.1.intermediate.dense) with calibration inputs captured by a
hook. The visible checks compare GPTQ and AWQ with the course's results
stored in the notebook for a made-up layer at non-default settings and for
the real layer; the hidden tests run the course's reference implementations
on other layers and seeds. The GGUF encoders are compared byte for byte with
the gguf package (llama.cpp's encoders) on blocks built to hit every rule;
the file sizes with files written by GGUFWriter and read back by GGUFReader."""

import re

import nbformat
import pytest

from graded import ROOT, Answer, SolvedNotebook, Wrong, edited, grade_id

pytestmark = pytest.mark.slow

_SOURCE = nbformat.read(next((ROOT / "source" / "05_methods").glob("*.ipynb")), as_version=4)
_SOLUTIONS = {
    grade_id(c): re.sub(r"^[ \t]*### (BEGIN|END) SOLUTION[^\n]*\n?", "", c.source, flags=re.M).rstrip("\n") + "\n"
    for c in _SOURCE.cells if c.cell_type == "code" and grade_id(c)
}


# The course's own answers, read from the notebook, are the bases: an answer that is not written
# out below is one of them with the edits that make it wrong (or another correct way to write it).
RTN = _SOLUTIONS["rtn"]
GPTQ = _SOLUTIONS["gptq"]
AWQ = _SOLUTIONS["awq"]
ENCODERS = _SOLUTIONS["gguf_encoders"]
Q4_K_M_TYPES = _SOLUTIONS["q4_k_m"]
GGUF_SIZE = _SOLUTIONS["gguf_size"]


WRONG_ANSWERS = {
    # Exercise 1: round-to-nearest with groups
    "zero point rounded half up": Wrong("test_rtn", edited(RTN, ("np.round(-lo / scale)", "np.floor(-lo / scale + 0.5)"))),
    "0 not forced into the range (lo = min(w))": Wrong("test_rtn", edited(RTN,
        ("lo = np.minimum(w.min(axis=1, keepdims=True), 0.0)", "lo = w.min(axis=1, keepdims=True)"),
        ("hi = np.maximum(w.max(axis=1, keepdims=True), 0.0)", "hi = w.max(axis=1, keepdims=True)"),
        ("zero_rows = (lo == 0) & (hi == 0)", "zero_rows = lo == hi"))),
    "all-zero row not handled (scale 0)": Wrong("test_rtn", edited(RTN,
        ("lo, hi = np.where(zero_rows, -1.0, lo), np.where(zero_rows, 1.0, hi)", "pass"))),
    "bits ignored (always 15 steps)": Wrong("test_rtn", edited(RTN, ("scale = (hi - lo) / (2**bits - 1)", "scale = (hi - lo) / 15"))),
    "symmetric absmax instead of a zero point": Wrong("test_rtn", edited(RTN,
        ("scale = (hi - lo) / (2**bits - 1)\n    return scale, np.round(-lo / scale)",
         "scale = np.maximum(-lo, hi) / (2**(bits - 1) - 1)\n    return scale, np.full_like(scale, 2**(bits - 1))"))),
    "group_size ignored (one group per row)": Wrong("test_rtn", edited(RTN,
        ("for j in range(0, W.shape[1], group_size):", "for j in range(0, W.shape[1], W.shape[1]):"),
        ("group = W[:, j:j + group_size]", "group = W"),
        ("W_hat[:, j:j + group_size] = fake_quantize", "W_hat[:, :] = fake_quantize"))),
    "one scale for the whole group (all rows together)": Wrong("test_rtn", edited(RTN,
        ("lo = np.minimum(w.min(axis=1, keepdims=True), 0.0)", "lo = np.minimum(w.min(), 0.0) + 0 * w[:, :1]"),
        ("hi = np.maximum(w.max(axis=1, keepdims=True), 0.0)", "hi = np.maximum(w.max(), 0.0) + 0 * w[:, :1]"))),
    "the last, shorter group left out": Wrong("test_rtn", edited(RTN,
        ("W_hat = np.empty_like(W)", "W_hat = W.copy()"),
        ("for j in range(0, W.shape[1], group_size):", "for j in range(0, W.shape[1] - W.shape[1] % group_size, group_size):"))),
    "scale and zero as 1-D arrays": Wrong("test_rtn", edited(RTN,
        ("return scale, np.round(-lo / scale)", "return scale[:, 0], np.round(-lo / scale)[:, 0]"),
        ("W_hat[:, j:j + group_size] = fake_quantize(group, scale, zero, bits)",
         "W_hat[:, j:j + group_size] = fake_quantize(group, scale[:, None], zero[:, None], bits)"))),
    "codes returned instead of dequantized weights": Wrong("test_rtn", edited(RTN,
        ("W_hat[:, j:j + group_size] = fake_quantize(group, scale, zero, bits)",
         "W_hat[:, j:j + group_size] = np.clip(np.round(group / scale) + zero, 0, 2**bits - 1)"))),
    "W changed in place": Wrong("test_rtn", edited(RTN,
        ("W = np.asarray(W, dtype=np.float64)\n    W_hat = np.empty_like(W)", "W_hat = W"))),
    # Exercise 2: GPTQ
    "no error update (round-to-nearest)": Wrong("test_gptq", edited(GPTQ,
        ("W1[:, i:] -= np.outer(err, U[i1 + i, i1 + i:i2])", "pass"), ("W[:, i2:] -= Err1 @ U[i1:i2, i2:]", "pass"))),
    "lazy batch: later blocks never updated": Wrong("test_gptq", edited(GPTQ, ("W[:, i2:] -= Err1 @ U[i1:i2, i2:]", "pass"))),
    "H^-1 itself instead of its Cholesky factor": Wrong("test_gptq", edited(GPTQ,
        ("U = np.linalg.cholesky(np.linalg.inv(H)).T", "U = np.linalg.inv(H)"))),
    "lower Cholesky factor used as if upper": Wrong("test_gptq", edited(GPTQ,
        ("U = np.linalg.cholesky(np.linalg.inv(H)).T", "U = np.linalg.cholesky(np.linalg.inv(H))"))),
    "percdamp ignored (always 1 %)": Wrong("test_gptq", edited(GPTQ, ("H = H + percdamp * np.mean", "H = H + 0.01 * np.mean"))),
    "no damping": Wrong("test_gptq", edited(GPTQ, ("H = H + percdamp * np.mean(np.diag(H)) * np.eye(columns)", "H = H + 1e-9 * np.eye(columns)")),
                        error=Exception),  # H of fewer tokens than columns is singular: Cholesky fails
    "act-order ascending": Wrong("test_gptq", edited(GPTQ, ("perm = np.argsort(-np.diag(H), kind=\"stable\")", "perm = np.argsort(np.diag(H), kind=\"stable\")"))),
    "act-order columns not put back": Wrong("test_gptq", edited(GPTQ, ("Q = Q[:, np.argsort(perm)]", "pass"))),
    "act_order ignored": Wrong("test_gptq", edited(GPTQ, ("if act_order:\n        perm", "if False:\n        perm"),
                                                 ("if act_order:\n        Q =", "if False:\n        Q ="))),
    "scales fitted once on the original weights": Wrong("test_gptq", edited(GPTQ,
        ("Q = np.zeros_like(W)", "Q = np.zeros_like(W)\n    W0 = W.copy()"),
        ("scale_zero(W[:, i1 + i:i1 + i + group_size], bits)", "scale_zero(W0[:, i1 + i:i1 + i + group_size], bits)"))),
    "error not divided by U[j, j]": Wrong("test_gptq", edited(GPTQ, ("err = (w - q) / U[i1 + i, i1 + i]", "err = w - q"))),
    "H without the calibration inputs (identity)": Wrong("test_gptq", edited(GPTQ, ("H = 2 * X.T @ X / X.shape[0]", "H = np.eye(columns)"))),
    "W changed in place (GPTQ)": Wrong("test_gptq", edited(GPTQ, ("W = np.array(W, dtype=np.float64)", "W = np.asarray(W)"))),
    # Exercise 3: AWQ
    "s_X from max |x|": Wrong("test_awq", edited(AWQ, ("s_x = np.abs(X).mean(axis=0)", "s_x = np.abs(X).max(axis=0)"))),
    "s_X from the weights": Wrong("test_awq", edited(AWQ, ("s_x = np.abs(X).mean(axis=0)", "s_x = np.abs(W).mean(axis=0)"))),
    "s_X from the signed mean": Wrong("test_awq", edited(AWQ, ("s_x = np.abs(X).mean(axis=0)", "s_x = np.abs(X.mean(axis=0))"))),
    "loss on the weights, not the output": Wrong("test_awq", edited(AWQ,
        ("loss = float(np.mean((Y - X @ W_q.T) ** 2))", "loss = float(np.mean((W - W_q) ** 2))"))),
    "scales not normalised": Wrong("test_awq", edited(AWQ, ("s = s / np.sqrt(s.max() * s.min())", "pass"))),
    "1e-4 floor missing": Wrong("test_awq", edited(AWQ, ("s = np.maximum(s_x**a, 1e-4)", "s = s_x**a"))),
    "weights not divided back by s": Wrong("test_awq", edited(AWQ, ("W_q = rtn_quantize(W * s, bits, group_size) / s", "W_q = rtn_quantize(W * s, bits, group_size)"))),
    "scales on the output channels (rows)": Wrong("test_awq", edited(AWQ,
        ("s_x = np.abs(X).mean(axis=0)", "s_x = np.abs(X @ W.T).mean(axis=0)"),
        ("W_q = rtn_quantize(W * s, bits, group_size) / s", "W_q = rtn_quantize(W * s[:, None], bits, group_size) / s[:, None]"))),
    "salient channels: floor instead of ceil": Wrong("test_awq", edited(AWQ, ("k = math.ceil(fraction * magnitude.size)", "k = int(fraction * magnitude.size)"))),
    "salient channels: smallest first": Wrong("test_awq", edited(AWQ, ("np.argsort(-magnitude, kind=\"stable\")[:k]", "np.argsort(-magnitude, kind=\"stable\")[:k][::-1]"))),
    "salient channels by max |x|": Wrong("test_awq", edited(AWQ, ("magnitude = np.abs(np.asarray(X, dtype=np.float64)).mean(axis=0)",
                                                           "magnitude = np.abs(np.asarray(X, dtype=np.float64)).max(axis=0)"))),
    "exponent as the grid index": Wrong("test_awq", edited(AWQ, ("best_loss, best_a, best_s = loss, a, s", "best_loss, best_a, best_s = loss, i, s"))),
    "the last a on a tie (<=)": Wrong("test_awq", edited(AWQ, ("if loss < best_loss:", "if loss <= best_loss:"))),
    "grid from 1 / n_grid (a = 0 left out)": Wrong("test_awq", edited(AWQ, ("a = i / n_grid", "a = (i + 1) / n_grid"))),
    # Exercise 4: GGUF encoders
    "Q8_0 rounds half to even (np.round)": Wrong("test_gguf_encoders", edited(ENCODERS,
        ("q = np.sign(v) * (np.floor(a) + np.floor(2 * (a - np.floor(a))))", "q = np.round(v)"))),
    "Q8_0 rounds with floor(|v| + 0.5) in float32": Wrong("test_gguf_encoders", edited(ENCODERS,
        ("q = np.sign(v) * (np.floor(a) + np.floor(2 * (a - np.floor(a))))", "q = np.sign(v) * np.floor(a + np.float32(0.5))"))),
    "Q8_0 truncates": Wrong("test_gguf_encoders", edited(ENCODERS,
        ("q = np.sign(v) * (np.floor(a) + np.floor(2 * (a - np.floor(a))))", "q = np.trunc(v)"))),
    "Q8_0 scale as float32 (4 bytes)": Wrong("test_gguf_encoders", edited(ENCODERS,
        ("np.concatenate([d.astype(np.float16).view(np.uint8), q.astype(np.int8)", "np.concatenate([d.astype(np.float32).view(np.uint8), q.astype(np.int8)"))),
    "Q8_0 uses the float16-rounded d": Wrong("test_gguf_encoders", edited(ENCODERS,
        ("d = np.abs(blocks).max(axis=1, keepdims=True) / np.float32(127)",
         "d = (np.abs(blocks).max(axis=1, keepdims=True) / np.float32(127)).astype(np.float16).astype(np.float32)"))),
    "Q4_0 scale from amax (sign lost)": Wrong("test_gguf_encoders", edited(ENCODERS,
        ("d = np.take_along_axis(blocks, first_largest, axis=1) / np.float32(-8)", "d = np.abs(blocks).max(axis=1, keepdims=True) / np.float32(-8)"))),
    "Q4_0 rounds instead of trunc(x + 8.5)": Wrong("test_gguf_encoders", edited(ENCODERS,
        ("q = np.minimum(15, np.trunc(blocks * inv + np.float32(8.5))).astype(np.uint8)",
         "q = np.clip(np.round(blocks * inv) + 8, 0, 15).astype(np.uint8)"))),
    "Q4_0 neighbours share a byte": Wrong("test_gguf_encoders", edited(ENCODERS, ("packed = q[:, :16] | (q[:, 16:] << 4)", "packed = q[:, 0::2] | (q[:, 1::2] << 4)"))),
    "Q4_0 first half in the high nibble": Wrong("test_gguf_encoders", edited(ENCODERS, ("packed = q[:, :16] | (q[:, 16:] << 4)", "packed = (q[:, :16] << 4) | q[:, 16:]"))),
    "Q4_0 last of equal magnitudes": Wrong("test_gguf_encoders", edited(ENCODERS,
        ("first_largest = np.abs(blocks).argmax(axis=1)[:, None]", "first_largest = 31 - np.abs(blocks)[:, ::-1].argmax(axis=1)[:, None]"))),
    "Q4_0 no clamp at 15": Wrong("test_gguf_encoders", edited(ENCODERS, ("q = np.minimum(15, np.trunc(", "q = (np.trunc("))),
    "no ValueError for a short block": Wrong("test_gguf_encoders", edited(ENCODERS,
        ("if x.size % 32:\n        raise ValueError(f\"Q8_0", "if False:\n        raise ValueError(f\"Q8_0"),
        ("blocks = x.reshape(-1, 32)\n    d = np.abs", "blocks = np.resize(x, (-(-x.size // 32), 32))\n    d = np.abs"))),
    "a uint8 array instead of bytes": Wrong("test_gguf_encoders", edited(ENCODERS,
        ("q.astype(np.int8).view(np.uint8)], axis=1).tobytes()", "q.astype(np.int8).view(np.uint8)], axis=1).ravel()"))),
    # Exercise 5: Q4_K_M types
    "use_more_bits with float division": Wrong("test_q4_k_m_types", edited(Q4_K_M_TYPES,
        ("return i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2", "return i < n / 8 or i >= 7 * n / 8 or (i - n / 8) % 3 == 2"))),
    "tied token_embd left in Q4_K": Wrong("test_q4_k_m_types", edited(Q4_K_M_TYPES,
        ('if name == "output.weight" or (name == "token_embd.weight" and "output.weight" not in tensors):', 'if name == "output.weight":'))),
    "token_embd always Q6_K": Wrong("test_q4_k_m_types", edited(Q4_K_M_TYPES,
        ('(name == "token_embd.weight" and "output.weight" not in tensors)', '(name == "token_embd.weight")'))),
    "no fall-back for rows not a multiple of 256": Wrong("test_q4_k_m_types", edited(Q4_K_M_TYPES,
        ('kind = {"Q4_K": "Q5_0", "Q6_K": "Q8_0"}[kind]', "pass"))),
    "one fall-back for every type (Q5_0)": Wrong("test_q4_k_m_types", edited(Q4_K_M_TYPES,
        ('kind = {"Q4_K": "Q5_0", "Q6_K": "Q8_0"}[kind]', 'kind = "Q5_0"'))),
    "fall-back decided on the first dimension": Wrong("test_q4_k_m_types", edited(Q4_K_M_TYPES, ("if shape[-1] % 256:", "if shape[0] % 256:"))),
    "norms quantized too": Wrong("test_q4_k_m_types", edited(Q4_K_M_TYPES, ('types[name] = "F32"\n            continue', "pass"))),
    "attn_v and ffn_down always Q6_K": Wrong("test_q4_k_m_types", edited(Q4_K_M_TYPES, ("if use_more_bits(i, n_v if", "if True or use_more_bits(i, n_v if"))),
    "n counted over every tensor of the blocks": Wrong("test_q4_k_m_types", edited(Q4_K_M_TYPES,
        ('n_v = sum("attn_v.weight" in name for name in tensors)', 'n_v = sum(name.startswith("blk.") for name in tensors)'),
        ('n_down = sum("ffn_down" in name for name in tensors)', "n_down = n_v"))),
    # Exercise 6: the file size
    "tensors not padded": Wrong("test_gguf_size", edited(GGUF_SIZE, ("total += -(-nbytes // alignment) * alignment", "total += nbytes"))),
    "only the total padded": Wrong("test_gguf_size", edited(GGUF_SIZE,
        ("total += -(-nbytes // alignment) * alignment\n    return total", "total += nbytes\n    return -(-total // alignment) * alignment"))),
    "alignment ignored (always 32)": Wrong("test_gguf_size", edited(GGUF_SIZE, ("total += -(-nbytes // alignment) * alignment", "total += -(-nbytes // 32) * 32"))),
    "a float number of bytes": Wrong("test_gguf_size", edited(GGUF_SIZE, ("nbytes = math.prod(shape) // weights * size", "nbytes = math.prod(shape) / weights * size"),
                                                            ("total += -(-nbytes // alignment) * alignment", "total += math.ceil(nbytes / alignment) * alignment * 1.0"))),
    "bits per weight with the padding": Wrong("test_gguf_size", edited(GGUF_SIZE,
        ("return 8 * nbytes / sum(math.prod(shape) for shape in tensors.values())",
         "return 8 * gguf_data_bytes(tensors, types) / sum(math.prod(shape) for shape in tensors.values())"))),
    "bits per weight: the base type's 4.5": Wrong("test_gguf_size", edited(GGUF_SIZE,
        ("return 8 * nbytes / sum(math.prod(shape) for shape in tensors.values())", "return 4.5"))),
    "bits per weight: bytes, not bits": Wrong("test_gguf_size", edited(GGUF_SIZE,
        ("return 8 * nbytes / sum(", "return nbytes / sum("))),
    # Exercise 7: scenarios
    "quiz: GPTQ with vLLM": Wrong("test_scenarios", 'q3_answer = "A"', visible=False),
    "quiz: FP16": Wrong("test_scenarios", 'q3_answer = "D"', visible=False),
    "scenario a: GGUF": Wrong("test_scenarios", 'scenario_a = "GGUF"', visible=False),
    "scenario b: AWQ": Wrong("test_scenarios", 'scenario_b = "AWQ"', visible=False),
    "quiz: not a letter": Wrong("test_scenarios", 'q3_answer = "GGUF"'),
    "scenario: not one of METHODS": Wrong("test_scenarios", 'scenario_a = "QLoRA"'),
    "scenario: a number": Wrong("test_scenarios", "scenario_b = 2"),
}

CORRECT_ANSWERS = {
    # Exercise 1
    "rtn in torch": Answer("test_rtn", '''
def scale_zero(w, bits=4):
    w = torch.as_tensor(np.asarray(w, dtype=np.float64))
    lo = torch.clamp(w.min(dim=1, keepdim=True).values, max=0.0)
    hi = torch.clamp(w.max(dim=1, keepdim=True).values, min=0.0)
    dead = (lo == 0) & (hi == 0)
    lo[dead], hi[dead] = -1.0, 1.0
    scale = (hi - lo) / (2**bits - 1)
    return scale.numpy(), torch.round(-lo / scale).numpy()


def rtn_quantize(W, bits=4, group_size=128):
    W = np.asarray(W, dtype=np.float64)
    return np.concatenate([fake_quantize(W[:, j:j + group_size], *scale_zero(W[:, j:j + group_size], bits), bits)
                           for j in range(0, W.shape[1], group_size)], axis=1)
'''),
    "rtn with np.rint and explicit zero rows": Answer("test_rtn", '''
def scale_zero(w, bits=4):
    w = np.array(w, dtype=np.float64)
    lo = np.min(np.concatenate([w, np.zeros((w.shape[0], 1))], axis=1), axis=1, keepdims=True)
    hi = np.max(np.concatenate([w, np.zeros((w.shape[0], 1))], axis=1), axis=1, keepdims=True)
    for r in range(w.shape[0]):
        if lo[r, 0] == 0 and hi[r, 0] == 0:
            lo[r, 0], hi[r, 0] = -1.0, 1.0
    scale = (hi - lo) / (2**bits - 1)
    return scale, np.rint(-lo / scale)


def rtn_quantize(W, bits=4, group_size=128):
    out = np.zeros(np.shape(W))
    for j in range(0, out.shape[1], group_size):
        g = np.asarray(W, dtype=np.float64)[:, j:j + group_size]
        s, z = scale_zero(g, bits)
        out[:, j:j + g.shape[1]] = s * (np.clip(np.round(g / s) + z, 0, 2**bits - 1) - z)
    return out
'''),
    # Exercise 2
    "GPTQ one column at a time (no lazy batches)": Answer("test_gptq", '''
def gptq_quantize(W, X, bits=4, group_size=128, blocksize=128, percdamp=0.01, act_order=False):
    W = np.array(W, dtype=np.float64)
    H = 2 * X.T @ X / len(X)
    order = np.argsort(-np.diag(H), kind="stable") if act_order else np.arange(W.shape[1])
    W, H = W[:, order], H[np.ix_(order, order)]
    H[np.diag_indices_from(H)] += percdamp * np.diag(H).mean()
    U = np.linalg.cholesky(np.linalg.inv(H)).T
    Q = np.empty_like(W)
    for j in range(W.shape[1]):
        if j % group_size == 0:
            s, z = scale_zero(W[:, j:j + group_size], bits)
        Q[:, j] = fake_quantize(W[:, j:j + 1], s, z, bits)[:, 0]
        W[:, j:] -= np.outer((W[:, j] - Q[:, j]) / U[j, j], U[j, j:])
    out = np.empty_like(Q)
    out[:, order] = Q
    return out
'''),
    "GPTQ in torch float64, cholesky_inverse as in gptq.py": Answer("test_gptq", '''
def gptq_quantize(W, X, bits=4, group_size=128, blocksize=128, percdamp=0.01, act_order=False):
    W = torch.tensor(W, dtype=torch.float64)
    X = torch.as_tensor(X, dtype=torch.float64)
    H = 2 / X.shape[0] * X.T @ X
    if act_order:
        perm = torch.as_tensor(np.argsort(-np.diag(H.numpy()), kind="stable"))
        W, H = W[:, perm], H[perm][:, perm]
    H += percdamp * torch.mean(torch.diag(H)) * torch.eye(H.shape[0], dtype=H.dtype)
    Hinv = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(H)), upper=True)
    Q = torch.zeros_like(W)
    for i1 in range(0, W.shape[1], blocksize):
        i2 = min(i1 + blocksize, W.shape[1])
        W1, Err1, Hinv1 = W[:, i1:i2].clone(), torch.zeros_like(W[:, i1:i2]), Hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            if (i1 + i) % group_size == 0:
                s, z = (torch.as_tensor(a) for a in scale_zero(W[:, i1 + i:i1 + i + group_size].numpy(), bits))
            w = W1[:, i]
            q = (s * (torch.clamp(torch.round(w.unsqueeze(1) / s) + z, 0, 2**bits - 1) - z)).flatten()
            Q[:, i1 + i] = q
            err = (w - q) / Hinv1[i, i]
            W1[:, i:] -= err.unsqueeze(1) @ Hinv1[i, i:].unsqueeze(0)
            Err1[:, i] = err
        W[:, i2:] -= Err1 @ Hinv[i1:i2, i2:]
    if act_order:
        Q = Q[:, torch.argsort(perm)]
    return Q.numpy()
'''),
    "GPTQ dividing by U[j, j] in the updates instead": Answer("test_gptq", edited(GPTQ,
        ("err = (w - q) / U[i1 + i, i1 + i]", "err = (w - q)"),
        ("W1[:, i:] -= np.outer(err, U[i1 + i, i1 + i:i2])", "W1[:, i:] -= np.outer(err, U[i1 + i, i1 + i:i2] / U[i1 + i, i1 + i])"),
        ("W[:, i2:] -= Err1 @ U[i1:i2, i2:]", "W[:, i2:] -= Err1 @ (U[i1:i2, i2:] / np.diag(U)[i1:i2, None])"))),
    "GPTQ in float32 (within the stated tolerance)": Answer("test_gptq", edited(GPTQ,
        ("W = np.array(W, dtype=np.float64)\n    X = np.asarray(X, dtype=np.float64)",
         "W = np.array(W, dtype=np.float32)\n    X = np.asarray(X, dtype=np.float32)"),
        ("U = np.linalg.cholesky(np.linalg.inv(H)).T", "U = np.linalg.cholesky(np.linalg.inv(H.astype(np.float64))).T.astype(np.float32)"),
        ("return Q\n", "return Q.astype(np.float64)\n"))),
    # Exercise 3
    "AWQ as llm-awq writes it: X / s against Q(W * s)": Answer("test_awq", '''
def salient_channels(X, fraction=0.01):
    m = np.mean(np.abs(X), axis=0)
    return np.argsort(m)[::-1][:math.ceil(fraction * len(m))]


def awq_search(W, X, bits=4, group_size=128, n_grid=20):
    x_max = np.abs(X).reshape(-1, X.shape[-1]).mean(0)
    org_out = X @ W.T
    best_error, best_ratio, best_scales = float("inf"), -1, None
    for ratio in range(n_grid):
        ratio = ratio * 1 / n_grid
        scales = np.clip(x_max ** ratio, 1e-4, None)
        scales = scales / np.sqrt(scales.max() * scales.min())
        out = (X / scales) @ rtn_quantize(W * scales.reshape(1, -1), bits, group_size).T
        loss = ((org_out - out) ** 2).mean()
        if loss < best_error:
            best_error, best_ratio, best_scales = loss, ratio, scales
    return float(best_ratio), best_scales
'''),
    "AWQ in torch": Answer("test_awq", '''
def salient_channels(X, fraction=0.01):
    m = torch.as_tensor(X).abs().mean(0)
    return torch.topk(m, math.ceil(fraction * m.numel())).indices.numpy()


def awq_search(W, X, bits=4, group_size=128, n_grid=20):
    Wt, Xt = torch.as_tensor(W, dtype=torch.float64), torch.as_tensor(X, dtype=torch.float64)
    s_x = Xt.abs().mean(0)
    losses = []
    for i in range(n_grid):
        s = (s_x ** (i / n_grid)).clamp(min=1e-4)
        s = s / (s.max() * s.min()).sqrt()
        Wq = torch.as_tensor(rtn_quantize((Wt * s).numpy(), bits, group_size)) / s
        losses.append(((Xt @ Wt.T - Xt @ Wq.T) ** 2).mean().item())
    i = int(np.argmin(losses))
    s = (s_x ** (i / n_grid)).clamp(min=1e-4)
    return i / n_grid, (s / (s.max() * s.min()).sqrt()).numpy()
'''),
    # Exercise 4
    "encoders block by block with struct": Answer("test_gguf_encoders", '''
import struct


def q8_0_encode(x):
    x = np.asarray(x, dtype=np.float32).ravel()
    if len(x) % 32 != 0:
        raise ValueError("not a multiple of 32")
    out = bytearray()
    for b in x.reshape(-1, 32):
        d = np.float32(np.abs(b).max() / np.float32(127))
        inv = np.float32(1) / d if d != 0 else np.float32(0)
        codes = []
        for v in (b * inv).astype(np.float32):
            a = abs(float(v))
            r = math.floor(a)
            r += 1 if a - r >= 0.5 else 0
            codes.append(int(math.copysign(r, v)) if r else 0)
        out += np.float16(d).tobytes() + struct.pack("32b", *codes)
    return bytes(out)


def q4_0_encode(x):
    x = np.asarray(x, dtype=np.float32).ravel()
    if len(x) % 32 != 0:
        raise ValueError("not a multiple of 32")
    out = bytearray()
    for b in x.reshape(-1, 32):
        m = b[int(np.argmax(np.abs(b)))]
        d = np.float32(m / np.float32(-8))
        inv = np.float32(1) / d if d != 0 else np.float32(0)
        q = [min(15, int(np.float32(v * inv) + np.float32(8.5))) for v in b]
        out += np.float16(d).tobytes() + bytes(q[j] | (q[j + 16] << 4) for j in range(16))
    return bytes(out)
'''),
    "encoders with np.where for the zero scale": Answer("test_gguf_encoders", edited(ENCODERS,
        ("inv = np.divide(np.float32(1), d, out=np.zeros_like(d), where=d != 0)\n    v = blocks * inv",
         "with np.errstate(divide=\"ignore\"):\n        inv = np.where(d == 0, np.float32(0), np.float32(1) / d).astype(np.float32)\n    v = blocks * inv"),
        ("q = np.sign(v) * (np.floor(a) + np.floor(2 * (a - np.floor(a))))",
         "q = np.where(v < 0, -1, 1) * np.where(a - np.floor(a) >= 0.5, np.floor(a) + 1, np.floor(a))"))),
    # Exercise 5
    "types with a regular expression": Answer("test_q4_k_m_types", '''
import re


def q4_k_m_types(tensors):
    counts = {k: sum(re.fullmatch(rf"blk\\.\\d+\\.{k}\\.weight", n) is not None for n in tensors) for k in ("attn_v", "ffn_down")}
    tied = "output.weight" not in tensors
    out = {}
    for name, shape in tensors.items():
        m = re.fullmatch(r"blk\\.(\\d+)\\.(attn_v|ffn_down)\\.weight", name)
        if len(shape) < 2:
            out[name] = "F32"
            continue
        if name == "output.weight" or (tied and name == "token_embd.weight"):
            t = "Q6_K"
        elif m:
            i, n = int(m.group(1)), counts[m.group(2)]
            t = "Q6_K" if (i < n // 8 or i >= (7 * n) // 8 or (i - n // 8) % 3 == 2) else "Q4_K"
        else:
            t = "Q4_K"
        out[name] = t if shape[-1] % 256 == 0 else {"Q4_K": "Q5_0", "Q6_K": "Q8_0"}[t]
    return out
'''),
    "types from sets of layers": Answer("test_q4_k_m_types", '''
def q4_k_m_types(tensors):
    def more_bits_layers(n):
        return {i for i in range(n) if i < n // 8 or i >= 7 * n // 8 or (i - n // 8) % 3 == 2}

    layers = {kind: more_bits_layers(sum(name.endswith(f".{kind}.weight") for name in tensors)) for kind in ("attn_v", "ffn_down")}
    result = {}
    for name, shape in tensors.items():
        parts = name.split(".")
        if len(shape) == 1:
            result[name] = "F32"
        else:
            high = (name == "output.weight" or (name == "token_embd.weight" and "output.weight" not in tensors)
                    or (len(parts) == 4 and parts[2] in layers and int(parts[1]) in layers[parts[2]]))
            if shape[-1] % 256 == 0:
                result[name] = "Q6_K" if high else "Q4_K"
            else:
                result[name] = "Q8_0" if high else "Q5_0"
    return result
'''),
    # Exercise 6
    "size with math.ceil": Answer("test_gguf_size", '''
def gguf_data_bytes(tensors, types, alignment=32):
    total = 0
    for name in tensors:
        block, nbytes = GGML_BLOCKS[types[name]]
        total += math.ceil(math.prod(tensors[name]) // block * nbytes / alignment) * alignment
    return int(total)


def bits_per_weight(tensors, types):
    weights = sum(math.prod(s) for s in tensors.values())
    return float(sum(8 * GGML_BLOCKS[types[n]][1] * math.prod(s) / GGML_BLOCKS[types[n]][0] for n, s in tensors.items()) / weights)
'''),
    "size from gguf.GGML_QUANT_SIZES": Answer("test_gguf_size", '''
import gguf


def gguf_data_bytes(tensors, types, alignment=32):
    sizes = []
    for name, shape in tensors.items():
        block, nbytes = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[types[name]]]
        n = int(np.prod(shape)) // block * nbytes
        sizes.append(n + (-n) % alignment)
    return sum(sizes)


def bits_per_weight(tensors, types):
    nbytes = 0
    for name, shape in tensors.items():
        block, size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType[types[name]]]
        nbytes += int(np.prod(shape)) // block * size
    return nbytes * 8 / int(sum(np.prod(s) for s in tensors.values()))
'''),
    # Exercise 7
    "quiz: lower case": Answer("test_scenarios", 'q3_answer = "c"\nscenario_a = "BitsAndBytes"'),
    "quiz: with spaces": Answer("test_scenarios", 'q3_answer = " C "\nscenario_b = " gptq "'),
}


@pytest.fixture(scope="module")
def notebook():
    return SolvedNotebook("05_methods")


def test_solution_passes_every_test_cell(notebook):
    assert len(notebook.test_ids()) >= 7
    notebook.run_all_tests()


def test_gptq_and_awq_beat_round_to_nearest_on_held_out_inputs(notebook):
    ns = notebook.namespace
    W, X_TEST, err = ns["W"], ns["X_TEST"], ns["output_error"]
    rtn = err(W, ns["W_rtn"], X_TEST)
    assert err(W, ns["W_gptq_act"], X_TEST) < err(W, ns["W_gptq"], X_TEST) < rtn
    assert err(W, ns["W_awq"], X_TEST) < rtn


def test_course_encoders_match_gguf_on_many_inputs(notebook):
    """The solution's encoders against the gguf package, well beyond the checks' inputs."""
    import gguf
    import numpy as np

    ns = notebook.namespace
    rng = np.random.default_rng(123)
    for trial in range(100):
        x = (rng.standard_normal(32 * 16) * 10.0 ** rng.uniform(-6, 4)).astype(np.float32)
        if trial % 2:
            x = (np.round(x * 4) / 4).astype(np.float32)
        for name, kind in (("q8_0_encode", "Q8_0"), ("q4_0_encode", "Q4_0")):
            reference = gguf.quants.quantize(x.reshape(1, -1), gguf.GGMLQuantizationType[kind]).tobytes()
            assert ns[name](x) == reference, (trial, kind)


@pytest.mark.parametrize("mistake", WRONG_ANSWERS)
def test_hidden_tests_reject(notebook, mistake):
    notebook.assert_rejects(WRONG_ANSWERS[mistake])


@pytest.mark.parametrize("alternative", CORRECT_ANSWERS)
def test_correct_alternatives_pass(notebook, alternative):
    notebook.assert_accepts(CORRECT_ANSWERS[alternative])


# A mistake in an earlier helper, with later answers that use it: only the helper's own test cell may fail.
CASCADES = {
    "scale_zero rounding half up": ("zero point rounded half up", ["gptq", "awq"]),
    "scale_zero without 0 in the range": ("0 not forced into the range (lo = min(w))", ["gptq", "awq"]),
    "rtn_quantize ignoring group_size": ("group_size ignored (one group per row)", ["awq"]),
    "rtn_quantize dropping the last group": ("the last, shorter group left out", ["awq"]),
}


@pytest.mark.parametrize("cascade", CASCADES)
def test_one_mistake_costs_one_exercise(notebook, cascade):
    """The later answers are defined after the mistake, in the same namespace, so
    they call the wrong helper unless the test cells give them the course's own."""
    mistake, later = CASCADES[cascade]
    wrong = WRONG_ANSWERS[mistake]
    code = "\n".join([wrong.code, *(_SOLUTIONS[part] for part in later)])
    notebook.assert_costs_one_exercise(Wrong(wrong.test_id, code))


def test_later_checks_name_the_helper_to_fix(notebook):
    """A wrong scale_zero makes GPTQ's check note it; here GPTQ itself is wrong too, so the check fails."""
    code = "\n".join([WRONG_ANSWERS["zero point rounded half up"].code, WRONG_ANSWERS["lazy batch: later blocks never updated"].code])
    with pytest.raises(AssertionError) as error:
        notebook.run_test("test_gptq", code, visible_only=True)
    assert "fix scale_zero (Exercise 1)" in str(error.value)


def test_check_cells_put_the_students_helpers_back(notebook):
    code = "\n".join([WRONG_ANSWERS["zero point rounded half up"].code, _SOLUTIONS["gptq"], _SOLUTIONS["awq"]])
    namespace = dict(notebook.namespace)
    notebook._exec(code, namespace)
    mine = namespace["scale_zero"], namespace["rtn_quantize"]
    for test_id in ("test_gptq", "test_awq"):
        notebook._exec(notebook.cells[test_id], namespace)
    assert (namespace["scale_zero"], namespace["rtn_quantize"]) == mine


def test_hints_name_the_mistake(notebook):
    cases = {
        "zero point rounded half up": "half to even",
        "all-zero row not handled (scale 0)": "row of zeros",
        "0 not forced into the range (lo = min(w))": "include 0",
        "bits ignored (always 15 steps)": "honour bits",
        "scale and zero as 1-D arrays": "keepdims",
        "W changed in place": "changed",
        "no error update (round-to-nearest)": "round-to-nearest",
        "Q8_0 rounds half to even (np.round)": "half away from zero",
        "Q8_0 rounds with floor(|v| + 0.5) in float32": "0.49999997",
        "Q4_0 first half in the high nibble": "low nibble",
        "Q4_0 scale from amax (sign lost)": "signed value",
        "no ValueError for a short block": "ValueError",
        "a uint8 array instead of bytes": "tobytes",
        "use_more_bits with float division": "integer division",
        "tied token_embd left in Q4_K": "tied",
        "no fall-back for rows not a multiple of 256": "not a multiple of 256",
        "norms quantized too": "F32",
        "tensors not padded": "pad each tensor",
        "alignment ignored (always 32)": "honour `alignment`",
        "a float number of bytes": "expected int",
        "salient channels: smallest first": "largest mean |x| first",
    }
    for mistake, phrase in cases.items():
        wrong = WRONG_ANSWERS[mistake]
        with pytest.raises(AssertionError) as error:
            notebook.run_test(wrong.test_id, wrong.code, visible_only=True)
        assert phrase in str(error.value), (mistake, str(error.value))


def test_test_cells_show_no_value(notebook):
    notebook.assert_test_cells_show_no_value()