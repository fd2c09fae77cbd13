"""Attribution speed: SHAP (Partition) and Integrated Gradients, attnviz vs the plain library calls.

    HF_HUB_OFFLINE=1 python bench/bench_attribution.py            # 7 interleaved rounds
    HF_HUB_OFFLINE=1 python bench/bench_attribution.py --quick    # smoke run: 2 rounds
    HF_HUB_OFFLINE=1 python bench/bench_attribution.py --only shap

All in this one process, on the bundled all-MiniLM-L6-v2, CPU, the default zero-shot target
p(label | x) (τ = 0.05). Runs are interleaved (the order rotates every round) after a warm-up, each
round waits for idle CPUs (bench/_quiet.py), and the tables report medians.

SHAP, 500 evaluations:
    plain       shap.Explainer(f, shap.maskers.Text(tokenizer, mask_token=""))([text], max_evals=500),
                f(list of strings) tokenising and running the same target; mask_token="" deletes the
                masked words, the same semantics as ours (the sentences are whole-word tokens only, so
                deleting a word from the string = deleting its id). Explainer and masker are built in
                the timed call, as a user writes it.
    attnviz     handle.attribute(text, "shap"), end to end (tokenising and binding the target included).
    plain/st    the same plain call with f built on sentence-transformers' own ``encode`` (the f users of
                this model write; the target computed independently of attnviz).
    attnviz/b5  the same with batch_size=5, shap's own default for text: one small request at a time.
  Values are compared with the plain call at 500 evaluations, and with the exact Owen values of the
  tree (the plain call with max_evals large enough to expand the whole tree).

Integrated Gradients, 50 steps (Gauss-Legendre), [PAD] baseline with the special tokens kept:
    captum      LayerIntegratedGradients(f, model.embeddings.word_embeddings).attribute(ids,
                baselines=..., additional_forward_args=(mask, token_type_ids), n_steps=50,
                return_convergence_delta=True) on the same weights loaded independently with
                transformers.AutoModel (captum's default internal_batch_size: all 50 steps at once).
    attnviz     handle.attribute(text, "integrated_gradients"): the default, Gauss-Legendre rules of 20, 28, 40, …
                points until the completeness gap is <= 1e-2 (IG on inputs_embeds; 20 points in one pass first).
    attnviz/gl50  the same with n_steps=50: captum's rule on inputs_embeds, 25 steps a pass.
  plus internal_batch_size variants of both, at about 20 and 120 tokens.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import attnviz  # noqa: E402
from attnviz.attribution import prepare  # noqa: E402
from attnviz.models.loading import default_model_path  # noqa: E402
from attnviz.models.targets import label_embeddings, mean_pool  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _quiet import QuietGate  # noqa: E402

SHAP_GOAL = 5.0
SHAP_SENTENCES = {  # whole-word tokens only (checked): string deletion = id deletion
    "S20": "The engineer walked quietly under the heavy storm because the bright city music never stopped, sadly.",
    "S24": "The movie was long and slow but the actors were wonderful and the music kept me watching until the very end.",
    "S27": "We waited two hours for a table, the food was cold and bland, and the waiter never once said sorry to us.",
}
PROSE = ("Attention maps show which tokens a transformer reads when it builds the representation of each word. "
         "The animal did not cross the street because it was too tired, and the street was wide and busy. "
         "Researchers compare heads across layers: some attend to the previous token, some to the separator, "
         "and a few follow syntax, linking verbs to their objects or pronouns to the nouns they refer to.")


# ------------------------------------------------------------------- timing
def interleaved(contenders: dict, repeats: int, warmup: int, gate=None) -> dict[str, list[tuple[float, float]]]:
    """(wall s, process CPU s) per call for each contender; the order rotates every round.

    CPU time is the steadier number on a shared machine: other processes stretch the wall time
    (a 2-thread OpenMP region waits for its slower thread at every operator) far more than the work.
    """
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
    for r in range(repeats):
        k = r % len(names)
        if gate is not None:
            gate.wait()
        for name in names[k:] + names[:k]:
            gc.collect()
            t0, c0 = time.perf_counter(), time.process_time()
            contenders[name]()
            times[name].append((time.perf_counter() - t0, time.process_time() - c0))
    return times


def med(samples, which: int = 0) -> float:
    """Median wall (which=0) or CPU (which=1) seconds."""
    return statistics.median(s[which] for s in samples)


def fastest(samples) -> float:
    return min(s[0] for s in samples)


@contextlib.contextmanager
def counting_forwards(model):
    """Counts the model's forward passes and the token positions they compute (padding included)."""
    seen = {"passes": 0, "tokens": 0}

    def hook(_module, args, kwargs):
        x = kwargs.get("input_ids") if kwargs.get("input_ids") is not None else kwargs.get("inputs_embeds")
        x = x if x is not None else args[0]
        seen["passes"] += 1
        seen["tokens"] += int(x.shape[0] * x.shape[1])

    handle = model.register_forward_pre_hook(hook, with_kwargs=True)
    try:
        yield seen
    finally:
        handle.remove()


# --------------------------------------------------------------------- SHAP
def plain_shap(ctx, text: str, max_evals: int):
    """The plain recipe; returns (explanation, explainer)."""
    import shap

    tok = ctx.handle.tokenizer

    def f(strings):
        enc = tok(list(strings), padding=True, return_tensors="pt")
        with torch.inference_mode():
            return ctx.scorer(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                              token_type_ids=enc.get("token_type_ids")).numpy()

    explainer = shap.Explainer(f, shap.maskers.Text(tok, mask_token=""))
    np.random.seed(0)
    return explainer([text], max_evals=max_evals, silent=True), explainer


def sentence_transformers_f(label_index: int):
    """The f most users of this model write: sentence-transformers' own ``encode``, then the zero-shot
    probability (cosine to the label anchors, softmax at τ = 0.05) — the same target, computed
    independently of attnviz."""
    from sentence_transformers import SentenceTransformer

    from attnviz.models.targets import DEFAULT_TEMPERATURE, SENTIMENT_LABELS

    st = SentenceTransformer(str(default_model_path()), device="cpu")
    anchors = torch.stack([torch.nn.functional.normalize(st.encode(list(descs), convert_to_tensor=True).mean(0),
                                                         dim=0) for _, descs in SENTIMENT_LABELS])

    def f(strings):
        emb = st.encode(list(strings), convert_to_tensor=True)  # L2-normalised by the model's own pipeline
        return torch.softmax(emb @ anchors.T / DEFAULT_TEMPERATURE, dim=-1)[:, label_index].cpu().numpy()

    return st.tokenizer, f


def plain_shap_st(st_f, text: str, max_evals: int):
    """The plain recipe with the sentence-transformers f (the issue's "plain shap.Explainer" call)."""
    import shap

    tok, f = st_f
    explainer = shap.Explainer(f, shap.maskers.Text(tok, mask_token=""))
    np.random.seed(0)
    return explainer([text], max_evals=max_evals, silent=True), explainer


def bench_shap(handle, repeats: int, warmup: int, gate) -> list[dict]:
    first_call: dict[str, float] = {}
    rows = [shap_row(handle, name, text, repeats, warmup, gate, first_call) for name, text in SHAP_SENTENCES.items()]
    rows[0]["first_call"] = first_call
    return rows


def shap_row(handle, name: str, text: str, repeats: int, warmup: int, gate, first_call: dict) -> dict:
    ctx = prepare(handle, text, None, None)
    assert all(len(idx) == 1 for _, idx in ctx.encoding.words), f"{name} has subword tokens"
    from attnviz.models.targets import SENTIMENT_LABELS

    st_f = sentence_transformers_f([name for name, _ in SENTIMENT_LABELS].index(ctx.scorer.label))
    contenders = {
        "plain": lambda: plain_shap(ctx, text, 500),
        "plain/st": lambda: plain_shap_st(st_f, text, 500),
        "attnviz": lambda: handle.attribute(text, "shap"),
        "attnviz/b5": lambda: handle.attribute(text, "shap", batch_size=5),
    }
    for label in ("plain", "attnviz"):
        if label not in first_call:  # the first SHAP call in a process JIT-compiles shap's numba code
            if gate is not None:
                gate.wait()
            t0 = time.perf_counter()
            contenders[label]()
            first_call[label] = time.perf_counter() - t0
    with counting_forwards(handle.model) as plain_work:
        plain, plain_explainer = plain_shap(ctx, text, 500)
    with counting_forwards(handle.model) as ours_work:
        ours = handle.attribute(text, "shap")
    with counting_forwards(handle.model) as b5_work:
        ours_b5 = handle.attribute(text, "shap", batch_size=5)
    plain_st, _ = plain_shap_st(st_f, text, 500)
    exact, exact_explainer = plain_shap(ctx, text, 20000)  # the whole tree: exact Owen values
    assert exact_explainer.last_eval_count < 19998
    times = interleaved(contenders, repeats, warmup, gate)
    plain_v, exact_v = plain.values[0], exact.values[0]
    return {
        "name": name, "n": ctx.n, "times": times,
        "plain_calls": plain_work["passes"], "ours_calls": ours_work["passes"], "b5_calls": b5_work["passes"],
        "plain_tokens": plain_work["tokens"], "ours_tokens": ours_work["tokens"], "b5_tokens": b5_work["tokens"],
        "plain_evals": plain_explainer.last_eval_count + 2, "ours_evals": ours.settings["evaluations"],
        "plain_full": exact_explainer.last_eval_count + 2,
        "diff_plain": float(np.abs(ours.scores - plain_v).max()),
        "diff_b5": float(np.abs(ours_b5.scores - plain_v).max()),
        "diff_st": float(np.abs(ours.scores - plain_st.values[0]).max()),
        "err_plain": float(np.abs(plain_v - exact_v).max()),
        "err_ours": float(np.abs(ours.scores - exact_v).max()),
        "max_abs": float(np.abs(exact_v).max()),
        "additivity": abs(ours.base_value + float(ours.scores.sum()) - ours.output),
    }


def print_shap(rows: list[dict]) -> None:
    print("SHAP (Partition, max_evals=500, deleted tokens): seconds per explanation, median wall [fastest] and")
    print("median process CPU; ratios = plain / attnviz")
    header = (f"{'text':>4} {'n':>3} | {'plain wall':>13} {'cpu':>5} | {'attnviz wall':>13} {'cpu':>5} | "
              f"{'ratio wall':>10} {'fastest':>7} {'cpu':>5} | {'attnviz/b5 wall':>15} {'cpu':>5} {'ratio':>6}")
    print(header)
    print("-" * len(header))
    for r in rows:
        t = r["times"]
        cell = {k: f"{med(v):6.2f} [{fastest(v):.2f}]" for k, v in t.items()}
        cpu = {k: med(v, 1) for k, v in t.items()}
        print(f"{r['name']:>4} {r['n']:3d} | {cell['plain']:>13} {cpu['plain']:5.2f} | {cell['attnviz']:>13} "
              f"{cpu['attnviz']:5.2f} | {med(t['plain']) / med(t['attnviz']):9.2f}x "
              f"{fastest(t['plain']) / fastest(t['attnviz']):6.2f}x {cpu['plain'] / cpu['attnviz']:4.2f}x | "
              f"{cell['attnviz/b5']:>15} {cpu['attnviz/b5']:5.2f} {med(t['plain']) / med(t['attnviz/b5']):5.2f}x")
    print()
    print("SHAP work and values (machine-independent): forward passes, token positions computed (padding")
    print("included), evaluations (the whole tree needs 'full'), max |difference| of the token values")
    header = (f"{'text':>4} | {'passes plain/ours/b5':>20} | {'tokens plain/ours/b5':>22} | {'tokens ratio':>12} | "
              f"{'evals plain/ours/full':>21} | {'max|ours-plain|':>15} | {'max err vs exact: plain, ours':>29}")
    print(header)
    print("-" * len(header))
    for r in rows:
        passes = f"{r['plain_calls']}/{r['ours_calls']}/{r['b5_calls']}"
        tokens = f"{r['plain_tokens']}/{r['ours_tokens']}/{r['b5_tokens']}"
        evals = f"{r['plain_evals']}/{r['ours_evals']}/{r['plain_full']}"
        print(f"{r['name']:>4} | {passes:>20} | {tokens:>22} | {r['plain_tokens'] / r['ours_tokens']:11.2f}x | "
              f"{evals:>21} | {r['diff_plain']:15.1e} | {r['err_plain']:13.1e}, {r['err_ours']:.1e}")
    print()
    print("SHAP vs the plain call with the f most users write (sentence-transformers' encode → zero-shot p):")
    for r in rows:
        t = r["times"]
        print(f"{r['name']:>4} {r['n']:3d} | plain/st {med(t['plain/st']):6.2f} s (cpu {med(t['plain/st'], 1):5.2f}) | "
              f"attnviz {med(t['attnviz']):6.2f} s | ratio wall {med(t['plain/st']) / med(t['attnviz']):5.2f}x, "
              f"cpu {med(t['plain/st'], 1) / med(t['attnviz'], 1):5.2f}x | max|ours-plain/st| {r['diff_st']:.1e}")
    sizes = ", ".join(f"{r['name']} {r['max_abs']:.3f}" for r in rows)
    print(f"  exact = Owen values of the whole tree (plain call, max_evals=20000); max|value| there: {sizes}.")
    print(f"  ours: |base_value + Σφ − f(x)| ≤ {max(r['additivity'] for r in rows):.1e}; passes/tokens include "
          "the one probe pass that binds the target.")
    first = rows[0].get("first_call", {})
    if first:
        print("  first SHAP call in the process (numba JIT of shap's helpers, paid once by whichever runs first): "
              + ", ".join(f"{k} {v:.2f} s" for k, v in first.items()))
    worst = min(med(r["times"]["plain"]) / med(r["times"]["attnviz"]) for r in rows)
    worst_cpu = min(med(r["times"]["plain"], 1) / med(r["times"]["attnviz"], 1) for r in rows)
    print(f"  goal >= {SHAP_GOAL:.0f}x: {'OK' if worst >= SHAP_GOAL else 'NOT MET'} (lowest median ratio: wall "
          f"{worst:.2f}x, CPU {worst_cpu:.2f}x)")


def bench_pass_size(handle, repeats: int, warmup: int, gate) -> dict:
    """Our SHAP on S24 with different token positions per forward pass (CPU_TOKENS_PER_PASS)."""
    from attnviz.attribution import shap_method

    text = SHAP_SENTENCES["S24"]
    default = shap_method.CPU_TOKENS_PER_PASS

    def with_budget(tokens):
        def call():
            shap_method.CPU_TOKENS_PER_PASS = tokens
            try:
                return handle.attribute(text, "shap")
            finally:
                shap_method.CPU_TOKENS_PER_PASS = default
        return call

    return interleaved({tokens: with_budget(tokens) for tokens in (256, 512, 1024, 2048, 4096)}, repeats, warmup,
                       gate)


def print_pass_size(times: dict) -> None:
    from attnviz.attribution import shap_method

    print(f"attnviz SHAP on S24 by token positions per forward pass (library default "
          f"{shap_method.CPU_TOKENS_PER_PASS} on CPU): median wall [fastest], CPU s")
    print("  " + ", ".join(f"{k}: {med(v):.2f} [{fastest(v):.2f}] {med(v, 1):.2f}" for k, v in times.items()))


# ----------------------------------------------------------------------- IG
def text_of_exactly(tok, n: int) -> str:
    """Prose cut to exactly n tokens, specials included (topped up with one-token words)."""
    def count(words):
        return len(tok(" ".join(words))["input_ids"])

    words = PROSE.split()
    chosen: list[str] = []
    while count(chosen) < n:
        chosen.append(words[len(chosen) % len(words)])
    while count(chosen) > n:
        chosen.pop()
    while count(chosen) < n:
        chosen.append("and")
    if count(chosen) != n:
        raise RuntimeError(f"built a text of {count(chosen)} tokens, wanted {n}")
    return " ".join(chosen)


def zero_shot_f(model, anchors, index, temperature):
    """The handle's zero-shot target on an independently loaded model (as tests/attribution/test_methods.py)."""
    def f(input_ids, attention_mask, token_type_ids):
        out = model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
        z = mean_pool(out.last_hidden_state, attention_mask) @ anchors.T
        return torch.softmax(z / temperature, -1)[:, index]

    return f


def bench_ig(handle, sizes: list[int], repeats: int, warmup: int, gate) -> list[dict]:
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(default_model_path())).eval()
    return [ig_row(handle, model, n, repeats, warmup, gate) for n in sizes]


def ig_row(handle, model, n: int, repeats: int, warmup: int, gate) -> dict:
    from captum.attr import LayerIntegratedGradients

    text = text_of_exactly(handle.tokenizer, n)
    ctx = prepare(handle, text, None, None)
    assert ctx.n == n
    names = [name for name, _ in ctx.scorer.target.labels]
    ours = handle.attribute(text, "integrated_gradients")  # the default: adaptive steps to tol = 1e-2
    fixed = handle.attribute(text, "integrated_gradients", n_steps=50)
    f = zero_shot_f(model, label_embeddings(handle, ctx.scorer.target.labels), names.index(ours.label),
                    ctx.scorer.target.temperature)
    base = ctx.baseline_ids("pad")

    def captum(ibs=None):
        lig = LayerIntegratedGradients(f, model.embeddings.word_embeddings)
        attr, delta = lig.attribute(ctx.input_ids, baselines=base, n_steps=50, internal_batch_size=ibs,
                                    additional_forward_args=(ctx.attention_mask, ctx.token_type_ids),
                                    return_convergence_delta=True)
        return attr.sum(-1)[0].detach().numpy(), float(delta[0])

    ref, ref_delta = captum()
    contenders = {
        "captum": lambda: captum(),
        "captum/ibs25": lambda: captum(25),
        "attnviz": lambda: handle.attribute(text, "integrated_gradients"),
        "attnviz/gl50": lambda: handle.attribute(text, "integrated_gradients", n_steps=50),
        "attnviz/gl50ibs50": lambda: handle.attribute(text, "integrated_gradients", n_steps=50,
                                                      internal_batch_size=50),
    }
    times = interleaved(contenders, repeats, warmup, gate)
    return {"n": n, "times": times, "diff": float(np.abs(fixed.scores - ref).max()),
            "diff_adaptive": float(np.abs(ours.scores - ref).max()), "steps": ours.settings["steps_used"],
            "delta_ours": ours.delta, "delta_captum": ref_delta}


def print_ig(rows: list[dict]) -> None:
    print("Integrated Gradients: seconds per attribution, median wall [fastest] / median CPU;")
    print("ratios = captum (default call: 50 Gauss-Legendre steps) / attnviz (default: GL 20, 28, … to a gap <= 1e-2)")
    names = list(rows[0]["times"])
    header = (f"{'n':>4} | " + " | ".join(f"{name:>19}" for name in names)
              + f" | {'ratio wall':>10} {'cpu':>5} | {'steps':>5} | {'diff gl50':>9} | {'diff adapt':>10} | {'delta ours':>10} | "
              f"{'delta captum':>12}")
    print(header)
    print("-" * len(header))
    for r in rows:
        t = r["times"]
        cells = " | ".join(f"{med(t[k]):6.2f} [{fastest(t[k]):.2f}] {med(t[k], 1):5.2f}" for k in names)
        print(f"{r['n']:4d} | {cells} | {med(t['captum']) / med(t['attnviz']):9.2f}x "
              f"{med(t['captum'], 1) / med(t['attnviz'], 1):4.2f}x | {r['steps']:5d} | {r['diff']:9.1e} | "
              f"{r['diff_adaptive']:10.1e} | {r['delta_ours']:10.1e} | "
              f"{r['delta_captum']:12.1e}")
    print("  ibs = internal_batch_size (steps per forward/backward pass); captum's default runs all 50 at once,")
    print("  attnviz's fixed-step default is 25 (IG_BATCH). steps = gradient points the default used (all rungs);")
    print("  diff = max |score difference| from captum (gl50: attnviz with n_steps=50; adapt: the default);")
    print("  delta = completeness gap of attnviz's default and of captum's default call.")


# --------------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 timed rounds, 1 warm-up")
    ap.add_argument("--repeats", type=int, default=None, help="timed rounds per contender (default 7, quick 2)")
    ap.add_argument("--only", choices=["shap", "ig"], default=None)
    ap.add_argument("--ig-sizes", type=int, nargs="+", default=[20, 120])
    ap.add_argument("--no-sweep", action="store_true", help="skip the SHAP pass-size sweep")
    ap.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    ap.add_argument("--no-wait", action="store_true", help="do not wait for idle CPUs before each round")
    ap.add_argument("--max-wait", type=float, default=30.0, help="seconds to wait for idle CPUs per round")
    args = ap.parse_args(argv)
    gate = QuietGate(max_wait=args.max_wait, enabled=not args.no_wait)
    repeats = args.repeats or (2 if args.quick else 7)
    warmup = 1
    if args.threads:
        torch.set_num_threads(args.threads)

    import captum
    import shap
    from transformers import __version__ as tf_version

    handle = attnviz.load_model(device="cpu")
    print(f"attnviz bench_attribution  {time.strftime('%Y-%m-%d %H:%M')}  {platform.machine()} "
          f"cpu_count={os.cpu_count()}  torch threads {torch.get_num_threads()}")
    print(f"python {platform.python_version()}  torch {torch.__version__}  transformers {tf_version}  "
          f"shap {shap.__version__}  captum {captum.__version__}")
    print(f"model: {handle.name}, target: {prepare(handle, 'A test.', None, None).scorer.description}")
    print(f"load average at start: {_loadavg()}; timing: {warmup} warm-up + {repeats} interleaved rounds, medians"
          + ("  [--quick]" if args.quick else ""))
    print()
    if args.only in (None, "shap"):
        print_shap(bench_shap(handle, repeats, warmup, gate))
        print()
        if not args.no_sweep:
            print_pass_size(bench_pass_size(handle, repeats, warmup, gate))
            print()
    if args.only in (None, "ig"):
        print_ig(bench_ig(handle, args.ig_sizes, repeats, warmup, gate))
        print()
    print(gate.summary())
    print(f"load average at end: {_loadavg()}")
    return 0


def _loadavg() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


if __name__ == "__main__":
    sys.exit(main())
