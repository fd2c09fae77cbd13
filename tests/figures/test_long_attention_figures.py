"""Long-input figures: max-pooling keeps one sharp weight visible; the text view escapes every token."""

import numpy as np

from attnviz.figures.attention import block_average
from attnviz.figures.long_attention import long_heatmap, text_view_html


def test_max_pooling_keeps_a_single_sharp_weight_that_the_mean_dilutes():
    matrix = np.full((2048, 2048), 1e-4, np.float32)
    matrix[1500, 37] = 0.9
    fig = long_heatmap(matrix, side=256, how="max", first_row=4096)
    z = np.asarray(fig.data[0].z)
    assert z.shape == (256, 256) and z.max() == np.float32(0.9)
    assert fig.data[0].y[0] == 4096  # positions, not cell numbers
    assert block_average(matrix, 256).max() < 0.02  # the mean of an 8 × 8 block hides it


def test_text_view_escapes_tokens_and_joins_word_pieces():
    page = text_view_html(["[CLS]", "un", "##believ", "<script>x</script>", "__DATA__"],
                          np.zeros((5, 2), int), np.zeros((5, 2), np.float32))
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert '"> un</span>' in page and '">believ</span>' in page  # '##' continues the word: no space
    assert '"> __DATA__</span>' in page  # placeholders inside tokens are not filled
