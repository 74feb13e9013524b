"""Module 4's checks accept the solution and correct alternatives, reject
plausible mistakes (in the visible check too, when they break a rule the
exercise states), and a mistake in an earlier helper costs only its own
exercise.

The notebook runs offline here (the packaged all-MiniLM-L6-v2 as MODEL). The
visible checks add tiny causal LMs: Llamas untied, tied and with odd widths,
and a BertGeneration decoder whose LM head is lm_head.decoder, handed over as
skeletons built from a configuration alone (nothing to load by name), so
mistakes about the LM head, tied weights, buffers and rounding show on the
student's screen; the hidden tests vary the architecture (XLNet, whose LM
head is lm_loss and whose weights sit on modules with children; Qwen2; a
biased Llama) and add meta-device skeletons of models that exist nowhere
(Llama-2-7B's shape, a wide one with odd widths).
Exercise 6's checks use inputs crafted to hit each rule exactly: values on
the midpoints, values where w * (1 / absmax) and w / absmax get different
codes, full and shorter blocks of zeros, odd counts.
Exercise 5's check compares the NormalFloat code book exactly with
bitsandbytes' NF4 and with 3- and 4-bit books at other offsets; its hidden
tests try 2 to 8 bits. Its wrong answers break one step of the recipe each
(symmetric, no zero, not normalised, float64, the offset, unsorted, float64
probabilities, float32 quantiles, a float64 division), or take another route
a student might (numpy's linspace, the offset written as a formula, mirrored
negatives, a -0.0 zero, a reciprocal, state kept between calls, tables
copied); its correct alternatives use every float64 quantile function at hand
(NormalDist, ndtri, erfinv, Newton's method), which round to the same float32
levels."""

import pytest

from graded import Answer, SolvedNotebook, Wrong, edited

pytestmark = pytest.mark.slow

# The course's answers, written the way their variants need them (the notebook's loops as one
# expression, where the mistakes live in that expression), are the bases: an answer that is not
# written out below is one of them with the edits that make it wrong (or another correct way).
MODULES_KEPT = '''
def modules_kept_16bit(model):
    head = model.get_output_embeddings()
    return sorted(name for name, m in model.named_modules()
                  if list(m.parameters(recurse=False)) and not (isinstance(m, torch.nn.Linear) and m is not head))
'''
# Another correct route, whose mistake (named_parameters() drops a tied head's weight) differs.
MODULES_KEPT_FROM_PARAMETER_OWNERS = '''
def modules_kept_16bit(model):
    head = model.get_output_embeddings()
    modules = dict(model.named_modules(remove_duplicate=False))
    owners = {name.rpartition(".")[0] for name, _ in model.named_parameters(remove_duplicate=False)}
    return sorted(n for n in owners if not isinstance(modules[n], torch.nn.Linear) or modules[n] is head)
'''
FOOTPRINT = '''
def predict_footprint_4bit(model):
    head = model.get_output_embeddings()
    quantized = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head}
    total = sum(math.ceil(p.numel() / 2) if id(p) in quantized else p.numel() * p.element_size()
                for p in model.parameters())
    return total + sum(b.numel() * b.element_size() for b in model.buffers())
'''
SCALE_OVERHEAD = '''
def scale_overhead_bits(blocksize=64, double_quant=False, blocksize2=256):
    return 8 / blocksize + 32 / (blocksize * blocksize2) if double_quant else 32 / blocksize
'''
TRUE_TOTAL = '''
def predict_true_total_4bit(model, double_quant=False):
    head = model.get_output_embeddings()
    total = predict_footprint_4bit(model)
    for m in model.modules():
        if isinstance(m, torch.nn.Linear) and m is not head:
            blocks = math.ceil(m.weight.numel() / 64)
            total += 64 + (blocks + 4 + 4 * math.ceil(blocks / 256) + 1024 if double_quant else 4 * blocks)
    return total
'''
# The same sums over lists of the layers, for the mistakes that count over the whole model.
TRUE_TOTAL_OVER_LAYER_LISTS = '''
def predict_true_total_4bit(model, double_quant=False):
    head = model.get_output_embeddings()
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head]
    blocks = [math.ceil(m.weight.numel() / 64) for m in layers]
    total = predict_footprint_4bit(model) + 64 * len(layers)
    if double_quant:
        return total + sum(blocks) + 4 * len(layers) + sum(4 * math.ceil(b / 256) for b in blocks) + 1024 * len(layers)
    return total + 4 * sum(blocks)
'''
# Exercise 6, the text's steps one by one: each wrong answer below changes one step.
NF4_QUANTIZE = '''
def nf4_quantize(w, blocksize=64):
    flat = w.detach().cpu().reshape(-1).float()
    n = flat.numel()
    full = n - n % blocksize
    blocks = flat[:full].view(-1, blocksize)
    absmax = blocks.abs().max(dim=1).values
    scaled = [(blocks * (1.0 / absmax.clamp(min=1e-38)).unsqueeze(1)).flatten()]
    if full < n:
        last = flat[full:].abs().max().clamp(min=1e-38)
        absmax = torch.cat([absmax, last.reshape(1)])
        scaled.append(flat[full:] / last)
    x = torch.cat(scaled).clamp(-1, 1)
    if n % 2:
        x = torch.cat([x, torch.zeros(1, dtype=x.dtype)])
    codes = torch.bucketize(x, (NF4[:-1] + NF4[1:]) / 2).to(torch.uint8)
    return (codes[0::2] << 4) | codes[1::2], absmax
'''
NF4_DEQUANTIZE = '''
def nf4_dequantize(packed, absmax, shape, blocksize=64):
    packed = packed.flatten()
    codes = torch.stack([packed >> 4, packed & 15], dim=1).flatten().long()
    n = math.prod(shape)
    return (NF4[codes[:n]] * absmax.float().repeat_interleave(blocksize)[:n]).reshape(shape)
'''
NF4_MEAN_ABS_ERROR = '''
def nf4_mean_abs_error(w, blocksize=64):
    packed, absmax = nf4_quantize(w, blocksize)
    restored = nf4_dequantize(packed, absmax, tuple(w.shape), blocksize)
    return (w.detach().cpu().float() - restored).abs().mean().item()
'''
# Exercise 5: the recipe as the text gives it, and the same levels from torch's float64 ndtri.
CODE_BOOK = '''
import statistics
def normal_float_code_book(bits=4, offset=0.9677083):
    half = 2 ** (bits - 1)
    normal = statistics.NormalDist()
    positive = [normal.inv_cdf(float(p)) for p in torch.linspace(offset, 0.5, half + 1)[:-1]]
    negative = [-normal.inv_cdf(float(p)) for p in torch.linspace(offset, 0.5, half)[:-1]]
    levels = torch.tensor(negative + [0.0] + positive, dtype=torch.float32).sort().values
    return levels / levels.max()
'''
CODE_BOOK_NDTRI = '''
def normal_float_code_book(bits=4, offset=0.9677083):
    half = 2 ** (bits - 1)
    positive = torch.special.ndtri(torch.linspace(offset, 0.5, half + 1)[:-1].double())
    negative = -torch.special.ndtri(torch.linspace(offset, 0.5, half)[:-1].double())
    levels = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).float().sort().values
    return levels / levels.max()
'''
# Dropped by the answers that find the LM head some other way, or not at all.
_HEAD = ("    head = model.get_output_embeddings()\n", "")

WRONG_ANSWERS = {
    # Exercise 1: which modules stay 16-bit
    "LM head counted as 4-bit (modules)": Wrong("test_modules_kept_16bit", edited(MODULES_KEPT, _HEAD,
        ("not (isinstance(m, torch.nn.Linear) and m is not head)", "not isinstance(m, torch.nn.Linear)"))),
    "norms forgotten": Wrong("test_modules_kept_16bit", edited(MODULES_KEPT, (
        "list(m.parameters(recurse=False)) and not (isinstance(m, torch.nn.Linear) and m is not head)",
        "isinstance(m, torch.nn.Embedding) or (head is not None and m is head)"))),
    "norm types listed by hand (RMSNorm missed)": Wrong("test_modules_kept_16bit", edited(MODULES_KEPT, (
        "list(m.parameters(recurse=False)) and not (isinstance(m, torch.nn.Linear) and m is not head)",
        "isinstance(m, (torch.nn.Embedding, torch.nn.LayerNorm)) or m is head"))),
    "Linear layers kept because their bias is 16-bit": Wrong("test_modules_kept_16bit", edited(MODULES_KEPT, _HEAD,
        (" and not (isinstance(m, torch.nn.Linear) and m is not head)", ""))),
    "parameter names instead of module names": Wrong("test_modules_kept_16bit", '''
def modules_kept_16bit(model):
    head = model.get_output_embeddings()
    names = []
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear) and m is not head:
            continue
        names += [f"{name}.{p}" for p, _ in m.named_parameters(recurse=False)]
    return sorted(names)
'''),
    "not sorted": Wrong("test_modules_kept_16bit", edited(MODULES_KEPT,
        ("return sorted(", "return ["), ("m is not head))", "m is not head)]"))),
    "a set instead of a sorted list": Wrong("test_modules_kept_16bit", edited(MODULES_KEPT,
        ("return sorted(", "return {"), ("m is not head))", "m is not head)}"))),
    "tied LM head lost (module names from named_parameters)": Wrong("test_modules_kept_16bit", edited(
        MODULES_KEPT_FROM_PARAMETER_OWNERS,
        ("model.named_modules(remove_duplicate=False)", "model.named_modules()"),
        ("model.named_parameters(remove_duplicate=False)", "model.named_parameters()"))),
    "tied LM head left out (it shares the embedding)": Wrong("test_modules_kept_16bit", edited(MODULES_KEPT,
        ("head = model.get_output_embeddings()", "head = model.get_output_embeddings()\n    tied = model.config.tie_word_embeddings"),
        ("and not (isinstance(m, torch.nn.Linear) and m is not head)", "and (not isinstance(m, torch.nn.Linear) or (m is head and not tied))"))),
    "LM head found by the name lm_head": Wrong("test_modules_kept_16bit", edited(MODULES_KEPT, _HEAD,
        ("m is not head", 'name != "lm_head"'))),
    "read from a loaded model instead of predicted (modules)": Wrong("test_modules_kept_16bit", '''
def modules_kept_16bit(model):
    return actual_16bit_modules(load_once("4-bit NF4", model.name_or_path))
''', error=Exception),
    # Exercise 2: get_memory_footprint() after a 4-bit load
    "LM head counted as 4-bit (footprint)": Wrong("test_predict_footprint_4bit", edited(FOOTPRINT, _HEAD,
        (" and m is not head}", "}"))),
    "4-bit weights as one byte each (no packing)": Wrong("test_predict_footprint_4bit", edited(FOOTPRINT,
        ("math.ceil(p.numel() / 2)", "p.numel()"))),
    "every parameter in 4 bits": Wrong("test_predict_footprint_4bit", '''
def predict_footprint_4bit(model):
    return sum(math.ceil(p.numel() / 2) for p in model.parameters()) + sum(
        b.numel() * b.element_size() for b in model.buffers())
'''),
    "tied embedding counted twice": Wrong("test_predict_footprint_4bit", edited(FOOTPRINT,
        ("for p in model.parameters()", "for _, p in model.named_parameters(remove_duplicate=False)"))),
    "quant_state added to the footprint": Wrong("test_predict_footprint_4bit", edited(FOOTPRINT,
        ("math.ceil(p.numel() / 2)", "math.ceil(p.numel() / 2) + 4 * math.ceil(p.numel() / 64)"))),
    "buffers forgotten": Wrong("test_predict_footprint_4bit", edited(FOOTPRINT,
        ("total = sum(", "return sum("),
        ("\n    return total + sum(b.numel() * b.element_size() for b in model.buffers())", ""))),
    "buffers counted at 2 bytes each": Wrong("test_predict_footprint_4bit", edited(FOOTPRINT,
        ("b.numel() * b.element_size()", "b.numel() * 2"))),
    "n // 2 instead of rounding up": Wrong("test_predict_footprint_4bit", edited(FOOTPRINT,
        ("math.ceil(p.numel() / 2)", "p.numel() // 2"))),
    "n / 2: a float": Wrong("test_predict_footprint_4bit", edited(FOOTPRINT, ("math.ceil(p.numel() / 2)", "p.numel() / 2"))),
    "a numpy integer instead of an int": Wrong("test_predict_footprint_4bit", "import numpy as np" + edited(FOOTPRINT,
        ("total = sum(", "sizes = ["), ("for p in model.parameters())", "for p in model.parameters()]"),
        ("return total + sum(b.numel() * b.element_size() for b in model.buffers())",
         "return np.sum(sizes) + np.sum([b.numel() * b.element_size() for b in model.buffers()])"))),
    "biases of the 4-bit layers counted in 4 bits": Wrong("test_predict_footprint_4bit", edited(FOOTPRINT,
        ("quantized = {id(m.weight) for m", "quantized = {id(p) for m"),
        ("and m is not head}", "and m is not head\n                 for p in m.parameters()}"))),
    "LM head found by the name lm_head (footprint)": Wrong("test_predict_footprint_4bit", edited(FOOTPRINT, _HEAD,
        ("for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head}",
         'for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and name != "lm_head"}'))),
    "read from a loaded model instead of predicted (footprint)": Wrong("test_predict_footprint_4bit", '''
def predict_footprint_4bit(model):
    return load_once("4-bit NF4", model.name_or_path).get_memory_footprint()
''', error=Exception),
    # Exercise 3: scale overhead in bits per weight
    "second-level scales forgotten": Wrong("test_scale_overhead_bits", '''
def scale_overhead_bits(blocksize=64, double_quant=False, blocksize2=256):
    return (8 if double_quant else 32) / blocksize
'''),
    "fp16 absmax": Wrong("test_scale_overhead_bits", edited(SCALE_OVERHEAD,
        ("32 / (blocksize * blocksize2)", "16 / (blocksize * blocksize2)"), ("else 32 / blocksize", "else 16 / blocksize"))),
    "double quantization ignored": Wrong("test_scale_overhead_bits", edited(SCALE_OVERHEAD,
        ("8 / blocksize + 32 / (blocksize * blocksize2) if double_quant else ", ""))),
    "hard-coded 0.5 and 0.127": Wrong("test_scale_overhead_bits", '''
def scale_overhead_bits(blocksize=64, double_quant=False, blocksize2=256):
    return 0.126953125 if double_quant else 0.5
'''),
    "integer division": Wrong("test_scale_overhead_bits", edited(SCALE_OVERHEAD,
        ("8 / blocksize + 32 / (", "8 // blocksize + 32 // ("), ("else 32 / blocksize", "else 32 // blocksize"))),
    "bytes instead of bits": Wrong("test_scale_overhead_bits", edited(SCALE_OVERHEAD,
        ("8 / blocksize + 32 / (blocksize * blocksize2)", "(1 / blocksize + 4 / (blocksize * blocksize2))"),
        ("else 32 / blocksize", "else 4 / blocksize"))),
    "second-level scale spread over blocksize2 weights": Wrong("test_scale_overhead_bits", edited(SCALE_OVERHEAD,
        ("32 / (blocksize * blocksize2)", "32 / blocksize2"))),
    "blocksize2 ignored (always 256)": Wrong("test_scale_overhead_bits", edited(SCALE_OVERHEAD,
        ("(blocksize * blocksize2)", "(blocksize * 256)"))),
    "second-level scale added without double quantization": Wrong("test_scale_overhead_bits", '''
def scale_overhead_bits(blocksize=64, double_quant=False, blocksize2=256):
    return (8 if double_quant else 32) / blocksize + 32 / (blocksize * blocksize2)
'''),
    "the 4 bits of the code included": Wrong("test_scale_overhead_bits", edited(SCALE_OVERHEAD,
        ("return ", "return 4 + ("), ("else 32 / blocksize", "else 32 / blocksize)"))),
    # Exercise 4: the true total with quant_state
    "quant_state forgotten": Wrong("test_predict_true_total_4bit", '''
def predict_true_total_4bit(model, double_quant=False):
    return predict_footprint_4bit(model)
'''),
    "double quantization still 32-bit absmax": Wrong("test_predict_true_total_4bit", edited(TRUE_TOTAL, (
        "blocks = math.ceil(m.weight.numel() / 64)\n"
        "            total += 64 + (blocks + 4 + 4 * math.ceil(blocks / 256) + 1024 if double_quant else 4 * blocks)",
        "total += 4 * math.ceil(m.weight.numel() / 64) + 64"))),
    "code books forgotten": Wrong("test_predict_true_total_4bit", edited(TRUE_TOTAL,
        ("total += 64 + (", "total += "), ("else 4 * blocks)", "else 4 * blocks"))),
    "LM head counted as 4-bit (true total)": Wrong("test_predict_true_total_4bit", edited(TRUE_TOTAL, _HEAD,
        (" and m is not head", ""))),
    "offset forgotten": Wrong("test_predict_true_total_4bit", edited(TRUE_TOTAL, ("blocks + 4 + 4 *", "blocks + 4 *"))),
    "state2.absmax forgotten": Wrong("test_predict_true_total_4bit", edited(TRUE_TOTAL, (" + 4 * math.ceil(blocks / 256)", ""))),
    "state2.code forgotten": Wrong("test_predict_true_total_4bit", edited(TRUE_TOTAL, (" + 1024", ""))),
    "blocks // 256 instead of rounding up": Wrong("test_predict_true_total_4bit", edited(TRUE_TOTAL,
        ("math.ceil(blocks / 256)", "(blocks // 256)"))),
    "n // 64 instead of rounding up": Wrong("test_predict_true_total_4bit", edited(TRUE_TOTAL,
        ("math.ceil(m.weight.numel() / 64)", "m.weight.numel() // 64"))),
    "blocks counted per row": Wrong("test_predict_true_total_4bit", edited(TRUE_TOTAL,
        ("math.ceil(m.weight.numel() / 64)", "m.out_features * math.ceil(m.in_features / 64)"))),
    "state2.absmax over the whole model, not per layer": Wrong("test_predict_true_total_4bit", edited(
        TRUE_TOTAL_OVER_LAYER_LISTS, ("sum(4 * math.ceil(b / 256) for b in blocks)", "4 * math.ceil(sum(blocks) / 256)"))),
    "scales from scale_overhead_bits (a float, no code books)": Wrong("test_predict_true_total_4bit", '''
def predict_true_total_4bit(model, double_quant=False):
    head = model.get_output_embeddings()
    n = sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head)
    return predict_footprint_4bit(model) + n * scale_overhead_bits(64, double_quant) / 8
'''),
    "read from a loaded model instead of predicted (true total)": Wrong("test_predict_true_total_4bit", '''
def predict_true_total_4bit(model, double_quant=False):
    return true_total(load_once("4-bit NF4 + DQ" if double_quant else "4-bit NF4", model.name_or_path))
''', error=Exception),
    # Exercise 6: NF4 quantization, bit for bit
    "low nibble first": Wrong("test_nf4_quantize", '''
_solution_nf4_quantize = nf4_quantize
def nf4_quantize(w, blocksize=64):
    packed, absmax = _solution_nf4_quantize(w, blocksize)
    return ((packed & 15) << 4) | (packed >> 4), absmax
'''),
    "absmax per tensor": Wrong("test_nf4_quantize", '''
def nf4_quantize(w, blocksize=64):
    flat = w.detach().cpu().reshape(-1).float()
    absmax = flat.abs().max()
    codes = torch.bucketize(flat / absmax, (NF4[1:] + NF4[:-1]) / 2).to(torch.uint8)
    if flat.numel() % 2:
        codes = torch.cat([codes, torch.tensor([7], dtype=torch.uint8)])
    return (codes[0::2] << 4) | codes[1::2], absmax.reshape(1)
'''),
    "uniform INT4 rounding instead of the nearest NF4 value": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("torch.bucketize(x, (NF4[:-1] + NF4[1:]) / 2)", "torch.round((x + 1) * 7.5)"))),
    "next code up instead of the nearest": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("torch.bucketize(x, (NF4[:-1] + NF4[1:]) / 2)", "torch.searchsorted(NF4, x).clamp(max=15)"))),
    "absmax per row instead of per block": Wrong("test_nf4_quantize", '''
def nf4_quantize(w, blocksize=64):
    rows = w.detach().cpu().float().reshape(w.shape[0] if w.dim() > 1 else 1, -1)
    absmax = rows.abs().max(1).values
    x = (rows / absmax[:, None]).flatten()
    codes = torch.bucketize(x, (NF4[1:] + NF4[:-1]) / 2).to(torch.uint8)
    if codes.numel() % 2:
        codes = torch.cat([codes, torch.tensor([7], dtype=torch.uint8)])
    return (codes[0::2] << 4) | codes[1::2], absmax
'''),
    "block of zeros divides by zero": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("(1.0 / absmax.clamp(min=1e-38))", "(1.0 / absmax)"))),
    "max instead of max of absolute values": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("absmax = blocks.abs().max(dim=1).values", "absmax = blocks.max(dim=1).values"),
        ("last = flat[full:].abs().max()", "last = flat[full:].max()"))),
    "odd count padded with code 0": Wrong("test_nf4_quantize", '''
_solution_nf4_quantize = nf4_quantize
def nf4_quantize(w, blocksize=64):
    packed, absmax = _solution_nf4_quantize(w, blocksize)
    if w.numel() % 2:
        packed = packed.clone()
        packed[-1] = packed[-1] & 0xF0
    return packed, absmax
'''),
    # Exercise 7: dequantization and its error
    "nibbles swapped when unpacking": Wrong("test_nf4_dequantize", edited(NF4_DEQUANTIZE,
        ("[packed >> 4, packed & 15]", "[packed & 15, packed >> 4]"))),
    "absmax not applied": Wrong("test_nf4_dequantize", edited(NF4_DEQUANTIZE,
        ("(NF4[codes[:n]] * absmax.float().repeat_interleave(blocksize)[:n])", "NF4[codes[:n]]"))),
    "fixed block size 64 in dequantize": Wrong("test_nf4_dequantize", edited(NF4_DEQUANTIZE,
        ("absmax.float().repeat_interleave(blocksize)[:n]", "scales"),
        ("    return", "    scales = absmax.float().repeat_interleave(64)\n"
                      "    scales = torch.cat([scales, scales[-1:].repeat(max(0, n - scales.numel()))])[:n]\n    return"))),
    "absmax repeated per row instead of per block": Wrong("test_nf4_dequantize", edited(NF4_DEQUANTIZE,
        ("absmax.float().repeat_interleave(blocksize)[:n]", "scales"),
        ("    return", "    scales = absmax.float().repeat_interleave(shape[-1])\n"
                      "    scales = torch.cat([scales, scales[-1:].repeat(max(0, n - scales.numel()))])[:n]\n    return"))),
    "dequantized in float64": Wrong("test_nf4_dequantize", edited(NF4_DEQUANTIZE,
        ("NF4[codes[:n]] * absmax.float()", "NF4.double()[codes[:n]] * absmax.double()"))),
    "pad nibble of an odd count kept": Wrong("test_nf4_dequantize", edited(NF4_DEQUANTIZE,
        ("NF4[codes[:n]] * absmax.float().repeat_interleave(blocksize)[:n]",
         "NF4[codes] * absmax.float().repeat_interleave(blocksize)[: codes.numel()]")), error=RuntimeError),
    "largest error instead of the mean": Wrong("test_nf4_dequantize", edited(NF4_MEAN_ABS_ERROR, (".mean()", ".max()"))),
    "mean squared error": Wrong("test_nf4_dequantize", edited(NF4_MEAN_ABS_ERROR, (".abs().mean()", ".pow(2).mean()"))),
    "error with the default block size only": Wrong("test_nf4_dequantize", edited(NF4_MEAN_ABS_ERROR,
        ("nf4_quantize(w, blocksize)", "nf4_quantize(w, 64)"), ("tuple(w.shape), blocksize)", "tuple(w.shape), 64)"))),
    "mean error returned as a 0-d tensor": Wrong("test_nf4_dequantize", edited(NF4_MEAN_ABS_ERROR, (".mean().item()", ".mean()"))),
    "error subtracted in place (changes w)": Wrong("test_nf4_dequantize", edited(NF4_MEAN_ABS_ERROR,
        ("restored = nf4_dequantize", "error = w.detach().cpu().float()\n    error -= nf4_dequantize"),
        ("(w.detach().cpu().float() - restored).abs()", "error.abs()"))),
    # Exercise 8: quiz
    "quiz: INT4 matrix products": Wrong("test_quiz_gptq_precision", 'q2_answer = "A"', visible=False),
    "quiz: INT8 matrix products": Wrong("test_quiz_gptq_precision", 'q2_answer = "C"', visible=False),
    "quiz: FP32 matrix products": Wrong("test_quiz_gptq_precision", 'q2_answer = "D"', visible=False),
    "quiz: not a letter": Wrong("test_quiz_gptq_precision", 'q2_answer = "16-bit"'),
    "quiz: a list instead of a str": Wrong("test_quiz_gptq_precision", 'q2_answer = ["B"]'),
}

WRONG_ANSWERS.update({
    "division instead of the reciprocal": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("(blocks * (1.0 / absmax.clamp(min=1e-38)).unsqueeze(1))", "(blocks / absmax.clamp(min=1e-38).unsqueeze(1))"))),
    "reciprocal in the shorter last block too": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("flat[full:] / last", "flat[full:] * (1.0 / last)"))),
    "nearest value by argmin (a midpoint may go up)": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("torch.bucketize(x, (NF4[:-1] + NF4[1:]) / 2)", "(x[:, None] - NF4[None, :]).abs().argmin(dim=1)"))),
    "upper index on a midpoint (bucketize right=True)": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("(NF4[:-1] + NF4[1:]) / 2)", "(NF4[:-1] + NF4[1:]) / 2, right=True)"))),
    "midpoints in float64": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("torch.bucketize(x, (NF4[:-1] + NF4[1:]) / 2)", "torch.bucketize(x.double(), (NF4.double()[:-1] + NF4.double()[1:]) / 2)"))),
    "absmax raised to 1e-38 in full blocks too": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("max(dim=1).values", "max(dim=1).values.clamp(min=1e-38)"))),
    "shorter last block of zeros stores 0": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("last = flat[full:].abs().max().clamp(min=1e-38)", "last = flat[full:].abs().max()"),
        ("flat[full:] / last", "flat[full:] / last.clamp(min=1e-38)"))),
    "scaled in float64": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("reshape(-1).float()", "reshape(-1).double()"), ("codes[1::2], absmax", "codes[1::2], absmax.float()"),
        ("torch.bucketize(x, (NF4[:-1] + NF4[1:]) / 2)", "torch.bucketize(x, ((NF4[:-1] + NF4[1:]) / 2).double())"))),
    "not converted to float32": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("reshape(-1).float()", "reshape(-1)"), ("torch.bucketize(x,", "torch.bucketize(x.float(),"))),
    "scales w in place": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("w.detach().cpu()", "w.detach()"),
        ("(blocks * (1.0 / absmax.clamp(min=1e-38)).unsqueeze(1))", "blocks.mul_((1.0 / absmax.clamp(min=1e-38)).unsqueeze(1))"))),
    "packed as a column (n / 2, 1), as bitsandbytes stores it": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("return (codes[0::2] << 4) | codes[1::2],", "return ((codes[0::2] << 4) | codes[1::2]).unsqueeze(1),"))),
    "blocksize ignored (always 64)": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("    flat =", "    blocksize = 64\n    flat ="))),
    "flattened column-major": Wrong("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("w.detach().cpu().reshape(-1).float()", "w.detach().cpu().float().transpose(0, -1).reshape(-1)"))),
})

# Correct alternatives to the solution, which every test cell must accept.
CORRECT_ANSWERS = {
    # Exercise 1
    "modules: head compared by name, a comprehension": Answer("test_modules_kept_16bit", '''
def modules_kept_16bit(model):
    head = model.get_output_embeddings()
    head_name = next((n for n, m in model.named_modules() if m is head), None)
    return sorted(n for n, m in model.named_modules()
                  if any(True for _ in m.parameters(recurse=False))
                  and (type(m) is not torch.nn.Linear or n == head_name))
'''),
    "modules: owners of every parameter, duplicates kept": Answer("test_modules_kept_16bit", MODULES_KEPT_FROM_PARAMETER_OWNERS),
    # Exercise 2
    "footprint: (n + 1) // 2, module by module": Answer("test_predict_footprint_4bit", '''
def predict_footprint_4bit(model):
    head = model.get_output_embeddings()
    seen, total = set(), 0
    for module in model.modules():
        for name, p in module.named_parameters(recurse=False):
            if id(p) in seen:
                continue
            seen.add(id(p))
            four_bit = isinstance(module, torch.nn.Linear) and module is not head and name == "weight"
            total += (p.numel() + 1) // 2 if four_bit else p.numel() * p.element_size()
    return total + sum(b.numel() * b.element_size() for b in model.buffers())
'''),
    "footprint: the skeleton's own get_memory_footprint() minus what 4 bits save": Answer("test_predict_footprint_4bit", '''
def predict_footprint_4bit(model):
    head = model.get_output_embeddings()
    weights = {id(m.weight): m.weight for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head}
    return model.get_memory_footprint() - sum(w.numel() * w.element_size() - -(-w.numel() // 2) for w in weights.values())
'''),
    "footprint: from modules_kept_16bit (Exercise 1)": Answer("test_predict_footprint_4bit", '''
def predict_footprint_4bit(model):
    kept = set(modules_kept_16bit(model))
    seen, total = set(), 0
    for name, module in model.named_modules():
        for pname, p in module.named_parameters(recurse=False):
            if id(p) not in seen:
                seen.add(id(p))
                four_bit = name not in kept and pname == "weight"
                total += math.ceil(p.numel() / 2) if four_bit else p.numel() * p.element_size()
    return total + sum(b.numel() * b.element_size() for b in model.buffers())
'''),
    # Exercise 3
    "overhead: (8 + 32 / blocksize2) / blocksize": Answer("test_scale_overhead_bits", edited(SCALE_OVERHEAD,
        ("8 / blocksize + 32 / (blocksize * blocksize2)", "(8 + 32 / blocksize2) / blocksize"))),
    "overhead: a Fraction, then float": Answer("test_scale_overhead_bits", '''
from fractions import Fraction
def scale_overhead_bits(blocksize=64, double_quant=False, blocksize2=256):
    bits = Fraction(8, blocksize) + Fraction(32, blocksize * blocksize2) if double_quant else Fraction(32, blocksize)
    return float(bits)
'''),
    "overhead: a numpy float64": Answer("test_scale_overhead_bits", '''
import numpy as np
def scale_overhead_bits(blocksize=64, double_quant=False, blocksize2=256):
    bits_per_block = np.float64(8 + 32 / blocksize2) if double_quant else np.float64(32)
    return bits_per_block / blocksize
'''),
    # Exercise 4
    "true total: everything inline, integer ceilings": Answer("test_predict_true_total_4bit", '''
def predict_true_total_4bit(model, double_quant=False):
    head = model.get_output_embeddings()
    layers = {id(m): m for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head}
    quantized = {id(m.weight) for m in layers.values()}
    total = sum(-(-p.numel() // 2) if id(p) in quantized else p.numel() * p.element_size() for p in model.parameters())
    total += sum(b.numel() * b.element_size() for b in model.buffers())
    for m in layers.values():
        blocks = -(-m.weight.numel() // 64)
        per_layer = [4 * 16] + ([blocks, 4, 4 * -(-blocks // 256), 4 * 256] if double_quant else [4 * blocks])
        total += sum(per_layer)
    return total
'''),
    "true total: layers from modules_kept_16bit, tensors listed": Answer("test_predict_true_total_4bit", '''
def predict_true_total_4bit(model, double_quant=False):
    kept = set(modules_kept_16bit(model))
    total = predict_footprint_4bit(model)
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Linear) and name not in kept:
            blocks = math.ceil(m.weight.numel() / 64)
            tensors = {"code": (16, 4)}
            if double_quant:
                tensors.update(absmax=(blocks, 1), offset=(1, 4), state2_absmax=(math.ceil(blocks / 256), 4), state2_code=(256, 4))
            else:
                tensors["absmax"] = (blocks, 4)
            total += sum(count * size for count, size in tensors.values())
    return total
'''),
    # Exercise 6
    "quantize: searchsorted, padded blocks, last block apart": Answer("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("torch.bucketize(x, (NF4[:-1] + NF4[1:]) / 2)", "torch.searchsorted((NF4[:-1] + NF4[1:]) / 2, x)"))),
    "quantize: count the midpoints below, block by block in a loop": Answer("test_nf4_quantize", '''
def nf4_quantize(w, blocksize=64):
    flat = w.detach().cpu().flatten().to(torch.float32)
    n = flat.numel()
    midpoints = (NF4[:-1] + NF4[1:]) / 2
    codes, absmax = [], []
    for start in range(0, n, blocksize):
        block = flat[start:start + blocksize]
        a = block.abs().max()
        if len(block) == blocksize:
            x = block * (1 / torch.clamp(a, min=1e-38))
        else:
            a = torch.clamp(a, min=1e-38)
            x = block / a
        absmax.append(a)
        codes.append((x.clamp(-1, 1)[:, None] > midpoints[None, :]).sum(dim=1))
    codes = torch.cat(codes + [torch.tensor([7])] * (n % 2)).to(torch.uint8)
    return codes[0::2] * 16 + codes[1::2], torch.stack(absmax)
'''),
    "quantize: numpy float32": Answer("test_nf4_quantize", '''
import numpy as np
def nf4_quantize(w, blocksize=64):
    flat = w.detach().cpu().float().numpy().reshape(-1)
    n = flat.size
    full = n - n % blocksize
    midpoints = ((NF4[:-1] + NF4[1:]) / 2).numpy()
    blocks = flat[:full].reshape(-1, blocksize)
    absmax = np.abs(blocks).max(axis=1) if full else np.zeros(0, np.float32)
    x = [(blocks * (np.float32(1) / np.maximum(absmax, np.float32(1e-38)))[:, None]).reshape(-1)]
    if full < n:
        last = np.maximum(np.abs(flat[full:]).max(), np.float32(1e-38))
        absmax = np.append(absmax, last).astype(np.float32)
        x.append(flat[full:] / last)
    x = np.clip(np.concatenate(x), -1, 1)
    codes = np.searchsorted(midpoints, x, side="left").astype(np.uint8)
    if n % 2:
        codes = np.append(codes, np.uint8(7))
    return torch.from_numpy((codes[0::2] << 4) | codes[1::2]), torch.from_numpy(absmax)
'''),
    # Exercise 7
    "dequantize: // 16 and % 16, block index per element": Answer("test_nf4_dequantize", '''
def nf4_dequantize(packed, absmax, shape, blocksize=64):
    packed = packed.reshape(-1).long()
    n = math.prod(shape)
    codes = torch.empty(2 * packed.numel(), dtype=torch.long)
    codes[0::2], codes[1::2] = packed // 16, packed % 16
    return (NF4[codes[:n]] * absmax[torch.arange(n) // blocksize]).view(*shape)
'''),
    "mean error: l1_loss, float()": Answer("test_nf4_dequantize", edited(NF4_MEAN_ABS_ERROR,
        ("(w.detach().cpu().float() - restored).abs().mean().item()",
         "float(torch.nn.functional.l1_loss(restored, w.detach().cpu().float()))"))),
    # Exercise 8
    "quiz: lower case": Answer("test_quiz_gptq_precision", 'q2_answer = "b"'),
    "quiz: with spaces": Answer("test_quiz_gptq_precision", 'q2_answer = " B "'),
}

WRONG_ANSWERS.update({
    "leaf modules only (a module with children and its own weights missed)": Wrong("test_modules_kept_16bit", edited(
        MODULES_KEPT, ("if list(m.parameters(recurse=False))", "if not list(m.children()) and list(m.parameters())"))),
    "every 2-D weight counted as 4-bit (embeddings too)": Wrong("test_predict_footprint_4bit", edited(FOOTPRINT,
        ("quantized = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head}",
         "keep = {id(head.weight)} if head is not None else set()"),
        ("if id(p) in quantized", "if p.dim() == 2 and id(p) not in keep"))),
    "round(n / 2) (half to even) instead of rounding up": Wrong("test_predict_footprint_4bit", edited(FOOTPRINT,
        ("math.ceil(p.numel() / 2)", "round(p.numel() / 2)"))),
    "blocks over the whole model, not per layer": Wrong("test_predict_true_total_4bit", edited(TRUE_TOTAL_OVER_LAYER_LISTS,
        ("[math.ceil(m.weight.numel() / 64) for m in layers]", "[math.ceil(sum(m.weight.numel() for m in layers) / 64)]"))),
    "round() instead of ceil for the blocks": Wrong("test_predict_true_total_4bit", edited(TRUE_TOTAL,
        ("math.ceil(m.weight.numel() / 64)", "round(m.weight.numel() / 64)"))),
    "mean error as a numpy float32": Wrong("test_nf4_dequantize", "import numpy as np" + edited(NF4_MEAN_ABS_ERROR,
        ("(w.detach().cpu().float() - restored).abs().mean().item()",
         "np.abs(w.detach().cpu().float().numpy() - restored.numpy()).mean()"))),
    "nibbles unpacked as all high, then all low": Wrong("test_nf4_dequantize", edited(NF4_DEQUANTIZE,
        ("torch.stack([packed >> 4, packed & 15], dim=1).flatten()", "torch.cat([packed >> 4, packed & 15])"))),
})

CORRECT_ANSWERS.update({
    "footprint: int(n / 2 + 0.5)": Answer("test_predict_footprint_4bit", edited(FOOTPRINT,
        ("math.ceil(p.numel() / 2)", "int(p.numel() / 2 + 0.5)"))),
    "quantize: nan_to_num for blocks of zeros": Answer("test_nf4_quantize", edited(NF4_QUANTIZE,
        ("(blocks * (1.0 / absmax.clamp(min=1e-38)).unsqueeze(1))", "torch.nan_to_num(blocks * (1.0 / absmax).unsqueeze(1), nan=0.0)"))),
    "mean error: sum over count, in numpy then float": Answer("test_nf4_dequantize", "import numpy as np" + edited(NF4_MEAN_ABS_ERROR,
        ("return (w.detach().cpu().float() - restored).abs().mean().item()",
         "diff = np.abs(w.detach().cpu().float().numpy() - restored.numpy())\n    return float(diff.sum() / diff.size)"))),
})

WRONG_ANSWERS.update({
    "code books counted once per model": Wrong("test_predict_true_total_4bit", edited(TRUE_TOTAL,
        ("total = predict_footprint_4bit(model)", "total = predict_footprint_4bit(model) + 16 * 4 + (4 * 256 if double_quant else 0)"),
        ("total += 64 + (blocks + 4 + 4 * math.ceil(blocks / 256) + 1024 if double_quant else 4 * blocks)",
         "total += blocks + 4 + 4 * math.ceil(blocks / 256) if double_quant else 4 * blocks"))),
    "mean error computed in float16": Wrong("test_nf4_dequantize", edited(NF4_MEAN_ABS_ERROR,
        ("(w.detach().cpu().float() - restored)", "(w.detach().cpu().half() - restored.half())"))),
})


@pytest.fixture(scope="module")
def notebook():
    return SolvedNotebook("04_gpu_lab_4bit")


def test_solution_passes_every_test_cell(notebook):
    assert len(notebook.test_ids()) >= 6
    notebook.run_all_tests()


def test_solution_is_exact_on_the_offline_model(notebook):
    """The predictions match bitsandbytes to the byte, not just within 0.1 %."""
    ns = notebook.namespace
    for dq, mode in [(False, "4-bit NF4"), (True, "4-bit NF4 + DQ")]:
        model = ns["load_once"](mode, ns["MODEL"])
        assert ns["predict_footprint_4bit"](ns["SKELETON"]) == model.get_memory_footprint()
        assert ns["predict_true_total_4bit"](ns["SKELETON"], double_quant=dq) == ns["true_total"](model)


def test_bitsandbytes_does_what_exercise_5_says(notebook):
    """On this CPU, F.quantize_4bit multiplies by the reciprocal in full blocks and
    divides in a shorter last block, keeps absmax 0 for a full block of zeros and
    1e-38 for a shorter one, and puts a value on a midpoint at the lower index:
    what the exercise text states, on the check cell's crafted inputs."""
    import torch

    ns = notebook.namespace
    F, midpoints = ns["F"], ns["_MIDPOINTS"]

    def quantize(w, blocksize=64):
        packed, state = F.quantize_4bit(w, blocksize=blocksize, quant_type="nf4")
        packed = packed.flatten()
        return torch.stack([packed >> 4, packed & 15], dim=1).flatten()[: w.numel()], state.absmax

    a = torch.tensor(0.48288843)
    values = ns["_straddling"](a.item())
    codes, _ = quantize(ns["_block"]([a, *values]))
    assert torch.equal(codes[1 : 1 + len(values)], torch.bucketize(values * (1 / a), midpoints).to(torch.uint8))
    assert not torch.equal(codes[1 : 1 + len(values)], torch.bucketize(values / a, midpoints).to(torch.uint8))
    codes, _ = quantize(torch.cat([torch.randn(64), a.reshape(1), values]))
    assert torch.equal(codes[65:], torch.bucketize(values / a, midpoints).to(torch.uint8))
    codes, absmax = quantize(torch.cat([torch.randn(64), torch.zeros(64), torch.zeros(5)]))
    assert absmax[1].item() == 0.0 and absmax[2].item() == torch.tensor(1e-38).item() > 0
    assert set(codes[64:].tolist()) == {7}
    codes, _ = quantize(ns["_block"]([1.0, *midpoints]))
    assert codes[1:16].tolist() == list(range(15))


@pytest.mark.parametrize("mistake", WRONG_ANSWERS)
def test_hidden_tests_reject(notebook, mistake):
    notebook.assert_rejects(WRONG_ANSWERS[mistake])


@pytest.mark.parametrize("alternative", CORRECT_ANSWERS)
def test_correct_alternatives_pass(notebook, alternative):
    notebook.assert_accepts(CORRECT_ANSWERS[alternative])


# A mistake in an earlier helper, with later answers that use it (the solution's own, or a
# correct alternative that calls the helper): only the helper's own test cell may fail.
CASCADES = {
    "modules_kept_16bit without the LM head": ("LM head counted as 4-bit (modules)", [
        CORRECT_ANSWERS["footprint: from modules_kept_16bit (Exercise 1)"].code,
        CORRECT_ANSWERS["true total: layers from modules_kept_16bit, tensors listed"].code]),
    "modules_kept_16bit without the norms": ("norm types listed by hand (RMSNorm missed)", [
        CORRECT_ANSWERS["footprint: from modules_kept_16bit (Exercise 1)"].code,
        CORRECT_ANSWERS["true total: layers from modules_kept_16bit, tensors listed"].code]),
    "predict_footprint_4bit without buffers": ("buffers forgotten", ["predict_true_total_4bit"]),
    "predict_footprint_4bit with the LM head in 4 bits": ("LM head counted as 4-bit (footprint)", ["predict_true_total_4bit"]),
    "predict_footprint_4bit as a float": ("n / 2: a float", ["predict_true_total_4bit"]),
    "nf4_quantize dividing": ("division instead of the reciprocal", ["nf4_dequantize"]),
    "nf4_quantize with nibbles swapped": ("low nibble first", ["nf4_dequantize"]),
    "nf4_quantize with absmax per tensor": ("absmax per tensor", ["nf4_dequantize"]),
}


@pytest.mark.parametrize("cascade", CASCADES)
def test_one_mistake_costs_one_exercise(notebook, cascade):
    """The later answers are defined after the mistake, in the same namespace, so
    they call the wrong helper unless the test cells give them the course's own."""
    mistake, later = CASCADES[cascade]
    wrong = WRONG_ANSWERS[mistake]
    code = "\n".join([wrong.code, *(notebook.cells.get(part, part) for part in later)])
    notebook.assert_costs_one_exercise(Wrong(wrong.test_id, code))


def test_check_cells_put_the_students_helpers_back(notebook):
    """The course's versions are bound only while a later function runs."""
    code = (WRONG_ANSWERS["buffers forgotten"].code + notebook.cells["predict_true_total_4bit"]
            + WRONG_ANSWERS["division instead of the reciprocal"].code + notebook.cells["nf4_dequantize"])
    namespace = dict(notebook.namespace)
    notebook._exec(code, namespace)
    mine = namespace["predict_footprint_4bit"], namespace["nf4_quantize"]
    for test_id in ("test_predict_true_total_4bit", "test_nf4_dequantize"):
        notebook._exec(notebook.cells[test_id], namespace)
    assert (namespace["predict_footprint_4bit"], namespace["nf4_quantize"]) == mine


def test_hints_name_the_mistake(notebook):
    """Value-specific messages: the LM head, tied weights, rounding, code books, nibbles."""
    cases = {
        ("LM head counted as 4-bit (modules)", True): "LM head",
        ("tied LM head left out (it shares the embedding)", True): "tied to the embeddings or not",
        ("not sorted", True): "sorted",
        ("LM head counted as 4-bit (footprint)", True): "LM head",
        ("tied embedding counted twice", True): "count that tensor once",
        ("n // 2 instead of rounding up", True): "ceil(n / 2)",
        ("buffers forgotten", True): "buffers",
        ("n / 2: a float", True): "return an int",
        ("code books forgotten", True): "code book",
        ("offset forgotten", True): "offset",
        ("state2.absmax forgotten", True): "state2.absmax",
        ("blocks // 256 instead of rounding up", True): "round up",
        ("integer division", True): "expected float",
        ("division instead of the reciprocal", True): "reciprocal",
        ("reciprocal in the shorter last block too", True): "divide",
        ("upper index on a midpoint (bucketize right=True)", True): "lower index",
        ("low nibble first", True): "high nibble",
        ("scales w in place", True): "changed its input",
        ("mean error returned as a 0-d tensor", True): ".item()",
        ("error subtracted in place (changes w)", True): "changed its input",
        ("code book: symmetric, 8 negative and 8 positive, no zero", True): "exactly one 0.0",
        ("code book: not normalised", True): "divide every level by the largest",
        ("code book: offset 1 - 1/32 as the default", True): "offset=0.9677083",
        ("code book: probabilities in float64", True): "probabilities in float32",
        ("code book: unsorted (negatives, zero, positives as computed)", True): "sort them",
        ("code book: default offset 1 - (1/32 + 1/30) / 2 (0.96770833..., another float32)", True): "1 - (1/32 + 1/30) / 2",
        ("code book: probabilities from numpy's float32 linspace", True): "numpy linspace",
        ("code book: negative levels mirrored from the positive ones (one dropped)", True): "not the positive levels mirrored",
        ("code book: levels appended to a global list on every call", True): "afresh in each call",
        ("code book: multiplied by the reciprocal of the largest", True): "divide every level",
        ("code book: zero as minus the quantile of 0.5 (-0.0: the negative list keeps the median)", True): "is -0.0",
        ("code book: parameters in create_normal_map's order (offset first)", True): "keep the parameters in the order",
    }
    for (mistake, visible_only), phrase in cases.items():
        wrong = WRONG_ANSWERS[mistake]
        with pytest.raises(AssertionError, match=None) as error:
            notebook.run_test(wrong.test_id, wrong.code, visible_only=visible_only)
        assert phrase in str(error.value), (mistake, str(error.value))


def test_solution_passes_as_on_a_cpu_without_avx512_bf16(monkeypatch):
    """bitsandbytes repacks a 4-bit layer on its first forward pass only on CPUs
    with AVX512-BF16. The other tests run whichever path this CPU takes; this one
    forces the path of every other CPU (and of the GPU layout), so a machine with
    AVX512-BF16 tests both. (The reverse cannot be forced: the repacked kernel
    needs the instructions.)"""
    import bitsandbytes.nn.modules

    monkeypatch.setattr(bitsandbytes.nn.modules, "has_avx512bf16", lambda: False)
    notebook = SolvedNotebook("04_gpu_lab_4bit")
    assert not any(getattr(m, "support_avx512bf16_for_cpu", False) for m in notebook.namespace["models"]["4-bit NF4"].modules())
    notebook.run_all_tests()
    notebook.rerun_each_cell()


def test_test_cells_show_no_value(notebook):
    notebook.assert_test_cells_show_no_value()

# Exercise 5: the NF4 code book from normal quantiles. Each wrong answer breaks one step of the
# recipe (CODE_BOOK); each must fail the visible check, which compares exactly with bitsandbytes' NF4.
WRONG_ANSWERS.update({
    "code book: symmetric, 8 negative and 8 positive, no zero": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("torch.linspace(offset, 0.5, half)[:-1]", "torch.linspace(offset, 0.5, half + 1)[:-1]"),
        ("negative + [0.0] + positive", "negative + positive"))),
    "code book: symmetric 7 and 7 around a zero (use_extra_value=False)": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("torch.linspace(offset, 0.5, half + 1)[:-1]", "torch.linspace(offset, 0.5, half)[:-1]"), ("[0.0]", "[0.0] * 2"))),
    "code book: not normalised": Wrong("test_normal_float_code_book", edited(CODE_BOOK, ("return levels / levels.max()", "return levels"))),
    "code book: float64 returned": Wrong("test_normal_float_code_book", edited(CODE_BOOK, ("dtype=torch.float32", "dtype=torch.float64"))),
    "code book: offset 1 - 1/32 as the default": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("offset=0.9677083", "offset=1 - 1 / 32"))),
    "code book: offset ignored (always 0.9677083)": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("linspace(offset, 0.5, half + 1)", "linspace(0.9677083, 0.5, half + 1)"),
        ("linspace(offset, 0.5, half)", "linspace(0.9677083, 0.5, half)"))),
    "code book: bits ignored (always 16 levels)": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("half = 2 ** (bits - 1)", "half = 8"))),
    "code book: unsorted (negatives, zero, positives as computed)": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        (".sort().values", ""))),
    "code book: probabilities in float64": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("half + 1)[:-1]", "half + 1, dtype=torch.float64)[:-1]"), ("half)[:-1]", "half, dtype=torch.float64)[:-1]"))),
    "code book: divided in float64, then float32": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("dtype=torch.float32", "dtype=torch.float64"), ("return levels / levels.max()", "return (levels / levels.max()).float()"))),
    "code book: quantiles in float32 (ndtri of the float32 probabilities)": Wrong("test_normal_float_code_book", edited(CODE_BOOK_NDTRI,
        ("half + 1)[:-1].double()", "half + 1)[:-1]"), ("half)[:-1].double()", "half)[:-1]"),
        ("torch.zeros(1, dtype=torch.float64), positive]).float()", "torch.zeros(1), positive])"))),
    "code book: positive and negative sides swapped (8 negative, 7 positive)": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("negative + [0.0] + positive", "[-v for v in positive] + [0.0] + [-v for v in negative]"))),
    "code book: evenly spaced probabilities (i + 0.5) / 16 instead of from offset": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("torch.linspace(offset, 0.5, half + 1)[:-1]", "[0.5 + (i + 0.5) / (2 * half + 1) for i in range(half)]"),
        ("torch.linspace(offset, 0.5, half)[:-1]", "[0.5 + (i + 0.5) / (2 * half) for i in range(half - 1)]"))),
    "code book: a list instead of a tensor": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("return levels / levels.max()", "return (levels / levels.max()).tolist()"))),
})

# A second round, from a student's reading of the text: other routes to the probabilities, the
# default offset and the normalisation, other return types, state kept between calls, tables
# copied instead of computed.
WRONG_ANSWERS.update({
    "code book: default offset 1 - (1/32 + 1/30) / 2 (0.96770833..., another float32)": Wrong(
        "test_normal_float_code_book", edited(CODE_BOOK, ("offset=0.9677083", "offset=1 - (1 / 32 + 1 / 30) / 2"))),
    "code book: probabilities from a float64 linspace rounded to float32": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("half + 1)[:-1]", "half + 1, dtype=torch.float64)[:-1].float()"),
        ("half)[:-1]", "half, dtype=torch.float64)[:-1].float()"))),
    "code book: probabilities from numpy's float32 linspace": Wrong("test_normal_float_code_book", "import numpy as np" + edited(CODE_BOOK,
        ("torch.linspace(offset, 0.5, half + 1)[:-1]", "np.linspace(offset, 0.5, half + 1, dtype=np.float32)[:-1]"),
        ("torch.linspace(offset, 0.5, half)[:-1]", "np.linspace(offset, 0.5, half, dtype=np.float32)[:-1]"))),
    "code book: first probability (offset) dropped instead of the last (0.5)": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("half + 1)[:-1]", "half + 1)[1:]"), ("half)[:-1]", "half)[1:]"))),
    "code book: offset honoured on the positive side only": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("linspace(offset, 0.5, half)", "linspace(0.9677083, 0.5, half)"))),
    "code book: negative levels mirrored from the positive ones (one dropped)": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("torch.linspace(offset, 0.5, half)[:-1]", "torch.linspace(offset, 0.5, half + 1)[:-2]"))),
    "code book: negatives as quantiles of torch.linspace(1 - offset, 0.5), no minus": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("[-normal.inv_cdf(float(p)) for p in torch.linspace(offset, 0.5, half)[:-1]]",
         "[normal.inv_cdf(float(p)) for p in torch.linspace(1 - offset, 0.5, half)[:-1]]"))),
    "code book: 2 ** bits - 1 levels (7 and 7 around one zero)": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("torch.linspace(offset, 0.5, half + 1)[:-1]", "torch.linspace(offset, 0.5, half)[:-1]"))),
    "code book: zero as minus the quantile of 0.5 (-0.0: the negative list keeps the median)": Wrong(
        "test_normal_float_code_book", edited(CODE_BOOK,
            ("torch.linspace(offset, 0.5, half)[:-1]", "torch.linspace(offset, 0.5, half)"), ("[0.0] + ", ""))),
    "code book: parameters in create_normal_map's order (offset first)": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("bits=4, offset=0.9677083", "offset=0.9677083, bits=4"))),
    "code book: half = 2 * bits": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("half = 2 ** (bits - 1)", "half = 2 * bits"))),
    "code book: normalised by the sum of the magnitudes": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("levels / levels.max()", "levels / levels.abs().sum()"))),
    "code book: divided by the quantile of offset as a Python float": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("levels / levels.max()", "levels / normal.inv_cdf(offset)"))),
    "code book: multiplied by the reciprocal of the largest": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("levels / levels.max()", "levels * (1 / levels.max())"))),
    "code book: divided in place by a view of the largest": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("levels / levels.max()", "levels.div_(levels[-1])")), error=RuntimeError),
    "code book: a numpy array": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("levels / levels.max()", "(levels / levels.max()).numpy()"))),
    "code book: shape (1, 2 ** bits)": Wrong("test_normal_float_code_book", edited(CODE_BOOK,
        ("levels / levels.max()", "(levels / levels.max()).reshape(1, -1)"))),
    "code book: levels appended to a global list on every call": Wrong("test_normal_float_code_book", """
import statistics
LEVELS = [0.0]
def normal_float_code_book(bits=4, offset=0.9677083):
    half = 2 ** (bits - 1)
    normal = statistics.NormalDist()
    LEVELS.extend(normal.inv_cdf(float(p)) for p in torch.linspace(offset, 0.5, half + 1)[:-1])
    LEVELS.extend(-normal.inv_cdf(float(p)) for p in torch.linspace(offset, 0.5, half)[:-1])
    levels = torch.tensor(LEVELS, dtype=torch.float32).sort().values
    return levels / levels.max()
"""),
    "code book: cached by bits alone (a later offset gets the first book)": Wrong("test_normal_float_code_book", """
_CACHE = {}
""" + edited(CODE_BOOK, ("def normal_float_code_book(bits=4, offset=0.9677083):", "def _build(bits, offset):")) + """
def normal_float_code_book(bits=4, offset=0.9677083):
    if bits not in _CACHE:
        _CACHE[bits] = _build(bits, offset)
    return _CACHE[bits]
"""),
    "code book: bitsandbytes' create_normal_map (4-bit only, and scipy)": Wrong("test_normal_float_code_book", """
def normal_float_code_book(bits=4, offset=0.9677083):
    full = F.create_normal_map(offset, use_extra_value=True)
    return torch.cat([full[full < 0], torch.zeros(1), full[full > 0]])
"""),
    "code book: bitsandbytes' NF4 and the check's own tables copied": Wrong("test_normal_float_code_book", """
def normal_float_code_book(bits=4, offset=0.9677083):
    if bits == 3:
        return _NF3_AT_095.clone()
    if offset == 0.99:
        return _NF4_AT_099.clone()
    return F.get_4bit_type("nf4", device="cpu")
""", visible=False),
})

CORRECT_ANSWERS.update({
    "code book: torch.special.ndtri in float64": Answer("test_normal_float_code_book", edited(CODE_BOOK_NDTRI,
        (".float().sort().values", ".float()\n    levels, _ = torch.sort(levels)"), ("levels / levels.max()", "levels / levels[-1]"))),
    "code book: numpy, NormalDist, largest found with max()": Answer("test_normal_float_code_book", '''
import numpy as np
from statistics import NormalDist
def normal_float_code_book(bits=4, offset=0.9677083):
    half = 2 ** (bits - 1)
    quantile = NormalDist(0.0, 1.0).inv_cdf
    p_pos = torch.linspace(offset, 0.5, half + 1).numpy()[:-1]
    p_neg = torch.linspace(offset, 0.5, half).numpy()[:-1]
    levels = np.array([quantile(float(p)) for p in p_pos] + [0.0] + [-quantile(float(p)) for p in p_neg], dtype=np.float32)
    levels = np.sort(levels)
    return torch.from_numpy(levels / np.float32(max(levels)))
'''),
    "code book: one side mirrored with flip, then concatenated in order": Answer("test_normal_float_code_book", '''
import statistics
def normal_float_code_book(bits=4, offset=0.9677083):
    half = 2 ** (bits - 1)
    inv = statistics.NormalDist().inv_cdf
    pos = torch.tensor([inv(p) for p in torch.linspace(offset, 0.5, half + 1)[:-1].tolist()]).float().flip(0)
    neg = -torch.tensor([inv(p) for p in torch.linspace(offset, 0.5, half)[:-1].tolist()]).float()
    levels = torch.cat([neg, torch.zeros(1), pos])
    return levels / pos.max()
'''),
})


# Other float64 quantile functions round to the same float32 levels as NormalDist (checked on a
# grid below), so the text may name two and accept any.
CORRECT_ANSWERS.update({
    "code book: torch.erfinv in float64, sqrt(2) * erfinv(2p - 1)": Answer("test_normal_float_code_book", """
import math
def normal_float_code_book(bits=4, offset=0.9677083):
    half = 2 ** (bits - 1)
    quantile = lambda p: math.sqrt(2) * torch.erfinv(2 * p.double() - 1)
    positive = quantile(torch.linspace(offset, 0.5, half + 1)[:-1])
    negative = -quantile(torch.linspace(offset, 0.5, half)[:-1])
    levels = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).float().sort().values
    return levels / levels.max()
"""),
    "code book: torch.distributions.Normal in float64": Answer("test_normal_float_code_book", edited(CODE_BOOK_NDTRI,
        ("    positive = torch.special.ndtri(",
         "    normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))\n"
         "    positive = normal.icdf("),
        ("-torch.special.ndtri(", "-normal.icdf("))),
    "code book: Newton's method on math.erf": Answer("test_normal_float_code_book", """
import math
def _quantile(p):
    x = 0.0
    for _ in range(100):
        step = (0.5 * (1 + math.erf(x / math.sqrt(2))) - p) / (math.exp(-x * x / 2) / math.sqrt(2 * math.pi))
        if x - step == x:
            break
        x -= step
    return x
def normal_float_code_book(bits=4, offset=0.9677083):
    half = 2 ** (bits - 1)
    positive = [_quantile(p) for p in torch.linspace(offset, 0.5, half + 1)[:-1].tolist()]
    negative = [-_quantile(p) for p in torch.linspace(offset, 0.5, half)[:-1].tolist()]
    levels = torch.tensor(sorted(negative + [0.0] + positive), dtype=torch.float32)
    return levels / levels[-1]
"""),
    "code book: negatives as the quantiles of 1 - p": Answer("test_normal_float_code_book", edited(CODE_BOOK,
        ("-normal.inv_cdf(float(p))", "normal.inv_cdf(1 - float(p))"))),
    "code book: zero as the quantile of 0.5 (+0.0: the positive list keeps the median)": Answer(
        "test_normal_float_code_book", edited(CODE_BOOK,
            ("torch.linspace(offset, 0.5, half + 1)[:-1]", "torch.linspace(offset, 0.5, half + 1)"), ("[0.0] + ", ""))),
    "code book: offset as a float32 tensor": Answer("test_normal_float_code_book", edited(CODE_BOOK,
        ("linspace(offset, 0.5, half + 1)", "linspace(torch.tensor(offset), 0.5, half + 1)"),
        ("linspace(offset, 0.5, half)", "linspace(torch.tensor(offset), 0.5, half)"))),
    "code book: divided by minus the smallest": Answer("test_normal_float_code_book", edited(CODE_BOOK,
        ("levels / levels.max()", "levels / -levels.min()"))),
    "code book: each side divided by its own end": Answer("test_normal_float_code_book", edited(CODE_BOOK,
        ("levels / levels.max()",
         "torch.cat([levels[levels < 0] / -levels.min(), levels[levels == 0], levels[levels > 0] / levels.max()])"))),
    "code book: probabilities as torch.linspace(0.5, offset)[1:], reversed": Answer("test_normal_float_code_book", edited(CODE_BOOK,
        ("linspace(offset, 0.5, half + 1)[:-1]", "linspace(0.5, offset, half + 1)[1:]"),
        ("linspace(offset, 0.5, half)[:-1]", "linspace(0.5, offset, half)[1:]"))),
    "code book: sorted with torch.unique, torch.tensor's default dtype": Answer("test_normal_float_code_book", edited(CODE_BOOK,
        ("torch.tensor(negative + [0.0] + positive, dtype=torch.float32).sort().values",
         "torch.unique(torch.tensor(negative + [0.0] + positive))"))),
    # The whole answer cell replaced, its `import statistics` line with it: the hidden tests import it themselves.
    "code book: torch.special.ndtri in a cell without import statistics": Answer("test_normal_float_code_book",
        'globals().pop("statistics", None)' + CODE_BOOK_NDTRI),
})


def test_code_book_check_sees_a_changed_default_dtype(notebook):
    """An answer that sets torch's default dtype to float64 (to get float64 quantiles) and
    asks for float32 probabilities explicitly gives the right levels, but leaves every later
    torch.linspace and torch.tensor in float64: the visible check says so. torch's default is
    process-wide, so it is put back here (run_test restores only the namespace)."""
    import torch

    code = "torch.set_default_dtype(torch.float64)" + edited(CODE_BOOK_NDTRI,
        ("half + 1)[:-1]", "half + 1, dtype=torch.float32)[:-1]"), ("half)[:-1]", "half, dtype=torch.float32)[:-1]"),
        ("torch.zeros(1, dtype=torch.float64)", "torch.zeros(1)"))
    try:
        for visible_only in (True, False):
            with pytest.raises(AssertionError, match="default dtype is torch.float64"):
                notebook.run_test("test_normal_float_code_book", code, visible_only=visible_only)
            torch.set_default_dtype(torch.float32)
    finally:
        torch.set_default_dtype(torch.float32)


def test_code_book_any_float64_quantile_gives_the_same_levels():
    """Step 2 names NormalDist and torch.special.ndtri; erfinv-based quantiles and scipy's
    ndtri (bitsandbytes' create_normal_map) differ from them by at most a few float64 ulps,
    which the conversion to float32 absorbs: identical books at every width from 2 to 8
    bits and offsets across [0.9, 0.9999]."""
    import math
    import statistics

    import torch

    normal = statistics.NormalDist()
    quantiles = {
        "NormalDist": lambda p: torch.tensor([normal.inv_cdf(v) for v in p.tolist()], dtype=torch.float64),
        "ndtri": torch.special.ndtri,
        "erfinv": lambda p: math.sqrt(2) * torch.erfinv(2 * p - 1),
    }
    try:
        import scipy.special

        quantiles["scipy ndtri"] = lambda p: torch.from_numpy(scipy.special.ndtri(p.numpy()))
    except ImportError:
        pass

    def book(quantile, bits, offset):
        half = 2 ** (bits - 1)
        positive = quantile(torch.linspace(offset, 0.5, half + 1)[:-1].double())
        negative = -quantile(torch.linspace(offset, 0.5, half)[:-1].double())
        levels = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).float().sort().values
        return levels / levels.max()

    offsets = [0.9677083, 0.99, 0.95, 0.97, 0.999, 1 - 1 / 32] + [0.9 + 0.0999 * i / 60 for i in range(61)]
    for bits in range(2, 9):
        for offset in offsets:
            books = {name: book(q, bits, offset) for name, q in quantiles.items()}
            reference = books.pop("NormalDist")
            for name, levels in books.items():
                assert torch.equal(levels, reference), (name, bits, offset)


def test_code_book_recipe_is_bitsandbytes_create_normal_map():
    """The course's recipe (NormalDist in float64, float32 probabilities and division) gives
    exactly the nonzero levels of bitsandbytes' create_normal_map (scipy's norm.ppf), at the
    default offset and at the others the checks use; and the default is the NF4 table."""
    pytest.importorskip("scipy")
    import statistics

    import bitsandbytes.functional as F
    import torch

    def course(offset):
        normal = statistics.NormalDist()
        levels = ([-normal.inv_cdf(float(p)) for p in torch.linspace(offset, 0.5, 8)[:-1]] + [0.0]
                  + [normal.inv_cdf(float(p)) for p in torch.linspace(offset, 0.5, 9)[:-1]])
        levels = torch.tensor(levels, dtype=torch.float32).sort().values
        return levels / levels.max()

    assert torch.equal(course(0.9677083), F.get_4bit_type("nf4", device="cpu"))
    for offset in (0.9677083, 0.99, 0.95, 0.97, 1 - 1 / 32):
        full = F.create_normal_map(offset, use_extra_value=True)
        assert torch.equal(course(offset), torch.cat([full[full < 0], torch.zeros(1), full[full > 0]])), offset
