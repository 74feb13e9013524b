#!/usr/bin/env python3
"""Device check for module 4 (GPU lab): run on a CUDA machine without internet.

Not a pytest test. It

1. builds a causal LM locally (a Llama with TinyLlama-1.1B's shape, random
   weights, seed 0) and a small byte-level BPE tokenizer trained on a few
   sentences (nothing is downloaded), and saves both with save_pretrained;
2. loads that folder in 16-bit (bf16 on compute capability >= 8.0, else
   fp16), 8-bit (LLM.int8()) and 4-bit NF4 with and without double
   quantization, and prints for each: the predicted bytes (the notebook's
   own solution functions), get_memory_footprint(), the true total with the
   quant_state, the torch.cuda.memory_allocated() delta, the load time, and
   forward (prefill) and greedy-decode tokens per second;
3. executes the release notebook with its solutions filled in (as
   autograder.samples.fill_answers does) with QUANT_COURSE_MODEL pointing at
   the saved folder, offline, and times it: in a Jupyter kernel with nbclient
   when nbformat, nbclient and ipykernel are installed, else cell by cell in
   this process (skipping the Colab setup cell). --with-source also executes
   the source notebook, hidden tests included.

Results are printed as a table and written to $OUT/gpu_lab.json when OUT is set.

    python tests/gpu_lab_device_check.py --with-source   # on the GPU machine
    python tests/gpu_lab_device_check.py --cpu-smoke     # a tiny model on the CPU, to catch bugs

Where bitsandbytes is missing, put it on PYTHONPATH: its package folder and
dist-info from any install of 0.50.2 (the wheel holds the CUDA libraries; only
the libbitsandbytes_cuda<NNN>.so matching torch.version.cuda is needed), e.g.
copied to .whl/site/ and `export PYTHONPATH=$PWD/.whl/site`. On an H200 with
torch 2.11+cu130 and transformers 5.17 the whole check with --with-source ran
in about 40 s.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSIGNMENT = "04_gpu_lab_4bit"
SOURCE_NB = ROOT / "source" / ASSIGNMENT / "gpu_lab_4bit.ipynb"
RELEASE_NB = ROOT / "release" / ASSIGNMENT / "gpu_lab_4bit.ipynb"
MODES = ["16-bit", "8-bit", "4-bit NF4", "4-bit NF4 + DQ"]

# TinyLlama-1.1B's shape (TinyLlama/TinyLlama-1.1B-Chat-v1.0 config.json): 1,100,048,384 parameters.
TINYLLAMA_SHAPE = dict(
    vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
    num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048,
    rms_norm_eps=1e-5, tie_word_embeddings=False,
)
# Widths are multiples of 64: bitsandbytes' 4-bit kernel on AVX512-BF16 CPUs needs whole blocks per row.
SMOKE_SHAPE = dict(
    vocab_size=2000, hidden_size=128, intermediate_size=384, num_hidden_layers=2,
    num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, tie_word_embeddings=False,
)
CORPUS = [
    "A language model stores what it has learned in its weights.",
    "Quantization stores the same weights with fewer bits.",
    "Four-bit weights take a quarter of the memory of sixteen-bit weights.",
    "NF4 spaces its sixteen levels like the quantiles of a normal distribution.",
    "The matrix products of a 4-bit model still run in 16-bit floating point.",
    "A free Colab T4 has sixteen gigabytes of memory and compute capability 7.5.",
    "The cat slept on the warm windowsill all afternoon.",
    "She bought fresh bread and cheese at the market.",
]
OFFLINE_ENV = {
    "QUANT_COURSE_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1", "PYTHONWARNINGS": "ignore", "TOKENIZERS_PARALLELISM": "false",
}


# ---------------------------------------------------------------- helpers
def solution_functions() -> dict:
    """The notebook's solution functions (Exercises 1, 2 and 4), exec'd from the source notebook,
    so the device check tests the code students are graded against."""
    import torch

    nb = json.loads(SOURCE_NB.read_text())  # plain JSON: works without nbformat
    namespace = {"torch": torch, "math": math}
    for cell in nb["cells"]:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if cell["cell_type"] == "code" and gid in ("modules_kept_16bit", "predict_footprint_4bit", "predict_true_total_4bit"):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            exec(compile(source, f"<{gid}>", "exec"), namespace)
    return namespace


def quant_state_bytes(model) -> int:
    """Bytes of the bitsandbytes quantization states (as the notebook measures them)."""
    import bitsandbytes as bnb

    tensors = {}
    for module in model.modules():
        if isinstance(module, bnb.nn.Linear4bit):
            s = module.weight.quant_state
            parts = [s.absmax, s.code] + ([s.offset, s.state2.absmax, s.state2.code] if s.nested else [])
        elif isinstance(module, bnb.nn.Linear8bitLt):
            scb = module.weight.SCB if getattr(module.weight, "SCB", None) is not None else module.state.SCB
            parts = [scb] if scb is not None else []
        else:
            continue
        for t in parts:
            tensors[(t.data_ptr(), t.numel())] = t.numel() * t.element_size()
    return sum(tensors.values())


def predicted_bytes(skeleton, mode: str, fns: dict) -> tuple[int, int]:
    """(predicted get_memory_footprint(), predicted true total) for `mode`."""
    import torch

    if mode.startswith("4-bit"):
        return fns["predict_footprint_4bit"](skeleton), fns["predict_true_total_4bit"](skeleton, double_quant=mode.endswith("DQ"))
    every = sum(t.numel() * t.element_size() for t in [*skeleton.parameters(), *skeleton.buffers()])
    if mode == "16-bit":
        return every, every
    head = skeleton.get_output_embeddings()
    linears = [m for m in skeleton.modules() if isinstance(m, torch.nn.Linear) and m is not head]
    footprint = every - sum(m.weight.numel() * (m.weight.element_size() - 1) for m in linears)
    return footprint, footprint + sum(4 * m.out_features for m in linears)  # SCB: one float32 per row


def build_model(folder: Path, shape: dict, device: str, dtype) -> None:
    """A Llama causal LM with random weights (seed 0) and a local BPE tokenizer, saved in `folder`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=600, special_tokens=["<unk>", "<s>", "</s>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="</s>",
    )
    tokenizer.save_pretrained(folder)

    config = LlamaConfig(**shape, bos_token_id=1, eos_token_id=2, pad_token_id=2)
    torch.manual_seed(0)
    with torch.device(device):
        model = LlamaForCausalLM(config)
    model.to(dtype).save_pretrained(folder)
    del model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()


def load(folder: Path, mode: str, device: str, dtype):
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    if mode == "16-bit":
        qc = None
    elif mode == "8-bit":
        qc = BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=6.0)
    else:
        qc = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=dtype,
                                bnb_4bit_use_double_quant=mode.endswith("DQ"))
    return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype, device_map={"": device}, quantization_config=qc).eval()


def tokens_per_second(model, device: str, vocab: int, batch: int, seq: int, repeats: int) -> tuple[float, float]:
    """(prefill tokens/s for batch x seq random ids, greedy decode tokens/s for 32 new tokens, batch 1)."""
    import torch

    def sync():
        if device == "cuda":
            torch.cuda.synchronize()

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(3, vocab, (batch, seq), generator=g).to(device)
    with torch.inference_mode():
        model(ids)
        sync()
        start = time.perf_counter()
        for _ in range(repeats):
            model(ids)
        sync()
        prefill = batch * seq * repeats / (time.perf_counter() - start)
        prompt = ids[:1, :16]
        new = 32
        model.generate(prompt, max_new_tokens=4, min_new_tokens=4, do_sample=False)
        sync()
        start = time.perf_counter()
        model.generate(prompt, max_new_tokens=new, min_new_tokens=new, do_sample=False)
        sync()
        decode = new / (time.perf_counter() - start)
    return prefill, decode


def measure(folder: Path, device: str, dtype, smoke: bool) -> list[dict]:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    fns = solution_functions()
    config = AutoConfig.from_pretrained(folder)
    with torch.device("meta"):
        skeleton = AutoModelForCausalLM.from_config(config, dtype=dtype)
    rows = []
    for mode in MODES:
        gc.collect()
        if device == "cuda":
            torch.cuda.empty_cache()
        before = torch.cuda.memory_allocated() if device == "cuda" else 0
        start = time.perf_counter()
        model = load(folder, mode, device, dtype)
        if device == "cuda":
            torch.cuda.synchronize()
        load_s = time.perf_counter() - start
        allocated = torch.cuda.memory_allocated() - before if device == "cuda" else None
        footprint = model.get_memory_footprint()
        true_total = footprint + quant_state_bytes(model)
        pred_fp, pred_total = predicted_bytes(skeleton, mode, fns)
        prefill, decode = tokens_per_second(
            model, device, min(config.vocab_size, 600), batch=1 if smoke else 4, seq=64 if smoke else 512,
            repeats=1 if smoke else 5,
        )
        kept = fns["modules_kept_16bit"](skeleton)
        rows.append({
            "mode": mode, "predicted_footprint": pred_fp, "get_memory_footprint": footprint,
            "predicted_true_total": pred_total, "true_total": true_total, "cuda_allocated_delta": allocated,
            "load_s": round(load_s, 2), "prefill_tokens_per_s": round(prefill, 1), "decode_tokens_per_s": round(decode, 1),
            "footprint_exact": pred_fp == footprint, "true_total_exact": pred_total == true_total,
            "modules_kept_16bit": len(kept), "lm_head_kept_16bit": "lm_head" in kept,
        })
        del model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    return rows


def print_table(rows: list[dict]) -> None:
    def mb(x):
        return "n/a" if x is None else f"{x / 1e6:,.1f}"

    header = (f"{'mode':<16}{'pred. MB':>10}{'footprint':>11}{'pred. total':>12}{'true total':>11}"
              f"{'CUDA alloc':>11}{'load s':>8}{'prefill t/s':>13}{'decode t/s':>12}  ok?")
    print(header)
    print("-" * len(header))
    for r in rows:
        ok = r["footprint_exact"] and r["true_total_exact"]
        print(f"{r['mode']:<16}{mb(r['predicted_footprint']):>10}{mb(r['get_memory_footprint']):>11}"
              f"{mb(r['predicted_true_total']):>12}{mb(r['true_total']):>11}{mb(r['cuda_allocated_delta']):>11}"
              f"{r['load_s']:>8.1f}{r['prefill_tokens_per_s']:>13,.0f}{r['decode_tokens_per_s']:>12,.1f}  "
              f"{'yes' if ok else 'NO'}")
    print("(MB = 10^6 bytes; ok? = both predictions equal get_memory_footprint() and the true total to the byte,\n"
          " measured right after loading, before any forward pass)")


def notebook_cells(path: Path, fill: bool) -> list[dict]:
    """The notebook's cells as plain JSON; with `fill`, the answer cells hold the source
    notebook's solutions (what autograder.samples.fill_answers does), without nbformat."""
    nb = json.loads(path.read_text())

    def text(cell):
        return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])

    if fill:
        solutions = {
            c["metadata"]["nbgrader"]["grade_id"]: text(c)
            for c in json.loads(SOURCE_NB.read_text())["cells"]
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")
        }
        for cell in nb["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("solution") and meta.get("grade_id") in solutions:
                cell["source"] = "\n".join(
                    line for line in solutions[meta["grade_id"]].splitlines()
                    if line.strip() not in ("### BEGIN SOLUTION", "### END SOLUTION")
                )
    for cell in nb["cells"]:
        cell["source"] = text(cell)
    return nb["cells"]


def summarize(name: str, fill: bool, seconds: float, cells: list[tuple[dict, str, str, str | None]], how: str) -> dict:
    errors, passed, stderr_cells = [], [], []
    for cell, out, err, error in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        gid = meta.get("grade_id") or cell.get("id")
        if error:
            errors.append(f"{gid}: {error[:300]}")
        if err.strip() and meta.get("grade"):
            stderr_cells.append(f"{gid}: {err[:200]}")
        if "looks right" in out or "recorded" in out:
            passed.append(gid)
    print(f"step 3: {name} ({'release + solutions' if fill else 'source'}, {how}) ran in {seconds:.1f} s; "
          f"{len(errors)} cell errors, {len(stderr_cells)} test cells wrote to stderr, checks passed: {passed}")
    for line in errors + stderr_cells:
        print("   ", line)
    return {"notebook": name, "filled": fill, "how": how, "seconds": round(seconds, 1), "errors": errors,
            "test_cells_with_stderr": stderr_cells, "checks_passed": passed}


def run_notebook(path: Path, model_folder: Path, fill: bool, timeout: int, in_process: bool = False) -> dict:
    """Execute the notebook (the release one with solutions filled in when `fill`) with
    QUANT_COURSE_MODEL=model_folder, offline: with nbclient in a kernel when nbformat,
    nbclient and ipykernel are installed, else cell by cell in this process (the notebooks
    need no magics), skipping the Colab setup cell, which would pip-install."""
    saved = {k: os.environ.get(k) for k in [*OFFLINE_ENV, "QUANT_COURSE_MODEL", "MPLBACKEND"]}
    os.environ.update(OFFLINE_ENV)
    os.environ["QUANT_COURSE_MODEL"] = str(model_folder)
    os.environ["MPLBACKEND"] = "Agg"
    name = str(path.relative_to(ROOT))
    cells = notebook_cells(path, fill)
    try:
        if in_process:
            return run_in_process(name, cells, fill)
        try:
            import ipykernel  # noqa: F401
            import nbformat
            from nbclient import NotebookClient
        except ImportError as error:
            print(f"step 3: {error}; running {name} in this process instead")
            return run_in_process(name, cells, fill)
        nb = nbformat.from_dict({"cells": cells, "metadata": json.loads(path.read_text())["metadata"],
                                 "nbformat": 4, "nbformat_minor": 5})
        start = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="gpu-lab-nb-") as cwd:
            NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                           resources={"metadata": {"path": cwd}}).execute()
        seconds = time.perf_counter() - start
        results = []
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            outs = cell.get("outputs", [])
            out = "".join(o.get("text", "") for o in outs if o.output_type == "stream" and o.name == "stdout")
            err = "".join(o.get("text", "") for o in outs if o.output_type == "stream" and o.name == "stderr")
            error = next((f"{o.ename}: {o.evalue}" for o in outs if o.output_type == "error"), None)
            results.append((cell, out, err, error))
        if out_dir := os.environ.get("OUT"):
            nbformat.write(nb, Path(out_dir) / f"executed-{'filled-' if fill else ''}{path.name}")
        return summarize(name, fill, seconds, results, "nbclient")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def run_in_process(name: str, cells: list[dict], fill: bool) -> dict:
    import contextlib
    import io
    import traceback

    namespace = {"__name__": "__main__"}
    results = []
    cwd = os.getcwd()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-lab-nb-") as scratch:
        os.chdir(scratch)
        try:
            for cell in cells:
                if cell["cell_type"] != "code" or cell.get("id") == "colab-setup":
                    continue
                out, err, error = io.StringIO(), io.StringIO(), None
                with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                    try:
                        exec(compile(cell["source"], f"<{cell.get('id')}>", "exec"), namespace)
                    except Exception as exc:  # a failing cell is a result, not a crash
                        error = f"{type(exc).__name__}: {exc}"
                        traceback.print_exc(file=err)
                results.append((cell, out.getvalue(), err.getvalue(), error))
        finally:
            os.chdir(cwd)
    seconds = time.perf_counter() - start
    if out_dir := os.environ.get("OUT"):
        log = "\n".join(f"### {c.get('id')}\n{o}{e}" for c, o, e, _ in results)
        (Path(out_dir) / f"inprocess-{'filled-' if fill else ''}{Path(name).stem}.log").write_text(log)
    return summarize(name, fill, seconds, results, "in process")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny model on the CPU (no GPU needed)")
    parser.add_argument("--skip-notebook", action="store_true", help="skip step 3")
    parser.add_argument("--with-source", action="store_true", help="also execute the source notebook (hidden tests)")
    parser.add_argument("--in-process", action="store_true", help="step 3 in this process even if nbclient is installed")
    parser.add_argument("--notebook-timeout", type=int, default=300, help="seconds per notebook cell")
    args = parser.parse_args(argv)

    import torch
    import transformers

    transformers.logging.set_verbosity_error()
    transformers.utils.logging.disable_progress_bar()
    import logging
    import warnings

    warnings.filterwarnings("ignore")
    logging.getLogger("bitsandbytes").setLevel(logging.ERROR)
    os.environ.update({k: v for k, v in OFFLINE_ENV.items() if k != "QUANT_COURSE_OFFLINE"})

    if args.cpu_smoke:
        device, dtype, shape = "cpu", torch.float16, SMOKE_SHAPE
    else:
        if not torch.cuda.is_available():
            print("No CUDA device: run with --cpu-smoke for the CPU dry run.")
            return 2
        device, shape = "cuda", TINYLLAMA_SHAPE
        dtype = torch.bfloat16 if torch.cuda.get_device_capability() >= (8, 0) else torch.float16

    import bitsandbytes

    info = {
        "device": torch.cuda.get_device_name() if device == "cuda" else "cpu",
        "capability": list(torch.cuda.get_device_capability()) if device == "cuda" else None,
        "dtype": str(dtype), "torch": torch.__version__, "transformers": transformers.__version__,
        "bitsandbytes": bitsandbytes.__version__, "shape": shape,
    }
    print(json.dumps(info))
    report = {"info": info}
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gpu-lab-model-") as scratch:
        folder = Path(scratch) / "tinyllama-shaped-random"
        start = time.perf_counter()
        build_model(folder, shape, device, dtype)
        report["build_s"] = round(time.perf_counter() - start, 1)
        print(f"step 1: built and saved {folder} in {report['build_s']} s")

        rows = measure(folder, device, dtype, smoke=args.cpu_smoke)
        report["rows"] = rows
        print_table(rows)

        report["notebooks"] = []
        if not args.skip_notebook:
            report["notebooks"].append(run_notebook(RELEASE_NB, folder, fill=True, timeout=args.notebook_timeout,
                                                   in_process=args.in_process))
            if args.with_source:
                report["notebooks"].append(run_notebook(SOURCE_NB, folder, fill=False, timeout=args.notebook_timeout,
                                                       in_process=args.in_process))
    report["total_s"] = round(time.perf_counter() - t0, 1)
    print(f"total {report['total_s']} s")
    if out_dir := os.environ.get("OUT"):
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / "gpu_lab.json").write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {Path(out_dir) / 'gpu_lab.json'}")
    bad = [r["mode"] for r in rows if not (r["footprint_exact"] and r["true_total_exact"])]
    nb_errors = [e for nb in report["notebooks"] for e in nb.get("errors", []) + nb.get("test_cells_with_stderr", [])]
    return 1 if bad or nb_errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
