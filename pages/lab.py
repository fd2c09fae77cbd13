"""Attention Lab page: build a small attention model, train it live on a toy task, watch its attention form,
and step through one head's arithmetic (for the lab model or the sidebar's model, MiniLM included).

Training runs in short chunks inside a fragment, so the Stop button is answered within a chunk and the
server keeps serving other sessions. Every piece of state (the trainer, its model) lives in this
session's st.session_state.
"""

import uuid

import numpy as np
import pandas as pd
import streamlit as st

import attnviz
from attnviz import ui
from attnviz.errors import AttnvizError
from attnviz.figures import lab as lfigs
from attnviz.lab.checkpoint import checkpoint_bytes, load_checkpoint
from attnviz.lab.circuits import CIRCUIT_TASKS, CircuitTracker
from attnviz.lab.model import MASKS, SCORES
from attnviz.lab.stepthrough import RESCORE, rescore, step_through
from attnviz.lab.tasks import TASKS
from attnviz.lab.textlm import TEXT_TASKS, train_text_model
from attnviz.lab.train import RECIPES, Trainer
from attnviz.lab.vision_adapter import vision_handle_from_trainer
from attnviz.sharing import StateParam

TRAINER, RUNNING, LAB_HANDLE, CIRCUITS = "lab_trainer", "lab_running", "lab_handle", "lab_circuits"
CHUNK_SECONDS = 0.4  # training time per fragment run: the Stop button is answered within this
RERUN_SECONDS = 0.5  # how often the training fragment reruns while training
TARGET = 0.95
STEP_TEXT = "The cat sat on the mat because it was tired."
WIDTHS, HEADS, LRS = [16, 32, 64, 128], [1, 2, 4, 8], [1e-4, 3e-4, 1e-3, 3e-3, 1e-2]
DEFAULTS = {"lab_layers": 2, "lab_heads": 4, "lab_width": 64, "lab_score": "scaled_dot", "lab_mask": "full",
            "lab_window": 2, "lab_stride": 4, "lab_top_k": 4, "lab_dropout": 0.0, "lab_shift": False,
            "lab_lr": 3e-3, "lab_batch": 32, "lab_seed": 0, "lab_max_steps": 2000}


def apply_recipe() -> None:
    """Task changed: put that task's recipe into the architecture widgets."""
    chosen = RECIPES[st.session_state["lab_task"]]
    model, train = chosen["model"], chosen["train"]
    st.session_state.update(DEFAULTS)
    st.session_state.update({
        "lab_layers": model.get("num_hidden_layers", 2), "lab_heads": model.get("num_attention_heads", 4),
        "lab_width": model.get("hidden_size", 64), "lab_shift": bool(model.get("token_shift", False)),
        "lab_lr": train.get("learning_rate", 3e-3), "lab_batch": train.get("batch_size", 32),
        "lab_max_steps": train.get("max_steps", 2000),
    })


def wanted_settings() -> tuple[str, dict, dict]:
    """(task, model settings, training settings) as the widgets say."""
    s = st.session_state
    model = {"num_hidden_layers": s.lab_layers, "num_attention_heads": s.lab_heads, "hidden_size": s.lab_width,
             "intermediate_size": 2 * s.lab_width, "score": s.lab_score, "mask": s.lab_mask,
             "window": s.lab_window, "stride": s.lab_stride, "top_k": s.lab_top_k,
             "attention_dropout": s.lab_dropout, "hidden_dropout": s.lab_dropout, "token_shift": s.lab_shift}
    train = {"learning_rate": float(s.lab_lr), "batch_size": int(s.lab_batch), "seed": int(s.lab_seed),
             "max_steps": int(s.lab_max_steps)}
    if TASKS[s.lab_task].kind == "image":
        model.pop("token_shift")
    return s.lab_task, model, train


def build_trainer() -> None:
    task, model, train = wanted_settings()
    try:
        st.session_state[TRAINER] = Trainer(task, model, train)
        st.session_state[RUNNING] = False
        st.session_state.pop(LAB_HANDLE, None)
    except AttnvizError as exc:
        st.session_state["lab_build_error"] = str(exc)


def lab_handle(trainer: Trainer):
    """The trained model as a ModelHandle (a frozen copy), rebuilt only when the model changed."""
    key = (id(trainer), trainer.step)
    cached = st.session_state.get(LAB_HANDLE)
    if cached is None or cached[0] != key:
        name = f"lab:{trainer.task.name}:{uuid.uuid4().hex[:6]}"
        handle = attnviz.from_pretrained_model(trainer.frozen_copy(), trainer.tokenizer(), name=name)
        cached = (key, handle)
        st.session_state[LAB_HANDLE] = cached
    return cached[1]


def circuit_tracker(trainer: Trainer) -> CircuitTracker | None:
    """This trainer's circuit tracker (induction and associative recall only), kept beside it."""
    if trainer.task.name not in CIRCUIT_TASKS:
        return None
    cached = st.session_state.get(CIRCUITS)
    if cached is None or cached.trainer is not trainer:
        cached = CircuitTracker(trainer)
        st.session_state[CIRCUITS] = cached
    return cached


def show_lookup_head(layer: int, head: int, step: int) -> None:
    st.session_state["lab_layer"], st.session_state["lab_head"] = layer, head
    st.session_state["lab_snapshot_step"] = step


def number_table(matrix: np.ndarray, tokens) -> pd.DataFrame:
    """Rows labelled 'position:token'; token×token matrices get token columns too (text, never HTML)."""
    rows = [f"{i}:{t}" for i, t in enumerate(tokens)]
    columns = rows if matrix.shape[1] == len(tokens) and matrix.shape[0] == len(tokens) else None
    return pd.DataFrame(np.round(matrix.astype(np.float64), 4), index=rows, columns=columns)


@st.cache_data(max_entries=32, show_spinner=False)
def cached_step_through(model_key, text: str, layer: int, head: int, _handle):
    """The sidebar model's step-through, cached by model key (the handle itself is not hashed)."""
    return step_through(_handle, text, layer=layer, head=head)


# ---------------------------------------------------------------------------------------------- page
# The link carries the task (always) and the settings that differ from DEFAULTS; a linked task keeps
# the link's settings instead of its recipe.
ui.page(
    "lab", title="Attention Lab", needs_model=False,
    caption="Build a small attention model, train it on a toy task and watch its attention learn; then take one "
            "head apart, number by number. Everything runs on this machine's CPU in seconds.",
    params=[
        StateParam.choice("task", "lab_task", list(TASKS)),
        StateParam.choice("layers", "lab_layers", [1, 2, 3, 4], default=DEFAULTS["lab_layers"]),
        StateParam.choice("heads", "lab_heads", HEADS, default=DEFAULTS["lab_heads"]),
        StateParam.choice("width", "lab_width", WIDTHS, default=DEFAULTS["lab_width"]),
        StateParam.number("dropout", "lab_dropout", 0.0, 0.5, default=DEFAULTS["lab_dropout"]),
        StateParam.choice("score", "lab_score", list(SCORES), default=DEFAULTS["lab_score"]),
        StateParam.choice("mask", "lab_mask", list(MASKS), default=DEFAULTS["lab_mask"]),
        StateParam.integer("window", "lab_window", 1, 64, default=DEFAULTS["lab_window"]),
        StateParam.integer("stride", "lab_stride", 2, 64, default=DEFAULTS["lab_stride"]),
        StateParam.integer("top_k", "lab_top_k", 1, 64, default=DEFAULTS["lab_top_k"]),
        StateParam.choice("lr", "lab_lr", LRS, default=DEFAULTS["lab_lr"]),
        StateParam.choice("batch", "lab_batch", [16, 32, 64, 128], default=DEFAULTS["lab_batch"]),
        StateParam.integer("max_steps", "lab_max_steps", 10, 20_000, default=DEFAULTS["lab_max_steps"]),
        StateParam.integer("seed", "lab_seed", 0, 10_000, default=DEFAULTS["lab_seed"]),
        StateParam.boolean("shift", "lab_shift", default=DEFAULTS["lab_shift"]),
        StateParam.choice("step_model", "lab_step_source", ["lab", "sidebar"], default="lab"),
    ])
if "lab_task" not in st.session_state:
    st.session_state["lab_task"] = "associative_recall"
    apply_recipe()
if TRAINER not in st.session_state:
    build_trainer()

train_tab, step_tab, files_tab = st.tabs(["Train", "Step through one head", "Save / load"])

# ------------------------------------------------------------------------------------------- train
with train_tab:
    ui.guide("lab/train")
    task_name = st.selectbox("Task", list(TASKS), key="lab_task", on_change=apply_recipe,
                             format_func=lambda t: TASKS[t].title)
    st.caption(TASKS[task_name].description)
    is_image = TASKS[task_name].kind == "image"
    with st.expander("Architecture and training settings", expanded=False):
        cols = st.columns(4)
        cols[0].selectbox("Layers", [1, 2, 3, 4], key="lab_layers")
        cols[1].selectbox("Heads", HEADS, key="lab_heads")
        cols[2].selectbox("Width (d_model)", WIDTHS, key="lab_width")
        cols[3].slider("Dropout", 0.0, 0.5, step=0.05, key="lab_dropout")
        cols = st.columns(4)
        cols[0].selectbox("Score function", list(SCORES), key="lab_score", help="\n".join(
            f"- **{k}**: {v}" for k, v in SCORES.items()))
        cols[1].selectbox("Mask", list(MASKS), key="lab_mask", help="\n".join(
            f"- **{k}**: {v}" for k, v in MASKS.items()))
        cols[2].number_input("Window (local)", 1, 64, key="lab_window")
        cols[3].number_input("Stride (strided)", 2, 64, key="lab_stride")
        cols = st.columns(4)
        cols[0].number_input("k (top-k)", 1, 64, key="lab_top_k")
        cols[1].select_slider("Learning rate", LRS, key="lab_lr", format_func=lambda v: f"{v:g}")
        cols[2].selectbox("Batch size", [16, 32, 64, 128], key="lab_batch")
        cols[3].number_input("Max steps", 10, 20_000, step=100, key="lab_max_steps")
        cols = st.columns(4)
        cols[0].number_input("Seed", 0, 10_000, key="lab_seed")
        cols[1].toggle("Token shift", key="lab_shift", disabled=is_image,
                       help="Add each position's left neighbour's token to its input (a width-2 convolution, as "
                            "in H3/Based). One attention layer can then do associative recall and induction; "
                            "without it, two layers must compose a previous-token head with a matching head.")
        if cols[3].button("Build a new model", type="primary"):
            build_trainer()
    if "lab_build_error" in st.session_state:
        st.error(ui.safe_message(st.session_state.pop("lab_build_error")), icon="⚠️")

    trainer: Trainer = st.session_state[TRAINER]
    task, model_settings, train_settings = wanted_settings()
    current = {k: getattr(trainer.config, k) for k in model_settings}
    if task != trainer.task.name or current != model_settings or any(
            getattr(trainer.settings, k) != v for k, v in train_settings.items()):
        st.info(f"The model below is a **{trainer.task.title}** model built with other settings: press "
                "**Build a new model** (under the settings) to apply yours.", icon="🛠️")
    cfg = trainer.config
    st.caption(f"Model: {cfg.num_hidden_layers} layer(s) × {cfg.num_attention_heads} heads · width "
               f"{cfg.hidden_size} · score **{cfg.score}** · mask **{cfg.mask}**"
               + (" · token shift" if getattr(cfg, "token_shift", False) else "")
               + f" · {sum(p.numel() for p in trainer.model.parameters()):,} parameters")

    # While training, this fragment reruns on its own every RERUN_SECONDS and trains one chunk each time;
    # the rest of the page is not recomputed. Start, stop and the end of training rerun the whole page,
    # which switches the fragment's timer on or off.
    @st.fragment(run_every=RERUN_SECONDS if st.session_state.get(RUNNING) else None)
    def training_panel():
        trainer: Trainer = st.session_state[TRAINER]
        running = st.session_state.get(RUNNING, False)
        cols = st.columns([1, 1, 4])
        if cols[0].button("▶ Train", type="primary", disabled=running or trainer.finished, key="lab_train"):
            st.session_state[RUNNING] = True
            st.rerun()
        if cols[1].button("■ Stop", disabled=not running, key="lab_stop"):
            st.session_state[RUNNING] = False
            st.rerun()
        tracker = circuit_tracker(trainer)
        if running:
            with ui.heavy_job("lab training", cancel=False):
                trainer.run(max_seconds=CHUNK_SECONDS, on_progress=tracker.update if tracker else None)
            if trainer.finished:
                st.session_state[RUNNING] = False
                st.rerun()
        last = trainer.history[-1] if trainer.history else None
        status = f"step {trainer.step:,} of {trainer.settings.max_steps:,} · {trainer.seconds:.1f} s of compute"
        if last:
            status += f" · held-out accuracy {last['accuracy']:.1%}"
        reasons = {"reached": "reached the stop accuracy", "max_steps": "used all its steps",
                   "diverged": "diverged (loss is not finite): lower the learning rate", "stopped": "stopped"}
        if trainer.stop_reason:
            status += f" · {reasons.get(trainer.stop_reason, trainer.stop_reason)}"
        cols[2].progress(min(1.0, trainer.step / trainer.settings.max_steps), text=status)
        trace = tracker.trace() if tracker is not None and tracker.trainer.history else None
        formed = trace.formed_step if trace is not None else None
        if trainer.history:
            marks = {f"{trace.name} forms": formed} if formed is not None else None
            st.plotly_chart(lfigs.training_curves(trainer.history, target=TARGET, marks=marks), width="stretch",
                            key="lab_curves")
        snapshots = trainer.snapshots
        steps = [s.step for s in snapshots]
        if trace is not None and len(trace.steps):
            layer_head = trace.head
            st.plotly_chart(lfigs.circuit_scores(trace, title=f"Which head does the lookup? ({trace.name})"),
                            width="stretch", key="lab_circuits_chart")
            if formed is None:
                st.caption(f"No head has reached the threshold yet: a head becomes the {trace.name} when half of "
                           f"its attention from the '?' lands on the token after the earlier copy.")
            else:
                st.markdown(f"**The {trace.name} formed at step {formed}**: layer {layer_head[0]}, head "
                            f"{layer_head[1]} (score {trace.head_scores[-1]:.2f}). Replay it with the slider below: "
                            f"before step {formed} its attention is spread out, after it lands on one token.")
                before = next((s for s in reversed(steps) if s < formed), steps[0])
                st.button(f"Replay the {trace.name}", key="lab_replay", disabled=running,
                          on_click=show_lookup_head, args=(layer_head[0], layer_head[1], before))
        if running or st.session_state.get("lab_snapshot_step") not in steps:
            st.session_state["lab_snapshot_step"] = steps[-1]
        cols = st.columns([4, 1, 1])
        if len(steps) > 1:
            cols[0].select_slider("Attention at training step", steps, key="lab_snapshot_step",
                                  help="Snapshots of every head on one fixed example, kept during training.")
        shown = snapshots[steps.index(st.session_state["lab_snapshot_step"])]
        cfg = trainer.config
        layer = cols[1].selectbox("Layer", range(cfg.num_hidden_layers), key="lab_layer")
        head = cols[2].selectbox("Head", range(cfg.num_attention_heads), key="lab_head")
        tokens = trainer.probe_tokens()
        if trainer.config.is_image_model:
            image = trainer.probe.inputs[0].numpy()
            st.plotly_chart(lfigs.digit_attention(image, shown.attentions[layer, head, 0, 1:], cfg.patch_size,
                                                  title=f"Step {shown.step}: {shown.prediction}"),
                            width="stretch", key="lab_digit")
        else:
            correct = " ".join(trainer.task.answer_tokens(trainer.probe)[0])
            st.markdown(f"Probe: `{trainer.probe_text()}` → the model answers `{shown.prediction or '…'}` "
                        f"(correct: `{correct}`)")
        left, right = st.columns([1, 1])
        left.plotly_chart(lfigs.snapshot_heatmap(shown, tokens, layer, head), width="stretch", key="lab_snap")
        right.plotly_chart(lfigs.snapshot_grid(shown, tokens), width="stretch", key="lab_grid")

    training_panel()

    if trainer.config.is_image_model and st.button(
            "Open on the Attention and Attribution pages", key="lab_open_image",
            help="A frozen copy of this digits ViT becomes this session's model: the image pages show its "
                 "attention over [CLS] and the patches, and which patches made it choose a digit."):
        ui.use_session_model(vision_handle_from_trainer(trainer), f"Lab: digits ViT (step {trainer.step})")
        st.switch_page("pages/attention.py")

    if not is_image and trainer.task.kind == "text":
        with st.expander("Try it: type a task", expanded=False):
            text = st.text_input("Input ('?' marks each answer)", value=trainer.probe_text(), key=f"lab_try_text_{trainer.task.name}")
            try:
                answer = trainer.answer(text)
                st.markdown("Answers: " + (" ".join(f"`{a}`" for a in answer["answers"]) or
                                           "— put a `?` where an answer should go"))
                cols = st.columns(2)
                t_layer = cols[0].selectbox("Layer", range(cfg.num_hidden_layers), key="lab_try_layer")
                t_head = cols[1].selectbox("Head", range(cfg.num_attention_heads), key="lab_try_head")
                st.plotly_chart(lfigs.weights_heatmap(answer["attentions"][t_layer, t_head], answer["tokens"],
                                                      title=f"Layer {t_layer} · head {t_head}"), width="stretch")
            except AttnvizError as exc:
                ui.show_error(exc)

        if st.button("Use this model in the Attention and Attribution pages"):
            handle = lab_handle(trainer)
            ui.use_session_model(handle, f"Lab: {trainer.task.title} (step {trainer.step})")
            st.session_state["attention_text"] = trainer.probe_text()  # an input this model can read
            st.switch_page("pages/attention.py")

    if task_name in TEXT_TASKS:
        if st.button("Train a text model for the Generate page", key="lab_text_model",
                     help=f"A left-to-right (causal) Lab model of the same size, trained on this task written out "
                          f"as text ({TEXT_TASKS[task_name]}): the Generate page then works with no download."):
            try:
                with st.spinner("Training a left-to-right model on this task (seconds) …"):
                    text_handle, report = train_text_model(task_name, seed=int(st.session_state["lab_seed"]))
            except AttnvizError as exc:
                ui.show_error(exc)
                st.stop()
            ui.use_session_model(text_handle, f"Lab text model: {TASKS[task_name].title} "
                                              f"({report['accuracy']:.0%} after {report['steps']} steps)")
            st.session_state["generate_prompt"] = report["prompt"]
            st.session_state["generate_max_new"] = 8 if task_name == "copy" else 1
            st.switch_page("pages/generate.py")

# ------------------------------------------------------------------------------------- step-through
def show_step_through():
    trainer = st.session_state[TRAINER]
    sidebar_name = ui.current_model_key()[0]
    choices = ["lab", "sidebar"] if not trainer.config.is_image_model else ["sidebar"]
    if st.session_state.get("lab_step_source") not in choices:
        st.session_state["lab_step_source"] = choices[0]  # a digits model cannot read text: the sidebar's
    source = st.radio("Model", choices, horizontal=True, key="lab_step_source", format_func={
        "lab": f"Lab model ({trainer.task.title}, step {trainer.step})", "sidebar": f"Sidebar model ({sidebar_name})"}.get)
    if source == "lab":
        handle, default_text = lab_handle(trainer), trainer.probe_text()
    else:
        handle, default_text = ui.current_model(), STEP_TEXT
    if handle is None:
        return
    with st.form("lab_step_form"):
        text = st.text_input("Text", value=default_text, key=f"lab_step_text_{source}")
        cols = st.columns(2)
        layer = cols[0].selectbox("Layer", range(handle.num_layers), key=f"lab_step_layer_{source}")
        head = cols[1].selectbox("Head", range(handle.num_heads), key=f"lab_step_head_{source}")
        st.form_submit_button("Step through", type="primary")
    try:
        if source == "lab":
            step = step_through(handle, text, layer=layer, head=head)
        else:
            with st.spinner("Recomputing the head …"):
                step = cached_step_through(ui.current_model_key(), text, layer, head, handle)
    except AttnvizError as exc:
        ui.show_error(exc)
        return

    ok = max(step.max_weight_difference, step.max_output_difference) < 1e-5
    (st.success if ok else st.warning)(
        f"Recomputed by hand from the layer's input and its own W_Q, W_K, W_V: max |weights − the model's "
        f"attention| = **{step.max_weight_difference:.1e}**, max |output − the attention module's own output| "
        f"= **{step.max_output_difference:.1e}**.", icon="✅" if ok else "⚠️")
    tokens = step.tokens
    st.subheader("1 · The input X")
    st.caption(f"Layer {step.layer}'s input, one row per token ({step.x.shape[1]} numbers each)"
               + (" — after the layer's LayerNorm (pre-norm model)" if step.family in ("lab", "gpt2") else "")
               + ".")
    st.plotly_chart(lfigs.matrix_heatmap(step.x, tokens, title="X"), width="stretch")
    st.subheader(f"2 · Q = X·W_Q, K = X·W_K, V = X·W_V for head {step.head}")
    st.caption(f"Each head has its own {step.q.shape[1]}-dimensional slice of the projections: what a token "
               "asks for (Q), what it offers to be found by (K), and what it hands over when attended to (V).")
    cols = st.columns(3)
    for col, name, matrix in zip(cols, "QKV", (step.q, step.k, step.v)):
        col.plotly_chart(lfigs.matrix_heatmap(matrix, tokens, title=name), width="stretch")
    st.subheader("3 · Scores, mask, softmax")
    st.caption(f"{step.formula}. Rows are queries (who attends), columns keys (attended to). The mask sets "
               "forbidden scores to −∞, so softmax gives them weight 0; each row of the weights sums to 1 "
               "(weights use a 0–1 colour scale).")
    cols = st.columns(3)
    cols[0].plotly_chart(lfigs.scores_heatmap(step.scores, step.mask, tokens, title="scores S"), width="stretch")
    cols[1].plotly_chart(lfigs.mask_heatmap(step.mask, tokens, title=f"mask ({step.mask_kind})"), width="stretch")
    cols[2].plotly_chart(lfigs.weights_heatmap(step.weights, tokens, title="weights A = softmax(S)",
                                               colorbar=False), width="stretch")
    st.subheader("4 · Output = A·V")
    st.caption("Each token's new vector is the weighted average of the value vectors it attends to.")
    st.plotly_chart(lfigs.matrix_heatmap(step.output, tokens, title="A·V"), width="stretch")
    with st.expander("The numbers"):
        for name, matrix in (("Scores S (−∞ = masked)", step.masked_scores), ("Weights A", step.weights),
                             ("Q", step.q), ("K", step.k), ("V", step.v), ("A·V", step.output)):
            st.markdown(f"**{name}**")
            st.dataframe(number_table(matrix, tokens), width="stretch")

    st.subheader("5 · Swap the score function")
    st.caption("Same Q, K and mask; only the score changes. Dot products grow with the vectors' lengths, so "
               "unscaled scores give peakier weights; cosine ignores lengths and lets τ set the sharpness.")
    cols = st.columns([2, 2])
    other = cols[0].segmented_control("Score", list(RESCORE), default="cosine", key="lab_rescore",
                                      format_func=lambda s: f"{s}: {RESCORE[s]}") or "cosine"
    tau = cols[1].slider("τ (cosine temperature)", 0.5, 50.0, 10.0, 0.5, key="lab_tau",
                         disabled=other != "cosine")
    try:
        swapped = rescore(step, other, temperature=tau)
    except AttnvizError as exc:
        ui.show_error(exc)
        return
    cols = st.columns(3)
    cols[0].plotly_chart(lfigs.weights_heatmap(step.weights, tokens, title=f"the model's weights ({step.score})",
                                               colorbar=False), width="stretch")
    cols[1].plotly_chart(lfigs.weights_heatmap(swapped, tokens, title=f"with {other}", colorbar=False),
                         width="stretch")
    cols[2].plotly_chart(lfigs.difference_heatmap(swapped, step.weights, tokens, title=f"{other} − model"),
                         width="stretch")


with step_tab:
    ui.guide("lab/step")
    show_step_through()

# ------------------------------------------------------------------------------------ save and load
with files_tab:
    ui.guide("lab/files")
    trainer = st.session_state[TRAINER]
    st.markdown("A lab model is one **safetensors** file (weights, with the JSON config in its metadata). "
                "Files are never unpickled: PyTorch `.pt`/`.bin` checkpoints are refused.")
    st.download_button("Download this model (.safetensors)", checkpoint_bytes(trainer.model),
                       f"lab_{trainer.task.name}_step{trainer.step}.safetensors", "application/octet-stream")
    with st.form("lab_upload", clear_on_submit=True):
        weights = st.file_uploader("Lab model (.safetensors)", type=["safetensors"], key="lab_upload_weights")
        config = st.file_uploader("Config (.json, optional: only if it is not inside the file)", type=["json"],
                                  key="lab_upload_config")
        submitted = st.form_submit_button("Load")
    if submitted and weights is not None:
        try:
            model = load_checkpoint(weights.getvalue(), config.getvalue() if config is not None else None)
            st.session_state[TRAINER] = Trainer.from_model(model)
            st.session_state[RUNNING] = False
            st.session_state.pop(LAB_HANDLE, None)
            st.success(f"Loaded a {st.session_state[TRAINER].task.title} model.")
        except AttnvizError as exc:
            ui.show_error(exc)

trainer = st.session_state[TRAINER]  # the Lab's model, built only when an exercise needs an answer
ui.exercise_panel("lab", None if trainer.config.is_image_model else (lambda: lab_handle(trainer)),
                  text=trainer.probe_text(), task=trainer.task.name)
