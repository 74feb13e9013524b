"""Module 4's hidden tests accept the solution and reject plausible mistakes.

The notebook runs offline here (the packaged all-MiniLM-L6-v2 as MODEL); the
hidden tests add a tiny Llama causal LM, tied and untied, so mistakes about
the LM head are caught even though the offline model has none."""

import pytest

from graded import Answer, SolvedNotebook, Wrong

pytestmark = pytest.mark.slow

WRONG_ANSWERS = {
    # Exercise 1: which modules stay 16-bit
    "LM head counted as 4-bit (modules)": Wrong("test_modules_kept_16bit", '''
def modules_kept_16bit(model):
    return sorted(name for name, m in model.named_modules()
                  if list(m.parameters(recurse=False)) and not isinstance(m, torch.nn.Linear))
'''),
    "norms forgotten": Wrong("test_modules_kept_16bit", '''
def modules_kept_16bit(model):
    head = model.get_output_embeddings()
    return sorted(name for name, m in model.named_modules()
                  if isinstance(m, torch.nn.Embedding) or (head is not None and m is head))
'''),
    "Linear layers kept because their bias is 16-bit": Wrong("test_modules_kept_16bit", '''
def modules_kept_16bit(model):
    return sorted(name for name, m in model.named_modules() if list(m.parameters(recurse=False)))
'''),
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
    # Exercise 2: get_memory_footprint() after a 4-bit load
    "LM head counted as 4-bit (footprint)": Wrong("test_predict_footprint_4bit", '''
def predict_footprint_4bit(model):
    quantized = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear)}
    total = sum(math.ceil(p.numel() / 2) if id(p) in quantized else p.numel() * p.element_size()
                for p in model.parameters())
    return total + sum(b.numel() * b.element_size() for b in model.buffers())
'''),
    "4-bit weights as one byte each (no packing)": Wrong("test_predict_footprint_4bit", '''
def predict_footprint_4bit(model):
    head = model.get_output_embeddings()
    quantized = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head}
    total = sum(p.numel() if id(p) in quantized else p.numel() * p.element_size() for p in model.parameters())
    return total + sum(b.numel() * b.element_size() for b in model.buffers())
'''),
    "every parameter in 4 bits": Wrong("test_predict_footprint_4bit", '''
def predict_footprint_4bit(model):
    return sum(math.ceil(p.numel() / 2) for p in model.parameters()) + sum(
        b.numel() * b.element_size() for b in model.buffers())
'''),
    "tied embedding counted twice": Wrong("test_predict_footprint_4bit", '''
def predict_footprint_4bit(model):
    head = model.get_output_embeddings()
    quantized = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head}
    total = sum(math.ceil(p.numel() / 2) if id(p) in quantized else p.numel() * p.element_size()
                for _, p in model.named_parameters(remove_duplicate=False))
    return total + sum(b.numel() * b.element_size() for b in model.buffers())
'''),
    "quant_state added to the footprint": Wrong("test_predict_footprint_4bit", '''
def predict_footprint_4bit(model):
    head = model.get_output_embeddings()
    quantized = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Linear) and m is not head}
    total = sum(math.ceil(p.numel() / 2) + 4 * math.ceil(p.numel() / 64) if id(p) in quantized
                else p.numel() * p.element_size() for p in model.parameters())
    return total + sum(b.numel() * b.element_size() for b in model.buffers())
'''),
    # Exercise 3: scale overhead in bits per weight
    "second-level scales forgotten": Wrong("test_scale_overhead_bits", '''
def scale_overhead_bits(blocksize=64, double_quant=False, blocksize2=256):
    return (8 if double_quant else 32) / blocksize
'''),
    "fp16 absmax": Wrong("test_scale_overhead_bits", '''
def scale_overhead_bits(blocksize=64, double_quant=False, blocksize2=256):
    return 8 / blocksize + 16 / (blocksize * blocksize2) if double_quant else 16 / blocksize
'''),
    "double quantization ignored": Wrong("test_scale_overhead_bits", '''
def scale_overhead_bits(blocksize=64, double_quant=False, blocksize2=256):
    return 32 / blocksize
'''),
    "hard-coded 0.5 and 0.127": Wrong("test_scale_overhead_bits", '''
def scale_overhead_bits(blocksize=64, double_quant=False, blocksize2=256):
    return 0.126953125 if double_quant else 0.5
'''),
    # Exercise 4: the true total with quant_state
    "quant_state forgotten": Wrong("test_predict_true_total_4bit", '''
def predict_true_total_4bit(model, double_quant=False):
    return predict_footprint_4bit(model)
'''),
    "double quantization still 32-bit absmax": Wrong("test_predict_true_total_4bit", '''
def predict_true_total_4bit(model, double_quant=False):
    head = model.get_output_embeddings()
    total = predict_footprint_4bit(model)
    for m in model.modules():
        if isinstance(m, torch.nn.Linear) and m is not head:
            total += 4 * math.ceil(m.weight.numel() / 64) + 64
    return total
'''),
    "code books forgotten": Wrong("test_predict_true_total_4bit", '''
def predict_true_total_4bit(model, double_quant=False):
    head = model.get_output_embeddings()
    total = predict_footprint_4bit(model)
    for m in model.modules():
        if isinstance(m, torch.nn.Linear) and m is not head:
            blocks = math.ceil(m.weight.numel() / 64)
            total += blocks + 4 * math.ceil(blocks / 256) + 4 if double_quant else 4 * blocks
    return total
'''),
    "LM head counted as 4-bit (true total)": Wrong("test_predict_true_total_4bit", '''
def predict_true_total_4bit(model, double_quant=False):
    quantized = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    ids = {id(m.weight) for m in quantized}
    total = sum(math.ceil(p.numel() / 2) if id(p) in ids else p.numel() * p.element_size() for p in model.parameters())
    total += sum(b.numel() * b.element_size() for b in model.buffers())
    for m in quantized:
        blocks = math.ceil(m.weight.numel() / 64)
        total += 64 + (blocks + 4 + 4 * math.ceil(blocks / 256) + 1024 if double_quant else 4 * blocks)
    return total
'''),
    # Exercise 5: NF4 quantization, bit for bit
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
    "uniform INT4 rounding instead of the nearest NF4 value": Wrong("test_nf4_quantize", '''
def nf4_quantize(w, blocksize=64):
    flat = w.detach().cpu().reshape(-1).float()
    n = flat.numel()
    blocks = torch.nn.functional.pad(flat, (0, -n % blocksize)).view(-1, blocksize)
    absmax = blocks.abs().max(1).values
    x = (blocks / absmax.clamp(min=1e-38)[:, None]).flatten()[: n + n % 2]
    codes = torch.round((x + 1) * 7.5).to(torch.uint8)
    return (codes[0::2] << 4) | codes[1::2], absmax
'''),
    "next code up instead of the nearest": Wrong("test_nf4_quantize", '''
def nf4_quantize(w, blocksize=64):
    flat = w.detach().cpu().reshape(-1).float()
    n = flat.numel()
    blocks = torch.nn.functional.pad(flat, (0, -n % blocksize)).view(-1, blocksize)
    absmax = blocks.abs().max(1).values
    x = torch.clamp(blocks * (1 / absmax.clamp(min=1e-38))[:, None], -1, 1).flatten()[: n + n % 2]
    codes = torch.searchsorted(NF4, x).clamp(max=15).to(torch.uint8)
    return (codes[0::2] << 4) | codes[1::2], absmax
'''),
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
    "block of zeros divides by zero": Wrong("test_nf4_quantize", '''
def nf4_quantize(w, blocksize=64):
    flat = w.detach().cpu().reshape(-1).float()
    n = flat.numel()
    blocks = torch.nn.functional.pad(flat, (0, -n % blocksize)).view(-1, blocksize)
    absmax = blocks.abs().max(1).values
    x = (blocks / absmax[:, None]).flatten()[: n + n % 2]
    codes = torch.bucketize(x, (NF4[1:] + NF4[:-1]) / 2).to(torch.uint8)
    return (codes[0::2] << 4) | codes[1::2], absmax
'''),
    "max instead of max of absolute values": Wrong("test_nf4_quantize", '''
def nf4_quantize(w, blocksize=64):
    flat = w.detach().cpu().reshape(-1).float()
    n = flat.numel()
    blocks = torch.nn.functional.pad(flat, (0, -n % blocksize)).view(-1, blocksize)
    absmax = blocks.max(1).values
    x = torch.clamp(blocks * (1 / absmax)[:, None], -1, 1).flatten()[: n + n % 2]
    codes = torch.bucketize(x, (NF4[1:] + NF4[:-1]) / 2).to(torch.uint8)
    return (codes[0::2] << 4) | codes[1::2], absmax
'''),
    "odd count padded with code 0": Wrong("test_nf4_quantize", '''
_solution_nf4_quantize = nf4_quantize
def nf4_quantize(w, blocksize=64):
    packed, absmax = _solution_nf4_quantize(w, blocksize)
    if w.numel() % 2:
        packed = packed.clone()
        packed[-1] = packed[-1] & 0xF0
    return packed, absmax
'''),
    # Exercise 6: dequantization and its error
    "nibbles swapped when unpacking": Wrong("test_nf4_dequantize", '''
def nf4_dequantize(packed, absmax, shape, blocksize=64):
    packed = packed.flatten()
    codes = torch.stack([packed & 15, packed >> 4], dim=1).flatten().long()
    n = math.prod(shape)
    return (NF4[codes[:n]] * absmax.float().repeat_interleave(blocksize)[:n]).reshape(shape)
'''),
    "absmax not applied": Wrong("test_nf4_dequantize", '''
def nf4_dequantize(packed, absmax, shape, blocksize=64):
    packed = packed.flatten()
    codes = torch.stack([packed >> 4, packed & 15], dim=1).flatten().long()
    return NF4[codes[: math.prod(shape)]].reshape(shape)
'''),
    "fixed block size 64 in dequantize": Wrong("test_nf4_dequantize", '''
def nf4_dequantize(packed, absmax, shape, blocksize=64):
    packed = packed.flatten()
    codes = torch.stack([packed >> 4, packed & 15], dim=1).flatten().long()
    n = math.prod(shape)
    scales = absmax.float().repeat_interleave(64)
    scales = torch.cat([scales, scales[-1:].repeat(max(0, n - scales.numel()))])[:n]
    return (NF4[codes[:n]] * scales).reshape(shape)
'''),
    "largest error instead of the mean": Wrong("test_nf4_dequantize", '''
def nf4_mean_abs_error(w, blocksize=64):
    packed, absmax = nf4_quantize(w, blocksize)
    restored = nf4_dequantize(packed, absmax, tuple(w.shape), blocksize)
    return (w.detach().cpu().float() - restored).abs().max().item()
'''),
    "mean squared error": Wrong("test_nf4_dequantize", '''
def nf4_mean_abs_error(w, blocksize=64):
    packed, absmax = nf4_quantize(w, blocksize)
    restored = nf4_dequantize(packed, absmax, tuple(w.shape), blocksize)
    return (w.detach().cpu().float() - restored).pow(2).mean().item()
'''),
    "error with the default block size only": Wrong("test_nf4_dequantize", '''
def nf4_mean_abs_error(w, blocksize=64):
    packed, absmax = nf4_quantize(w, 64)
    restored = nf4_dequantize(packed, absmax, tuple(w.shape), 64)
    return (w.detach().cpu().float() - restored).abs().mean().item()
'''),
    # Exercise 7: quiz
    "quiz: INT4 matrix products": Wrong("test_quiz_gptq_precision", 'q2_answer = "A"'),
    "quiz: not a letter": Wrong("test_quiz_gptq_precision", 'q2_answer = "16-bit"'),
}

# Correct alternatives to the solution, which every test cell must accept.
CORRECT_ANSWERS = {
}


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


@pytest.mark.parametrize("mistake", WRONG_ANSWERS)
def test_hidden_tests_reject(notebook, mistake):
    notebook.assert_rejects(WRONG_ANSWERS[mistake])


@pytest.mark.parametrize("alternative", CORRECT_ANSWERS)
def test_correct_alternatives_pass(notebook, alternative):
    notebook.assert_accepts(CORRECT_ANSWERS[alternative])



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
