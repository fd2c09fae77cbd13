"""Generate: a causal LM continues a prompt; pick a generated token to see its attention and attributions."""

import streamlit as st

from attnviz import ui
from attnviz.attribution import METHODS, method_title
from attnviz.errors import AttnvizError
from attnviz.figures import attribution as cfigs
from attnviz.figures import generation as gfigs
from attnviz.figures.attention import display_token
from attnviz.generation import MAX_NEW_TOKENS, ROWS
from attnviz.sharing import StateParam

EXAMPLE = "The old lighthouse keeper opened the door and"
EVERY_LAYER = "all"  # the layer option for every layer, mean over heads (its value in links: layer=all)
SAMPLING_KEYS = ("generate_temperature", "generate_top_k", "generate_seed")

# the params come before the decoder check: a link or a session file can bring a causal LM along
handle = ui.page(
    "generate", title="Generate",
    caption="A causal language model continues your prompt one token at a time. Pick a generated token: the "
            "attention that produced it (per layer and head) and which earlier tokens raised its probability.",
    params=lambda handle: [
        StateParam.text("prompt", "generate_prompt", default=EXAMPLE),
        StateParam.integer("new", "generate_max_new", 1, MAX_NEW_TOKENS, default=12),
        StateParam.choice("decoding", "generate_decoding", ["greedy", "sampling"], default="greedy"),
        StateParam.number("temperature", "generate_temperature", 0.05, 5.0, default=1.0),
        StateParam.integer("top_k", "generate_top_k", 0, 1000, default=0),
        StateParam.integer("seed", "generate_seed", 0, 2**31 - 1, default=0),
        StateParam.integer("token", "generate_step", 0, MAX_NEW_TOKENS - 1, default=0),
        StateParam.choice("row", "generate_row", list(ROWS), default="predicting"),
        StateParam.choice("layer", "generate_layer", [EVERY_LAYER, *range(handle.num_layers)], default=EVERY_LAYER),
        StateParam.choice("method", "generate_method", METHODS, default="integrated_gradients"),
    ],
    keep=SAMPLING_KEYS)  # presenter mode hides the sampling settings under greedy decoding: keep their values

if handle.kind != "decoder":
    st.info(
        f"**Generation needs a causal language model**, and {ui.md_code(handle.name)} is an {handle.kind} model: it "
        "encodes a whole text at once and has no next-token head to continue it with. Enter a GPT-2-like model "
        "in the sidebar — e.g. `gpt2` if it is in the local Hugging Face cache, or a local directory saved with "
        "`save_pretrained` (safetensors) — and press **Load model**. Offline, train a small one in seconds: "
        "**Attention Lab** → task Induction or Copy → **Train a text model for the Generate page**. "
        "The other pages keep working with this model.",
        icon=":material/auto_awesome:")
    st.stop()

with st.form("generate_input"):
    prompt = st.text_area("Prompt", key="generate_prompt", height=80, max_chars=20_000)
    cols = st.columns([2, 1.3, 1, 1, 1])
    max_new = cols[0].slider("New tokens", 1, MAX_NEW_TOKENS, key="generate_max_new")
    decoding = cols[1].radio("Decoding", ["greedy", "sampling"], horizontal=True, key="generate_decoding",
                             help="Greedy takes the most probable token each step; sampling draws from the "
                                  "model's distribution (seeded: the same seed gives the same text).")
    if ui.presenter_mode() and st.session_state["generate_decoding"] == "greedy":
        temperature, top_k, seed = (st.session_state[k] for k in SAMPLING_KEYS)  # unused by greedy decoding
    else:
        temperature = cols[2].number_input("Temperature", 0.05, 5.0, step=0.05, key="generate_temperature",
                                           help="Sampling only: logits / temperature before the softmax.")
        top_k = cols[3].number_input("Top-k (0 = all)", 0, 1000, step=1, key="generate_top_k",
                                     help="Sampling only: draw among the k most probable tokens.")
        seed = cols[4].number_input("Seed", 0, 2**31 - 1, step=1, key="generate_seed")
    st.form_submit_button("Generate", type="primary")

do_sample = decoding == "sampling"
generation_args = (prompt, int(max_new), do_sample, float(temperature) if do_sample else 1.0,
                   int(top_k) if do_sample else 0, int(seed) if do_sample else 0)
key = ui.current_model_key()
try:
    with st.spinner("Generating …"):
        generation = ui.cached_generation(key, *generation_args)
except AttnvizError as exc:
    ui.show_error(exc)
    st.stop()

ui.guide("generate/continuation")
st.markdown("**Continuation**")
st.text(generation.continuation or "∅")
if generation.stop_reason == "eos":
    st.caption("Stopped at the model's end-of-sequence token.")
elif generation.n_generated < max_new:
    st.caption(f"Stopped after {generation.n_generated} tokens: the model's context of {handle.max_length} is full.")

if st.session_state.get("generate_step", 0) >= generation.n_generated:
    st.session_state["generate_step"] = 0  # a shorter continuation than the last one
if generation.n_generated > 1:
    step = st.select_slider(
        "Generated token", options=list(range(generation.n_generated)), key="generate_step",
        format_func=lambda t: f"{t}: {display_token(generation.generated_tokens[t])}")
else:
    step = 0
st.plotly_chart(gfigs.generated_probabilities(generation, chosen=step), key="generate_probabilities")
if generation.alternatives:
    st.caption(f"Step {step}, the model's most probable tokens: " + " · ".join(
        f"`{display_token(t)}` {p:.3g}" for t, p in generation.alternatives[step]))

st.subheader("Attention")
ui.guide("generate/attention")
controls = st.columns(2)
which = controls[0].radio("Row", list(ROWS), horizontal=True, key="generate_row", format_func=lambda r: {
    "predicting": "that produced the token", "own": "the token's own"}[r], help=" · ".join(
    f"{k}: {v}" for k, v in ROWS.items()))
if st.session_state.get("generate_layer") not in [EVERY_LAYER, *range(handle.num_layers)]:
    st.session_state["generate_layer"] = EVERY_LAYER  # a session file saved with a deeper model
layer_choice = controls[1].selectbox("Layer", [EVERY_LAYER] + list(range(handle.num_layers)), key="generate_layer",
                                     format_func=lambda v: "every layer (mean over heads)" if v == EVERY_LAYER
                                     else f"layer {v} (every head)")
layer = None if layer_choice == EVERY_LAYER else int(layer_choice)
st.plotly_chart(gfigs.token_attention_rows(generation, step, which=which, layer=layer), key="generate_rows")
if not ui.presenter_mode():
    st.caption("For a causal model, the rows seen while generating step by step are the rows of one forward pass "
               "over prompt + continuation: that one extraction is shown here.")

st.subheader("Attribution")
ui.guide("generate/attribution")
method = st.selectbox("Method", list(METHODS), key="generate_method", format_func=method_title)
try:
    with st.spinner(f"Running {method_title(method)} …"):
        attribution = ui.cached_generated_attribution(key, generation_args, step, method)
except AttnvizError as exc:
    ui.show_error(exc)
    ui.offer_session_file("generate", {"generation": generation})
    st.stop()
st.markdown(f"**Explained:** `{attribution.target}` = {attribution.output:.4g}, over the prompt and the "
            f"{step} token(s) generated before it.")
st.plotly_chart(cfigs.token_score_rows(attribution.tokens, {method_title(method): attribution.scores},
                                       title="Which earlier tokens raised (red) or lowered (blue) its probability"),
                key="generate_attribution")
ui.offer_session_file("generate", {"generation": generation, "attribution": attribution})
if not ui.presenter_mode():
    st.dataframe(generation.to_dataframe(), hide_index=True)
