"""Generation with attention: attnviz.generation.generate vs transformers' generate(output_attentions=True).

    HF_HUB_OFFLINE=1 python bench/bench_generation.py            # 20 new tokens, 9 interleaved rounds
    HF_HUB_OFFLINE=1 python bench/bench_generation.py --quick    # 3 rounds

Contenders, in this one process, on a randomly initialised GPT-2-small-sized model (12 layers x 12 heads,
768 wide; built from a config, nothing downloaded), CPU, one prompt, greedy:

    hf/sdpa    model.generate() on an independent sdpa copy, no attentions: the floor.
    hf/eager   model.generate(output_attentions=True, return_dict_in_generate=True) on an eager copy:
               how other tools get the per-step attention rows.
    ours       attnviz.generation.generate(): KV-cached sdpa steps, then ONE capture forward over
               prompt + continuation giving every row (tokenising and numpy conversion included).

Before timing, ours must produce hf/eager's tokens and its step rows within 1e-5. Medians reported as
ratios to hf/sdpa.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--new-tokens", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    from transformers import AutoTokenizer, GPT2Config, GPT2LMHeadModel

    import attnviz
    from attnviz.generation import generate
    from attnviz.models.loading import default_model_path

    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(str(default_model_path()))
    path = Path(tempfile.mkdtemp())
    GPT2LMHeadModel(GPT2Config(vocab_size=tok.vocab_size, n_positions=256)).save_pretrained(path)
    tok.save_pretrained(path)
    handle = attnviz.load_model(str(path), device="cpu")
    sdpa = GPT2LMHeadModel.from_pretrained(path, attn_implementation="sdpa").eval()
    eager = GPT2LMHeadModel.from_pretrained(path, attn_implementation="eager").eval()
    prompt = "The old lighthouse keeper opened the heavy door and looked out at the storm over the bay"
    ids = handle.encode(prompt).inputs["input_ids"]
    n_new = args.new_tokens
    common = dict(attention_mask=torch.ones_like(ids), max_new_tokens=n_new, min_new_tokens=n_new,
                  do_sample=False, pad_token_id=0)

    def hf_sdpa():
        with torch.inference_mode():
            return sdpa.generate(ids, **common)

    def hf_eager():
        with torch.inference_mode():
            return eager.generate(ids, output_attentions=True, return_dict_in_generate=True, **common)

    def ours():
        return generate(handle, prompt, max_new_tokens=n_new, stop_at_eos=False)

    ref, mine = hf_eager(), ours()
    assert mine.token_ids == tuple(ref.sequences[0].tolist()), "tokens differ"
    worst = max(float(np.abs(np.stack([a[0, :, -1].numpy() for a in step]) - mine.attention_row(s)).max())
                for s, step in enumerate(ref.attentions))
    assert worst < 1e-5, worst
    contenders = {"hf/sdpa": hf_sdpa, "hf/eager": hf_eager, "ours": ours}
    times = {k: [] for k in contenders}
    for fn in contenders.values():
        fn()
    rounds = 3 if args.quick else 9
    names = list(contenders)
    for r in range(rounds):
        for name in names[r % 3:] + names[:r % 3]:
            start = time.perf_counter()
            contenders[name]()
            times[name].append(time.perf_counter() - start)
    base = statistics.median(times["hf/sdpa"])
    print(f"GPT-2-small-sized random model, CPU, 1 thread, prompt {ids.shape[1]} tokens + {n_new} new; "
          f"{rounds} rounds; correctness: same tokens, step rows within {worst:.1e}")
    for name in names:
        med = statistics.median(times[name])
        print(f"{name:9s} median {med * 1000:8.1f} ms   ratio to hf/sdpa {med / base:5.2f}")


if __name__ == "__main__":
    main()
