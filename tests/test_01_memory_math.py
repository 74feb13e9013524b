"""Module 1's checks accept the solution and correct alternatives, reject
plausible mistakes (in the visible check too, when they break a rule the text
states), and a mistake in an earlier helper costs only its own exercise."""

import ast
import re

import nbformat
import pytest

from graded import HIDDEN_TESTS, ROOT, Answer, SolvedNotebook, Wrong, edited, grade_id

# Each exercise's reference answer, written the way its variants need it. A variant is the reference
# with the edit that makes its mistake (or its different but correct way), so the edit is what it tests;
# edited() raises when an edit no longer fits, rather than testing the reference unchanged.
BYTES_PER_PARAM = '''
def bytes_per_param(fmt):
    bits = {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "int4": 4}
    if fmt not in bits:
        raise ValueError(f"unknown format {fmt}")
    return bits[fmt] / 8
'''

MEMORY_GB = '''
def memory_gb(n_params, fmt):
    return n_params * bytes_per_param(fmt) / 1e9
'''

BEST_FORMAT_THAT_FITS = '''
def best_format_that_fits(n_params, gpu_gb):
    for fmt in ["fp32", "fp16", "int8", "int4"]:
        if memory_gb(n_params, fmt) <= gpu_gb:
            return fmt
    return None
'''

COUNT_LLAMA_PARAMS = '''
def count_llama_params(config):
    h, v = config["hidden_size"], config["vocab_size"]
    kv = config.get("num_key_value_heads") or config["num_attention_heads"]
    hd = h // config["num_attention_heads"]
    layer = 2 * h * h + 2 * h * kv * hd + 3 * h * config["intermediate_size"] + 2 * h
    out = 0 if config.get("tie_word_embeddings", False) else v * h
    return config["num_hidden_layers"] * layer + v * h + h + out
'''

COUNT_PARAMS_ON_META = '''
def count_params_on_meta(config):
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config))
    return sum(p.numel() for p in model.parameters())
'''

EFFECTIVE_BITS_PER_WEIGHT = '''
def effective_bits_per_weight(bits, group_size, scale_bits=16, zero_point_bits=0):
    return bits + (scale_bits + zero_point_bits) / group_size
'''

KV_CACHE_GB = '''
def kv_cache_gb(n_layers, n_kv_heads, head_dim, seq_len, batch_size=1, bytes_per_value=2):
    return 2 * n_layers * n_kv_heads * head_dim * seq_len * batch_size * bytes_per_value / 1e9
'''

DEPLOYMENT_GB = """
def deployment_gb(config, seq_len, batch_size=1, bits=4, group_size=128, zero_point_bits=0):
    h, v, n = config["hidden_size"], config["vocab_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads", heads)
    tied = config.get("tie_word_embeddings", False)
    norms = 2 * n * h + h
    kept = v * h * (1 if tied else 2) + norms
    quantized = count_llama_params(config) - kept
    weights = quantized * effective_bits_per_weight(bits, group_size, 16, zero_point_bits) / 8 + kept * 2
    return weights / 1e9 + kv_cache_gb(n, kv, h // heads, seq_len, batch_size)
"""

LONGEST_CONTEXT_AT_SPEED = """
def longest_context_at_speed(config, bandwidth_gb_s, tokens_per_s, bits=4, group_size=128, zero_point_bits=0):
    h, v, n = config["hidden_size"], config["vocab_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads", heads)
    tied = config.get("tie_word_embeddings", False)
    norms = 2 * n * h + h
    linear = count_llama_params(config) - v * h * (1 if tied else 2) - norms
    bpw = effective_bits_per_weight(bits, group_size, 16, zero_point_bits)
    weights = linear * bpw / 8 + (v * h + norms) * 2
    per_token = 2 * n * kv * (h // heads) * 2
    budget = bandwidth_gb_s * 1e9 / tokens_per_s
    if budget < weights:
        return None
    return math.floor((budget - weights) / per_token)
"""

WRONG_ANSWERS = {
    # Exercise 1: bytes_per_param
    "bits instead of bytes": Wrong("test_bytes_per_param", '''
def bytes_per_param(fmt):
    return float({"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "int4": 4}[fmt])
'''),
    "bf16 forgotten (returns 0)": Wrong("test_bytes_per_param", '''
def bytes_per_param(fmt):
    return {"fp32": 4.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5}.get(fmt, 0.0)
'''),
    "bf16 forgotten (raises ValueError)": Wrong("test_bytes_per_param", '''
def bytes_per_param(fmt):
    sizes = {"fp32": 4.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5}
    if fmt not in sizes:
        raise ValueError(f"unknown format {fmt}")
    return sizes[fmt]
'''),
    "unknown format returns a number": Wrong("test_bytes_per_param", '''
def bytes_per_param(fmt):
    return {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}.get(fmt, 0.0)
'''),
    "unknown format returns None": Wrong("test_bytes_per_param", '''
def bytes_per_param(fmt):
    if fmt == "fp32":
        return 4.0
    if fmt in ("fp16", "bf16"):
        return 2.0
    if fmt == "int8":
        return 1.0
    if fmt == "int4":
        return 0.5
'''),
    "KeyError instead of ValueError": Wrong("test_bytes_per_param", '''
def bytes_per_param(fmt):
    return {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "int4": 4}[fmt] / 8
'''),
    "ValueError that does not name the format": Wrong("test_bytes_per_param", edited(
        BYTES_PER_PARAM, ('f"unknown format {fmt}"', '"unknown format"'))),
    "assert instead of raise ValueError": Wrong("test_bytes_per_param", edited(
        BYTES_PER_PARAM,
        ('if fmt not in bits:\n        raise ValueError(f"unknown format {fmt}")',
         'assert fmt in bits, f"unknown format {fmt}"'))),
    "integer division: int4 becomes 0": Wrong("test_bytes_per_param", edited(
        BYTES_PER_PARAM, ("bits[fmt] / 8", "bits[fmt] // 8"))),
    "int4 rounded up to a whole byte": Wrong("test_bytes_per_param", edited(
        BYTES_PER_PARAM,
        ("\ndef", "\nimport math as _m\ndef"),
        ("return bits[fmt] / 8", "return float(_m.ceil(bits[fmt] / 8))"))),
    "bits parsed from the name, so any name gets a size": Wrong("test_bytes_per_param", '''
def bytes_per_param(fmt):
    return int(fmt.lstrip("fpbint")) / 8
'''),

    # Exercise 2: memory_gb
    "GiB where GB is asked": Wrong("test_memory_gb", edited(MEMORY_GB, ("/ 1e9", "/ 2**30"))),
    "forgot the factor of 8": Wrong("test_memory_gb", '''
def memory_gb(n_params, fmt):
    bits = {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "int4": 4}[fmt]
    return n_params * bits / 1e9
'''),
    "bytes instead of GB": Wrong("test_memory_gb", edited(MEMORY_GB, (" / 1e9", ""))),
    "MB instead of GB": Wrong("test_memory_gb", edited(MEMORY_GB, ("/ 1e9", "/ 1e6"))),
    "floor division by 1e9": Wrong("test_memory_gb", edited(MEMORY_GB, ("/ 1e9", "// 1e9"))),
    "rounded to two decimals": Wrong("test_memory_gb", edited(
        MEMORY_GB,
        ("return n_params * bytes_per_param(fmt) / 1e9", "return round(n_params * bytes_per_param(fmt) / 1e9, 2)"))),
    "format ignored (always fp16)": Wrong("test_memory_gb", edited(MEMORY_GB, ("bytes_per_param(fmt)", "2"))),
    "own table without bf16": Wrong("test_memory_gb", '''
def memory_gb(n_params, fmt):
    return n_params * {"fp32": 4, "fp16": 2, "int8": 1, "int4": 0.5}[fmt] / 1e9
'''),
    "hard-coded 7B answer": Wrong("test_memory_gb", '''
def memory_gb(n_params, fmt):
    return {"fp32": 28.0, "fp16": 14.0, "bf16": 14.0, "int8": 7.0, "int4": 3.5}[fmt]
'''),
    "hard-coded answers of memory_gb's visible check": Wrong("test_memory_gb", '''
def memory_gb(n_params, fmt):
    return {(7e9, "fp16"): 14.0, (6_738_415_616, "int4"): 3.369207808,
            (1_100_048_384, "bf16"): 2.200096768}[(n_params, fmt)]
''', visible=False),
    "float32 result (numpy)": Wrong("test_memory_gb", '''
import numpy as _np
def memory_gb(n_params, fmt):
    return _np.float32(n_params) * _np.float32(bytes_per_param(fmt)) / _np.float32(1e9)
'''),

    # Exercise 3: best_format_that_fits
    "strict comparison": Wrong("test_best_format_that_fits", edited(BEST_FORMAT_THAT_FITS, ("<= gpu_gb", "< gpu_gb"))),
    "memory truncated with int()": Wrong("test_best_format_that_fits", edited(
        BEST_FORMAT_THAT_FITS, ("memory_gb(n_params, fmt) <=", "int(memory_gb(n_params, fmt)) <="))),
    "memory rounded": Wrong("test_best_format_that_fits", edited(
        BEST_FORMAT_THAT_FITS, ("memory_gb(n_params, fmt) <=", "round(memory_gb(n_params, fmt)) <="))),
    "memory rounded to one decimal": Wrong("test_best_format_that_fits", edited(
        BEST_FORMAT_THAT_FITS, ("memory_gb(n_params, fmt) <=", "round(memory_gb(n_params, fmt), 1) <="))),
    "memory rounded up to whole GB": Wrong("test_best_format_that_fits", edited(
        BEST_FORMAT_THAT_FITS,
        ("\ndef", "\nimport math as _m\ndef"),
        ("memory_gb(n_params, fmt) <=", "_m.ceil(memory_gb(n_params, fmt)) <="))),
    "GPU size truncated with int()": Wrong("test_best_format_that_fits", edited(
        BEST_FORMAT_THAT_FITS, ("<= gpu_gb", "<= int(gpu_gb)"))),
    "fits in GiB": Wrong("test_best_format_that_fits", edited(
        BEST_FORMAT_THAT_FITS, ("memory_gb(n_params, fmt)", "n_params * bytes_per_param(fmt) / 2**30"))),
    "lowest precision first": Wrong("test_best_format_that_fits", edited(
        BEST_FORMAT_THAT_FITS, ('["fp32", "fp16", "int8", "int4"]', '["int4", "int8", "fp16", "fp32"]'))),
    "a string when nothing fits": Wrong("test_best_format_that_fits", edited(
        BEST_FORMAT_THAT_FITS, ("return None", 'return "does not fit"'))),
    "int4 when nothing fits": Wrong("test_best_format_that_fits", edited(
        BEST_FORMAT_THAT_FITS, ('"int8", "int4"]', '"int8"]'), ("return None", 'return "int4"'))),
    "bf16 tried before fp16": Wrong("test_best_format_that_fits", edited(
        BEST_FORMAT_THAT_FITS, ('"fp32", "fp16"', '"fp32", "bf16", "fp16"'))),
    "GPU size ignored (always 24 GB)": Wrong("test_best_format_that_fits", edited(
        BEST_FORMAT_THAT_FITS, ("<= gpu_gb", "<= 24"))),
    "10% headroom the text does not ask for": Wrong("test_best_format_that_fits", edited(
        BEST_FORMAT_THAT_FITS, ("<= gpu_gb", "<= 0.9 * gpu_gb"))),
    "the GPU size taken for GiB": Wrong("test_best_format_that_fits", edited(
        BEST_FORMAT_THAT_FITS,
        ("memory_gb(n_params, fmt) <= gpu_gb", "n_params * bytes_per_param(fmt) <= gpu_gb * 2**30"))),

    # Exercise 4: count_llama_params
    "tied embeddings counted twice": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS,
        ('    out = 0 if config.get("tie_word_embeddings", False) else v * h\n', ""),
        ("v * h + h + out", "2 * v * h + h"))),
    "grouped-query attention ignored": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS,
        ('    kv = config.get("num_key_value_heads") or config["num_attention_heads"]\n'
         '    hd = h // config["num_attention_heads"]\n',
         ""),
        ("2 * h * h + 2 * h * kv * hd", "4 * h * h"))),
    "head_dim from the KV heads": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS, ('hd = h // config["num_attention_heads"]', "hd = h // kv"))),
    "norms left out": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS,
        ('config["intermediate_size"] + 2 * h', 'config["intermediate_size"]'),
        ("v * h + h + out", "v * h + out"))),
    "final norm left out": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS, ("v * h + h + out", "v * h + out"))),
    "one norm per layer": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS, ('config["intermediate_size"] + 2 * h', 'config["intermediate_size"] + h'))),
    "two MLP matrices": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS, ("3 * h * config", "2 * h * config"))),
    "output layer forgotten": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS,
        ('    out = 0 if config.get("tie_word_embeddings", False) else v * h\n', ""),
        ("v * h + h + out", "v * h + h"))),
    "attention biases counted": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS, ("2 * h * h + 2 * h * kv * hd", "2 * (h * h + h) + 2 * (h * kv * hd + kv * hd)"))),
    "optional tie key read with []": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS, ('config.get("tie_word_embeddings", False)', 'config["tie_word_embeddings"]'))),
    "optional KV-heads key read with []": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS,
        ('config.get("num_key_value_heads") or config["num_attention_heads"]', 'config["num_key_value_heads"]'))),
    "a float count (head_dim with /)": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS, ("hd = h // config", "hd = h / config"))),
    "mutates config: pops tie_word_embeddings": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS,
        ("(config):\n", '(config):\n    tied = config.pop("tie_word_embeddings", False)\n'),
        ('out = 0 if config.get("tie_word_embeddings", False) else v * h', "out = 0 if tied else v * h"))),
    "mutates config: fills in the default KV heads": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS,
        ('kv = config.get("num_key_value_heads") or config["num_attention_heads"]',
         'kv = config.setdefault("num_key_value_heads", config["num_attention_heads"])'))),
    "mutates config: overwrites the KV heads (GQA ignored where a later reference cannot see it)": Wrong(
        "test_count_llama_params", edited(
            COUNT_LLAMA_PARAMS,
            ('kv = config.get("num_key_value_heads") or config["num_attention_heads"]',
             'kv = config["num_key_value_heads"] = config["num_attention_heads"]'))),
    "KV heads default to 1": Wrong("test_count_llama_params", edited(
        COUNT_LLAMA_PARAMS,
        ('config.get("num_key_value_heads") or config["num_attention_heads"]', 'config.get("num_key_value_heads", 1)'))),
    "hard-coded counts of the visible configs": Wrong("test_count_llama_params", '''
def count_llama_params(config):
    return {4096: 6_738_415_616, 2048: 1_100_048_384 if config["vocab_size"] == 32000 else 1_235_814_400,
            48: 103_536}[config["hidden_size"]]
''', visible=False),

    # Exercise 5: count_params_on_meta
    "meta count sums tied tensor twice": Wrong("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META, ("p in model.parameters()", "_, p in model.named_parameters(remove_duplicate=False)"))),
    "state_dict counts the tied tensor twice": Wrong("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META,
        ("sum(p.numel() for p in model.parameters())", "sum(t.numel() for t in model.state_dict().values())"))),
    "model.model: the output layer left out": Wrong("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META, ("model.parameters()", "model.model.parameters()"))),
    "embeddings excluded": Wrong("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META,
        ("sum(p.numel() for p in model.parameters())", "model.num_parameters(exclude_embeddings=True)"))),
    "number of tensors, not of parameters": Wrong("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META, ("sum(p.numel() for p in model.parameters())", "len(list(model.parameters()))"))),
    "buffers counted as parameters": Wrong("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META,
        ("model.parameters())", "model.parameters()) + sum(b.numel() for b in model.buffers())"))),
    "billions instead of a count": Wrong("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META, ("model.parameters())", "model.parameters()) / 1e9"))),
    "a 0-d tensor count": Wrong("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META,
        ("sum(p.numel() for p in model.parameters())", "torch.tensor([p.numel() for p in model.parameters()]).sum()"))),
    "built on the CPU": Wrong("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META, ('    with torch.device("meta"):\n        model', "    model"))),
    "built on the CPU, then moved to meta": Wrong("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META,
        ('    with torch.device("meta"):\n        model', "    model"),
        ("LlamaConfig(**config))", 'LlamaConfig(**config)).to("meta")'))),
    "the formula, no model built": Wrong("test_count_params_on_meta", '''
def count_params_on_meta(config):
    return count_llama_params(config)
'''),
    "accelerate's init_empty_weights unties the output layer": Wrong("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META,
        ("\ndef", "\nimport accelerate\ndef"),
        ('torch.device("meta")', "accelerate.init_empty_weights()"))),
    "mutates config": Wrong("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META,
        ("(config):\n", '(config):\n    tied = config.pop("tie_word_embeddings", False)\n'),
        ("LlamaConfig(**config)", "LlamaConfig(tie_word_embeddings=tied, **config)"))),

    # Exercise 6: effective_bits_per_weight
    "scale left out": Wrong("test_effective_bits_per_weight", edited(
        EFFECTIVE_BITS_PER_WEIGHT, ("bits + (scale_bits + zero_point_bits) / group_size", "float(bits)"))),
    "zero point ignored": Wrong("test_effective_bits_per_weight", edited(
        EFFECTIVE_BITS_PER_WEIGHT, ("(scale_bits + zero_point_bits) / group_size", "scale_bits / group_size"))),
    "scale counted in bytes": Wrong("test_effective_bits_per_weight", edited(
        EFFECTIVE_BITS_PER_WEIGHT, ("/ group_size", "/ 8 / group_size"))),
    "bytes per weight instead of bits": Wrong("test_effective_bits_per_weight", edited(
        EFFECTIVE_BITS_PER_WEIGHT,
        ("bits + (scale_bits + zero_point_bits) / group_size",
         "(bits + (scale_bits + zero_point_bits) / group_size) / 8"))),
    "ratio inverted": Wrong("test_effective_bits_per_weight", edited(
        EFFECTIVE_BITS_PER_WEIGHT,
        ("(scale_bits + zero_point_bits) / group_size", "group_size / (scale_bits + zero_point_bits)"))),
    "zero point not shared by the group": Wrong("test_effective_bits_per_weight", edited(
        EFFECTIVE_BITS_PER_WEIGHT,
        ("(scale_bits + zero_point_bits) / group_size", "scale_bits / group_size + zero_point_bits"))),
    "scale_bits ignored (always 16)": Wrong("test_effective_bits_per_weight", edited(
        EFFECTIVE_BITS_PER_WEIGHT, ("(scale_bits + zero_point_bits)", "(16 + zero_point_bits)"))),
    "zero point as wide as the scale": Wrong("test_effective_bits_per_weight", edited(
        EFFECTIVE_BITS_PER_WEIGHT,
        ("(scale_bits + zero_point_bits)", "(2 * scale_bits if zero_point_bits else scale_bits)"))),
    "integer division of the overhead": Wrong("test_effective_bits_per_weight", edited(
        EFFECTIVE_BITS_PER_WEIGHT,
        ("bits + (scale_bits + zero_point_bits) / group_size",
         "float(bits + (scale_bits + zero_point_bits) // group_size)"))),
    "rounded to three decimals": Wrong("test_effective_bits_per_weight", edited(
        EFFECTIVE_BITS_PER_WEIGHT,
        ("bits + (scale_bits + zero_point_bits) / group_size",
         "round(bits + (scale_bits + zero_point_bits) / group_size, 3)"))),
    "hard-coded 4.125": Wrong("test_effective_bits_per_weight", edited(
        EFFECTIVE_BITS_PER_WEIGHT, ("bits + (scale_bits + zero_point_bits) / group_size", "4.125"))),
    "hard-coded answers of effective_bits_per_weight's visible check": Wrong("test_effective_bits_per_weight", '''
def effective_bits_per_weight(bits, group_size, scale_bits=16, zero_point_bits=0):
    return {(4, 128, 16, 0): 4.125, (4, 64, 32, 0): 4.5,
            (3, 128, 16, 8): 3.1875}[(bits, group_size, scale_bits, zero_point_bits)]
''', visible=False),

    # Exercise 7: kv_cache_gb
    "keys only, no values": Wrong("test_kv_cache_gb", edited(KV_CACHE_GB, ("2 * n_layers", "n_layers"))),
    "batch size ignored": Wrong("test_kv_cache_gb", edited(KV_CACHE_GB, ("seq_len * batch_size", "seq_len"))),
    "bytes_per_value ignored (always fp16)": Wrong("test_kv_cache_gb", edited(
        KV_CACHE_GB, ("* bytes_per_value", "* 2"))),
    "bytes_per_value taken for bits": Wrong("test_kv_cache_gb", edited(
        KV_CACHE_GB, ("bytes_per_value / 1e9", "bytes_per_value / 8 / 1e9"))),
    "layers forgotten": Wrong("test_kv_cache_gb", edited(KV_CACHE_GB, ("2 * n_layers * n_kv_heads", "2 * n_kv_heads"))),
    "KV cache in GiB": Wrong("test_kv_cache_gb", edited(KV_CACHE_GB, ("/ 1e9", "/ 2**30"))),
    "KV cache in bytes": Wrong("test_kv_cache_gb", edited(
        KV_CACHE_GB, ("return 2 *", "return float(2 *"), ("bytes_per_value / 1e9", "bytes_per_value)"))),
    "a 0-d tensor (computed with torch)": Wrong("test_kv_cache_gb", '''
def kv_cache_gb(n_layers, n_kv_heads, head_dim, seq_len, batch_size=1, bytes_per_value=2):
    sizes = torch.tensor([2, n_layers, n_kv_heads, head_dim, seq_len, batch_size, bytes_per_value], dtype=torch.float64)
    return sizes.prod() / 1e9
'''),
    "head_dim ignored": Wrong("test_kv_cache_gb", edited(KV_CACHE_GB, ("head_dim * seq_len", "seq_len"))),
    "hard-coded answers of kv_cache_gb's visible check": Wrong("test_kv_cache_gb", '''
def kv_cache_gb(n_layers, n_kv_heads, head_dim, seq_len, batch_size=1, bytes_per_value=2):
    return {1: 2.147483648, 4: 8.589934592, 2: 0.32768}[batch_size]
''', visible=False),

    # Exercise 8: the quiz
    "quiz in GiB": Wrong("test_quiz_13b_fp16", "q1_13b_fp16_gb = 13e9 * 2 / 2**30"),
    "quiz in bytes": Wrong("test_quiz_13b_fp16", "q1_13b_fp16_gb = 13e9 * 2"),
    "quiz in FP32": Wrong("test_quiz_13b_fp16", 'q1_13b_fp16_gb = memory_gb(13e9, "fp32")'),
    "quiz in INT8": Wrong("test_quiz_13b_fp16", "q1_13b_fp16_gb = 13.0"),
    "quiz with 13 parameters instead of 13e9": Wrong("test_quiz_13b_fp16", 'q1_13b_fp16_gb = memory_gb(13, "fp16")'),
    "quiz as text": Wrong("test_quiz_13b_fp16", 'q1_13b_fp16_gb = "26 GB"'),
    "quiz in GiB, rounded": Wrong("test_quiz_13b_fp16", "q1_13b_fp16_gb = round(13e9 * 2 / 2**30)"),

    # Exercise 10: deployment_gb
    "deployment: LM head quantized too": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("kept = v * h * (1 if tied else 2) + norms", "kept = v * h + norms"))),
    "deployment: tied embeddings counted twice": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB,
        ("kept = v * h * (1 if tied else 2) + norms\n    quantized = count_llama_params(config) - kept",
         "kept = 2 * v * h + norms\n    quantized = count_llama_params(config) - (v * h * (1 if tied else 2) + norms)"))),
    "deployment: KV cache in the weights' width": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("seq_len, batch_size)", "seq_len, batch_size, bytes_per_value=bits / 8)"))),
    "deployment: GiB where GB is asked": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB,
        ("return weights / 1e9 + kv_cache_gb(n, kv, h // heads, seq_len, batch_size)",
         "kv_bytes = 2 * n * kv * (h // heads) * seq_len * batch_size * 2\n    return (weights + kv_bytes) / 2**30"))),
    "deployment: batch size ignored": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("seq_len, batch_size)", "seq_len)"))),
    "deployment: scales forgotten (bare bits)": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("effective_bits_per_weight(bits, group_size, 16, zero_point_bits)", "bits"))),
    "deployment: zero point ignored": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB,
        ("effective_bits_per_weight(bits, group_size, 16, zero_point_bits)",
         "effective_bits_per_weight(bits, group_size)"))),
    "deployment: group size ignored (always 128)": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("(bits, group_size, 16,", "(bits, 128, 16,"))),
    "deployment: RMSNorms quantized too": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("(1 if tied else 2) + norms", "(1 if tied else 2)"))),
    "deployment: every parameter quantized (nothing kept in 16-bit)": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB,
        ("quantized * effective_bits_per_weight(bits, group_size, 16, zero_point_bits) / 8 + kept * 2",
         "count_llama_params(config) * effective_bits_per_weight(bits, group_size, 16, zero_point_bits) / 8"))),
    "deployment: KV cache left out": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, (" + kv_cache_gb(n, kv, h // heads, seq_len, batch_size)", ""))),
    "deployment: KV cache with the attention heads (GQA ignored)": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("kv_cache_gb(n, kv,", "kv_cache_gb(n, heads,"))),
    "deployment: 16-bit layers counted at 4 bytes": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("kept * 2", "kept * 4"))),
    "deployment: optional KV-heads key read with []": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ('config.get("num_key_value_heads", heads)', 'config["num_key_value_heads"]'))),
    "deployment: mutates config: fills in the default tie key": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB,
        ('config.get("tie_word_embeddings", False)', 'config.setdefault("tie_word_embeddings", False)'))),
    "deployment: rounded to two decimals": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB,
        ("return weights / 1e9 + kv_cache_gb(n, kv, h // heads, seq_len, batch_size)",
         "return round(weights / 1e9 + kv_cache_gb(n, kv, h // heads, seq_len, batch_size), 2)"))),
    "deployment: the weights multiplied by batch_size too": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB,
        ("return weights / 1e9 + kv_cache_gb(n, kv, h // heads, seq_len, batch_size)",
         "return batch_size * (weights / 1e9 + kv_cache_gb(n, kv, h // heads, seq_len))"))),
    "deployment: final norm left out": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("norms = 2 * n * h + h", "norms = 2 * n * h"))),
    "deployment: tied matrix taken out of the quantized count twice": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("count_llama_params(config) - kept", "count_llama_params(config) - 2 * v * h - norms"))),
    "deployment: zero_point_bits passed as the scale's bits": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("(bits, group_size, 16, zero_point_bits)", "(bits, group_size, zero_point_bits)"))),
    "deployment: zero point counted per weight, not per group": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB,
        ("effective_bits_per_weight(bits, group_size, 16, zero_point_bits)",
         "(bits + zero_point_bits + 16 / group_size)"))),
    "deployment: tied by default": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ('"tie_word_embeddings", False', '"tie_word_embeddings", True'))),
    "deployment: one KV head by default": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ('"num_key_value_heads", heads', '"num_key_value_heads", 1'))),
    "deployment: optional tie key read with []": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ('config.get("tie_word_embeddings", False)', 'config["tie_word_embeddings"]'))),
    "deployment: keys cached, values forgotten": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("seq_len, batch_size)", "seq_len, batch_size) / 2"))),
    "deployment: embedding quantized, output layer kept": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("(1 if tied else 2)", "(0 if tied else 1)"))),
    "deployment: weights rounded in GB before the sum": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("return weights / 1e9", "return round(weights / 1e9, 3)"))),
    "deployment: a NumPy float32": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB,
        ("    return weights / 1e9 + kv_cache_gb(n, kv, h // heads, seq_len, batch_size)",
         "    import numpy as np\n"
         "    return np.float32(weights / 1e9 + kv_cache_gb(n, kv, h // heads, seq_len, batch_size))"))),
    "deployment: mutates config: pops a key it does not need": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB,
        ("zero_point_bits=0):\n", 'zero_point_bits=0):\n    config.pop("max_position_embeddings", None)\n'))),
    "deployment: the notebook's LLAMA_2_7B in place of config": Wrong("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("zero_point_bits=0):\n", "zero_point_bits=0):\n    config = LLAMA_2_7B\n"))),
    "hard-coded answers of deployment_gb's visible check": Wrong("test_deployment_gb", """
def deployment_gb(config, seq_len, batch_size=1, bits=4, group_size=128, zero_point_bits=0):
    return {2048: 1.832521728, 4096: 5.353775104, 48: 0.000270432}[config["hidden_size"]]
""", visible=False),

    # Exercise 11: longest_context_at_speed
    "context: untied embedding read in full too": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("(v * h + norms) * 2", "(v * h * (1 if tied else 2) + norms) * 2"))),
    "context: tied matrix read twice": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("(v * h + norms) * 2", "(2 * v * h + norms) * 2"))),
    "context: output layer quantized too": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED,
        ("linear * bpw / 8 + (v * h + norms) * 2", "(linear + v * h) * bpw / 8 + norms * 2"))),
    "context: scales forgotten (bare bits)": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("linear * bpw / 8", "linear * bits / 8"))),
    "context: strict comparison at the boundary": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED,
        ("if budget < weights:", "if budget <= weights:"),
        ("math.floor((budget - weights) / per_token)", "math.ceil((budget - weights) / per_token) - 1"))),
    "context: computed in GB (rounding lands below the boundary)": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED,
        ("weights = linear * bpw / 8 + (v * h + norms) * 2",
         "weights_gb = (linear * bpw / 8 + (v * h + norms) * 2) / 1e9"),
        ("budget = bandwidth_gb_s * 1e9 / tokens_per_s\n    if budget < weights:",
         "budget_gb = bandwidth_gb_s / tokens_per_s\n    if budget_gb < weights_gb:"),
        ("math.floor((budget - weights) / per_token)",
         "math.floor((budget_gb - weights_gb) / kv_cache_gb(n, kv, h // heads, 1))"))),
    "context: rounded up": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("math.floor(", "math.ceil("))),
    "context: rounded to nearest": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("math.floor(", "round("))),
    "context: a float, not an int": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("math.floor((budget - weights) / per_token)", "(budget - weights) // per_token"))),
    "context: 0 instead of None when too slow": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED,
        ("    if budget < weights:\n        return None\n    return math.floor((budget - weights) / per_token)",
         "    return max(0, math.floor((budget - weights) / per_token))"))),
    "context: negative instead of None when too slow": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("    if budget < weights:\n        return None\n", ""))),
    "context: KV cache with the attention heads": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("2 * n * kv *", "2 * n * heads *"))),
    "context: KV cache in the weights' width": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("(h // heads) * 2", "(h // heads) * bits / 8"))),
    "context: zero point ignored": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("linear * bpw / 8", "linear * effective_bits_per_weight(bits, group_size) / 8"))),
    "context: bandwidth truncated to an int": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("bandwidth_gb_s * 1e9", "int(bandwidth_gb_s) * 10**9"))),
    "context: bandwidth taken as GiB/s": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("bandwidth_gb_s * 1e9", "bandwidth_gb_s * 2**30"))),
    "context: None when an empty context is exactly fast enough": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("if budget < weights:", "if budget <= weights:"))),
    "context: the KV cache of n + 1 tokens read": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("/ per_token)", "/ per_token) - 1"))),
    "context: tied matrix not read at all": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("(v * h + norms) * 2", "(v * h * (0 if tied else 1) + norms) * 2"))),
    "context: the embedding row counted": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("(v * h + norms) * 2", "(v * h + norms + h) * 2"))),
    "context: KV bytes per token from kv_cache_gb * 1e9, not rounded": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED,
        ("per_token = 2 * n * kv * (h // heads) * 2", "per_token = kv_cache_gb(n, kv, h // heads, 1) * 1e9"))),
    "context: GB per token first, then bytes": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("bandwidth_gb_s * 1e9 / tokens_per_s", "bandwidth_gb_s / tokens_per_s * 1e9"))),
    "context: mutates config: fills in the default tie key": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED,
        ('config.get("tie_word_embeddings", False)', 'config.setdefault("tie_word_embeddings", False)'))),
    "context: mutates config: pops a key it does not need": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED,
        ("zero_point_bits=0):\n", 'zero_point_bits=0):\n    config.pop("max_position_embeddings", None)\n'))),
    "context: optional KV-heads key read with []": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ('config.get("num_key_value_heads", heads)', 'config["num_key_value_heads"]'))),
    "context: numpy.floor (a float64)": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("    return math.floor(", "    import numpy as np\n    return np.floor("))),
    "context: RMSNorms quantized too": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED,
        ("linear * bpw / 8 + (v * h + norms) * 2", "(linear + norms) * bpw / 8 + v * h * 2"))),
    "context: RMSNorms left out": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("(v * h + norms) * 2", "v * h * 2"))),
    "context: group size ignored (always 128)": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("(bits, group_size, 16,", "(bits, 128, 16,"))),
    "context: deployment_gb's bytes (the embedding counted)": Wrong("test_longest_context_at_speed", """
def longest_context_at_speed(config, bandwidth_gb_s, tokens_per_s, bits=4, group_size=128, zero_point_bits=0):
    budget = bandwidth_gb_s * 1e9 / tokens_per_s
    weights = deployment_gb(config, 0, 1, bits, group_size, zero_point_bits) * 1e9
    if budget < weights:
        return None
    per_token = deployment_gb(config, 1, 1, bits, group_size, zero_point_bits) * 1e9 - weights
    return math.floor((budget - weights) / per_token)
"""),
    "context: capped at max_position_embeddings": Wrong("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED,
        ("return math.floor((budget - weights) / per_token)",
         "return min(math.floor((budget - weights) / per_token), config.get('max_position_embeddings', float('inf')))"))),
    "hard-coded answers of longest_context_at_speed's visible check": Wrong("test_longest_context_at_speed", """
def longest_context_at_speed(config, bandwidth_gb_s, tokens_per_s, bits=4, group_size=128, zero_point_bits=0):
    return {(2048, 320): 66308, (4096, 320): 488, (64, 512): 3349, (48, 1): 16 if tokens_per_s == 12_000 else None}[
        (config["hidden_size"], bandwidth_gb_s)]
""", visible=False),
}

# Correct alternatives to the solution, which every test cell must accept.
CORRECT_ANSWERS = {
    "bytes as ints, 0.5 for int4": Answer("test_bytes_per_param", '''
def bytes_per_param(fmt):
    sizes = {"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1, "int4": 0.5}
    if fmt not in sizes:
        raise ValueError(f"{fmt} is not a format I know")
    return sizes[fmt]
'''),
    "if-chain of bits / 8": Answer("test_bytes_per_param", '''
def bytes_per_param(fmt):
    if fmt == "fp32":
        bits = 32
    elif fmt in ("fp16", "bf16"):
        bits = 16
    elif fmt == "int8":
        bits = 8
    elif fmt == "int4":
        bits = 4
    else:
        raise ValueError("Unknown format: " + fmt)
    return bits / 8
'''),
    "KeyError turned into ValueError": Answer("test_bytes_per_param", '''
def bytes_per_param(fmt):
    try:
        return {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "int4": 4}[fmt] / 8
    except KeyError:
        raise ValueError(f"unsupported format {fmt!r}") from None
'''),
    "match statement": Answer("test_bytes_per_param", '''
def bytes_per_param(fmt):
    match fmt:
        case "fp32":
            return 4.0
        case "fp16" | "bf16":
            return 2.0
        case "int8":
            return 1.0
        case "int4":
            return 0.5
    raise ValueError(f"format {fmt} not supported")
'''),
    "10**9 instead of 1e9": Answer("test_memory_gb", edited(MEMORY_GB, ("1e9", "10**9"))),
    "bits / 8 inline, divided first": Answer("test_memory_gb", '''
def memory_gb(n_params, fmt):
    bits = {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "int4": 4}[fmt]
    return n_params / 1e9 * bits / 8
'''),
    "memory_gb as an exact fraction, then float": Answer("test_memory_gb", '''
from fractions import Fraction as _F
def memory_gb(n_params, fmt):
    return float(_F(n_params) * _F(bytes_per_param(fmt)) / 10**9)
'''),
    "compare bytes with gpu_gb * 1e9": Answer("test_best_format_that_fits", edited(
        BEST_FORMAT_THAT_FITS,
        ("memory_gb(n_params, fmt) <= gpu_gb", "n_params * bytes_per_param(fmt) <= gpu_gb * 1e9"))),
    "next() over a generator": Answer("test_best_format_that_fits", '''
def best_format_that_fits(n_params, gpu_gb):
    return next((f for f in ["fp32", "fp16", "int8", "int4"] if memory_gb(n_params, f) <= gpu_gb), None)
'''),
    "bf16 listed after fp16 (never chosen)": Answer("test_best_format_that_fits", '''
def best_format_that_fits(n_params, gpu_gb):
    for fmt in ["fp32", "fp16", "bf16", "int8", "int4"]:
        if not memory_gb(n_params, fmt) > gpu_gb:
            return fmt
'''),
    "own sizes, 10**9": Answer("test_best_format_that_fits", '''
def best_format_that_fits(n_params, gpu_gb):
    fitting = [f for f, b in [("fp32", 4), ("fp16", 2), ("int8", 1), ("int4", 0.5)] if n_params * b / 10**9 <= gpu_gb]
    return fitting[0] if fitting else None
'''),
    "get() with defaults": Answer("test_count_llama_params", '''
def count_llama_params(config):
    h = config["hidden_size"]
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads", heads)
    per_layer = (h * h) * 2 + (h * kv * (h // heads)) * 2 + 3 * h * config["intermediate_size"] + 2 * h
    total = config["num_hidden_layers"] * per_layer + config["vocab_size"] * h + h
    if not config.get("tie_word_embeddings", False):
        total += config["vocab_size"] * h
    return total
'''),
    "defaults merged into a new dict": Answer("test_count_llama_params", '''
def count_llama_params(config):
    c = {"num_key_value_heads": config["num_attention_heads"], "tie_word_embeddings": False, **config}
    h, i = c["hidden_size"], c["intermediate_size"]
    kv_dim = c["num_key_value_heads"] * (h // c["num_attention_heads"])
    shapes = [(h, h), (h, kv_dim), (h, kv_dim), (h, h), (h, i), (h, i), (i, h), (h,), (h,)]
    import math
    layer = sum(math.prod(s) for s in shapes)
    heads = 1 if c["tie_word_embeddings"] else 2
    return c["num_hidden_layers"] * layer + heads * c["vocab_size"] * h + h
'''),
    "a NumPy integer (numpy.prod)": Answer("test_count_llama_params", '''
import numpy as _np
def count_llama_params(config):
    h, v, i = config["hidden_size"], config["vocab_size"], config["intermediate_size"]
    kv = config.get("num_key_value_heads") or config["num_attention_heads"]
    hd = h // config["num_attention_heads"]
    shapes = [(h, h), (h, kv * hd), (h, kv * hd), (h, h), (h, i), (h, i), (i, h), (h,), (h,)]
    layer = _np.sum([_np.prod(s, dtype=_np.int64) for s in shapes])
    out = 0 if config.get("tie_word_embeddings", False) else v * h
    return config["num_hidden_layers"] * layer + v * h + h + out
'''),
    "built on the meta device": Answer("test_count_llama_params", edited(
        COUNT_PARAMS_ON_META, ("def count_params_on_meta", "def count_llama_params"))),
    "model.num_parameters()": Answer("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META, ("sum(p.numel() for p in model.parameters())", "model.num_parameters()"))),
    "each tensor once, by id": Answer("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META,
        ("    return sum(p.numel() for p in model.parameters())",
         "    unique = {id(p): p.nelement() for _, p in model.named_parameters(remove_duplicate=False)}\n"
         "    return sum(unique.values())"))),
    "AutoModelForCausalLM.from_config, math.prod of shapes": Answer("test_count_params_on_meta", edited(
        COUNT_PARAMS_ON_META,
        ("\ndef", "\nimport math\ndef"),
        ("LlamaForCausalLM(", "AutoModelForCausalLM.from_config("),
        ("p.numel()", "math.prod(p.shape)"))),
    "one fraction over the group": Answer("test_effective_bits_per_weight", edited(
        EFFECTIVE_BITS_PER_WEIGHT,
        ("bits + (scale_bits + zero_point_bits) / group_size",
         "(bits * group_size + scale_bits + zero_point_bits) / group_size"))),
    "overheads added one by one": Answer("test_effective_bits_per_weight", '''
def effective_bits_per_weight(bits, group_size, scale_bits=16, zero_point_bits=0):
    total = float(bits)
    total += scale_bits / group_size
    total += zero_point_bits / group_size
    return total
'''),
    "bits per weight as an exact fraction, then float": Answer("test_effective_bits_per_weight", edited(
        EFFECTIVE_BITS_PER_WEIGHT,
        ("\ndef", "\nfrom fractions import Fraction as _F\ndef"),
        ("bits + (scale_bits + zero_point_bits) / group_size",
         "float(bits + _F(scale_bits + zero_point_bits, group_size))"))),
    "KV cache with 10**9": Answer("test_kv_cache_gb", edited(KV_CACHE_GB, ("1e9", "10**9"))),
    "KV cache per token, math.prod": Answer("test_kv_cache_gb", '''
import math
def kv_cache_gb(n_layers, n_kv_heads, head_dim, seq_len, batch_size=1, bytes_per_value=2):
    per_token = math.prod([2, n_layers, n_kv_heads, head_dim, bytes_per_value])
    return per_token * seq_len * batch_size / 1e9
'''),
    "KV cache in GB first, then scaled": Answer("test_kv_cache_gb", '''
def kv_cache_gb(n_layers, n_kv_heads, head_dim, seq_len, batch_size=1, bytes_per_value=2):
    one_layer_gb = 2 * n_kv_heads * head_dim * seq_len * bytes_per_value / 1e9
    return one_layer_gb * n_layers * batch_size
'''),
    "quiz as an int": Answer("test_quiz_13b_fp16", "q1_13b_fp16_gb = 26"),
    "quiz with 10**9": Answer("test_quiz_13b_fp16", "q1_13b_fp16_gb = 13 * 10**9 * 2 / 10**9"),
    "quiz from bf16 (same size)": Answer("test_quiz_13b_fp16", 'q1_13b_fp16_gb = memory_gb(13e9, "bf16")'),

    "deployment in bytes from scratch, 10**9": Answer("test_deployment_gb", """
def deployment_gb(config, seq_len, batch_size=1, bits=4, group_size=128, zero_point_bits=0):
    c = {"num_key_value_heads": config["num_attention_heads"], "tie_word_embeddings": False, **config}
    h, i, n = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    head_dim = h // c["num_attention_heads"]
    kv_width = c["num_key_value_heads"] * head_dim
    linear = n * (2 * h * h + 2 * h * kv_width + 3 * h * i)
    kept = c["vocab_size"] * h * (1 if c["tie_word_embeddings"] else 2) + (2 * n + 1) * h
    weight_bits = linear * (bits * group_size + 16 + zero_point_bits) / group_size + kept * 16
    kv_bytes = 2 * n * kv_width * seq_len * batch_size * 2
    return (weight_bits / 8 + kv_bytes) / 10**9
"""),
    "parts in GB with exact fractions, then float": Answer("test_deployment_gb", """
from fractions import Fraction as _F
def deployment_gb(config, seq_len, batch_size=1, bits=4, group_size=128, zero_point_bits=0):
    h, v, n = config["hidden_size"], config["vocab_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv_heads = config.get("num_key_value_heads") or heads
    embedding = v * h
    head = 0 if config.get("tie_word_embeddings", False) else v * h
    norms = 2 * n * h + h
    linear = count_llama_params(dict(config)) - embedding - head - norms
    bits_per_weight = _F(bits) + _F(16 + zero_point_bits, group_size)
    weights_gb = (linear * bits_per_weight / 8 + (embedding + head + norms) * 2) / 10**9
    kv_gb = _F(2 * n * kv_heads * (h // heads) * seq_len * batch_size * 2, 10**9)
    return float(weights_gb + kv_gb)
"""),
    "linear layers counted on the meta device": Answer("test_deployment_gb", """
def deployment_gb(config, seq_len, batch_size=1, bits=4, group_size=128, zero_point_bits=0):
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config))
    linear = sum(m.weight.numel() for m in model.model.layers.modules() if isinstance(m, torch.nn.Linear))
    kept = sum(p.numel() for p in model.parameters()) - linear
    weights = linear * effective_bits_per_weight(bits, group_size, 16, zero_point_bits) / 8 + kept * 2
    cfg = model.config
    kv = kv_cache_gb(cfg.num_hidden_layers, cfg.num_key_value_heads, cfg.hidden_size // cfg.num_attention_heads,
                     seq_len, batch_size)
    return weights / 1e9 + kv
"""),

    "context with exact fractions": Answer("test_longest_context_at_speed", """
from fractions import Fraction as _F
def longest_context_at_speed(config, bandwidth_gb_s, tokens_per_s, bits=4, group_size=128, zero_point_bits=0):
    h, v, n = config["hidden_size"], config["vocab_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads") or heads
    norms = (2 * n + 1) * h
    linear = n * (2 * h * h + 2 * h * kv * (h // heads) + 3 * h * config["intermediate_size"])
    weights = linear * (_F(bits) + _F(16 + zero_point_bits, group_size)) / 8 + (v * h + norms) * 2
    budget = _F(bandwidth_gb_s) * 10**9 / _F(tokens_per_s)
    if budget < weights:
        return None
    return int((budget - weights) // (2 * n * kv * (h // heads) * 2))
"""),
    "context by bisection on the speed": Answer("test_longest_context_at_speed", """
def longest_context_at_speed(config, bandwidth_gb_s, tokens_per_s, bits=4, group_size=128, zero_point_bits=0):
    h, v, layers = config["hidden_size"], config["vocab_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads", heads)
    tied = config.get("tie_word_embeddings", False)
    norms = 2 * layers * h + h
    linear = count_llama_params(config) - v * h * (1 if tied else 2) - norms
    weights = linear * effective_bits_per_weight(bits, group_size, 16, zero_point_bits) / 8 + (v * h + norms) * 2

    def fast_enough(n):
        return bandwidth_gb_s * 1e9 >= tokens_per_s * (weights + 2 * layers * kv * (h // heads) * n * 2)

    if not fast_enough(0):
        return None
    low, high = 0, 1
    while fast_enough(high):
        low, high = high, high * 2
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if fast_enough(middle) else (low, middle)
    return low
"""),
    "context with kv_cache_gb in bytes, integer division": Answer("test_longest_context_at_speed", """
def longest_context_at_speed(config, bandwidth_gb_s, tokens_per_s, bits=4, group_size=128, zero_point_bits=0):
    c = {"num_key_value_heads": config["num_attention_heads"], "tie_word_embeddings": False, **config}
    h, v, layers = c["hidden_size"], c["vocab_size"], c["num_hidden_layers"]
    head_dim = h // c["num_attention_heads"]
    read_16_bit = v * h + (2 * layers + 1) * h
    linear = count_llama_params(c) - (v * h if c["tie_word_embeddings"] else 2 * v * h) - (2 * layers + 1) * h
    weights = linear * effective_bits_per_weight(bits, group_size, 16, zero_point_bits) / 8 + 2 * read_16_bit
    kv_bytes = round(kv_cache_gb(layers, c["num_key_value_heads"], head_dim, 1) * 1e9)
    spare = bandwidth_gb_s * 10**9 / tokens_per_s - weights
    return None if spare < 0 else int(spare // kv_bytes)
"""),
    "deployment as a NumPy float64": Answer("test_deployment_gb", edited(
        DEPLOYMENT_GB,
        ("    return weights / 1e9", "    import numpy as np\n    return np.float64(weights) / np.float64(1e9)"))),
    "deployment with memory_gb for the 16-bit part": Answer("test_deployment_gb", """
def deployment_gb(config, seq_len, batch_size=1, bits=4, group_size=128, zero_point_bits=0):
    h, v, n = config["hidden_size"], config["vocab_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads", heads)
    kept = v * h * (1 if config.get("tie_word_embeddings", False) else 2) + (2 * n + 1) * h
    quantized = count_llama_params(config) - kept
    return (quantized * effective_bits_per_weight(bits, group_size, 16, zero_point_bits) / 8 / 1e9
            + memory_gb(kept, "fp16") + kv_cache_gb(n, kv, h // heads, seq_len, batch_size))
"""),
    "deployment with bytes_per_param for the 16-bit part": Answer("test_deployment_gb", edited(
        DEPLOYMENT_GB, ("kept * 2", 'kept * bytes_per_param("bf16")'))),
    "deployment with count_params_on_meta": Answer("test_deployment_gb", """
def deployment_gb(config, seq_len, batch_size=1, bits=4, group_size=128, zero_point_bits=0):
    h, v, n = config["hidden_size"], config["vocab_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kept = v * h * (1 if config.get("tie_word_embeddings", False) else 2) + (2 * n + 1) * h
    quantized = count_params_on_meta(config) - kept
    weights_gb = (quantized * effective_bits_per_weight(bits, group_size, 16, zero_point_bits) / 8 + kept * 2) / 1e9
    return weights_gb + kv_cache_gb(n, config.get("num_key_value_heads", heads), h // heads, seq_len, batch_size)
"""),
    "context from deployment_gb less the embedding, rounded to bytes": Answer("test_longest_context_at_speed", """
def longest_context_at_speed(config, bandwidth_gb_s, tokens_per_s, bits=4, group_size=128, zero_point_bits=0):
    untied_embedding = 0 if config.get("tie_word_embeddings", False) else config["vocab_size"] * config["hidden_size"] * 2
    def read(n):
        return round(deployment_gb(config, n, 1, bits, group_size, zero_point_bits) * 1e9) - untied_embedding
    budget = bandwidth_gb_s * 1e9 / tokens_per_s
    if read(0) > budget:
        return None
    per_token = read(1) - read(0)
    return int((budget - read(0)) // per_token)
"""),
    "context with decimal.Decimal": Answer("test_longest_context_at_speed", """
from decimal import Decimal as _D
def longest_context_at_speed(config, bandwidth_gb_s, tokens_per_s, bits=4, group_size=128, zero_point_bits=0):
    h, v, n = config["hidden_size"], config["vocab_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads", heads)
    norms = (2 * n + 1) * h
    linear = n * (2 * h * h + 2 * h * kv * (h // heads) + 3 * h * config["intermediate_size"])
    weights = _D(linear) * (_D(bits) + _D(16 + zero_point_bits) / _D(group_size)) / 8 + (v * h + norms) * 2
    budget = _D(str(bandwidth_gb_s)) * 10**9 / _D(str(tokens_per_s))
    n_max = (budget - weights) // (2 * n * kv * (h // heads) * 2)
    return int(n_max) if budget >= weights else None
"""),
    "context by stepping down powers of two on the speed": Answer("test_longest_context_at_speed", """
def longest_context_at_speed(config, bandwidth_gb_s, tokens_per_s, bits=4, group_size=128, zero_point_bits=0):
    h, v, layers = config["hidden_size"], config["vocab_size"], config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    kv = config.get("num_key_value_heads", heads)
    norms = (2 * layers + 1) * h
    linear = count_llama_params(config) - v * h * (1 if config.get("tie_word_embeddings", False) else 2) - norms
    weights = linear * effective_bits_per_weight(bits, group_size, 16, zero_point_bits) / 8 + (v * h + norms) * 2
    per_token = kv_cache_gb(layers, kv, h // heads, 1, 1) * 10**9
    per_token = round(per_token)
    speed = lambda n: bandwidth_gb_s * 1e9 / (weights + n * per_token)
    if speed(0) < tokens_per_s:
        return None
    n = 0
    step = 1 << 20
    while step:
        while speed(n + step) >= tokens_per_s:
            n += step
        step >>= 1
    return n
"""),
    "context: None when the floor is negative": Answer("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED,
        ("    if budget < weights:\n        return None\n    return math.floor((budget - weights) / per_token)",
         "    n_max = math.floor((budget - weights) / per_token)\n    return n_max if n_max >= 0 else None"))),
    "context as a NumPy int64": Answer("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED,
        ("    return math.floor((budget - weights) / per_token)",
         "    import numpy as np\n    return np.int64((budget - weights) / per_token)"))),
    "context with the budget floored to whole bytes": Answer("test_longest_context_at_speed", edited(
        LONGEST_CONTEXT_AT_SPEED, ("bandwidth_gb_s * 1e9 / tokens_per_s", "bandwidth_gb_s * 10**9 // tokens_per_s"))),
}

# The answer cells in notebook order: a cascade test re-runs the solutions that
# follow a mistaken helper, so the later functions and the quiz see the mistake,
# as they would in a student's notebook.
ANSWER_CELLS = ["bytes_per_param", "memory_gb", "best_format_that_fits", "count_llama_params",
                "count_params_on_meta", "effective_bits_per_weight", "kv_cache_gb", "quiz_13b_fp16",
                "deployment_gb", "longest_context_at_speed"]

# A mistake in a helper that later exercises use: (its answer cell, the mistake).
CASCADES = {
    "bytes_per_param in bits": ("bytes_per_param", WRONG_ANSWERS["bits instead of bytes"]),
    "bytes_per_param without bf16": ("bytes_per_param", WRONG_ANSWERS["bf16 forgotten (raises ValueError)"]),
    "bytes_per_param with int4 as 0": ("bytes_per_param", WRONG_ANSWERS["integer division: int4 becomes 0"]),
    "memory_gb in GiB": ("memory_gb", WRONG_ANSWERS["GiB where GB is asked"]),
    "memory_gb with floor division": ("memory_gb", WRONG_ANSWERS["floor division by 1e9"]),
    "count_llama_params that mutates its config": (
        "count_llama_params", WRONG_ANSWERS["mutates config: pops tie_word_embeddings"]),
    "count_llama_params counting a tied embedding twice": (
        "count_llama_params", WRONG_ANSWERS["tied embeddings counted twice"]),
    "count_llama_params ignoring grouped-query attention": (
        "count_llama_params", WRONG_ANSWERS["grouped-query attention ignored"]),
    "effective_bits_per_weight without the zero point": (
        "effective_bits_per_weight", WRONG_ANSWERS["zero point ignored"]),
    "effective_bits_per_weight with the scale in bytes": (
        "effective_bits_per_weight", WRONG_ANSWERS["scale counted in bytes"]),
    "kv_cache_gb ignoring the batch": ("kv_cache_gb", WRONG_ANSWERS["batch size ignored"]),
    "kv_cache_gb in GiB": ("kv_cache_gb", WRONG_ANSWERS["KV cache in GiB"]),
}


# A correct alternative that calls an earlier helper, after a mistake in that helper:
# (the helper's answer cell, the mistake, the later answer cell, the alternative). The
# later check puts the course's helper in place of the student's, so only the helper's
# own exercise is lost.
CASCADES_THROUGH_ALTERNATIVES = {
    "memory_gb in GiB, deployment_gb calling it": (
        "memory_gb", WRONG_ANSWERS["GiB where GB is asked"],
        "deployment_gb", CORRECT_ANSWERS["deployment with memory_gb for the 16-bit part"]),
    "bytes_per_param in bits, deployment_gb calling it": (
        "bytes_per_param", WRONG_ANSWERS["bits instead of bytes"],
        "deployment_gb", CORRECT_ANSWERS["deployment with bytes_per_param for the 16-bit part"]),
    "count_params_on_meta counting the tied tensor twice, deployment_gb calling it": (
        "count_params_on_meta", WRONG_ANSWERS["meta count sums tied tensor twice"],
        "deployment_gb", CORRECT_ANSWERS["deployment with count_params_on_meta"]),
    "deployment_gb in GiB, longest_context_at_speed calling it": (
        "deployment_gb", WRONG_ANSWERS["deployment: GiB where GB is asked"],
        "longest_context_at_speed", CORRECT_ANSWERS["context from deployment_gb less the embedding, rounded to bytes"]),
}

@pytest.fixture(scope="module")
def notebook():
    return SolvedNotebook("01_memory_math")


def test_solution_passes_every_test_cell(notebook):
    notebook.run_all_tests()


@pytest.mark.parametrize("mistake", WRONG_ANSWERS)
def test_hidden_tests_reject(notebook, mistake):
    notebook.assert_rejects(WRONG_ANSWERS[mistake])


@pytest.mark.parametrize("alternative", CORRECT_ANSWERS)
def test_correct_alternatives_pass(notebook, alternative):
    notebook.assert_accepts(CORRECT_ANSWERS[alternative])


@pytest.mark.parametrize("mistake", CASCADES)
def test_one_mistake_costs_one_exercise(notebook, mistake):
    cell, wrong = CASCADES[mistake]
    later = ANSWER_CELLS[ANSWER_CELLS.index(cell) + 1:]
    code = "\n".join([wrong.code, *(notebook.cells[c] for c in later)])
    notebook.assert_costs_one_exercise(Wrong(wrong.test_id, code))



@pytest.mark.parametrize("mistake", CASCADES_THROUGH_ALTERNATIVES)
def test_one_mistake_costs_one_exercise_when_a_later_answer_calls_the_helper(notebook, mistake):
    cell, wrong, later_cell, alternative = CASCADES_THROUGH_ALTERNATIVES[mistake]
    later = ANSWER_CELLS[ANSWER_CELLS.index(cell) + 1:]
    code = "\n".join([wrong.code, *(alternative.code if c == later_cell else notebook.cells[c] for c in later)])
    notebook.assert_costs_one_exercise(Wrong(wrong.test_id, code))

def test_checks_use_the_course_helpers_and_name_the_wrong_one(notebook, capsys):
    """With a wrong bytes_per_param, the checks of Exercises 2 and 3 pass, using the
    course's helpers; their note names bytes_per_param (not the student's correct
    memory_gb, which calls it), and the student's own functions are back afterwards."""
    code = "\n".join([WRONG_ANSWERS["bits instead of bytes"].code, notebook.cells["memory_gb"], notebook.cells["best_format_that_fits"]])
    namespace = dict(notebook.namespace)
    notebook._exec(code, namespace)
    mine = namespace["bytes_per_param"], namespace["memory_gb"]
    capsys.readouterr()
    for test_id in ["test_memory_gb", "test_best_format_that_fits"]:
        notebook._exec(notebook.cells[test_id], namespace)
        note = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("Note:"))
        assert note == "Note: your bytes_per_param (Exercise 1) is not right yet; this check used the course's version in its place."
    assert (namespace["bytes_per_param"], namespace["memory_gb"]) == mine
    assert namespace["memory_gb"](7e9, "fp16") == 112.0


# The course's solutions, as the hidden tests define them: none may be visible to students.
COURSE_SOLUTIONS = re.compile(r"_reference|_longest_context$|_context_hints$|_deployment_parts$", re.I)


def test_release_test_cells_define_no_reference_solution():
    """The student release shows no test cell defining the course's version of an exercise
    (a `_reference...` function or class, or the exact solver behind a check's expected values)."""
    (path,) = sorted((ROOT / "release" / "01_memory_math").glob("*.ipynb"))
    cells = [c for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code" and grade_id(c)]
    checks = [c for c in cells if grade_id(c).startswith("test_")]
    assert len(checks) >= 10
    for cell in checks:
        defined = [node.name for node in ast.walk(ast.parse(cell.source))
                   if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        assert not [name for name in defined if COURSE_SOLUTIONS.search(name)], (grade_id(cell), defined)
        assert "_reference" not in cell.source, grade_id(cell)


def _visible_calls(notebook, test_id, function):
    """The arguments of each call to `function` in the visible part of `test_id`, evaluated in the
    notebook's namespace (which holds the hidden tests' course versions)."""
    tree = ast.parse(HIDDEN_TESTS.sub("", notebook.cells[test_id]))
    calls = [node for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == function]
    value = lambda node: eval(compile(ast.Expression(node), "<check>", "eval"), dict(notebook.namespace))
    return [([value(a) for a in node.args], {k.arg: value(k.value) for k in node.keywords}) for node in calls]


def test_visible_literals_are_the_course_values(notebook):
    """The visible checks give their expected values and their hints' inputs as literals; they are the
    values the course's (hidden) versions compute."""
    ns = notebook.namespace
    fits = _visible_calls(notebook, "test_best_format_that_fits", "_check_fits")
    assert len(fits) == 8
    for (n, _, _, memory), _ in fits:
        assert tuple(memory) == tuple(ns["_reference_memory_gb"](n, f) for f in ["fp32", "fp16", "int8", "int4"])
    deployments = _visible_calls(notebook, "test_deployment_gb", "_check_deployment")
    assert len(deployments) == 3
    for (name, config, args, kwargs, expected), parts in deployments:
        settings = dict(zip(["seq_len", "batch_size", "bits", "group_size", "zero_point_bits"], args))
        settings = {"batch_size": 1, "bits": 4, "group_size": 128, "zero_point_bits": 0, **settings, **kwargs}
        p = ns["_deployment_parts"](dict(config), **settings)
        assert parts == {k: p[k] for k in ["linear", "bits_per_weight", "kv"]}, name
        computed = (p["linear"] * p["bits_per_weight"] / 8 + (p["embedding"] + p["head"] + p["norms"]) * 2 + p["kv"]) / 1e9
        assert expected == pytest.approx(computed, rel=1e-12), name
    contexts = _visible_calls(notebook, "test_longest_context_at_speed", "_check_context")
    assert len(contexts) == 8
    for (name, config, args, kwargs, expected, hints), _ in contexts:
        assert expected == ns["_longest_context"](dict(config), *args, **kwargs), (name, args)
        course = ns["_context_hints"](config, args, kwargs, expected)
        assert {w: "; or: ".join(ns["_MISTAKES"][k] for k in keys) for w, keys in hints.items()} == course, (name, args)
