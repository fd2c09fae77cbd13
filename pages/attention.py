"""Attention page: per-head heatmaps, the model view, the head view, head means, rollout, head statistics.

Only the chosen view is drawn and sent to the browser: at 512 tokens the page stays a few MB.
"""

import streamlit as st

from attnviz import ui
from attnviz.attention import HEAD_STAT_COLUMNS, READOUTS
from attnviz.errors import AttnvizError
from attnviz.figures import attention as figs
from attnviz.figures.head_view import head_view_height, head_view_html
from attnviz.sharing import StateParam
from attnviz.ui import images as image_ui

VIEWS = ["Model view", "Head view", "Heatmap", "Mean over heads", "Rollout", "Head statistics"]
EXAMPLE = "The animal didn't cross the street because it was too tired."


def _select_from_model_view():
    """A click on a thumbnail picks that layer and head (runs before the widgets are drawn again)."""
    points = st.session_state["attention_model_view"].selection.points
    if points:
        layer_pos, head, _ = points[0]["customdata"]
        st.session_state["attention_layer"], st.session_state["attention_head"] = int(layer_pos), int(head)


if image_ui.image_model_chosen():  # an image model: overlays on a picture instead of a text
    image_ui.attention_page()
    st.stop()

handle = ui.page(
    "attention", title="Attention", shared_text="attention_page_text",
    caption="Who attends to whom, in every layer and head. Attention weights show where information flows, "
            "not why the model decided: compare with attributions before drawing conclusions.",
    params=lambda handle: [
        StateParam.text("text", "attention_page_text", default=EXAMPLE),
        StateParam.text("pair", "attention_pair", default=""),
        StateParam.text("target", "attention_target", default=""),
        StateParam.choice("view", "attention_view", VIEWS, default="Model view"),
        StateParam.integer("layer", "attention_layer", 0, handle.num_layers - 1, default=0),
        StateParam.integer("head", "attention_head", 0, handle.num_heads - 1, default=0),
        StateParam.choice("stack", "attention_stack", ["self", "decoder", "cross"], default="self"),
        StateParam.boolean("hide_special", "attention_hide_special", default=False),
        StateParam.boolean("kv_mean", "attention_kv_mean", default=False),
        StateParam.choices("heads", "attention_heads", range(handle.num_heads)),
        StateParam.choice("stat", "attention_stat", list(HEAD_STAT_COLUMNS), default=list(HEAD_STAT_COLUMNS)[0]),
    ])
ui.example_picker("attention", "attention_page_text", "attention_pair", "attention_view", VIEWS)

with st.form("attention_input"):
    text = st.text_area("Text", key="attention_page_text", height=90,
                        max_chars=100_000)
    cols = st.columns(2)
    if handle.kind == "encoder-decoder":
        pair = None
        target = cols[0].text_input("Decoder text (target)", key="attention_target",
                                    help="What the decoder reads; empty = the same text as the encoder.")
    else:
        target = None
        pair = cols[0].text_input("Second sentence (optional)", key="attention_pair",
                                  help="Sentence pairs are encoded together, with a separator between them.")
    chosen_layers = cols[1].multiselect(
        "Layers (empty = all)", list(range(handle.num_layers)), placeholder="all layers",
        help="Extract only these layers: less memory and a lighter page for big models and long texts.")
    chat = ui.chat_template_option(handle, "attention_chat", "are marked special, so 'Hide special tokens' hides "
                                   "them", cols[0])
    st.form_submit_button("Analyse", type="primary")

try:  # long inputs: bounded memory and their own views (attnviz/ui/long_attention.py)
    long_result = None if target or chat else ui.long_attention(ui.current_model_key(), text, pair or None,
                                                        tuple(sorted(chosen_layers)) or None)
    if long_result is not None:
        ui.show_long_attention(handle, long_result)
        st.stop()
    result = ui.cached_attention(ui.current_model_key(), text, None if chat else pair or None, target or None,
                                 tuple(sorted(chosen_layers)) or None, **({"chat_template": True} if chat else {}))
except AttnvizError as exc:
    ui.show_error(exc)
    st.stop()

if result.truncated:
    st.warning(f"The input has {result.n_input_tokens:,} tokens; {ui.md_code(handle.name)} reads at most "
               f"{len(result.tokens)}. Only the first {len(result.tokens)} tokens are shown.", icon="✂️")

view = st.segmented_control("View", VIEWS, key="attention_view") or "Model view"
ui.guide(f"attention/{view}")
controls = st.columns([1, 1, 1.4, 1.6, 2])
layer_pos = controls[0].selectbox("Layer", range(result.num_layers), format_func=lambda i: str(result.layers[i]),
                                  key="attention_layer")
head = controls[1].selectbox("Head", range(result.num_heads), key="attention_head")
stacks = ["self"] if result.decoder_attentions is None else ["self", "decoder", "cross"]
stack = controls[2].selectbox("Attention", stacks, key="attention_stack", format_func={
    "self": "encoder self" if len(stacks) > 1 else "self", "decoder": "decoder self", "cross": "cross"}.get)
hide_special = controls[3].toggle("Hide special tokens", key="attention_hide_special",
                                  help="Drops [CLS]/[SEP]-like rows and columns; the remaining weights are "
                                       "not renormalised, so rows no longer sum to 1.")
shown = result.without_special() if hide_special and stack == "self" else result
att, q_tokens, k_tokens = shown.stack(stack)
groups = result.kv_groups if stack == "self" else None  # grouped-query attention: heads sharing keys/values
kv_mean = groups is not None and controls[4].toggle(
    "Mean per key/value group", key="attention_kv_mean",
    help=f"{result.num_heads} query heads share {len(groups)} key/value heads ({result.num_heads // len(groups)} "
         "each): show each group's mean instead of every head.") if groups else False
group = next((g for g, members in enumerate(groups or ()) if head in members), 0)

if view == "Model view":
    st.caption("Every layer (rows) × head (columns); each thumbnail is scaled to its own maximum. "
               "Click a thumbnail (or pick a layer and head above) to enlarge it below.")
    grid = dict(att=shown.group_mean(), selected=(layer_pos, group), head_labels=figs.kv_group_labels(groups),
                head_ids=[m[0] for m in groups]) if kv_mean else dict(att=att, selected=(layer_pos, head),
                                                                          kv_groups=groups)
    st.plotly_chart(figs.model_view(grid.pop("att"), layers=shown.layers, **grid,
                                    title=f"{len(q_tokens)} × {len(k_tokens)} tokens — click a head to enlarge"),
                    width="stretch", config={"displaylogo": False}, key="attention_model_view",
                    on_select=_select_from_model_view, selection_mode="points")
    st.plotly_chart(figs.kv_group_heatmap(shown, layer_pos, group) if kv_mean
                    else figs.head_heatmap(shown, layer_pos, head, stack=stack), width="stretch")
elif view == "Head view":
    heads = st.multiselect("Heads", list(range(result.num_heads)), default=[head], key="attention_heads",
                           format_func=lambda h: next((f"{h} (kv {g})" for g, m in enumerate(groups or ()) if h in m),
                                                      str(h)))
    st.caption("Lines join each query (left) to the keys it attends to (right); hover a token to focus it, "
               "click to pin. Weights below 0.01 and beyond the top 16 per token are not drawn.")
    st.iframe(head_view_html(k_tokens, att[layer_pos], heads or [head], query_tokens=q_tokens),
              height=head_view_height(len(q_tokens), len(k_tokens)))
elif view == "Heatmap":
    st.plotly_chart(figs.kv_group_heatmap(shown, layer_pos, group) if kv_mean
                    else figs.head_heatmap(shown, layer_pos, head, stack=stack), width="stretch")
elif view == "Mean over heads":
    st.plotly_chart(figs.mean_heads_heatmap(shown, layer_pos, stack=stack), width="stretch")
elif view == "Rollout":
    if stack != "self" or hide_special:
        st.info("Rollout is computed over the full encoder/self-attention stack, special tokens included.")
    st.caption(f"Readout shown: **{READOUTS[result.readout]}**.")
    st.plotly_chart(figs.rollout_readout_bar(result), width="stretch")
    st.plotly_chart(figs.rollout_heatmap(result), width="stretch")
elif view == "Head statistics":
    stats = result.head_statistics()
    column = st.selectbox("Statistic", list(HEAD_STAT_COLUMNS), format_func=lambda c: f"{c} — {HEAD_STAT_COLUMNS[c]}",
                          key="attention_stat")
    st.plotly_chart(figs.head_statistics_heatmap(stats, column), width="stretch")
    st.dataframe(stats, hide_index=True, width="stretch")
    if not ui.presenter_mode():
        st.download_button("Download head statistics (CSV)", stats.to_csv(index=False), "head_statistics.csv",
                           "text/csv")

ui.exercise_panel("attention", handle, text=text, layer=result.layers[layer_pos], head=head)
if not ui.presenter_mode():
    with st.expander("Tokens"):
        st.dataframe({"position": list(range(len(result.tokens))), "token": list(result.tokens),
                      "kind": list(result.kinds), "segment": result.segments.tolist()}, hide_index=True)
ui.offer_session_file("attention", {"attention": result})
