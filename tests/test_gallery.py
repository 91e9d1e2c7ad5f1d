import numpy as np

from mnistflow import gallery


def test_tiles_are_upscaled_pixel_exactly_with_captions(tmp_path):
    image = np.zeros((28, 28))
    image[5, 7] = 255.0
    canvas = gallery.render(np.stack([image] * 12), [f"#{k}" for k in range(12)], "heading", columns=10)
    assert canvas.size[1] == gallery.HEADER_HEIGHT + 2 * (gallery.TILE + gallery.CAPTION_HEIGHT + gallery.MARGIN) + gallery.MARGIN
    pixels = np.asarray(canvas)
    top, left = gallery.HEADER_HEIGHT, gallery.MARGIN
    block = pixels[top + 5 * gallery.ZOOM:top + 6 * gallery.ZOOM, left + 7 * gallery.ZOOM:left + 8 * gallery.ZOOM]
    assert np.all(block == 0)  # the one ink pixel becomes a solid ZOOM x ZOOM black square
    assert pixels[top + 10 * gallery.ZOOM + 1, left + 10 * gallery.ZOOM + 1] == 255
    caption = pixels[top + gallery.TILE + 2:top + gallery.TILE + 16, left:left + gallery.TILE]
    assert caption.min() < 128  # text was drawn
    gallery.save(canvas, tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 0


def test_empty_gallery_says_none():
    canvas = gallery.render(np.zeros((0, 28, 28)), [], "nothing wrong")
    assert canvas.size[0] >= 640 and np.asarray(canvas).min() < 128
