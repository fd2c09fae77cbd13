"""Image models on the Attention and Attribution pages: the image picker (gallery or upload) and both pages.

A page calls :func:`image_model_chosen` first and, when it is true, hands the whole page to
:func:`attention_page` / :func:`attribution_page`. Gallery images travel in links (by name); an upload
never does. Every image goes through :func:`attnviz.vision.images.read_image` (type, size, bombs, EXIF,
metadata) before the model sees it.
"""

from __future__ import annotations

import hashlib

import pandas as pd
import streamlit as st

from attnviz.errors import AttnvizError
from attnviz.figures import attention as attention_figs
from attnviz.figures import attribution as attribution_figs
from attnviz.figures import image as figs
from attnviz.metrics import AGREEMENT_METRICS
from attnviz.sharing import StateParam
from attnviz.vision.attribution import METHODS
from attnviz.vision.images import FORMATS, MAX_IMAGE_BYTES, gallery
from attnviz.vision.maps import mean_attention_distance

from .models import handle_for
from .page import page
from .session_files import offer_session_file
from .state import current_model_key
from .text import md_text, show_error

VIEWS = ["Per head", "Model view", "Rollout", "Mean attention distance", "Token heatmap"]
#: one more view for the models that have one
EXTRA_VIEWS = {"image-text": "Captions", "vision-encoder-decoder": "Caption"}
CAPTIONS = "a photo of a temple\na photo of a flower\nred, blue and green shapes"
UPLOAD = "Upload your own…"


def image_model_chosen() -> bool:
    """Whether the sidebar's model is an image model (False also when it does not load: the page says why)."""
    try:
        return getattr(handle_for(current_model_key()), "modality", "text") == "image"
    except AttnvizError:
        return False


def model_gallery(handle) -> dict:
    """{name: path or bytes}: the model's own pictures when it has some (the Lab's digits), else the bundled gallery."""
    own = getattr(handle, "gallery", None)
    return own() if callable(own) else gallery()


def _pick_image(page_name: str) -> tuple[str, bytes] | None:
    """(label, file bytes) from the gallery or an upload; None (after a message) when there is none yet."""
    pictures = model_gallery(handle_for(current_model_key()))
    names = list(pictures) + [UPLOAD]
    if st.session_state.get(f"{page_name}_image") not in names:  # another model's gallery was shown before
        st.session_state[f"{page_name}_image"] = names[0]
    choice = st.selectbox("Image", names, key=f"{page_name}_image",
                          help="Gallery images are bundled with attnviz (see assets/images/README.md for their "
                               "licences; the Lab's digits come from scikit-learn's digits dataset) and travel "
                               "in links; an uploaded image stays in this session.")
    if choice != UPLOAD:
        picture = pictures[choice]
        return choice, picture if isinstance(picture, bytes) else picture.read_bytes()
    upload = st.file_uploader(f"PNG, JPEG or WebP, at most {MAX_IMAGE_BYTES // 2**20} MB",
                              type=[f.lower() for f in FORMATS] + ["jpg"], key=f"{page_name}_upload")
    if upload is None:
        st.info("Choose an image to upload.")
        return None
    if upload.size > MAX_IMAGE_BYTES:  # refused before it is read into memory a second time
        st.error(f"The file has {upload.size / 2**20:.1f} MB; at most {MAX_IMAGE_BYTES // 2**20} MB are read.")
        return None
    return "upload", upload.getvalue()


@st.cache_data(max_entries=8, show_spinner=False)
def cached_image_attention(model_key: tuple[str, str, str], digest: str, _data: bytes):
    """(AttentionResult, the image the model read [H, W, 3]); ``digest`` is the SHA-256 of ``_data``."""
    handle = handle_for(model_key)
    return handle.attention(_data), handle.encode(_data).shown


@st.cache_data(max_entries=32, show_spinner=False)
def cached_image_attribution(model_key: tuple[str, str, str], digest: str, method: str, target, _data: bytes):
    return handle_for(model_key).attribute(_data, method, target=target)


@st.cache_data(max_entries=8, show_spinner=False)
def cached_probabilities(model_key: tuple[str, str, str], digest: str, _data: bytes) -> dict[str, float]:
    return handle_for(model_key).predict(_data)


def _image_or_stop(page_name: str):
    picked = _pick_image(page_name)
    if picked is None:
        st.stop()
    label, data = picked
    return label, data, hashlib.sha256(data).hexdigest()


def _select_head(event_key: str, layer_key: str, head_key: str):
    def pick():
        points = st.session_state[event_key].selection.points
        if points:
            layer_pos, head, _ = points[0]["customdata"]
            st.session_state[layer_key], st.session_state[head_key] = int(layer_pos), int(head)
    return pick


def _select_patch(event_key: str, query_key: str, tokens: tuple[str, ...]):
    def pick():
        points = st.session_state[event_key].selection.points
        if points and points[0].get("customdata") in tokens:
            st.session_state[query_key] = tokens.index(points[0]["customdata"])
    return pick


def attention_page() -> None:
    """The Attention page for an image model: overlays per head, model view, rollout, distances."""
    page(
        "attention", title="Attention", images=True,
        caption="Where each token of the image looks, in every layer and head: [CLS], registers and patches. "
                "Attention weights show where information flows, not why the model decided.",
        params=lambda handle: [
            StateParam.choice("image", "attention_image", list(model_gallery(handle)),
                               default=next(iter(model_gallery(handle)))),
            StateParam.choice("view", "image_view", _views(handle), default=VIEWS[0]),
            StateParam.text("captions", "image_captions", default=CAPTIONS),
            StateParam.integer("layer", "image_layer", 0, handle.num_layers - 1, default=0),
            StateParam.integer("head", "image_head", 0, handle.num_heads - 1, default=0),
            StateParam.integer("query", "image_query", 0, handle.max_length - 1, default=0),
        ])
    _, data, digest = _image_or_stop("attention")
    try:
        result, shown = cached_image_attention(current_model_key(), digest, data)
    except AttnvizError as exc:
        show_error(exc)
        st.stop()
    handle = handle_for(current_model_key())
    view = st.segmented_control("View", _views(handle), key="image_view") or VIEWS[0]
    controls = st.columns([1, 1, 2])
    layer_pos = controls[0].selectbox("Layer", range(result.num_layers), key="image_layer")
    head = controls[1].selectbox("Head", range(result.num_heads), key="image_head")
    query = controls[2].selectbox("Query token (click a patch to pick it)", range(len(result.tokens)),
                                  format_func=lambda i: result.tokens[i], key="image_query")
    if view == "Per head":
        left, right = st.columns(2)
        left.plotly_chart(figs.attention_overlay(shown, result, layer_pos, head, query), width="stretch",
                          key="image_overlay", on_select=_select_patch("image_overlay", "image_query", result.tokens),
                          selection_mode="points")
        right.plotly_chart(figs.attention_overlay(shown, result, layer_pos, None, query), width="stretch")
        st.caption("Patch squares: each square is the weight the query gives that patch (its own colour scale); "
                   "weight on [CLS] and registers is listed in the title.")
    elif view == "Model view":
        st.plotly_chart(figs.model_view_overlays(shown, result, query, selected=(layer_pos, head)), width="stretch",
                        key="image_model_view", on_select=_select_head("image_model_view", "image_layer", "image_head"),
                        selection_mode="points")
    elif view == "Rollout":
        st.plotly_chart(figs.rollout_overlay(shown, result), width="stretch")
    elif view == "Mean attention distance":
        distances = mean_attention_distance(result)
        st.plotly_chart(figs.mean_distance_figure(distances), width="stretch")
        st.caption("For each patch query: Σ over patches of weight × distance between patch centres; mean over "
                   "patch queries (Dosovitskiy et al. 2021, Fig. 7). Weight on [CLS]/registers counts as 0.")
        st.dataframe(distances, hide_index=True)
    elif view == "Token heatmap":
        st.plotly_chart(attention_figs.head_heatmap(result, layer_pos, head), width="stretch")
    elif view == "Captions":
        _captions_view(digest, data)
    else:
        _caption_view(digest, data, shown, layer_pos, head)
    offer_session_file("attention", {"attention": result})


def _views(handle) -> list[str]:
    extra = EXTRA_VIEWS.get(getattr(handle, "kind", ""))
    return VIEWS + ([extra] if extra else [])


@st.cache_data(max_entries=8, show_spinner=False)
def cached_similarity(model_key: tuple[str, str, str], digest: str, captions: tuple[str, ...], _data: bytes):
    return handle_for(model_key).similarity(_data, list(captions))


@st.cache_data(max_entries=8, show_spinner=False)
def cached_caption(model_key: tuple[str, str, str], digest: str, _data: bytes):
    return handle_for(model_key).caption(_data)


def _captions_view(digest: str, data: bytes) -> None:
    """A dual encoder: the image's similarity to each caption, what drives one, the text tower's attention."""
    text = st.text_area("Captions, one per line", key="image_captions", max_chars=5000)
    captions = tuple(line.strip() for line in text.splitlines() if line.strip())
    key = current_model_key()
    try:
        sims = cached_similarity(key, digest, captions, data)
        chosen = st.selectbox("Explain the similarity to", captions, key="image_caption_pick")
        handle = handle_for(key)
        patches, tokens = handle.explain_similarity(data, chosen)
        text_result = handle.text_attention(chosen)
    except AttnvizError as exc:
        show_error(exc)
        return
    st.dataframe(sims.to_dataframe(), hide_index=True)
    st.caption("The explained number is the cosine similarity of the two embeddings; CLIP's softmax reads it "
               f"× {sims.logit_scale:.1f}.")
    left, right = st.columns(2)
    left.plotly_chart(figs.patch_overlay(handle.encode(data).shown, patches.scores, diverging=True,
                                         colorbar_title="Δ cosine", title="Patch occlusion of the similarity"),
                      width="stretch")
    right.dataframe(tokens.to_dataframe(), hide_index=True)
    st.plotly_chart(attention_figs.mean_heads_heatmap(text_result, text_result.num_layers - 1), width="stretch")


def _caption_view(digest: str, data: bytes, shown, layer_pos: int, head: int) -> None:
    """A captioner: the caption, and where each word looked (cross-attention per layer/head or mean)."""
    try:
        result = cached_caption(current_model_key(), digest, data)
    except AttnvizError as exc:
        show_error(exc)
        return
    st.markdown(f"**Caption:** {md_text(result.meta['caption'])}")
    word = st.selectbox("Word", range(len(result.decoder_tokens)), format_func=lambda i: result.decoder_tokens[i],
                        key="image_caption_word")
    mean = st.toggle("Mean over heads", key="image_caption_mean", value=True)
    st.plotly_chart(figs.cross_attention_overlay(shown, result, word, layer_pos=layer_pos,
                                                 head=None if mean else head), width="stretch")


def attribution_page() -> None:
    """The Attribution page for an image classifier: the chosen methods as overlays, side by side."""
    handle = page(
        "attribution", title="Attribution", images=True,
        caption="Which patches mattered for one class of an image classifier — several explainers on the same "
                "patches. Removing a patch means replacing it with the processor's mean colour.",
        params=lambda handle: [
            StateParam.choice("image", "attribution_image", list(model_gallery(handle)),
                               default=next(iter(model_gallery(handle)))),
            StateParam.choices("method", "image_methods", list(METHODS),
                               default=["integrated_gradients", "occlusion", "chefer"]),
        ])
    _, data, digest = _image_or_stop("attribution")
    key = current_model_key()
    if not handle.is_classifier:
        st.info("This image model has no classification head: only attention rollout can be shown.")
    classes = ["(predicted)"] + [handle.labels[i] for i in sorted(handle.labels)] if handle.is_classifier else []
    target_label = st.selectbox("Class", classes, key="image_class") if classes else None
    methods = st.multiselect("Methods", list(METHODS), format_func=METHODS.get, key="image_methods")
    target = None if target_label in (None, "(predicted)") else target_label
    try:
        if handle.is_classifier:
            probs = cached_probabilities(key, digest, data)
            st.dataframe(pd.DataFrame({"class": list(probs), "probability": list(probs.values())}).head(5),
                         hide_index=True)
        _, shown = cached_image_attention(key, digest, data)
        outputs = {m: cached_image_attribution(key, digest, m, target, data) for m in methods
                   if handle.is_classifier or m == "rollout"}
    except AttnvizError as exc:
        show_error(exc)
        st.stop()
    columns = st.columns(2)
    for i, (method, out) in enumerate(outputs.items()):
        columns[i % 2].plotly_chart(figs.attribution_overlay(shown, out), width="stretch", key=f"image_attr_{method}")
    if outputs:
        st.caption("Signed maps: red raises the class's logit, blue lowers it. " + " · ".join(
            f"{out.title}: {', '.join(f'{k}={v}' for k, v in out.settings.items())}" for out in outputs.values()))
        offer_session_file("attribution", dict(outputs))
    if outputs and handle.is_classifier:
        _evaluation_section(key, digest, target, data, outputs)


@st.cache_data(max_entries=16, show_spinner=False)
def cached_image_evaluation(model_key: tuple[str, str, str], digest: str, methods: tuple[str, ...], target,
                            faithfulness: bool, _data: bytes, _outputs: dict):
    return handle_for(model_key).evaluate(_data, _outputs, faithfulness=faithfulness, steps=FAITHFULNESS_STEPS,
                                          repeats=FAITHFULNESS_REPEATS)


FAITHFULNESS_STEPS, FAITHFULNESS_REPEATS = 20, 5


def _evaluation_section(key, digest: str, target, data: bytes, outputs: dict) -> None:
    """Agreement between the chosen methods over patches, and (on request) their faithfulness."""
    n_patches = next(iter(outputs.values())).scores.size
    st.subheader("Agreement and faithfulness")
    measure = st.toggle("Measure faithfulness", key="image_faithfulness", value=n_patches <= 64,
                        help="Re-runs the model on up to "
                             f"{(len(outputs) + FAITHFULNESS_REPEATS) * (10 + 2 * (FAITHFULNESS_STEPS + 1))} images "
                             "with patches replaced by the mean colour (on by default for at most 64 patches).")
    try:
        evaluation = cached_image_evaluation(key, digest, tuple(outputs), target, measure, data, outputs)
    except AttnvizError as exc:
        show_error(exc)
        return
    if len(outputs) > 1:
        metric = st.selectbox("Agreement metric", AGREEMENT_METRICS, key="image_agreement_metric",
                              index=AGREEMENT_METRICS.index("spearman"))
        matrix = evaluation.matrix(metric).rename(index=METHODS.get, columns=METHODS.get)
        st.plotly_chart(attribution_figs.agreement_heatmap(matrix, title=f"{metric} over {n_patches} patches "
                                                                           f"(k = {evaluation.k})"),
                        width="stretch", key="image_agreement")
        st.caption("Agreement compares |scores| over every patch (Spearman ρ and Kendall τ: rank correlations; "
                   "top-k metrics after Krishna et al. 2022).")
    else:
        st.info("Choose two or more methods to compare them.")
    if not measure:
        return
    st.caption("Faithfulness: the top-ranked patches (by positive score) are replaced by the processor's mean "
               "colour (0 after normalisation) and the class's logit is read again. Comprehensiveness: drop when "
               "the top k% are replaced (higher = more faithful); sufficiency: drop when only they are kept "
               f"(lower = better); AOPC = mean over k ∈ {{1, 5, 10, 20, 50}}%. Grey: a random ranking of the "
               f"patches ({FAITHFULNESS_REPEATS} draws).")
    st.dataframe(evaluation.summary().assign(method=lambda d: d["method"].map(lambda m: METHODS.get(m, m)))
                 .round(4), hide_index=True, width="stretch")
    st.plotly_chart(attribution_figs.faithfulness_bars(
        {METHODS[m]: {**evaluation.eraser[m], **evaluation.curves[m]} for m in evaluation.eraser},
        baseline={"mean": {**evaluation.random_eraser["mean"], **evaluation.random_curves["mean"]},
                  "std": {**evaluation.random_eraser["std"], **evaluation.random_curves["std"]}},
        title="Faithfulness by method (patches replaced by the mean colour)"), width="stretch",
        key="image_faithfulness_bars")
    curves = attribution_figs.faithfulness_curves({METHODS[m]: c for m, c in evaluation.curves.items()},
                                                  baseline=evaluation.random_curves)
    curves.update_xaxes(title_text="fraction of patches replaced", row=1, col=1)
    curves.update_xaxes(title_text="fraction of patches restored", row=1, col=2)
    st.plotly_chart(curves, width="stretch", key="image_faithfulness_curves")
