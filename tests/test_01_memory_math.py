"""Module 1's hidden tests accept the solution and reject plausible mistakes."""

import pytest

from graded import Answer, SolvedNotebook, Wrong

WRONG_ANSWERS = {
    "bits instead of bytes": Wrong("test_bytes_per_param", '''
def bytes_per_param(fmt):
    return float({"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "int4": 4}[fmt])
'''),
    "bf16 forgotten": Wrong("test_bytes_per_param", '''
def bytes_per_param(fmt):
    return {"fp32": 4.0, "fp16": 2.0, "int8": 1.0, "int4": 0.5}.get(fmt, 0.0)
'''),
    "unknown format returns a number": Wrong("test_bytes_per_param", '''
def bytes_per_param(fmt):
    return {"fp32": 4.0, "fp16": 2.0, "bf16": 2.0, "int8": 1.0, "int4": 0.5}.get(fmt, 0.0)
'''),
    "GiB where GB is asked": Wrong("test_memory_gb", '''
def memory_gb(n_params, fmt):
    return n_params * bytes_per_param(fmt) / 2**30
'''),
    "forgot the factor of 8": Wrong("test_memory_gb", '''
def memory_gb(n_params, fmt):
    bits = {"fp32": 32, "fp16": 16, "bf16": 16, "int8": 8, "int4": 4}[fmt]
    return n_params * bits / 1e9
'''),
    "bytes instead of GB": Wrong("test_memory_gb", '''
def memory_gb(n_params, fmt):
    return n_params * bytes_per_param(fmt)
'''),
    "hard-coded 7B answer": Wrong("test_memory_gb", '''
def memory_gb(n_params, fmt):
    return {"fp32": 28.0, "fp16": 14.0, "int8": 7.0, "int4": 3.5}[fmt]
'''),
    "strict comparison": Wrong("test_best_format_that_fits", '''
def best_format_that_fits(n_params, gpu_gb):
    for fmt in ["fp32", "fp16", "int8", "int4"]:
        if memory_gb(n_params, fmt) < gpu_gb:
            return fmt
    return None
'''),
    "fits in GiB": Wrong("test_best_format_that_fits", '''
def best_format_that_fits(n_params, gpu_gb):
    for fmt in ["fp32", "fp16", "int8", "int4"]:
        if n_params * bytes_per_param(fmt) / 2**30 <= gpu_gb:
            return fmt
    return None
'''),
    "lowest precision first": Wrong("test_best_format_that_fits", '''
def best_format_that_fits(n_params, gpu_gb):
    for fmt in ["int4", "int8", "fp16", "fp32"]:
        if memory_gb(n_params, fmt) <= gpu_gb:
            return fmt
    return None
'''),
    "tied embeddings counted twice": Wrong("test_count_llama_params", '''
def count_llama_params(config):
    h, v = config["hidden_size"], config["vocab_size"]
    kv = config.get("num_key_value_heads") or config["num_attention_heads"]
    hd = h // config["num_attention_heads"]
    layer = 2 * h * h + 2 * h * kv * hd + 3 * h * config["intermediate_size"] + 2 * h
    return config["num_hidden_layers"] * layer + 2 * v * h + h
'''),
    "grouped-query attention ignored": Wrong("test_count_llama_params", '''
def count_llama_params(config):
    h, v = config["hidden_size"], config["vocab_size"]
    layer = 4 * h * h + 3 * h * config["intermediate_size"] + 2 * h
    out = 0 if config.get("tie_word_embeddings") else v * h
    return config["num_hidden_layers"] * layer + v * h + h + out
'''),
    "norms left out": Wrong("test_count_llama_params", '''
def count_llama_params(config):
    h, v = config["hidden_size"], config["vocab_size"]
    kv = config.get("num_key_value_heads") or config["num_attention_heads"]
    hd = h // config["num_attention_heads"]
    layer = 2 * h * h + 2 * h * kv * hd + 3 * h * config["intermediate_size"]
    out = 0 if config.get("tie_word_embeddings") else v * h
    return config["num_hidden_layers"] * layer + v * h + out
'''),
    "meta count sums tied tensor twice": Wrong("test_count_params_on_meta", '''
def count_params_on_meta(config):
    with torch.device("meta"):
        model = transformers.LlamaForCausalLM(transformers.LlamaConfig(**config))
    return sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))
'''),
    "scale left out": Wrong("test_effective_bits_per_weight", '''
def effective_bits_per_weight(bits, group_size, scale_bits=16, zero_point_bits=0):
    return float(bits)
'''),
    "zero point ignored": Wrong("test_effective_bits_per_weight", '''
def effective_bits_per_weight(bits, group_size, scale_bits=16, zero_point_bits=0):
    return bits + scale_bits / group_size
'''),
    "keys only, no values": Wrong("test_kv_cache_gb", '''
def kv_cache_gb(n_layers, n_kv_heads, head_dim, seq_len, batch_size=1, bytes_per_value=2):
    return n_layers * n_kv_heads * head_dim * seq_len * batch_size * bytes_per_value / 1e9
'''),
    "batch size ignored": Wrong("test_kv_cache_gb", '''
def kv_cache_gb(n_layers, n_kv_heads, head_dim, seq_len, batch_size=1, bytes_per_value=2):
    return 2 * n_layers * n_kv_heads * head_dim * seq_len * bytes_per_value / 1e9
'''),
    "quiz in GiB": Wrong("test_quiz_13b_fp16", "q1_13b_fp16_gb = 13e9 * 2 / 2**30"),
}

# Correct alternatives to the solution, which every test cell must accept.
CORRECT_ANSWERS = {
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
