import numpy as np
from PIL import Image

from mnistflow.analysis import gallery


def test_tiles_are_upscaled_pixel_exactly_with_captions(tmp_path):
    image = np.zeros((28, 28))
    image[5, 7] = 255.0
    canvas = gallery.render(np.stack([image] * 12), [f"#{k}" for k in range(12)], "heading", columns=10)
    cell = gallery.TILE + gallery.CAPTION_HEIGHT + gallery.MARGIN
    assert canvas.size[1] == gallery.HEADER_HEIGHT + 2 * cell + gallery.MARGIN
    pixels = np.asarray(canvas)
    top, left = gallery.HEADER_HEIGHT, gallery.MARGIN
    tile = pixels[top:top + gallery.TILE, left:left + gallery.TILE]
    # Oracle: each source pixel becomes exactly a ZOOM x ZOOM block (dark ink on white), nothing blurred.
    expected = np.kron(255 - image.astype(np.uint8), np.ones((gallery.ZOOM, gallery.ZOOM), np.uint8))
    assert np.array_equal(tile[1:-1, 1:-1], expected[1:-1, 1:-1])  # inside the tile's 1-pixel grey frame
    assert tile[0, 0] == 160 and expected[20:24, 28:32].max() == 0
    captions = [pixels[top + gallery.TILE + 2:top + gallery.TILE + 30, column:column + gallery.TILE]
                for column in (left, left + gallery.TILE + gallery.MARGIN)]
    assert captions[0].min() < 128 and not np.array_equal(captions[0], captions[1])  # "#0" and "#1" are drawn
    gallery.save(canvas, tmp_path / "g.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "g.png")), pixels)  # saved as rendered


def test_empty_gallery_says_none():
    canvas = gallery.render(np.zeros((0, 28, 28)), [], "nothing wrong")
    assert canvas.size[0] >= 640 and np.asarray(canvas).min() < 128
