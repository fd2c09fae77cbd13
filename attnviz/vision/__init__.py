"""Images: vision transformers' attention and attribution over image patches.

:mod:`.images` reads and checks images and names patch tokens (encoding layer), :mod:`.maps` turns
token scores into patch grids and computes distance statistics (results), :mod:`.attribution` explains a
class of an image classifier patch by patch (attribution), :mod:`.handle` is the :class:`VisionHandle`
``load_model`` returns for a vision directory (handle).
"""
